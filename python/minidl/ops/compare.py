"""Comparing two tensors as wholes: ``isclose`` (elementwise, with a tolerance), ``allclose``
and ``equal`` (one Python bool). The elementwise comparisons ``eq``, ``lt``, ... that these
build on are the Tensor operators (``ops/elementwise.py``).

Floating-point results depend on the order of operations in their last bits, so two floats
that went through different computations are compared with a tolerance:

    close(a, b)  =  a == b  or  |a - b| <= atol + rtol |b|  (with |a - b| finite)

``atol`` matters near zero, ``rtol`` for large values. The test is not symmetric (``rtol``
scales with |b|): pass the reference value as ``other``.
"""
from __future__ import annotations

from ..tensor import Tensor


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """Elementwise closeness test: ``input == other`` or |input - other| <= atol + rtol |other|.

    NaN is close to nothing unless ``equal_nan=True``; an infinity is close only to the same
    infinity (the ``==`` part: inf - inf is nan, which fails the tolerance test).

    Shapes: ``input`` (*a), ``other`` (*b) -> broadcast(*a, *b), dtype bool.

    >>> import minidl as md
    >>> a = md.tensor([1.0, 2.0, float("nan"), float("inf"), float("-inf")])
    >>> b = md.tensor([1.0 + 1e-6, 2.1, float("nan"), float("inf"), float("inf")])
    >>> md.isclose(a, b)
    tensor([ True, False, False,  True, False])
    >>> md.isclose(a, b, equal_nan=True)
    tensor([ True, False,  True,  True, False])
    """
    error = (input - other).abs()
    # error.isfinite(): between -inf and inf the error (inf) would pass an infinite tolerance
    close = (input == other) | ((error <= other.abs() * rtol + atol) & error.isfinite())
    if equal_nan:
        close = close | (input.isnan() & other.isnan())
    return close


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """True if ``input`` and ``other`` are close everywhere: :func:`isclose` followed by "all".

    The shapes must broadcast. Pass the reference value as ``other`` (``rtol`` scales with it).

    Shapes: ``input`` (*a), ``other`` (*b) -> a Python bool.

    >>> import minidl as md
    >>> a = md.tensor([1.0, 2.0])
    >>> md.allclose(a, md.tensor([1.0, 2.0 + 1e-6]))
    True
    >>> md.allclose(a, md.tensor([1.0, 2.1]))
    False
    """
    return isclose(input, other, rtol, atol, equal_nan).all().item()


def equal(input: Tensor, other: Tensor) -> bool:
    """True if ``input`` and ``other`` have the same shape and exactly the same elements.

    No broadcasting and no tolerance (see :func:`allclose` for floats that went through
    different computations). A tensor holding NaN is not equal to itself.

    Shapes: ``input`` and ``other`` any shapes -> a Python bool (False when the shapes differ).

    >>> import minidl as md
    >>> a = md.tensor([1., 2.])
    >>> md.equal(a, md.tensor([1., 2.]))
    True
    >>> md.equal(a, md.tensor([[1., 2.]]))    # same values, shape (1, 2) != (2,)
    False
    """
    return input.shape == other.shape and (input == other).all().item()
