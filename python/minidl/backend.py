"""Which CPU kernel set runs: ``name`` ("avx512", "avx2" or "scalar"), ``available()``,
``use(name)``. The scalar set is the plain reference loops every SIMD kernel is tested
against; ``use("scalar")`` shows a learner the speedup SIMD buys."""
from __future__ import annotations

import contextlib

from . import _C


def __getattr__(attr):
    if attr == "name":
        return _C.isa_name()
    raise AttributeError(attr)


def available() -> list:
    """Kernel sets this CPU (and this build) can run, best first."""
    return list(_C.available_isas())


def use(name: str) -> None:
    """Switch every kernel to the set ``name`` (ValueError if the CPU lacks it)."""
    if name not in ("avx512", "avx2", "scalar"):
        raise ValueError(f"unknown kernel set '{name}' (expected 'avx512', 'avx2' or 'scalar')")
    if name not in available():
        raise ValueError(f"kernel set '{name}' is not available on this CPU (available: {available()})")
    _C.set_isa(name)


@contextlib.contextmanager
def using(name: str):
    """``with md.backend.using("scalar"):`` runs the block on another kernel set."""
    prev = _C.isa_name()
    use(name)
    try:
        yield
    finally:
        _C.set_isa(prev)
