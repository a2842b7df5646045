"""The MPI library under md.distributed: whether it is installed, and loading it.

mpi4py (with an MPI library: the ``mpich`` wheel) is optional, the extra
``pip install "minidl[distributed]"``: ``import minidl`` works without it, ``is_available()`` says
False, and the first function that needs MPI raises an ImportError naming the extra.
"""
from __future__ import annotations

import importlib.util

MISSING_MPI = ('md.distributed needs mpi4py and an MPI library: pip install "minidl[distributed]" '
               '(installs mpi4py and mpich)')


def mpi():
    """The ``mpi4py.MPI`` module (importing it initializes MPI), or an ImportError naming the extra."""
    if _loaded:
        return _loaded[0]
    try:
        from mpi4py import MPI  # deferred: an optional dependency (minidl[distributed]); importing it starts MPI
    except ImportError as e:
        raise ImportError(MISSING_MPI) from e
    _loaded.append(MPI)
    return MPI


_loaded: list = []  # [mpi4py.MPI] once imported: every collective asks for it, in ~0.05 us


def is_available() -> bool:
    """True when md.distributed can run here: mpi4py is installed (``pip install "minidl[distributed]"``).

    >>> import minidl.distributed as dist
    >>> isinstance(dist.is_available(), bool)
    True
    """
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available() -> bool:
    """True when the "mpi" backend can run: the same as :func:`is_available`.

    >>> import minidl.distributed as dist
    >>> dist.is_mpi_available() == dist.is_available()
    True
    """
    return is_available()


def is_gloo_available() -> bool:
    """True when ``backend="gloo"`` is accepted: minidl runs it over MPI, so as :func:`is_available`.

    >>> import minidl.distributed as dist
    >>> dist.is_gloo_available() == dist.is_available()
    True
    """
    return is_available()


def is_nccl_available() -> bool:
    """False: minidl runs on CPUs only (PyTorch's CPU build says the same).

    >>> import minidl.distributed as dist
    >>> dist.is_nccl_available()
    False
    """
    return False
