"""Views and data movement: reshape/view, permute/transpose, squeeze/unsqueeze, expand,
clone, flip, repeat (joining and splitting: ops/join.py). Views share storage with their input (NumPy strided
views); their backward routes the gradient back through the inverse view."""
from __future__ import annotations

import builtins

import numpy as np

from .. import _C
from ..dtypes import as_dtype, from_numpy_dtype
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ._graph import result, sum_to

_wrap = Tensor._wrap


def _shape_arg(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(s) for s in args)


def _infer_shape(shape, numel, src_shape):
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for s in shape:
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s}")
    if neg:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        n *= s
    if n != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class ReshapeBackward(Node):
    __slots__ = ()
    is_view = True  # its result may share the input's memory (ops/inplace.py)

    def apply(self, g):
        return (A.reshaped(g, self.saved),)

    def apply_differentiable(self, g):
        return (g.reshape(self.saved),)


def reshape(x: Tensor, *shape) -> Tensor:
    """The elements of ``x`` in a new shape, read in row-major (C) order.

    The number of elements must stay the same; one dim may be -1 and is then inferred.
    The result is a view that shares memory with ``x`` when the strides allow it (always
    for a contiguous tensor), and a copy otherwise, as in PyTorch. Backward: the gradient
    is reshaped back to ``x.shape``.

    Shapes: (*a) -> ``shape``, with prod(a) == prod(shape).

    >>> import minidl as md
    >>> md.reshape(md.arange(6), (2, 3))
    tensor([[0, 1, 2],
            [3, 4, 5]])
    >>> md.reshape(md.arange(6), (3, -1))     # -1: inferred as 6 / 3 = 2
    tensor([[0, 1],
            [2, 3],
            [4, 5]])
    """
    d = x._data
    shape = _infer_shape(_shape_arg(shape), d.size, d.shape)
    out = A.view_or_none(d, shape)  # a view when the strides allow it
    if out is None:
        out = _C.contiguous(d).reshape(shape)
    return result(out, ReshapeBackward, (x,), d.shape)


def view(x: Tensor, *shape) -> Tensor:
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
        dt = as_dtype(shape[0])
        if dt.itemsize != x._data.dtype.itemsize:
            raise RuntimeError("view(dtype) with a different element size is not supported")
        return _wrap(x._data.view(dt.np))
    # --8<-- [start:view]
    d = x._data
    shape = _infer_shape(_shape_arg(shape), d.size, d.shape)
    out = A.view_or_none(d, shape)
    if out is None:
        raise RuntimeError(f"view size is not compatible with input tensor's size and stride (at least one "
                           f"dimension spans across two contiguous subspaces). Use .reshape(...) instead. "
                           f"(input shape {list(d.shape)}, requested {list(shape)})") from None
    return result(out, ReshapeBackward, (x,), d.shape)
    # --8<-- [end:view]


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge the dims ``start_dim`` .. ``end_dim`` (inclusive) into one.

    A :func:`reshape`, so a view where possible. ``md.flatten(x, 1)`` keeps the batch dim
    and flattens each sample, as before a linear layer. A 0-d tensor becomes shape (1,).

    Shapes: (d0, ..., d_s, ..., d_e, ...) -> (d0, ..., d_s * ... * d_e, ...).

    >>> import minidl as md
    >>> x = md.zeros(2, 3, 4)
    >>> md.flatten(x).shape, md.flatten(x, 1).shape
    (minidl.Size([24]), minidl.Size([2, 12]))
    """
    nd = x.ndim
    if nd == 0:
        return reshape(x, 1)
    s, e = _dim(start_dim, nd), _dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x._data.shape
    n = 1
    for i in range(s, e + 1):
        n *= shape[i]
    return reshape(x, shape[:s] + (n,) + shape[e + 1:])


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    """Split dim ``dim`` into several dims of ``sizes`` (the inverse of ``flatten``); one
    size may be -1 (inferred). A view where ``reshape`` gives one.

    Shapes: (.., n, ..) -> (.., *sizes, ..) with prod(sizes) = n.

    >>> import minidl as md
    >>> md.unflatten(md.zeros(2, 6), 1, (2, -1)).shape
    minidl.Size([2, 2, 3])
    """
    d = _dim(dim, x.ndim)
    shape = x._data.shape
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1 or (-1 not in sizes and known != shape[d]) or (-1 in sizes and (known == 0 or shape[d] % known)):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                           f"({shape[d]}) in the input tensor")
    return reshape(x, shape[:d] + sizes + shape[d + 1:])


def _dim(d: int, nd: int) -> int:
    lo, hi = (-nd, nd - 1) if nd else (-1, 0)
    if not lo <= d <= hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {d})")
    return d % nd if nd else 0


def squeeze(x: Tensor, dim=None) -> Tensor:
    """Remove dims of size 1: all of them, or only ``dim`` (an int or a tuple of ints).

    A dim named in ``dim`` whose size is not 1 is left alone (no error), as in PyTorch.
    A view (a reshape). The inverse is :func:`unsqueeze`.

    Shapes: (1, 3, 1) -> (3,) with dim=None; -> (3, 1) with dim=0.

    >>> import minidl as md
    >>> x = md.zeros(1, 3, 1)
    >>> md.squeeze(x).shape, md.squeeze(x, 0).shape, md.squeeze(x, 1).shape
    (minidl.Size([3]), minidl.Size([3, 1]), minidl.Size([1, 3, 1]))
    """
    shape = x._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = {_dim(d, x.ndim) for d in dims} if x.ndim else set()
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return reshape(x, new)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at position ``dim`` (-1: at the end).

    A view (a reshape). Used to line shapes up for broadcasting: a (3,) vector becomes a
    row (1, 3) or a column (3, 1).

    Shapes: (*a) -> (*a with a 1 inserted at ``dim``); ``dim`` in [-ndim-1, ndim].

    >>> import minidl as md
    >>> v = md.tensor([1, 2, 3])
    >>> md.unsqueeze(v, 0)
    tensor([[1, 2, 3]])
    >>> md.unsqueeze(v, 1)
    tensor([[1],
            [2],
            [3]])
    """
    d = _dim(dim, x.ndim + 1)
    # a new axis is always a view: no shape checks needed (1.4 us instead of reshape's 3.2 us
    # on a (28, 28) image, the last step of a per-sample transform)
    return result(x._data[(builtins.slice(None),) * d + (None,)], ReshapeBackward, (x,), x._data.shape)


