"""Extrema: max, min (over everything, or along a dim with the index), amax, amin, argmax,
argmin, and their backwards. The gradient of an extremum goes to the element(s) that hold it:
shared evenly by ties for a whole-tensor max/min and for amax/amin, to the returned index for
max/min along a dim (PyTorch's rules). Split from ops/reduce.py, whose helpers it uses."""
from __future__ import annotations

import builtins  # this module defines max and min: the builtins are builtins.max, builtins.min

import numpy as np

from .. import _C
from ..graph.node import Node
from ..tensor import Tensor, return_types_max
from . import array as A
from ._graph import result
from .elementwise import binary
from .reduce import _keep_shape, _times_constant_mask, normalize_dims

_wrap = Tensor._wrap


# --8<-- [start:extremum_backward]
class ExtremumBackward(Node):
    """max/min over all elements: the gradient is shared evenly by the elements equal to the
    result (PyTorch's rule for ties)."""
    __slots__ = ()

    def apply(self, g):
        x, out = self.get_saved()
        mask = A.binary(A.EQ, x, out)
        count = A.reduce(A.R_SUM, A.cast(mask, np.int64), tuple(range(x.ndim)))
        share = A.scale(g, 1.0 / builtins.max(int(count), 1))
        return (_C.where(mask, share, A.zeros((), g.dtype)),)

    def apply_differentiable(self, g):
        return _times_constant_mask(self, g, (), (), True)


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
    # --8<-- [end:extremum_backward]

    def apply_differentiable(self, g):
        shape, dim, idx, keepdim = self.get_saved()
        return _times_constant_mask(self, g, shape, (dim,), keepdim)


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
    return return_types_max(v, _wrap(idx))


def max(x: Tensor, dim=None, keepdim: bool = False):
    """The largest element; along ``dim``, the ``(values, indices)`` of the largest elements.

    Three forms, as in PyTorch:

    - ``md.max(x)``: a 0-d tensor, the maximum of all elements. Backward: the gradient is
      shared evenly by the elements equal to the maximum.
    - ``md.max(x, dim, keepdim=False)``: a named tuple ``(values, indices)`` (indices int64,
      the first position of the maximum on ties). Backward: the gradient goes to the
      returned index only.
    - ``md.max(x, other)`` with a tensor ``other``: the elementwise :func:`maximum`.

    Shapes: (*) -> () ; (d0, d1) with dim=1 -> values and indices (d0,), or (d0, 1) with
    keepdim=True.

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.max(x)
    tensor(4.0000)
    >>> values, indices = md.max(x, 1)
    >>> values, indices
    (tensor([2.0000, 4.0000]), tensor([1, 1]))
    """
    if isinstance(dim, Tensor):  # torch.max(a, b) is maximum
        return binary(A.MAXIMUM, x, dim)
    return _extremum(x, dim, keepdim, True)


def min(x: Tensor, dim=None, keepdim: bool = False):
    """The smallest element; along ``dim``, the ``(values, indices)`` of the smallest elements.

    The mirror image of :func:`max`, with the same three forms: ``md.min(x)`` (a 0-d
    tensor), ``md.min(x, dim, keepdim=False)`` (a named tuple ``(values, indices)``, the
    first position on ties) and ``md.min(x, other)`` (the elementwise :func:`minimum`).
    Where minidl differs from PyTorch: the named tuple's type is called ``max`` (its
    fields are the same, ``values`` and ``indices``).

    Shapes: (*) -> () ; (d0, d1) with dim=0 -> values and indices (d1,), or (1, d1) with
    keepdim=True.

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.min(x)
    tensor(1.0000)
    >>> values, indices = md.min(x, 0)
    >>> values, indices
    (tensor([1.0000, 2.0000]), tensor([0, 0]))
    """
    if isinstance(dim, Tensor):
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

    def apply_differentiable(self, g):
        x, out, dims, keepdim = self.get_saved()
        return _times_constant_mask(self, g, x.shape, dims, keepdim)


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
    """The maximum values along ``dim`` (an int or a tuple of ints), without the indices.

    Unlike ``max(x, dim)``, several dims can be reduced at once and no indices are
    returned. Backward: the gradient is shared evenly by the elements equal to the maximum
    of their slice (``max(x, dim)`` gives it all to one index), as in PyTorch.

    Shapes: (*) -> the reduced dims removed (or kept as 1); dim=None reduces everything.

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.amax(x, 1), md.amax(x, (0, 1))
    (tensor([2.0000, 4.0000]), tensor(4.0000))
    """
    return _amax(x, dim, keepdim, True)


def amin(x: Tensor, dim=None, keepdim: bool = False):
    """The minimum values along ``dim`` (an int or a tuple of ints), without the indices.

    The mirror image of :func:`amax`; ties share the gradient evenly.

    Shapes: (*) -> the reduced dims removed (or kept as 1); dim=None reduces everything.

    >>> import minidl as md
    >>> md.amin(md.tensor([[1., 2.], [3., 4.]]), 0)
    tensor([1.0000, 2.0000])
    """
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
    """The index of the largest element: in the flattened tensor, or along ``dim``.

    Ties return the first occurrence, as in PyTorch. The classic use: the predicted class
    is ``logits.argmax(dim=1)``. An int64 tensor; not differentiable.

    Shapes: (*) -> () with dim=None (an index into the flattened tensor); the reduced dim
    removed (or kept as 1) otherwise.

    >>> import minidl as md
    >>> x = md.tensor([[1., 5., 5.], [7., 2., 7.]])
    >>> md.argmax(x)                 # flattened: 7. sits at position 3
    tensor(3)
    >>> md.argmax(x, 1)              # per row; the first of the tied 5s
    tensor([1, 0])
    """
    return _arg(x, dim, keepdim, A.R_ARGMAX)


def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The index of the smallest element: in the flattened tensor, or along ``dim``.

    Ties return the first occurrence. An int64 tensor; not differentiable.

    Shapes: (*) -> () with dim=None; the reduced dim removed (or kept as 1) otherwise.

    >>> import minidl as md
    >>> x = md.tensor([[1., 5., 5.], [7., 2., 7.]])
    >>> md.argmin(x, 1), md.argmin(x, 1, keepdim=True).shape
    (tensor([0, 1]), minidl.Size([2, 1]))
    """
    return _arg(x, dim, keepdim, A.R_ARGMIN)
