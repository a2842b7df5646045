"""CUDA status. The CUDA kernels are optional (CMake option MINIDL_CUDA); without them, or
without a GPU, ``is_available()`` is False."""
from __future__ import annotations

from . import _C


def is_available() -> bool:
    return bool(_C.has_cuda()) and device_count() > 0


def device_count() -> int:
    return 0  # device enumeration comes with the CUDA kernels
