"""The int arguments of convolution and pooling (kernel_size, stride, padding, dilation,
groups, output_padding, output_size, divisor_override), checked in Python before they reach
C++.

The C++ kernels take them as int64 and multiply them with sizes (window start = i stride -
padding, extent = dilation (kernel_size - 1) + 1), so a value near 2**63 would not convert
(pybind11 then raises a TypeError that prints every argument, whole input arrays included)
and a value near 2**40 would overflow those products. Below 2**31 every product of two of
them stays far inside int64, and no real network comes near: a stride or padding of 2**31
is larger than any tensor that fits in memory.

Zero and negative values are left to each function's own check, which gives PyTorch's
message ("non-positive stride is not supported, ..."); here only the type and the size.
"""
from __future__ import annotations

import numbers

INT_ARG_LIMIT = 2 ** 31


def int_tuple(value, n: int, op: str, name: str, positive: bool = True) -> tuple:
    """``value`` (an int, or a tuple/list of ``n`` ints) as a tuple of ``n`` Python ints.

    Raises TypeError for a non-int (a float, a bool, a string) and RuntimeError for a value
    of magnitude 2**31 or more, each naming ``op``, the argument, its value and the limit.
    A sequence of the wrong length is left to the caller (its message differs by function).

    >>> from minidl.nn._int_args import int_tuple
    >>> int_tuple(2, 2, "conv2d", "stride"), int_tuple([1, 3], 2, "conv2d", "stride")
    ((2, 2), (1, 3))
    >>> int_tuple(2 ** 63, 2, "conv2d", "stride")
    Traceback (most recent call last):
    ...
    RuntimeError: conv2d: stride must be a positive int below 2**31, got 9223372036854775808
    """
    if type(value) is int and -INT_ARG_LIMIT < value < INT_ARG_LIMIT:  # the common case, ~0.1 us
        return (value,) * n
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    for v in items:
        if type(v) is not int or not -INT_ARG_LIMIT < v < INT_ARG_LIMIT:
            return tuple(check_int(v, op, name, positive, shown=value) for v in items)
    return items


def check_int(v, op: str, name: str, positive: bool = True, shown=None) -> int:
    """One int argument: ``v`` as a Python int, or the TypeError / RuntimeError of
    :func:`int_tuple` (``shown``: the value to print, if ``v`` is one entry of it).

    >>> from minidl.nn._int_args import check_int
    >>> check_int(3, "conv2d", "groups")
    3
    >>> check_int(1.5, "max_pool2d", "kernel_size")
    Traceback (most recent call last):
    ...
    TypeError: max_pool2d: kernel_size must be an int or a tuple of ints, got 1.5 (float)
    """
    if type(v) is int and -INT_ARG_LIMIT < v < INT_ARG_LIMIT:  # (isinstance with numbers.Integral: ~1 us)
        return v
    shown = v if shown is None else shown
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {shown!r} ({type(v).__name__})")
    if not -INT_ARG_LIMIT < v < INT_ARG_LIMIT:
        kind = "a positive" if positive else "a non-negative"
        raise RuntimeError(f"{op}: {name} must be {kind} int below 2**31, got {shown}")
    return int(v)
