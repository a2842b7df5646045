"""Reductions (sum, mean, var, std, logsumexp, prod, any, all, count_nonzero) and their
backwards: a reduced gradient is broadcast back over the reduced dims. The extrema (max, min,
amax, amin, argmax, argmin) are in ops/extremum.py."""
from __future__ import annotations

import builtins  # this module defines sum, max, min, any, all: the builtins are builtins.max, ...

import numpy as np

from .. import _C
from ..graph.node import Node
from ..dtypes import as_dtype, get_default_dtype
from ..tensor import Tensor
from . import array as A
from ._graph import result, saved_input, saved_output

_wrap = Tensor._wrap


def normalize_dims(dim, ndim: int, name: str = "dim"):
    """``dim`` (None, int, or sequence) -> sorted tuple of non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    out = []
    for d in dim:
        d = int(d)
        lo, hi = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
        if not lo <= d <= hi:
            raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {d})")
        d = d % ndim if ndim > 0 else 0
        if d in out:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(sorted(out))


def _keep_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _broadcast_back(g, shape, dims, keepdim):
    """A reduced gradient as a read-only broadcast view of ``shape`` (stride 0 along ``dims``),
    no copy: PyTorch's sum backward returns ``grad.expand(sizes)`` the same way. The kernels
    that read it make it contiguous where they must; an in-place write to it raises, as to an
    expanded view."""
    if not keepdim:
        g = A.contiguous(g).reshape(_keep_shape(shape, dims))
    return np.broadcast_to(g, shape)


# --8<-- [start:sum_backward]
class SumBackward(Node):
    __slots__ = ()

    def apply(self, g):
        # a view: in an MLP's Hessian-vector product the gradient of (g . v).sum() reaches
        # each parameter-shaped product this way; the copy it replaced was 9 of its 15 copies
        shape, dims, keepdim, s = self.saved
        return (_broadcast_back(A.scale(g, s) if s != 1.0 else g, shape, dims, keepdim),)

    def apply_differentiable(self, g):
        shape, dims, keepdim, s = self.saved
        g = (g if keepdim else g.reshape(_keep_shape(shape, dims))).expand(shape)
        return (g * s if s != 1.0 else g,)
# --8<-- [end:sum_backward]


def _times_constant_mask(node, g, shape, dims, keepdim):
    """The double-backward of a reduction whose gradient is g times a 0/1 (or 1/count) mask
    that depends on x only through comparisons (max, min, amax): g times that constant
    mask, read off ``apply`` with g = 1."""
    mask = node.apply(A.full(tuple(g.shape), 1.0, g._data.dtype))[0]
    gk = g if keepdim else g.reshape(_keep_shape(shape, dims))
    return (gk * _wrap(mask),)


def _reduce_input(x: Tensor, dims):
    d = x._data
    if d.ndim == 0:
        return d.reshape(1), (0,)
    return d, dims


def sum(x: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Sum of the elements: of all of them, or along ``dim`` (an int or a tuple of ints).

    out = sum_i x_i over the reduced dims. ``keepdim=True`` keeps each reduced dim with
    size 1, so the result still broadcasts against ``x`` (handy for normalizing:
    ``x / x.sum(1, keepdim=True)``). Bool and int64 inputs sum to int64, as in PyTorch;
    ``dtype`` casts the input first. Backward: every element gets the gradient of its sum
    (d out / d x_i = 1): the gradient is broadcast back over the reduced dims.

    Shapes: (*) -> () with dim=None; (d0, d1) -> (d1,) with dim=0, (d0, 1) with dim=1 and
    keepdim=True.

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.sum(x)
    tensor(10.0000)
    >>> md.sum(x, 0)                     # down the columns
    tensor([4.0000, 6.0000])
    >>> md.sum(x, 1, keepdim=True)       # along each row, kept as a column
    tensor([[3.0000],
            [7.0000]])
    >>> md.sum(md.tensor([True, True, False]))   # counts the Trues
    tensor(2)
    """
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    if dtype is not None:
        d = A.cast(d, as_dtype(dtype).np)
    elif d.dtype.kind == "b":
        d = A.cast(d, np.int64)
    out = A.reduce(A.R_SUM, d, dims, keepdim) if d.ndim else A.copy(d)
    return result(out, SumBackward, (x,), (x._data.shape, dims, keepdim, 1.0))


