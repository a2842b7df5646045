"""Scans along a dim: ``cumsum``, ``cumprod``, ``cummax``, ``cummin``, ``logcumsumexp``, and
``diff`` (the inverse of cumsum).

A scan (inclusive prefix operation) replaces each element by the combination of itself and
everything before it along ``dim``:

    cumsum:        y_j = x_0 + ... + x_j
    cumprod:       y_j = x_0 * ... * x_j
    cummax/cummin: y_j = max/min(x_0, ..., x_j), with the index where it was (the latest one
                   on ties; a NaN wins and stays, as in PyTorch)
    logcumsumexp:  y_j = log(exp(x_0) + ... + exp(x_j)), computed without overflow

Backward (g the incoming gradient):

    cumsum:        dx_i = g_i + ... + g_{n-1}              (a cumsum from the end)
    cumprod:       dx_i = sum_{j>=i} g_j prod_{k<=j, k!=i} x_k   (zeros handled exactly)
    cummax/cummin: dx_i = sum of g_j over the j whose index is i
    logcumsumexp:  dx_i = sum_{j>=i} g_j exp(x_i - y_j)

Float32 sums accumulate in double, as PyTorch's CPU kernels do. Where the C++ lives:
cpp/ops/scan/scan.cpp (one loop per op per line, the two backwards that are not scans, and a
row-at-a-time cumsum / cumprod for a dim that is not the last).
"""
from __future__ import annotations

import collections

import numpy as np

from .. import _C
from ..dtypes import as_dtype
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from .higher_order import recomputed_grads
from ._graph import linear_grads, result, saved_input
from .elementwise_functions import logical_xor
from .shape import to_dtype
from .join import cat, narrow
from .sort import SelectAlongDimBackward, line_dim

_wrap = Tensor._wrap
_OP = _C.ScanOp

return_types_cummax = collections.namedtuple("cummax", ["values", "indices"])
return_types_cummin = collections.namedtuple("cummin", ["values", "indices"])


def _run(d: np.ndarray, dim: int, op, reverse: bool = False):
    """The kernel on d (16-bit floats through float32, 0-d as 1 element): (y, indices or None)
    with d's shape and dtype."""
    src = A.to_f32(d) if A.is_low(d) else d
    y, idx = _C.scan(src.reshape(1) if d.ndim == 0 else src, dim, op, reverse)
    y = A.cast(y, d.dtype) if y.dtype != d.dtype else y
    return y.reshape(d.shape), (idx.reshape(d.shape) if idx is not None else None)


# --8<-- [start:cumsum_backward]
class CumsumBackward(Node):
    __slots__ = ()

    def apply(self, g):
        (dim,) = self.get_saved()
        return (_run(g, dim, _OP.sum, reverse=True)[0],)
    # --8<-- [end:cumsum_backward]

    def apply_differentiable(self, g):  # linear: the adjoint of a reversed cumsum is cumsum
        (dim,) = self.get_saved()
        return linear_grads(self, g, (lambda h: cumsum(h, dim),))


class CumprodBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, y, dim = self.get_saved()
        return (_scan_backward(_C.cumprod_backward, x, y, g, dim),)

    def apply_differentiable(self, g):
        """y_i = y_(i-1) x_i recomputed as a chain of recorded products (exact where x has zeros,
        one op per position along dim) and differentiated with create_graph=True."""
        x, y, dim = self.get_saved()
        X = saved_input(self, 0, x)

        def chain(X):
            line = X.reshape(1) if X.ndim == 0 else X
            d = dim % line.ndim
            parts = [narrow(line, d, 0, 1)]
            for i in range(1, line.shape[d]):
                parts.append(parts[-1] * narrow(line, d, i, 1))
            return cat(parts, d).reshape(tuple(g.shape)) if parts[0].numel() else line * 1.0
        return recomputed_grads((X,), chain, g)


class LogcumsumexpBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, y, dim = self.get_saved()
        return (_scan_backward(_C.logcumsumexp_backward, x, y, g, dim),)

    def apply_differentiable(self, g):
        """log(cumsum(exp(x - m))) + m with a constant shift m (the line's max: the result does
        not depend on it), recomputed and differentiated with create_graph=True."""
        x, y, dim = self.get_saved()
        line = x.reshape(1) if x.ndim == 0 else x
        d = dim % line.ndim
        shift = np.max(line, axis=d, keepdims=True) if line.size else np.zeros((), line.dtype)
        shift = Tensor._wrap(np.where(np.isfinite(shift), shift, 0.0).astype(line.dtype))

        def logcumsumexp_(X):
            L = X.reshape(line.shape)
            return (cumsum((L - shift).exp(), d).log() + shift).reshape(tuple(g.shape))
        return recomputed_grads((saved_input(self, 0, x),), logcumsumexp_, g)


def _scan_backward(kernel, x, y, g, dim):
    low = A.is_low(x)
    args = [A.to_f32(a) if low else A.contiguous(a) for a in (x, y, g)]
    args = [a.reshape(1) if a.ndim == 0 else a for a in args]
    gx = kernel(*args, dim).reshape(x.shape)
    return A.cast(gx, x.dtype) if low else gx


