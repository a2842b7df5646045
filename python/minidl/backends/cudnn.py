"""``md.backends.cudnn``: cuDNN's switches. minidl has no cuDNN: ``is_available()`` is False,
``version()`` None, and the flags (``enabled``, ``benchmark``, ``deterministic``,
``allow_tf32``) keep what a script sets, with PyTorch's defaults, and change nothing.

>>> import minidl as md
>>> md.backends.cudnn.is_available(), md.backends.cudnn.version()
(False, None)
>>> md.backends.cudnn.deterministic = True
>>> md.backends.cudnn.deterministic
True
>>> md.backends.cudnn.deterministic = False  # PyTorch's default again
"""
import contextlib

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """Whether cuDNN can be used: False.

    >>> import minidl as md
    >>> md.backends.cudnn.is_available()
    False
    """
    return False


def version():
    """cuDNN's version: None (not linked), as on a CPU-only PyTorch.

    >>> import minidl as md
    >>> md.backends.cudnn.version() is None
    True
    """
    return None


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False, allow_tf32=True):
    """Set the flags for a block and restore them after it (``torch.backends.cudnn.flags``).

    >>> import minidl as md
    >>> with md.backends.cudnn.flags(enabled=False):
    ...     md.backends.cudnn.enabled
    False
    """
    module = globals()
    saved = {k: module[k] for k in ("enabled", "benchmark", "deterministic", "allow_tf32")}
    module.update(enabled=enabled, benchmark=benchmark, deterministic=deterministic, allow_tf32=allow_tf32)
    try:
        yield
    finally:
        module.update(saved)