def mean(x: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Arithmetic mean: of all elements, or along ``dim`` (an int or a tuple of ints).

    out = (1 / n) sum_i x_i, n the number of elements reduced. Floating dtypes only (an
    int tensor raises RuntimeError, as in PyTorch; pass ``dtype=md.float32`` or convert
    first). The mean over zero elements is nan. ``keepdim`` as in :func:`sum`. Backward:
    d out / d x_i = 1 / n.

    Shapes: (*) -> () with dim=None; the reduced dims are removed (or kept as 1).

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.mean(x), md.mean(x, 1)
    (tensor(2.5000), tensor([1.5000, 3.5000]))
    """
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    if dtype is not None:
        d = A.cast(d, as_dtype(dtype).np)
    if d.dtype.kind in "bi":
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {x.dtype.name.capitalize()}")
    n = 1
    for i in dims:
        n *= d.shape[i]
    if d.ndim == 0:
        out = A.copy(d)
    elif n == 0:
        out = A.full(tuple(s for i, s in enumerate(d.shape) if i not in dims) if not keepdim
                     else _keep_shape(d.shape, dims), np.nan, d.dtype)
    else:
        out = A.reduce(A.R_SUM, d, dims, keepdim, 1.0 / n)
    return result(out, SumBackward, (x,), (d.shape, dims, keepdim, 1.0 / builtins.max(n, 1)))



# --8<-- [start:var_backward]
class VarBackward(Node):
    """d var / dx = 2 (x - mean) / (n - correction); std: divided by 2 std."""
    __slots__ = ()

    def apply(self, g):
        x, dims, keepdim, correction, out, is_std = self.get_saved()
        if x.size == 0:  # an empty input (reduced over an empty dim: NaN values) has an empty gradient
            return (A.zeros(x.shape, x.dtype),)
        n = 1
        for i in dims:
            n *= x.shape[i]
        mean_ = A.reduce(A.R_SUM, x, dims, True, 1.0 / n)
        centered = A.sub(x, mean_)
        gk = g if keepdim else A.contiguous(g).reshape(_keep_shape(x.shape, dims))
        if is_std:
            ok = out if keepdim else A.contiguous(out).reshape(_keep_shape(x.shape, dims))
            gk = A.div(gk, A.scale(ok, 2.0))
            # std == 0: every x equals the mean; gradient 0 (PyTorch), not 0 * inf = NaN
            gk = _C.where(A.binary_scalar(A.EQ, ok, 0.0), A.zeros((), gk.dtype), gk)
        return (A.mul(centered, A.scale(gk, 2.0 / builtins.max(n - correction, 1e-300))),)
    # --8<-- [end:var_backward]

    def apply_differentiable(self, g):  # 2 (x - mean) / (n - c), the mean's own dependence on x included
        x, dims, keepdim, correction, out, is_std = self.get_saved()
        X = saved_input(self, 0, x)
        if x.size == 0:
            return (X * 0.0,)
        n = 1
        for i in dims:
            n *= x.shape[i]
        kshape = _keep_shape(x.shape, dims)
        gk = g if keepdim else g.reshape(kshape)
        if is_std:
            ok = saved_output(self, out)
            ok = ok if keepdim else ok.reshape(kshape)
            gk = (gk / (ok * 2.0)).masked_fill(_wrap(A.binary_scalar(A.EQ, A.contiguous(out).reshape(kshape), 0.0)),
                                               0.0)
        centered = X - X.sum(dim=dims, keepdim=True) * (1.0 / n)
        return (centered * (gk * (2.0 / builtins.max(n - correction, 1e-300))),)


def var(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, _std=False) -> Tensor:
    """Variance: of all elements, or along ``dim``.

    var = sum_i (x_i - mean)^2 / (n - correction). The default ``correction=1`` (Bessel's
    correction, ``unbiased=True``) is the unbiased sample variance, as in PyTorch;
    ``correction=0`` (``unbiased=False``) divides by n, the population variance that
    BatchNorm and LayerNorm use. Floating dtypes only. Backward:
    d var / d x_i = 2 (x_i - mean) / (n - correction).

    Shapes: (*) -> () with dim=None; the reduced dims are removed (or kept as 1).

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.var(x)                          # sum of squared deviations 5, over n - 1 = 3
    tensor(1.6667)
    >>> md.var(x, 1), md.var(x, 1, correction=0)
    (tensor([0.5000, 0.5000]), tensor([0.2500, 0.2500]))
    """
    if isinstance(unbiased, bool) or unbiased is None:
        pass
    else:  # var(x, dim, keepdim) positional misuse guard
        raise TypeError("unbiased must be a bool")
    if correction is None:
        correction = 0 if unbiased is False else 1
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    if d.dtype.kind in "bi":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    src = d.reshape(1) if d.ndim == 0 else d
    out = A.variance(src, dims if d.ndim else (0,), keepdim, float(correction))
    if d.ndim == 0:
        out = out.reshape(())
    if _std:
        out = A.unary(A.SQRT, out)
    return result(out, VarBackward, (x,), (d, dims, keepdim, float(correction), out, _std))


def std(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Standard deviation: the square root of :func:`var` (same ``dim``, ``correction``, ``keepdim``).

    std = sqrt(sum_i (x_i - mean)^2 / (n - correction)), correction=1 by default as in
    PyTorch. Backward: d std / d x_i = (x_i - mean) / ((n - correction) std), taken as 0
    where std == 0 (all elements equal), as in PyTorch.

    Shapes: (*) -> () with dim=None; the reduced dims are removed (or kept as 1).

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.std(x), md.std(x, 0)
    (tensor(1.2910), tensor([1.4142, 1.4142]))
    """
    return var(x, dim, unbiased, keepdim, correction=correction, _std=True)


class LogsumexpBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, out, dims, keepdim = self.get_saved()
        if not keepdim:
            g = A.contiguous(g).reshape(_keep_shape(x.shape, dims))
            out = A.contiguous(out).reshape(_keep_shape(x.shape, dims))
        return (A.mul(g, A.unary(A.EXP, A.sub(x, out))),)

    def apply_differentiable(self, g):  # g softmax(x), the output read in this node's graph
        x, out, dims, keepdim = self.get_saved()
        kshape = _keep_shape(x.shape, dims)
        O = saved_output(self, out)
        if not keepdim:
            g, O = g.reshape(kshape), O.reshape(kshape)
        return (g * (saved_input(self, 0, x) - O).exp(),)


def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x), dim)), computed stably as max + log(sum(exp(x - max))).

    Computed naively, exp overflows to inf for inputs above ~88 (float32); shifting by the
    maximum m keeps every exp in (0, 1] and gives the same value. ``dim`` is required (an
    int or a tuple of ints); ints and bools are computed in the default float dtype.
    Backward: d out / d x_i = exp(x_i - out), the softmax of x.

    Shapes: (*) -> the reduced dims removed (or kept as 1 with ``keepdim=True``).

    >>> import minidl as md
    >>> md.logsumexp(md.tensor([[1., 2.], [3., 4.]]), 1)
    tensor([2.3133, 4.3133])
    >>> x = md.tensor([1000., 1000.])
    >>> md.logsumexp(x, 0), md.log(md.exp(x).sum())     # the naive form overflows
    (tensor(1000.6932), tensor(inf))
    """
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    if d.dtype.kind in "bi":
        d = A.cast(d, get_default_dtype().np)
    src = d.reshape(1) if d.ndim == 0 else d
    # --8<-- [start:logsumexp_forward]
    if len(dims) == 1:
        out = A.reduce(A.R_LOGSUMEXP, src, dims, keepdim)
    else:  # max-shifted composite over several dims
        m = A.reduce(A.R_MAX, src, dims, True)
        m = _C.where(A.unary(A.ISINF, m), A.zeros((), m.dtype), m)
        s = A.reduce(A.R_SUM, A.unary(A.EXP, A.sub(src, m)), dims, True)
        out = A.add(A.unary(A.LOG, s), m)
        if not keepdim:
            out = out.reshape([n for i, n in enumerate(src.shape) if i not in dims])
    # --8<-- [end:logsumexp_forward]
    if d.ndim == 0:
        out = out.reshape(())
    return result(out, LogsumexpBackward, (x,), (src if d.ndim else d, out, dims, keepdim))


class ProdBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, out, dims, keepdim = self.get_saved()
        if not keepdim:
            g = A.contiguous(g).reshape(_keep_shape(x.shape, dims))
            out = A.contiguous(out).reshape(_keep_shape(x.shape, dims))
        return (A.div(A.mul(g, out), x),)  # exact where no element is 0

    def apply_differentiable(self, g):  # as apply: exact where no element is 0
        x, out, dims, keepdim = self.get_saved()
        kshape = _keep_shape(x.shape, dims)
        O = saved_output(self, out)
        if not keepdim:
            g, O = g.reshape(kshape), O.reshape(kshape)
        return (g * O / saved_input(self, 0, x),)


def prod(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Product of the elements: of all of them, or along ``dim``.

    out = prod_i x_i. Backward: d out / d x_i = prod_{j != i} x_j, computed as out / x_i.
    Where minidl differs from PyTorch: that division is wrong where an element is 0 (it
    gives nan instead of the product of the others, which PyTorch computes); the forward
    is exact.

    Shapes: (*) -> () with dim=None; the reduced dims removed (or kept as 1) otherwise.

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.prod(x), md.prod(x, 1)
    (tensor(24.0000), tensor([ 2.0000, 12.0000]))
    """
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    src = d.reshape(1) if d.ndim == 0 else d
    out = A.reduce(A.R_PROD, src, dims if d.ndim else (0,), keepdim)
    if d.ndim == 0:
        out = out.reshape(())
    return result(out, ProdBackward, (x,), (d, out, dims, keepdim))


