"""``scatter_reduce``: reduce ``src`` into ``input`` at ``index`` along one dim with sum, mean,
prod, amax or amin, and the gradient of each reduction (PyTorch's rules: prod through the
product of the others, amax/amin split evenly between ties).

    out[index[i][j]][j] = reduce(out[index[i][j]][j], src[i][j])        (dim 0)

The per-element scatter kernel is ``ops/indexing.py``'s (cpp/ops/indexing/indexing_dim.cpp).
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ._graph import linear_grads, result
from .indexing import (ADD, ASSIGN, MULTIPLY, _check_extents, _gather, _index_array, _pad_to, _scatter_,
                       scatter_add)
from .shape import _dim


# --- scatter_reduce -------------------------------------------------------------------------
AMAX, AMIN = 3, 4
_REDUCTIONS = {"sum": ADD, "mean": ADD, "prod": MULTIPLY, "amax": AMAX, "amin": AMIN}


def _identity(reduce: str, np_dtype):
    """The value a position starts from when include_self=False: it leaves the reduction as is."""
    if reduce in ("amax", "amin"):
        big = np.iinfo(np_dtype).max if np.dtype(np_dtype).kind == "i" else float("inf")
        return -big if reduce == "amax" else big
    return 1 if reduce == "prod" else 0


def _scatter_reduce(x: np.ndarray, dim: int, idx: np.ndarray, src: np.ndarray, reduce: str, include_self: bool):
    """(result, count): count is how many values each position averaged (mean only)."""
    out = A.copy(x)
    if not include_self:
        _scatter_(out, dim, idx, A.full(idx.shape, _identity(reduce, x.dtype), x.dtype), ASSIGN)
    _scatter_(out, dim, idx, src, _REDUCTIONS[reduce])
    if reduce != "mean":
        return out, None
    count = A.full(x.shape, 1 if include_self else 0, x.dtype)
    _scatter_(count, dim, idx, A.full(idx.shape, 1, x.dtype), ADD)
    count = _C.where(A.binary_scalar(A.EQ, count, 0), A.full((), 1, x.dtype), count)
    return A.binary(A.FLOOR_DIVIDE if x.dtype.kind == "i" else A.DIV, out, count), count


def _is(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1.0 where a == b, else 0.0, in a's dtype."""
    return A.cast(A.binary(A.EQ, a, b), a.dtype)


