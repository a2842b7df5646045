"""Triangles and diagonals of matrices: tril/triu (the causal mask of a decoder), diagonal,
diag, diag_embed and trace. Each acts on the last two dims (or the two dims given), so a
batch of matrices (*, n, m) is handled in one call.

tril/triu write each output row once: a copy of its kept columns and a fill of the others
(cpp/ops/triangular/, threaded over rows); bench/python/bench_einsum.py times tril of
2048 x 2048 against torch."""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from . import inplace
from ._graph import linear_grads, result
from .reduce import sum as _sum
from .shape import _dim, clone

def _keep_triangle(d: np.ndarray, diagonal: int, lower: bool) -> np.ndarray:
    """A new array: ``d`` with the elements outside the triangle set to 0 (the forward and,
    applied to the gradient, the backward)."""
    return _C.keep_triangle(d, diagonal, lower)


# --8<-- [start:triangle_backward]
class TriangleBackward(Node):
    """The gradient passes where the element was kept: the same triangle of the gradient."""
    __slots__ = ()

    def apply(self, g):
        diagonal, lower = self.saved
        return (_keep_triangle(g, diagonal, lower),)

    def apply_differentiable(self, g):  # the same triangle, recorded
        diagonal, lower = self.saved
        return ((tril if lower else triu)(g, diagonal),)
# --8<-- [end:triangle_backward]


