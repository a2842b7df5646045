"""Reductions (sum, mean, var, std, max, min, argmax, argmin, logsumexp, prod, any, all)
and their backwards: a reduced gradient is broadcast back over the reduced dims."""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..dtypes import get_default_dtype
from ..tensor import Tensor
from . import array as A
from ._graph import needs_grad, result

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


def _expand(g, shape, dims, keepdim):
    """Broadcast a reduced gradient back to ``shape`` (a fresh contiguous array)."""
    if not keepdim:
        g = A.contiguous(g).reshape(_keep_shape(shape, dims))
    out = np.empty(shape, dtype=g.dtype)
    _C.copy_(out, g)
    return out


class SumBackward(Node):
    __slots__ = ()

    def apply(self, g):
        shape, dims, keepdim, s = self.saved
        g = _expand(g, shape, dims, keepdim)
        return (A.scale(g, s) if s != 1.0 else g,)


def _reduce_input(x: Tensor, dims):
    d = x._data
    if d.ndim == 0:
        return d.reshape(1), (0,)
    return d, dims


def sum(x: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    if dtype is not None:
        from ..dtypes import as_dtype
        d = A.cast(d, as_dtype(dtype).np)
    elif d.dtype.kind == "b":
        d = A.cast(d, np.int64)
    out = A.reduce(A.R_SUM, d, dims, keepdim) if d.ndim else A.copy(d)
    return result(out, SumBackward, (x,), (x._data.shape, dims, keepdim, 1.0))


def mean(x: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    if dtype is not None:
        from ..dtypes import as_dtype
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
    return result(out, SumBackward, (x,), (d.shape, dims, keepdim, 1.0 / builtins_max(n, 1)))


builtins_max = max


class VarBackward(Node):
    """d var / dx = 2 (x - mean) / (n - correction); std: divided by 2 std."""
    __slots__ = ()

    def apply(self, g):
        x, dims, keepdim, correction, out, is_std = self.get_saved()
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
        return (A.mul(centered, A.scale(gk, 2.0 / builtins_max(n - correction, 1e-300))),)


def var(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, _std=False) -> Tensor:
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
    return var(x, dim, unbiased, keepdim, correction=correction, _std=True)


class ExtremumBackward(Node):
    """max/min over all elements: the gradient is shared evenly by the elements equal to the
    result (PyTorch's rule for ties)."""
    __slots__ = ()

    def apply(self, g):
        x, out = self.get_saved()
        mask = A.binary(A.EQ, x, out)
        count = A.reduce(A.R_SUM, A.cast(mask, np.int64), tuple(range(x.ndim)))
        share = A.scale(g, 1.0 / builtins_max(int(count), 1))
        return (_C.where(mask, share, A.zeros((), g.dtype)),)


class IndexedExtremumBackward(Node):
    """max/min along a dim: the gradient goes to the position of the returned index."""
    __slots__ = ()

    def apply(self, g):
        shape, dim, idx, keepdim = self.get_saved()
        kshape = _keep_shape(shape, (dim,))
        if not keepdim:
            g = A.contiguous(g).reshape(kshape)
            idx = A.contiguous(idx).reshape(kshape)
        positions = _C.arange(0, shape[dim], 1, _C.DType.i64).reshape([shape[dim] if i == dim else 1 for i in range(len(shape))])
        hit = _C.binary(A.EQ, positions, idx)
        return (_C.where(hit, g, A.zeros((), g.dtype)),)


def _extremum(x: Tensor, dim, keepdim, is_max: bool):
    d = x._data
    if d.size == 0 and dim is None:
        raise RuntimeError(f"{'max' if is_max else 'min'}(): Expected reduction dim to be specified for "
                           "input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
    if dim is None:
        src = d.reshape(-1)
        out = A.reduce(A.R_MAX if is_max else A.R_MIN, src, (0,)).reshape(())
        return result(out, ExtremumBackward, (x,), (d, out))
    dims = normalize_dims(dim, x.ndim)
    src = d.reshape(1) if d.ndim == 0 else d
    if src.shape[dims[0]] == 0:
        raise IndexError(f"{'max' if is_max else 'min'}(): Expected reduction dim {dims[0]} to have non-zero size.")
    idx = A.reduce(A.R_ARGMAX if is_max else A.R_ARGMIN, src, dims, keepdim)
    values = A.reduce(A.R_MAX if is_max else A.R_MIN, src, dims, keepdim)
    if d.ndim == 0:
        idx, values = idx.reshape(()), values.reshape(())
    v = result(values, IndexedExtremumBackward, (x,), (src.shape, dims[0], idx, keepdim))
    from ..tensor import return_types_max
    return return_types_max(v, _wrap(idx))


def max(x: Tensor, dim=None, keepdim: bool = False):
    if isinstance(dim, Tensor):  # torch.max(a, b) is maximum
        from .elementwise import binary
        return binary(A.MAXIMUM, x, dim)
    return _extremum(x, dim, keepdim, True)


def min(x: Tensor, dim=None, keepdim: bool = False):
    if isinstance(dim, Tensor):
        from .elementwise import binary
        return binary(A.MINIMUM, x, dim)
    return _extremum(x, dim, keepdim, False)


class AmaxBackward(Node):
    """amax/amin: the gradient is shared evenly by the elements equal to the extremum of
    their slice (PyTorch's rule for ties, unlike max(dim), which picks one index)."""
    __slots__ = ()

    def apply(self, g):
        x, out, dims, keepdim = self.get_saved()
        kshape = _keep_shape(x.shape, dims)
        if not keepdim:
            g = A.contiguous(g).reshape(kshape)
            out = A.contiguous(out).reshape(kshape)
        mask = A.binary(A.EQ, x, out)
        count = A.reduce(A.R_SUM, A.cast(mask, g.dtype), dims, True)
        return (_C.where(mask, A.div(g, count), A.zeros((), g.dtype)),)


def _amax(x: Tensor, dim, keepdim: bool, is_max: bool):
    if dim is None:
        return _extremum(x, None, keepdim, is_max)
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    if d.ndim == 0:
        return _extremum(x, None, keepdim, is_max)
    for i in dims:
        if d.shape[i] == 0:
            raise IndexError(f"{'amax' if is_max else 'amin'}(): Expected reduction dim {i} to have non-zero size.")
    out = A.reduce(A.R_MAX if is_max else A.R_MIN, d, dims, keepdim)
    return result(out, AmaxBackward, (x,), (d, out, dims, keepdim))


def amax(x: Tensor, dim=None, keepdim: bool = False):
    return _amax(x, dim, keepdim, True)


def amin(x: Tensor, dim=None, keepdim: bool = False):
    return _amax(x, dim, keepdim, False)


def _arg(x: Tensor, dim, keepdim, op):
    d = x._data
    if dim is None:
        if d.size == 0:
            raise RuntimeError("argmax(): Expected reduction dim to be specified for input.numel() == 0.")
        out = A.reduce(op, d.reshape(-1), (0,))
        return _wrap(out.reshape((1,) * d.ndim if keepdim else ()))
    dims = normalize_dims(dim, x.ndim)
    src = d.reshape(1) if d.ndim == 0 else d
    if src.shape[dims[0]] == 0:
        raise IndexError(f"argmax(): Expected reduction dim {dims[0]} to have non-zero size.")
    out = A.reduce(op, src, dims, keepdim)
    return _wrap(out.reshape(()) if d.ndim == 0 else out)


def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg(x, dim, keepdim, A.R_ARGMAX)


def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg(x, dim, keepdim, A.R_ARGMIN)


class LogsumexpBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, out, dims, keepdim = self.get_saved()
        if not keepdim:
            g = A.contiguous(g).reshape(_keep_shape(x.shape, dims))
            out = A.contiguous(out).reshape(_keep_shape(x.shape, dims))
        return (A.mul(g, A.unary(A.EXP, A.sub(x, out))),)


def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x), dim)), computed stably as max + log(sum(exp(x - max)))."""
    dims = normalize_dims(dim, x.ndim)
    d = x._data
    if d.dtype.kind in "bi":
        d = A.cast(d, get_default_dtype().np)
    src = d.reshape(1) if d.ndim == 0 else d
    if len(dims) == 1:
        out = A.reduce(A.R_LOGSUMEXP, src, dims, keepdim)
    else:  # max-shifted composite over several dims
        m = A.reduce(A.R_MAX, src, dims, True)
        m = _C.where(A.unary(A.ISINF, m), A.zeros((), m.dtype), m)
        s = A.reduce(A.R_SUM, A.unary(A.EXP, A.sub(src, m)), dims, True)
        out = A.add(A.unary(A.LOG, s), m)
        if not keepdim:
            out = out.reshape([n for i, n in enumerate(src.shape) if i not in dims])
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


def prod(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
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
    return _logical(x, dim, keepdim, A.R_ANY)


def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _logical(x, dim, keepdim, A.R_ALL)


def count_nonzero(x: Tensor, dim=None) -> Tensor:
    return sum(_wrap(A.binary_scalar(A.NE, x._data, 0.0)), dim)
