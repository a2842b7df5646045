"""``md.backends.mkldnn``: oneDNN (formerly MKL-DNN), which PyTorch's CPU build uses for some
convolutions. minidl's kernels are its own (cpp/ops/): ``is_available()`` is False, the
``enabled`` flag is kept and changes nothing.

>>> import minidl as md
>>> md.backends.mkldnn.is_available()
False
"""
enabled = True


def is_available() -> bool:
    """Whether oneDNN is linked: False (minidl's CPU kernels are its own).

    >>> import minidl as md
    >>> md.backends.mkldnn.is_available()
    False
    """
    return False
