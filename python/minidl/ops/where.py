"""Picking between values elementwise, and the backwards: ``clamp`` (x or a bound), ``where``
(input or other, by a bool condition) and ``masked_fill`` (x or a value, by a mask). Each
gradient is the incoming gradient where that operand was picked and 0 elsewhere (summed back
over broadcast dims). Split from ops/elementwise.py, whose operand helpers it uses."""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ..dtypes import from_numpy_dtype
from ._graph import result, sum_to
from .creation import tensor as _tensor
from .elementwise import _C_where, _pair, binary

_wrap = Tensor._wrap


class ClampBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, lo, hi = self.get_saved()
        if A.is_low(x):
            return (A.cast(_C.clamp_backward(A.to_f32(g), A.to_f32(x), lo, hi), x.dtype),)
        return (_C.clamp_backward(g, x, lo, hi),)

    def apply_differentiable(self, g):  # piecewise linear: g times the constant 0/1 mask
        return (g * _wrap(self.apply(A.full(g.shape, 1.0, g._data.dtype))[0]),)


def clamp(x: Tensor, min=None, max=None) -> Tensor:
    """Limit every element to the interval [min, max] (``md.clip`` is the same function).

    out = min(max(x, lo), hi); either bound may be None (no limit on that side), not both.
    Backward: the gradient passes where lo <= x <= hi and is 0 where x was clipped (the
    output is flat there). Bounds may also be tensors (broadcast against ``x``); minidl
    then computes maximum/minimum, whose backward splits the gradient in half where x
    equals a bound (PyTorch gives it all to ``x``).

    Shapes: (*) -> (*), same dtype.

    >>> import minidl as md
    >>> x = md.tensor([-2., 0.5, 3.])
    >>> md.clamp(x, 0., 1.)
    tensor([0.0000, 0.5000, 1.0000])
    >>> md.clamp(x, min=0.), md.clip(x, max=1.)
    (tensor([0.0000, 0.5000, 3.0000]), tensor([-2.0000,  0.5000,  1.0000]))
    """
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = binary(A.MAXIMUM, out, min)
        if max is not None:
            out = binary(A.MINIMUM, out, max)
        return out
    d = x._data
    if A.is_low(d):
        out = A.cast(_C.clamp(A.to_f32(d), min, max), d.dtype)
    else:
        out = _C.clamp(d, min, max)
    return result(out, ClampBackward, (x,), (d, min, max))


def clamp_min(input: Tensor, min) -> Tensor:
    """``clamp(input, min=min)``: every element at least ``min`` (a number or a tensor).

    Shapes: (*) -> (*). Backward as :func:`clamp`.

    >>> import minidl as md
    >>> md.clamp_min(md.tensor([-2., 0.5, 3.]), 0.)
    tensor([0.0000, 0.5000, 3.0000])
    """
    return clamp(input, min=min)


def clamp_max(input: Tensor, max) -> Tensor:
    """``clamp(input, max=max)``: every element at most ``max`` (a number or a tensor).

    Shapes: (*) -> (*). Backward as :func:`clamp`.

    >>> import minidl as md
    >>> md.clamp_max(md.tensor([-2., 0.5, 3.]), 1.)
    tensor([-2.0000,  0.5000,  1.0000])
    """
    return clamp(input, max=max)


class WhereBackward(Node):
    __slots__ = ()

    def apply(self, g):
        cond, sa, sb = self.get_saved()
        zero = A.zeros((), g.dtype)
        ga = A.sum_to(_C_where(cond, g, zero), sa) if self.next[0] is not None else None
        gb = A.sum_to(_C_where(cond, zero, g), sb) if self.next[1] is not None else None
        return ga, gb

    def apply_differentiable(self, g):
        cond, sa, sb = self.get_saved()
        mask = _wrap(A.cast(cond, g._data.dtype))
        ga = sum_to(g * mask, sa) if self.next[0] is not None else None
        gb = sum_to(g * (1.0 - mask), sb) if self.next[1] is not None else None
        return ga, gb


def where(condition, input, other):
    """``condition ? input : other`` elementwise with broadcasting.

    out_i = input_i where condition_i is True, else other_i. ``condition`` must be bool;
    ``input`` and ``other`` may be Python numbers, and their dtypes are promoted as in
    :func:`add`. Backward: the gradient goes to ``input`` where the condition holds and to
    ``other`` elsewhere. (PyTorch's one-argument form ``where(condition)``, the indices of
    the True elements, does not exist in minidl.)

    Shapes: ``condition`` (*c), ``input`` (*a), ``other`` (*b) -> broadcast(*c, *a, *b).

    >>> import minidl as md
    >>> x = md.tensor([[1., -2.], [-3., 4.]])
    >>> md.where(x > 0, x, 0.)        # a ReLU written by hand
    tensor([[1.0000, 0.0000],
            [0.0000, 4.0000]])
    """
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                        f"{from_numpy_dtype(cond.dtype)}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _tensor(input)
    if not isinstance(input, Tensor):
        input = _tensor(input, dtype=other.dtype)
    if not isinstance(other, Tensor):
        other = _tensor(other, dtype=input.dtype)
    a, b = _pair(input, other)
    out = _C_where(cond, a, b)
    return result(out, WhereBackward, (input, other), (cond, a.shape, b.shape))


def masked_fill(x: Tensor, mask, value) -> Tensor:
    """``x`` with ``value`` where ``mask`` (bool, broadcast to x) is True.

    out_i = value where mask_i else x_i. ``value`` is a number or a 0-d tensor. The classic
    use is attention masking: fill the forbidden scores with -inf before a softmax, so they
    get probability 0. Backward: the gradient of ``x`` is 0 at the filled positions.

    Shapes: ``x`` (*), ``mask`` broadcastable to (*) -> (*).

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.masked_fill(x, md.tensor([[False, True], [False, False]]), -1.)
    tensor([[ 1.0000, -1.0000],
            [ 3.0000,  4.0000]])
    >>> future = md.tensor([[False, True], [False, False]])     # a causal mask
    >>> md.softmax(md.masked_fill(md.zeros(2, 2), future, float("-inf")), dim=1)
    tensor([[1.0000, 0.0000],
            [0.5000, 0.5000]])
    """
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill only supports boolean masks, but got mask with dtype {m.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError("masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value = value.item()
    fill = A.full((), value, x._data.dtype)
    out = _C_where(m, fill, x._data)
    if tuple(out.shape) != x._data.shape:
        raise RuntimeError(f"masked_fill: mask of shape {list(m.shape)} is not broadcastable to the "
                           f"input's shape {list(x._data.shape)}")
    return result(out, WhereBackward, (None, x), (m, (), x._data.shape))
