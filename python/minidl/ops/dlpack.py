"""Tensors in and out of other libraries: DLPack (``md.from_dlpack``, ``Tensor.__dlpack__``)
and the conversion that lets ``md.tensor``, ``md.as_tensor``, ``Tensor.copy_`` and
``Module.load_state_dict`` take a PyTorch tensor, a NumPy array, or anything else that
speaks DLPack or the NumPy array protocol.

DLPack is the common in-memory tensor description of the Python array libraries: the
producer hands out a capsule holding (pointer, device, dtype, shape, strides, deleter), the
consumer wraps the same memory without copying and calls the deleter when done. So

    t = torch.arange(4.)
    m = md.from_dlpack(t)      # the same 16 bytes: t[0] = 5 shows in m
    back = torch.from_dlpack(m)

copies nothing, bfloat16 included. The capsule is made and read in C++
(cpp/ops/dlpack/dlpack_bind.cpp; why not NumPy's: it refuses bfloat16). minidl runs on the CPU: a
CUDA tensor must be moved to the CPU first.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..dtypes import _FROM_NP, ALL
from ..tensor import Tensor

_STORED = {d.np for d in ALL}
_KDL_CPU, _KDL_CUDA_HOST = 1, 3  # DLPack device types minidl can read


def describe_value(obj) -> str:
    """The type of ``obj`` with its module, and its shape if it has one, for error messages
    about values that came from another library.

    >>> import numpy as np
    >>> from minidl.ops.dlpack import describe_value
    >>> describe_value(np.zeros((2, 3))), describe_value([1])
    ('numpy.ndarray of shape (2, 3)', 'list')
    """
    kind = type(obj)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    shape = getattr(obj, "shape", None)
    return f"{name} of shape {tuple(shape)}" if shape is not None else name


def _import_capsule(obj) -> np.ndarray:
    """The memory of an object with ``__dlpack__`` as a NumPy array (no copy)."""
    device = getattr(obj, "__dlpack_device__", None)
    if device is not None:
        kind = int(device()[0])
        if kind not in (_KDL_CPU, _KDL_CUDA_HOST):
            raise BufferError(f"{describe_value(obj)} lives on DLPack device type {kind} ({'CUDA' if kind == 2 else 'not the CPU'}); "
                              "minidl runs on the CPU: move it there first (e.g. t.cpu())")
    try:
        capsule = obj.__dlpack__(max_version=(1, 0))  # DLPack 1.0 (read-only flag) where the producer has it
    except TypeError:  # a producer older than DLPack 1.0 takes no arguments
        capsule = obj.__dlpack__()
    return _C.from_dlpack_capsule(capsule)


def array_from(obj):
    """The NumPy array behind a tensor-like ``obj``, shared with it where possible, or None.

    minidl Tensor -> its storage; NumPy array -> itself; an object with ``__dlpack__``
    (PyTorch, JAX, CuPy host arrays ...) -> its memory through DLPack (a PyTorch tensor that
    requires grad is detached first, as ``torch.tensor(t)`` reads it); an object with
    ``__array__`` -> ``np.asarray(obj)``. The array may have a dtype minidl does not store
    (int32, uint8 ...): callers convert.

    >>> import numpy as np
    >>> from minidl.ops.dlpack import array_from
    >>> array_from([1, 2]) is None, array_from(np.ones(2)).shape
    (True, (2,))
    """
    if isinstance(obj, Tensor):
        return obj._data
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "__dlpack__"):
        if getattr(obj, "requires_grad", False) and hasattr(obj, "detach"):
            obj = obj.detach()
        return _import_capsule(obj)
    if hasattr(obj, "__array__"):
        return np.asarray(obj)
    return None


def from_dlpack(ext) -> Tensor:
    """A minidl tensor over the memory of ``ext`` (no copy): any object with ``__dlpack__``
    (a PyTorch tensor, a NumPy array, JAX ...) or a DLPack capsule.

    Writes through either one show in the other. A capsule can be imported once (a second
    import raises). Where minidl differs from PyTorch: minidl stores float32/64, float16,
    bfloat16, int64 and bool; other dtypes (int32, uint8 ...) are converted to int64, which
    copies. A PyTorch tensor that requires grad raises as in PyTorch (detach it first).

    >>> import numpy as np
    >>> import minidl as md
    >>> a = np.array([1., 2., 3.], dtype=np.float32)
    >>> t = md.from_dlpack(a)
    >>> a[0] = 10.              # the same memory
    >>> t
    tensor([10.0000,  2.0000,  3.0000])
    """
    # --8<-- [start:from_dlpack_body]
    if type(ext).__name__ == "PyCapsule":
        arr = _C.from_dlpack_capsule(ext)
    elif hasattr(ext, "__dlpack__"):
        arr = _import_capsule(ext)
    else:
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, got {describe_value(ext)}")
    if arr.dtype not in _STORED:
        arr = arr.astype(_FROM_NP[arr.dtype].np) if arr.dtype in _FROM_NP else arr
        if arr.dtype not in _STORED:
            raise TypeError(f"from_dlpack: minidl has no dtype for {arr.dtype} (it stores float32, float64, float16, "
                            "bfloat16, int64 and bool)")
    return Tensor._wrap(arr)
    # --8<-- [end:from_dlpack_body]


def to_dlpack(tensor: Tensor, copy=None):
    """``tensor.__dlpack__()``: a DLPack capsule over the tensor's memory (PyTorch's
    ``torch.utils.dlpack.to_dlpack``). ``copy=True`` exports a copy.

    A tensor that requires grad raises (PyTorch's message): the consumer would see values
    without their history. A view with negative strides is exported as a contiguous copy
    (PyTorch tensors cannot have negative strides).

    >>> import minidl as md
    >>> from minidl.utils.dlpack import to_dlpack
    >>> type(to_dlpack(md.ones(2))).__name__
    'PyCapsule'
    """
    if tensor._rg:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    arr = tensor._data
    if copy or any(s < 0 for s in arr.strides):
        arr = np.ascontiguousarray(arr) if not copy else arr.copy()
    return _C.to_dlpack(arr)


def dlpack_method(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """``Tensor.__dlpack__``: see :func:`to_dlpack`. ``stream`` must be None (CPU);
    ``dl_device`` must be the CPU (1, 0)."""
    if stream is not None and stream != -1:
        raise BufferError("__dlpack__: stream must be None for a CPU tensor")
    if dl_device is not None and tuple(dl_device) != (_KDL_CPU, 0):
        raise BufferError(f"__dlpack__: minidl tensors live on the CPU (1, 0), cannot export to device {dl_device}")
    if copy is False and self._data.strides and any(s < 0 for s in self._data.strides):
        raise BufferError("__dlpack__: copy=False, but this view has negative strides and must be copied")
    return to_dlpack(self, copy=copy)


def dlpack_device_method(self):
    """``Tensor.__dlpack_device__``: (1, 0), DLPack's CPU device."""
    return (_KDL_CPU, 0)
