"""``md.backends.openmp``: whether minidl's kernels were built with OpenMP threads.

>>> import minidl as md
>>> isinstance(md.backends.openmp.is_available(), bool)
True
"""
from .. import _C


def is_available() -> bool:
    """True when the C++ kernels were compiled with OpenMP (they then run on
    ``md.get_num_threads()`` threads).

    >>> import minidl as md
    >>> md.backends.openmp.is_available() in (True, False)
    True
    """
    return bool(_C.has_openmp())