def _triangle(x: Tensor, diagonal: int, lower: bool, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    if x.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    diagonal = int(diagonal)
    return result(_keep_triangle(x._data, diagonal, lower), TriangleBackward, (x,), (diagonal, lower))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of each matrix in ``input``; the elements above it are 0.

    out[..., i, j] = input[..., i, j] if j - i <= diagonal else 0. ``diagonal = 0`` keeps the
    main diagonal, ``diagonal = 1`` one more diagonal above it, ``-1`` drops the main one.
    ``md.tril(md.ones(T, T))`` is the causal mask of a decoder: position i sees j <= i.
    Backward: the gradient passes where the element was kept, 0 elsewhere.

    Shapes: (*, n, m) -> (*, n, m).

    >>> import minidl as md
    >>> md.tril(md.ones(3, 3))
    tensor([[1.0000, 0.0000, 0.0000],
            [1.0000, 1.0000, 0.0000],
            [1.0000, 1.0000, 1.0000]])
    >>> md.tril(md.tensor([[1, 2, 3], [4, 5, 6]]), diagonal=1)
    tensor([[1, 2, 0],
            [4, 5, 6]])
    """
    return _triangle(input, diagonal, True, "tril")


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of each matrix in ``input``; the elements below it are 0.

    out[..., i, j] = input[..., i, j] if j - i >= diagonal else 0. ``diagonal = 1`` drops
    the main diagonal: ``md.triu(md.ones(T, T), 1).bool()`` marks the future positions a
    causal attention masks out. Backward: the gradient passes where the element was kept.

    Shapes: (*, n, m) -> (*, n, m).

    >>> import minidl as md
    >>> md.triu(md.ones(3, 3), diagonal=1)
    tensor([[0.0000, 1.0000, 1.0000],
            [0.0000, 0.0000, 1.0000],
            [0.0000, 0.0000, 0.0000]])
    """
    return _triangle(input, diagonal, False, "triu")


def tril_(x: Tensor, diagonal: int = 0) -> Tensor:
    """``x.tril_(diagonal)``: :func:`tril` in place.

    >>> import minidl as md
    >>> x = md.ones(2, 2)
    >>> x.tril_()
    tensor([[1.0000, 0.0000],
            [1.0000, 1.0000]])
    """
    return inplace.apply_(x, lambda old: tril(old, diagonal), keeps_old=False)


def triu_(x: Tensor, diagonal: int = 0) -> Tensor:
    """``x.triu_(diagonal)``: :func:`triu` in place.

    >>> import minidl as md
    >>> x = md.ones(2, 2)
    >>> x.triu_(1)
    tensor([[0.0000, 1.0000],
            [0.0000, 0.0000]])
    """
    return inplace.apply_(x, lambda old: triu(old, diagonal), keeps_old=False)


# --- diagonals ---------------------------------------------------------------------------
# --8<-- [start:diagonal_view]
def _diagonal_view(a: np.ndarray, offset: int, d1: int, d2: int, writeable: bool) -> np.ndarray:
    """The strided view of ``a`` whose last dim walks the ``offset`` diagonal of dims (d1, d2).

    Element k is a[.., k + max(-offset, 0) (on d1), .., k + max(offset, 0) (on d2), ..]: one
    stride, the sum of the two dims' strides, as PyTorch's diagonal view."""
    shape, strides = a.shape, a.strides
    row0, col0 = max(-offset, 0), max(offset, 0)
    length = max(min(shape[d1] - row0, shape[d2] - col0), 0)
    rest = [i for i in range(a.ndim) if i not in (d1, d2)]
    out_shape = [shape[i] for i in rest] + [length]
    if length == 0 or 0 in out_shape:
        return np.empty(out_shape, dtype=a.dtype)
    start = [slice(None)] * a.ndim
    start[d1], start[d2] = slice(row0, None), slice(col0, None)
    return np.lib.stride_tricks.as_strided(a[tuple(start)], out_shape,
                                           [strides[i] for i in rest] + [strides[d1] + strides[d2]],
                                           writeable=writeable)
# --8<-- [end:diagonal_view]


# --8<-- [start:diagonal_backward]
class DiagonalBackward(Node):
    """The gradient of a diagonal goes back onto that diagonal of a zero tensor."""
    __slots__ = ()
    is_view = True  # its result shares the input's memory (ops/inplace.py)

    def apply(self, g):
        shape, np_dtype, offset, d1, d2 = self.saved
        gx = A.zeros(shape, np_dtype)
        if g.size:
            _C.copy_(_diagonal_view(gx, offset, d1, d2, True), g)
        return (gx,)

    def apply_differentiable(self, g):  # linear: its adjoint is the diagonal again
        shape, np_dtype, offset, d1, d2 = self.saved
        return linear_grads(self, g, (lambda h: diagonal(h, offset, d1, d2),))
# --8<-- [end:diagonal_backward]


def _two_dims(x: Tensor, dim1: int, dim2: int):
    nd = x.ndim
    d1, d2 = _dim(dim1, nd), _dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The elements input[..., i, ..., i + offset, ...] of dims (dim1, dim2), as a new last dim.

    ``offset > 0`` is a diagonal above the main one, ``offset < 0`` below. The result is a
    view (no data moves), as in PyTorch; where minidl differs: the view is read-only, so an
    in-place write into it raises instead of writing into ``input`` (clone it first).
    Backward: the gradient is placed on that diagonal of a zero tensor.

    Shapes: (d0, ..., d_dim1, ..., d_dim2, ...) -> (the other dims..., L), with
    L = max(min(d_dim1 - max(-offset, 0), d_dim2 - max(offset, 0)), 0).

    >>> import minidl as md
    >>> x = md.arange(9.).reshape(3, 3)
    >>> md.diagonal(x), md.diagonal(x, 1), md.diagonal(x, -2)
    (tensor([0.0000, 4.0000, 8.0000]), tensor([1.0000, 5.0000]), tensor([6.0000]))
    >>> md.diagonal(md.zeros(2, 3, 4), dim1=-2, dim2=-1).shape      # one diagonal per batch entry
    minidl.Size([2, 3])
    """
    if input.ndim < 2:
        raise RuntimeError(f"diagonal(): expected a tensor with at least 2 dimensions, but got {input.ndim}D")
    d1, d2 = _two_dims(input, dim1, dim2)
    offset = int(offset)
    d = input._data
    return result(_diagonal_view(d, offset, d1, d2, False), DiagonalBackward, (input,),
                  (d.shape, d.dtype, offset, d1, d2))


# --8<-- [start:diag_embed_backward]
class DiagEmbedBackward(Node):
    __slots__ = ()

    def apply(self, g):
        offset, d1, d2 = self.saved
        return (A.contiguous(_diagonal_view(g, offset, d1, d2, False)),)

    def apply_differentiable(self, g):  # linear: its adjoint is diag_embed again
        offset, d1, d2 = self.saved
        return linear_grads(self, g, (lambda h: diag_embed(h, offset, d1, d2),))
# --8<-- [end:diag_embed_backward]


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices whose ``offset`` diagonal (in dims dim1, dim2) holds the last dim of ``input``.

    out[..., i, i + offset] = input[..., i] (in dims dim1, dim2), every other element 0; the
    inverse of :func:`diagonal` on its diagonal. Backward: the gradient's diagonal.

    Shapes: (*, n) -> a tensor with one dim more, where dims dim1 and dim2 (of the output)
    have size n + |offset| and the other dims are (*) in order.

    >>> import minidl as md
    >>> md.diag_embed(md.tensor([[1., 2.], [3., 4.]]))
    tensor([[[1.0000, 0.0000],
             [0.0000, 2.0000]],
    <BLANKLINE>
            [[3.0000, 0.0000],
             [0.0000, 4.0000]]])
    """
    nd = input.ndim + 1
    d1, d2 = _dim(dim1, nd), _dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    offset = int(offset)
    d = input._data
    size = (d.shape[-1] if d.ndim else 1) + abs(offset)
    rest = list(d.shape[:-1])
    shape = []
    for i in range(nd):
        shape.append(size if i in (d1, d2) else rest.pop(0))
    out = A.zeros(tuple(shape), d.dtype)
    if out.size:
        _C.copy_(_diagonal_view(out, offset, d1, d2, True), d.reshape(d.shape or (1,)))
    return result(out, DiagEmbedBackward, (input,), (offset, d1, d2))


_diagonal = diagonal  # diag's argument named ``diagonal`` (PyTorch's name) hides the function


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A vector to a diagonal matrix, or a matrix to its diagonal (two ops under one name).

    - 1-D input (n,): the square matrix (n + |diagonal|,) * 2 with ``input`` on its
      ``diagonal``-th diagonal, zeros elsewhere (:func:`diag_embed` of a vector).
    - 2-D input (n, m): its ``diagonal``-th diagonal as a vector (:func:`diagonal`), a copy.

    >>> import minidl as md
    >>> md.diag(md.tensor([1., 2.]))
    tensor([[1.0000, 0.0000],
            [0.0000, 2.0000]])
    >>> md.diag(md.tensor([[1, 2], [3, 4]]), 1)
    tensor([2])
    """
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return clone(_diagonal(input, diagonal))
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix: trace(A) = sum_i A[i, i].

    Integer inputs give an int64 sum, as :func:`sum`. Backward: the gradient is the identity
    matrix (of the input's shape) times the output's gradient.

    Shapes: (n, m) -> ().

    >>> import minidl as md
    >>> md.trace(md.arange(9.).reshape(3, 3))
    tensor(12.0000)
    """
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return _sum(diagonal(input))