def _integer_to_int64(x: Tensor, dtype) -> Tensor:
    """PyTorch's result dtype for cumsum/cumprod: ``dtype`` if given, int64 for bool/int input."""
    if dtype is not None:
        return to_dtype(x, as_dtype(dtype))
    if x._data.dtype == np.bool_:
        return to_dtype(x, as_dtype(np.int64))
    return x


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative sum along ``dim``: y_j = x_0 + x_1 + ... + x_j.

    Shape: input's. bool and int64 inputs give int64 (PyTorch's rule); ``dtype`` casts the
    input first. Backward: dx_i = g_i + g_{i+1} + ... + g_{n-1}. The inverse of :func:`diff`
    (up to the first element).

    >>> import minidl as md
    >>> md.cumsum(md.tensor([[1., 2., 3.], [4., 5., 6.]]), dim=1)
    tensor([[ 1.0000,  3.0000,  6.0000],
            [ 4.0000,  9.0000, 15.0000]])
    >>> md.tensor([True, False, True]).cumsum(0)
    tensor([1, 1, 2])
    """
    x = _integer_to_int64(input, dtype)
    dim = line_dim(x, dim)
    y, _ = _run(x._data, dim, _OP.sum)
    return result(y, CumsumBackward if y.dtype.kind == "f" or A.is_low(y) else None, (x,), (dim,))


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative product along ``dim``: y_j = x_0 * x_1 * ... * x_j.

    Shape: input's; bool/int64 give int64 as in PyTorch. Backward:
    dx_i = sum_{j>=i} g_j prod_{k<=j, k!=i} x_k, exact when x holds zeros (no division by
    them: minidl divides by x_i only before the first zero, as PyTorch does).

    >>> import minidl as md
    >>> md.cumprod(md.tensor([1., 2., 3., 4.]), dim=0)
    tensor([ 1.0000,  2.0000,  6.0000, 24.0000])
    """
    x = _integer_to_int64(input, dtype)
    dim = line_dim(x, dim)
    y, _ = _run(x._data, dim, _OP.prod)
    return result(y, CumprodBackward if y.dtype.kind == "f" or A.is_low(y) else None, (x,), (x._data, y, dim))


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along ``dim``, without overflow: y_j = log(exp(x_0) + ... + exp(x_j)).

    Each step is y_j = m + log1p(exp(-|y_{j-1} - x_j|)) with m the larger of the two, so
    inputs of +-1000 give finite results. Float input only (PyTorch raises for integers too).
    Backward: dx_i = sum_{j>=i} g_j exp(x_i - y_j) = sum_j g_j softmax(x_0..x_j)_i.

    >>> import minidl as md
    >>> md.logcumsumexp(md.tensor([0., 0., 1000.]), dim=0)
    tensor([0.0000e+00, 6.9315e-01, 1.0000e+03])
    """
    d = input._data
    if not (d.dtype.kind == "f" or A.is_low(d)):
        raise NotImplementedError(f"\"logcumsumexp_out_cpu\" not implemented for '{input.dtype}': "
                                  "pass a floating point tensor (x.float())")
    dim = line_dim(input, dim)
    y, _ = _run(d, dim, _OP.logsumexp)
    return result(y, LogcumsumexpBackward, (input,), (d, y, dim))


def _cum_extremum(x: Tensor, dim, op, make):
    dim = line_dim(x, dim)
    d = x._data
    src = A.cast(d, np.int64) if d.dtype == np.bool_ else d
    y, idx = _run(src, dim, op)
    if y.dtype != d.dtype:
        y = A.cast(y, d.dtype)
    node = SelectAlongDimBackward if d.dtype.kind == "f" or A.is_low(d) else None
    values = result(y, node, (x,), (d.shape, dim, idx.reshape(1) if idx.ndim == 0 else idx))
    return make(values, _wrap(idx))


def cummax(input: Tensor, dim: int):
    """Running maximum along ``dim``: the named tuple ``(values, indices)`` with
    values_j = max(x_0, ..., x_j) and indices_j the position of that maximum (the latest one
    on ties; a NaN is the maximum from where it appears on). Shapes: input's (indices int64).
    Backward: each g_j goes to x[indices_j].

    >>> import minidl as md
    >>> md.cummax(md.tensor([1., 3., 2., 3., 5.]), dim=0)
    cummax(values=tensor([1.0000, 3.0000, 3.0000, 3.0000, 5.0000]), indices=tensor([0, 1, 1, 3, 4]))
    """
    return _cum_extremum(input, dim, _OP.max, return_types_cummax)


def cummin(input: Tensor, dim: int):
    """Running minimum along ``dim``: ``(values, indices)`` as :func:`cummax`, with min.

    >>> import minidl as md
    >>> md.cummin(md.tensor([[4., 2., 3., 1.]]), dim=1)
    cummin(values=tensor([[4.0000, 2.0000, 2.0000, 1.0000]]), indices=tensor([[0, 1, 1, 3]]))
    """
    return _cum_extremum(input, dim, _OP.min, return_types_cummin)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """n-th forward difference along ``dim``: out_j = x_{j+1} - x_j, applied ``n`` times.

    ``prepend`` / ``append`` (tensors with input's shape except along ``dim``) are
    concatenated before / after first. Shape: the length along ``dim`` shrinks by ``n``
    (never below 0). bool input gives x_{j+1} xor x_j, as in PyTorch. A composition of
    narrow and subtraction, so the gradient comes from theirs.

    >>> import minidl as md
    >>> md.diff(md.tensor([1., 4., 9., 16.]))
    tensor([3.0000, 5.0000, 7.0000])
    >>> md.diff(md.tensor([1., 4., 9., 16.]), n=2, prepend=md.tensor([0.]))
    tensor([2.0000, 2.0000, 2.0000])
    """
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    n = int(n)
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    dim = line_dim(input, dim)
    parts = [t if isinstance(t, Tensor) else None for t in (prepend, input, append)]
    for name, t in (("prepend", prepend), ("append", append)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"diff(): argument '{name}' must be Tensor, not {type(t).__name__}")
        if t is not None and t.ndim != input.ndim:
            raise RuntimeError(f"diff expects prepend or append to be the same dimension as input "
                               f"(got {name} with {t.ndim} dims, input has {input.ndim})")
    x = cat([t for t in parts if t is not None], dim) if (prepend is not None or append is not None) else input
    for _ in range(n):
        length = x.shape[dim]
        if length == 0:
            break
        later, earlier = narrow(x, dim, 1, length - 1), narrow(x, dim, 0, length - 1)
        x = logical_xor(later, earlier) if x._data.dtype == np.bool_ else later - earlier
    return x
