"""``md.backends.mps``: Apple's Metal backend. Not in minidl: both answers are False.

>>> import minidl as md
>>> md.backends.mps.is_available(), md.backends.mps.is_built()
(False, False)
"""


def is_available() -> bool:
    """Whether an MPS device can be used: False.

    >>> import minidl as md
    >>> md.backends.mps.is_available()
    False
    """
    return False


def is_built() -> bool:
    """Whether minidl was built with MPS: False.

    >>> import minidl as md
    >>> md.backends.mps.is_built()
    False
    """
    return False