def _logical(x: Tensor, dim, keepdim, op):
    d = x._data
    if d.dtype != np.bool_:
        d = A.binary_scalar(A.NE, d, 0.0)
    dims = normalize_dims(dim, x.ndim)
    src = d.reshape(1) if d.ndim == 0 else d
    out = A.reduce(op, src, dims if d.ndim else (0,), keepdim)
    return _wrap(out.reshape(()) if d.ndim == 0 else out)


def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """True if any element is True (nonzero): over all elements, or along ``dim``.

    Non-bool inputs count as True where they are nonzero. A bool tensor; not differentiable.

    Shapes: (*) -> () with dim=None; the reduced dims removed (or kept as 1) otherwise.

    >>> import minidl as md
    >>> b = md.tensor([[True, False], [False, False]])
    >>> md.any(b), md.any(b, 1)
    (tensor(True), tensor([ True, False]))
    """
    return _logical(x, dim, keepdim, A.R_ANY)


def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """True if every element is True (nonzero): over all elements, or along ``dim``.

    Non-bool inputs count as True where they are nonzero. A bool tensor; not differentiable.

    Shapes: (*) -> () with dim=None; the reduced dims removed (or kept as 1) otherwise.

    >>> import minidl as md
    >>> b = md.tensor([[True, False], [True, True]])
    >>> md.all(b), md.all(b, 1)
    (tensor(False), tensor([False,  True]))
    """
    return _logical(x, dim, keepdim, A.R_ALL)


def count_nonzero(x: Tensor, dim=None) -> Tensor:
    """The number of nonzero elements: in all of ``x``, or along ``dim``; int64.

    Shapes: (*) -> () with dim=None; the reduced dims removed otherwise.

    >>> import minidl as md
    >>> x = md.tensor([[0, 1, 2], [3, 0, 0]])
    >>> md.count_nonzero(x), md.count_nonzero(x, 1)
    (tensor(3), tensor([2, 1]))
    """
    dims = normalize_dims(dim, x.ndim)
    nonzero = A.cast(A.binary_scalar(A.NE, x._data, 0.0), np.int64)
    return _wrap(A.reduce(A.R_SUM, nonzero, dims, False) if nonzero.ndim else nonzero)
