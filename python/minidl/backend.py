"""Which CPU kernel set runs: ``name`` ("avx512", "avx2" or "scalar"), ``available()``,
``use(name)``; and on how many threads: ``set_num_threads(n)``, ``get_num_threads()``. The
scalar set is the plain reference loops every SIMD kernel is tested against;
``use("scalar")`` shows a learner the speedup SIMD buys.

Every kernel set computes the same results up to floating-point rounding; only the speed
differs. minidl picks the best set the CPU supports at import, or the one the environment
variable MINIDL_ISA names (PyTorch has no such switch).

>>> import minidl as md
>>> md.backend.name in md.backend.available()
True
"""
from __future__ import annotations

import contextlib

from . import _C


def __getattr__(attr):
    if attr == "name":
        return _C.isa_name()
    raise AttributeError(attr)


def available() -> list:
    """Kernel sets this CPU (and this build) can run, best first.

    The scalar set is always there (the last entry).

    >>> import minidl as md
    >>> md.backend.available()[-1]
    'scalar'
    """
    return list(_C.available_isas())


# --8<-- [start:use]
def use(name: str) -> None:
    """Switch every kernel to the set ``name`` (ValueError if the CPU lacks it).

    The switch is global and stays until the next ``use``; :func:`using` switches back
    by itself.

    >>> import minidl as md
    >>> before = md.backend.name
    >>> md.backend.use("scalar")
    >>> md.backend.name
    'scalar'
    >>> md.backend.use(before)
    """
    if name not in ("avx512", "avx2", "scalar"):
        raise ValueError(f"unknown kernel set '{name}' (expected 'avx512', 'avx2' or 'scalar')")
    if name not in available():
        raise ValueError(f"kernel set '{name}' is not available on this CPU (available: {available()})")
    _C.set_isa(name)
# --8<-- [end:use]


@contextlib.contextmanager
def using(name: str):
    """``with md.backend.using("scalar"):`` runs the block on another kernel set.

    The previous set is restored on exit, exceptions included.

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> with md.backend.using("scalar"):
    ...     md.backend.name, md.matmul(x, x)
    ('scalar', tensor([[ 7.0000, 10.0000],
            [15.0000, 22.0000]]))
    """
    prev = _C.isa_name()
    use(name)
    try:
        yield
    finally:
        _C.set_isa(prev)


def set_num_threads(n: int) -> None:
    """Set the number of threads the C++ kernels use (OpenMP); also settable with OMP_NUM_THREADS.

    Large ops (GEMM, convolutions, big elementwise loops) split their work over ``n``
    threads; small ones stay on one thread because starting threads would cost more than
    it saves. ``n`` must be a positive int (ValueError otherwise). ``md.set_num_threads``
    is this function.

    >>> import minidl as md
    >>> before = md.get_num_threads()
    >>> md.set_num_threads(1)
    >>> md.get_num_threads()
    1
    >>> md.set_num_threads(before)
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the C++ kernels use (see :func:`set_num_threads`).

    It starts at OMP_NUM_THREADS when set, else at the number of cores OpenMP sees (1 in a
    build without OpenMP). ``md.get_num_threads`` is this function.

    >>> import minidl as md
    >>> md.get_num_threads() >= 1
    True
    """
    return _C.get_num_threads()