class PermuteBackward(Node):
    __slots__ = ()
    is_view = True  # its result may share the input's memory (ops/inplace.py)

    def apply(self, g):
        return (g.transpose(self.saved),)  # inverse permutation, a view

    def apply_differentiable(self, g):
        return (g.permute(tuple(self.saved)),)


def permute(x: Tensor, *dims) -> Tensor:
    """Reorder the dims: output dim i is input dim ``dims[i]``.

    A view (only the strides change; no data moves), as in PyTorch. Backward: the gradient
    is permuted back by the inverse permutation. ``dims`` may be a tuple or separate ints.

    Shapes: (d0, d1, ..., d_{n-1}) -> (d_dims[0], d_dims[1], ...).

    >>> import minidl as md
    >>> x = md.zeros(2, 3, 4)
    >>> md.permute(x, (2, 0, 1)).shape
    minidl.Size([4, 2, 3])
    """
    dims = _shape_arg(dims)
    nd = x.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal "
                           f"to len(dims) = {len(dims)}")
    dims = tuple(_dim(d, nd) for d in dims)
    if len(set(dims)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    inverse = tuple(np.argsort(dims).tolist())
    return result(x._data.transpose(dims), PermuteBackward, (x,), inverse)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims, ``dim0`` and ``dim1``: for a matrix, the transpose (rows become columns).

    A view (the strides are swapped; no data moves). Backward: the gradient is transposed
    back.

    Shapes: (..., d_dim0, ..., d_dim1, ...) -> (..., d_dim1, ..., d_dim0, ...).

    >>> import minidl as md
    >>> md.transpose(md.tensor([[1, 2, 3], [4, 5, 6]]), 0, 1)
    tensor([[1, 4],
            [2, 5],
            [3, 6]])
    """
    nd = x.ndim
    if nd == 0:
        return x
    perm = list(range(nd))
    a, b = _dim(dim0, nd), _dim(dim1, nd)
    perm[a], perm[b] = perm[b], perm[a]
    return result(x._data.transpose(perm), PermuteBackward, (x,), tuple(perm))


def t(x: Tensor) -> Tensor:
    """The transpose of a matrix (dims 0 and 1 swapped); a 0-D or 1-D tensor is returned as is.

    A view, as in PyTorch. More than 2 dims raise RuntimeError (use ``transpose`` or ``.mT``).

    Shapes: (m, n) -> (n, m); (n,) -> (n,).

    >>> import minidl as md
    >>> md.t(md.tensor([[1, 2, 3]]))
    tensor([[1],
            [2],
            [3]])
    """
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x.ndim == 2 else x


class ExpandBackward(Node):
    __slots__ = ()
    is_view = True  # its result may share the input's memory (ops/inplace.py)

    def apply(self, g):
        return (A.sum_to(g, self.saved),)

    def apply_differentiable(self, g):
        return (sum_to(g, self.saved),)


def expand(x: Tensor, *sizes) -> Tensor:
    sizes = _shape_arg(sizes)
    shape = x._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        cur = shape[i - lead] if i >= lead else 1
        if s == -1:
            if i < lead:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = cur
        if cur != s and cur != 1:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}")
        target.append(s)
    out = np.broadcast_to(x._data, tuple(target))
    return result(out, ExpandBackward, (x,), shape)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, other.shape)


class CloneBackward(Node):
    __slots__ = ()

    def apply(self, g):
        return (g,)

    def apply_differentiable(self, g):
        return (g,)


def clone(x: Tensor) -> Tensor:
    """A copy of ``x`` with its own memory (still part of the autograd graph).

    Writes to the clone do not touch ``x``. Backward: the gradient passes through
    unchanged (to detach as well, use ``x.detach().clone()``).

    Shapes: (*) -> (*), same dtype.

    >>> import minidl as md
    >>> a = md.tensor([1., 2.])
    >>> c = md.clone(a)
    >>> c[0] = -1.
    >>> a, c
    (tensor([1.0000, 2.0000]), tensor([-1.0000,  2.0000]))
    """
    return result(A.copy(x._data), CloneBackward, (x,))


def contiguous(x: Tensor) -> Tensor:
    if x._data.flags.c_contiguous:
        return x
    return result(_C.contiguous(x._data), CloneBackward, (x,))


class CastBackward(Node):
    __slots__ = ()

    def apply(self, g):
        return (A.cast(g, self.saved),)

    def apply_differentiable(self, g):
        return (g.to(from_numpy_dtype(np.dtype(self.saved))),)


def to_dtype(x: Tensor, dt) -> Tensor:
    if x._data.dtype == dt.np:
        return x
    out = A.cast(x._data, dt.np)
    if not dt.is_floating_point:
        return _wrap(out)
    return result(out, CastBackward, (x,), x._data.dtype)


def repeat(x: Tensor, *sizes) -> Tensor:
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    lead = len(sizes) - x.ndim
    src = reshape(x, (1,) * lead + x._data.shape)
    # (r0, s0, r1, s1, ...) expanded, then merged: tile without a gather
    inter, final = [], []
    for r, s in zip(sizes, src._data.shape):
        inter += [r, s]
        final.append(r * s)
    e = expand(reshape(src, [v for p in zip([1] * len(sizes), src._data.shape) for v in p]), inter)
    return reshape(contiguous(e), final)


def flip(x: Tensor, dims) -> Tensor:
    """Reverse the order of the elements along each of ``dims`` (an int or a tuple).

    Where minidl differs from PyTorch: the result is a view with negative strides that
    shares memory with ``x`` (``torch.flip`` copies), so writing into it changes ``x``;
    ``clone()`` it first if you mean to write. Backward: the gradient is flipped back.

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> x = md.tensor([[1, 2], [3, 4]])
    >>> md.flip(x, 0)
    tensor([[3, 4],
            [1, 2]])
    >>> md.flip(x, (0, 1))
    tensor([[4, 3],
            [2, 1]])
    """
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    key = [builtins.slice(None)] * x.ndim
    for d in dims:
        key[_dim(d, x.ndim)] = builtins.slice(None, None, -1)
    d = x._data
    return result(d[tuple(key)], FlipBackward, (x,), tuple(key))


class FlipBackward(Node):
    __slots__ = ()
    is_view = True  # its result may share the input's memory (ops/inplace.py)

    def apply(self, g):
        return (g[self.saved],)

    def apply_differentiable(self, g):  # the saved index reverses the flipped dims: flip them back
        return (g.flip([i for i, k in enumerate(self.saved) if k.step == -1]),)