class ScatterReduceBackward(Node):
    """PyTorch's formulas (FunctionsManual.cpp, scatter_reduce_backward): sum/mean pass the
    gradient through (mean divided by the count); amax/amin split it evenly among the values
    equal to the result; prod multiplies it by the product of the other factors (computed
    without dividing by a zero factor)."""
    __slots__ = ()

    def apply(self, g):
        x, src, dim, idx, reduce, include_self, out, count, src_shape = self.get_saved()
        g = A.contiguous(g)
        if reduce == "sum":
            gx, gs = g, _gather(g, dim, idx)
        elif reduce == "mean":
            gx = A.div(g, count)
            gs = A.div(_gather(g, dim, idx), _gather(count, dim, idx))
        elif reduce in ("amax", "amin"):
            value = _gather(out, dim, idx)
            self_is, src_is = _is(x, out), _is(src, value)
            n = A.copy(self_is)
            _scatter_(n, dim, idx, src_is, ADD)
            share = A.div(g, n)
            gx, gs = A.mul(self_is, share), A.mul(src_is, _gather(share, dim, idx))
        else:  # prod
            one = A.full((), 1, x.dtype)
            masked_x = _C.where(A.binary_scalar(A.EQ, x, 0), one, x)
            gx = A.div(A.mul(g, _scatter_reduce(masked_x, dim, idx, src, "prod", include_self)[0]), masked_x)
            src_zero = A.binary_scalar(A.EQ, src, 0)
            zeros_at = A.zeros(x.shape, x.dtype)
            _scatter_(zeros_at, dim, idx, A.cast(src_zero, x.dtype), ADD)
            single_zero = A.binary(A.LAND, src_zero, A.binary_scalar(A.EQ, _gather(zeros_at, dim, idx), 1))
            others = _scatter_reduce(x, dim, idx, _C.where(single_zero, one, src), "prod", include_self)[0]
            gs = _C.where(single_zero, _gather(A.mul(g, others), dim, idx),
                          A.div(_gather(A.mul(g, out), dim, idx), _C.where(src_zero, one, src)))
        if not include_self:
            gx = A.copy(gx)
            _scatter_(gx, dim, idx, A.zeros(idx.shape, gx.dtype), ASSIGN)
        return gx, _pad_to(gs, src_shape)

    def apply_differentiable(self, g):
        """sum, mean, amax, amin: linear in g with constant coefficients (counts, the 0/1
        masks of the winners; their slope in x and src is 0 almost everywhere): x's part
        is g times a mask (its own adjoint), src's part a gather scaled before and after,
        whose adjoint is the matching scatter-add. prod raises."""
        x, src, dim, idx, reduce, include_self, out, count, src_shape = self.get_saved()
        if reduce == "prod":
            raise RuntimeError(f"derivative for {self.name()} with reduce='prod' is not implemented for "
                               "create_graph=True (double backward)")
        mask_x = self.apply(A.full(tuple(g.shape), 1.0, g._data.dtype))[0]
        after, before = None, None  # gs = after * gather(before * g)
        if reduce == "mean":
            after = A.div(A.full(idx.shape, 1.0, count.dtype), _gather(count, dim, idx))
        elif reduce in ("amax", "amin"):
            self_is, src_is = _is(x, out), _is(src, _gather(out, dim, idx))
            n = A.copy(self_is)
            _scatter_(n, dim, idx, src_is, ADD)
            after, before = src_is, A.div(A.full(n.shape, 1.0, n.dtype), n)
        index = Tensor._wrap(idx)

        def src_part(h):
            used = h[tuple(slice(0, k) for k in idx.shape)] if tuple(h.shape) != idx.shape else h
            if after is not None:
                used = used * Tensor._wrap(A.cast(after, g._data.dtype))
            out_ = scatter_add(Tensor._wrap(A.zeros(tuple(g.shape), g._data.dtype)), dim, index, used)
            return out_ * Tensor._wrap(A.cast(before, g._data.dtype)) if before is not None else out_
        return linear_grads(self, g, (lambda h: h * Tensor._wrap(mask_x), src_part))


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """A copy of ``input`` where each position ``index`` points at is reduced with the ``src``
    values sent to it: ``reduce`` is "sum", "prod", "mean", "amax" or "amin".

    out[i][index[i][j]] = reduce(input[i][index[i][j]] (if include_self), all src[i][j'] with
    the same index)   (dim = 1). Positions no index points at keep input's value. "mean" of
    integers rounds down, as in PyTorch. Backward (as PyTorch): sum and mean pass the
    gradient back (mean divided by the count); amax/amin split it evenly among the tied
    maxima/minima; prod gives each factor the product of the others.

    Shapes: input (*), index (*'), src at least (*') -> (*).

    >>> import minidl as md
    >>> scores = md.tensor([1., 5., 2., 4.])
    >>> group = md.tensor([0, 0, 1, 1])
    >>> md.scatter_reduce(md.zeros(2), 0, group, scores, "amax", include_self=False)   # per-group max
    tensor([5.0000, 4.0000])
    >>> md.scatter_reduce(md.zeros(2), 0, group, scores, "mean", include_self=False)
    tensor([3.0000, 3.0000])
    """
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): src must be a Tensor, but got {type(src).__name__}")
    idx = _index_array(index, "scatter_reduce")
    x = input._data
    dim = _dim(dim, x.ndim)
    if src._data.dtype != x.dtype:
        raise RuntimeError("scatter_reduce(): Expected self.dtype to be equal to src.dtype")
    _check_extents("scatter_reduce", x.shape, idx.shape, dim, src._data.shape)
    values = A.contiguous(src._data[tuple(slice(0, n) for n in idx.shape)] if idx.ndim else src._data)
    out, count = _scatter_reduce(x, dim, idx, values, reduce, include_self)
    saved = (x, values, dim, idx, reduce, include_self, out, count, src._data.shape)
    return result(out, ScatterReduceBackward, (input, src), saved)
