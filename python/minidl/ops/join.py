"""Joining and splitting along a dim: ``cat`` (``concat``), ``stack``, ``split``, ``chunk``,
``tensor_split``, ``unbind``, ``narrow``. The pieces of a split are views of the input; cat
and stack copy. Backward: cat's gradient is split back into the inputs' slices, stack's is
one slice per input; the pieces of one split, chunk or unbind share one node, which writes
their gradients into their windows of one gradient of the input (``SplitBackward``).
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import _C
from ..dtypes import promote_types
from ..graph.node import Node
from ..graph.version import epoch as _epoch
from ..tensor import Tensor
from . import array as A
from ._graph import edges, needs_grad, result
from .shape import _dim
from .subscript import getitem, window

_wrap = Tensor._wrap


# --- joining and splitting ---------------------------------------------------------------
class CatBackward(Node):
    __slots__ = ()

    def apply(self, g):
        dim, sizes = self.saved
        out, start = [], 0
        for n in sizes:
            idx = (builtins.slice(None),) * dim + (builtins.slice(start, start + n),)
            out.append(g[idx])
            start += n
        return tuple(out)

    def apply_differentiable(self, g):
        dim, sizes = self.saved
        return tuple(g.split(list(sizes), dim))


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate tensors along an existing dim (``md.concat`` is the same function).

    All tensors must have the same number of dims and the same sizes except along ``dim``;
    dtypes are promoted as in :func:`add`. The result is a new tensor (a copy). Backward:
    each input gets its slice of the gradient. (A 1-D empty tensor is skipped, as in
    PyTorch.) To join along a new dim, use :func:`stack`.

    Shapes: (.., n_1, ..), (.., n_2, ..), ... -> (.., n_1 + n_2 + ..., ..).

    >>> import minidl as md
    >>> a = md.tensor([[1., 2.], [3., 4.]])
    >>> md.cat([a, md.tensor([[5., 6.]])])            # (2, 2) + (1, 2) -> (3, 2)
    tensor([[1.0000, 2.0000],
            [3.0000, 4.0000],
            [5.0000, 6.0000]])
    >>> md.cat([a, a], dim=1)                        # (2, 2) + (2, 2) -> (2, 4)
    tensor([[1.0000, 2.0000, 1.0000, 2.0000],
            [3.0000, 4.0000, 3.0000, 4.0000]])
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = tensors[0]
    nd = ref.ndim
    if nd == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = _dim(dim, nd)
    dt = ref.dtype
    for t in tensors[1:]:
        dt = promote_types(dt, t.dtype)
    shape = list(ref._data.shape)
    total = 0
    for i, t in enumerate(tensors):
        s = t._data.shape
        if len(s) != nd:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {nd} and {len(s)}")
        for k in range(nd):
            if k != d and s[k] != shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size {shape[k]} "
                                   f"but got size {s[k]} for tensor number {i} in the list.")
        total += s[d]
    shape[d] = total
    out = np.empty(shape, dtype=dt.np)
    start = 0
    for t in tensors:
        n = t._data.shape[d]
        idx = (builtins.slice(None),) * d + (builtins.slice(start, start + n),)
        _C.copy_(out[idx], t._data)
        start += n
    return result(out, CatBackward, tuple(tensors), (d, [t._data.shape[d] for t in tensors]))


def stack(tensors, dim: int = 0) -> Tensor:
    """Join tensors of the same shape along a new dim inserted at ``dim``.

    ``stack(ts, d)`` is ``cat([t.unsqueeze(d) for t in ts], d)``: k tensors of shape (*s)
    give one of shape (k, *s) for d=0, as when batching samples.

    Shapes: k x (*s) -> (*s with k inserted at ``dim``).

    >>> import minidl as md
    >>> a, b = md.tensor([1, 2]), md.tensor([3, 4])
    >>> md.stack([a, b])
    tensor([[1, 2],
            [3, 4]])
    >>> md.stack([a, b], dim=1)
    tensor([[1, 3],
            [2, 4]])
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    s0 = tensors[0]._data.shape
    dt = tensors[0].dtype
    for i, t in enumerate(tensors):
        if t._data.shape != s0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(s0)} at entry 0 and "
                               f"{list(t._data.shape)} at entry {i}")
        dt = promote_types(dt, t.dtype)
    d = _dim(dim, len(s0) + 1)
    # each input copied straight into its slot: no unsqueeze node per input (a DataLoader
    # batch of 64 (1, 28, 28) samples: 516 us through cat of unsqueezed views, 90 us so; np.stack 60 us)
    out = np.empty(s0[:d] + (len(tensors),) + s0[d:], dtype=dt.np)
    lead = (builtins.slice(None),) * d
    for i, t in enumerate(tensors):
        _C.copy_(out[lead + (i, ...)], t._data)  # the Ellipsis keeps a 0-d slot an array view
    return result(out, StackBackward, tuple(tensors), (d,))


class StackBackward(Node):
    """Input i of a stack along ``dim`` gets the gradient's slice i along ``dim`` (a view)."""
    __slots__ = ()

    def apply(self, g):
        (dim,) = self.saved
        lead = (builtins.slice(None),) * dim
        return tuple(g[lead + (i, ...)] for i in range(g.shape[dim]))

    apply_differentiable = apply  # (the same slices of a Tensor gradient are recorded getitems)


def split(x: Tensor, split_size_or_sections, dim: int = 0):
    """Split ``x`` along ``dim`` into pieces: of ``split_size`` each, or of the listed sizes.

    With an int, every piece has that size except possibly the last, which is smaller;
    with a list, the sizes must sum to ``x.shape[dim]``. The pieces are views of ``x``.

    Shapes: (.., n, ..) -> a tuple of (.., n_i, ..) with sum(n_i) = n.

    >>> import minidl as md
    >>> x = md.arange(5)
    >>> md.split(x, 2)
    (tensor([0, 1]), tensor([2, 3]), tensor([4]))
    >>> md.split(x, [1, 4])
    (tensor([0]), tensor([1, 2, 3, 4]))
    """
    d = _dim(dim, x.ndim)
    n = x._data.shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={s}")
        if s == 0 and n > 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [builtins.min(s, n - i) for i in range(0, n, s)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {d}), but got split_sizes={sizes}")
    keys, start = [], 0
    for s in sizes:
        keys.append((builtins.slice(None),) * d + (builtins.slice(start, start + s),))
        start += s
    return _pieces(x, keys, d, stacked=False)


# --8<-- [start:split_backward]
class SplitBackward(Node):
    """The backward of split, chunk and unbind (PyTorch's SplitBackward0 / UnbindBackward0): the
    pieces' gradients go into their windows of one gradient of the input, zeros where a piece
    got none (the pieces tile the input, so with all of them present nothing is zero-filled).

    With a getitem per piece, as before, each piece's backward made a zero-filled gradient of the
    input's whole shape and the engine added them up: for nanoGPT's ``q, k, v =
    qkv.split(E, dim=2)`` that is 3 zero-fills, 3 window copies and 2 adds of the (B, T, 3E)
    gradient per step. When the pieces' gradients already are those windows of one array, which
    the fused attention's backward writes for q, k and v split off one packed projection
    (nn/attention.py ``_packed_gradient``), that array is passed on with no copy at all.
    Measured: bench/python/bench_split_heads.py."""
    __slots__ = ("n_outputs",)
    is_view = True  # the pieces share the input's memory (ops/inplace.py)

    def apply(self, grads):
        shape, np_dtype, keys, dim, stacked = self.get_saved()
        whole = _gathered(grads, shape, np_dtype, keys, dim, stacked)
        if whole is not None:
            return (whole,)
        g = np.empty(shape, np_dtype) if all(gi is not None for gi in grads) else A.zeros(shape, np_dtype)
        for gi, key in zip(grads, keys):
            if gi is not None:
                _C.copy_(window(g, key), gi)
        return (g,)

    def apply_differentiable(self, grads):
        shape, np_dtype, keys, dim, stacked = self.get_saved()
        zeros = np.zeros(shape, np_dtype)
        parts = [gi if gi is not None else Tensor._wrap(window(zeros, key)) for gi, key in zip(grads, keys)]
        return (stack(parts, dim) if stacked else cat(parts, dim),)
# --8<-- [end:split_backward]


def _gathered(grads, shape, np_dtype, keys, dim: int, stacked: bool):
    """The array of ``shape`` whose windows ``keys`` the pieces' gradients already are (one
    array the consumer wrote them into, seen with the first gradient's strides; for unbind the
    pieces' distance is the stride of ``dim``), or None when they are not. The gradients must
    be views of one array (the same ``base``, which the result keeps alive: two arrays that
    merely lie at matching addresses would leave one of them unowned), and every window is
    checked to be exactly its gradient, so the result covers only memory the gradients do."""
    g0 = grads[0]
    if any(g is None or g.size == 0 or g.dtype != np_dtype for g in grads) or g0.base is None:
        return None
    if any(g.base is not g0.base for g in grads):
        return None
    strides = g0.strides
    if stacked:
        strides = strides[:dim] + (grads[1].__array_interface__["data"][0] - g0.__array_interface__["data"][0],) \
            + strides[dim:]
    elif len(strides) != len(shape):
        return None
    whole = np.lib.stride_tricks.as_strided(g0, shape=shape, strides=strides, writeable=False)
    if not all(A.same_view(window(whole, key), g) for g, key in zip(grads, keys)):
        return None
    # the array they share itself, where it is exactly that (the fused attention's packed
    # gradient): it owns its memory, so a leaf takes it as its .grad without a copy
    base = g0.base
    return base if isinstance(base, np.ndarray) and A.same_view(base, whole) else whole


def _pieces(x: Tensor, keys, dim: int, stacked: bool):
    """The views ``x[key]`` for keys that tile ``x`` along ``dim`` (slices, or for unbind
    (``stacked``) the single indices), recorded as one node of len(keys) outputs. A piece
    written in place writes through ``x`` (``_view_of``, as an indexed view does)."""
    if len(keys) <= 1:
        return tuple(getitem(x, key) for key in keys)
    d = x._data
    outs = tuple(Tensor._wrap(window(d, key)) for key in keys)
    node = None
    if needs_grad(x):
        node = SplitBackward(edges(x), (d.shape, d.dtype, tuple(keys), dim, stacked))
        node.n_outputs = len(keys)
    epoch = _epoch[0]
    for i, (o, key) in enumerate(zip(outs, keys)):
        if node is not None:
            o._node, o._out_idx, o._rg = node, i, True
        o._view_of = (x, key, epoch)  # writes to a piece go through x (ops/inplace.py)
    return outs


def chunk(x: Tensor, chunks: int, dim: int = 0):
    """Split ``x`` along ``dim`` into ``chunks`` pieces of (nearly) equal size.

    Each piece has ceil(n / chunks) elements along ``dim``, the last one fewer; so there
    may be fewer than ``chunks`` pieces, as in PyTorch (6 into 4 gives 2, 2, 2). An empty
    ``dim`` (n = 0) gives ``chunks`` empty pieces, as PyTorch does. Views of ``x``.

    Shapes: (.., n, ..) -> a tuple of (.., ceil(n / chunks) or less, ..).

    >>> import minidl as md
    >>> md.chunk(md.arange(5), 3)
    (tensor([0, 1]), tensor([2, 3]), tensor([4]))
    >>> len(md.chunk(md.arange(6), 4))
    3
    >>> [tuple(c.shape) for c in md.zeros(2, 0).chunk(3, dim=1)]
    [(2, 0), (2, 0), (2, 0)]
    """
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = x._data.shape[_dim(dim, x.ndim)]
    if n == 0:
        return split(x, [0] * chunks, dim)
    return split(x, -(-n // chunks), dim)


def tensor_split(x: Tensor, indices_or_sections, dim: int = 0):
    """Split ``x`` along ``dim`` into ``sections`` nearly equal pieces, or at the given indices.

    With an int k, there are always exactly k pieces (unlike :func:`chunk`): the first
    ``n % k`` have ``n // k + 1`` elements, the rest ``n // k`` (NumPy's ``array_split``).
    With a list of indices ``[i0, i1, ...]``, the pieces are ``x[:i0], x[i0:i1], ...,
    x[i_last:]`` along ``dim``, read as Python slices (negative indices count from the end,
    out-of-range ones clamp, a decreasing pair gives an empty piece). Views of ``x``.

    Shapes: (.., n, ..) -> a tuple of (.., n_i, ..) with sum(n_i) = n.

    >>> import minidl as md
    >>> md.tensor_split(md.arange(7), 3)
    (tensor([0, 1, 2]), tensor([3, 4]), tensor([5, 6]))
    >>> md.tensor_split(md.arange(7), [1, 5])
    (tensor([0]), tensor([1, 2, 3, 4]), tensor([5, 6]))
    """
    d = _dim(dim, x.ndim)
    n = x._data.shape[d]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        bounds = [i * (n // k) + builtins.min(i, n % k) for i in range(k + 1)]
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [None]
    return tuple(getitem(x, (builtins.slice(None),) * d + (builtins.slice(a, b),))
                 for a, b in zip(bounds[:-1], bounds[1:]))


def unbind(x: Tensor, dim: int = 0):
    """Remove ``dim``, returning the slices along it as a tuple.

    ``unbind(x, 0)`` is ``(x[0], x[1], ...)``; iterating over a tensor does the same. The
    slices are views. The inverse is :func:`stack`.

    Shapes: (.., n, ..) -> n tensors of shape (.., ..).

    >>> import minidl as md
    >>> a = md.tensor([[1, 2], [3, 4]])
    >>> md.unbind(a)            # the rows
    (tensor([1, 2]), tensor([3, 4]))
    >>> md.unbind(a, 1)         # the columns
    (tensor([1, 3]), tensor([2, 4]))
    """
    d = _dim(dim, x.ndim)
    return _pieces(x, [(builtins.slice(None),) * d + (i,) for i in range(x._data.shape[d])], d, stacked=True)


def select(x: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, that dim removed (a view): ``x.select(1, i)`` is
    ``x[:, i]``. A negative ``index`` counts from the end; one out of range raises PyTorch's
    IndexError. Backward: the gradient goes to that slice, zeros elsewhere.

    Shapes: (.., n, ..) -> (.., ..).

    >>> import minidl as md
    >>> x = md.arange(6).reshape(2, 3)
    >>> md.select(x, 1, -1)
    tensor([2, 5])
    >>> x.select(0, 1)
    tensor([3, 4, 5])
    """
    if x.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _dim(dim, x.ndim)
    size = x.shape[d]
    i = int(index.item()) if isinstance(index, Tensor) else int(index)
    if not -size <= i < size:
        raise IndexError(f"select(): index {i} out of range for tensor of size {list(x.shape)} at dimension {d}")
    return getitem(x, (builtins.slice(None),) * d + (i % size,))


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The slice ``start : start + length`` of ``x`` along ``dim`` (a view).

    The same as indexing ``x[..., start:start + length, ...]`` at position ``dim``, with
    PyTorch's checks: a negative ``start`` counts from the end (it may be a 0-dim integer
    tensor), and a window that does not fit raises instead of being cut short.

    Shapes: (.., n, ..) -> (.., length, ..).

    >>> import minidl as md
    >>> x = md.arange(10).reshape(2, 5)
    >>> md.narrow(x, 1, 1, 3)
    tensor([[1, 2, 3],
            [6, 7, 8]])
    >>> md.narrow(x, 1, -2, 2)
    tensor([[3, 4],
            [8, 9]])
    """
    d = _dim(dim, x.ndim)
    size = x.shape[d]
    start = int(start.item()) if isinstance(start, Tensor) else int(start)
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
    if start < 0:
        start += size
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return getitem(x, (builtins.slice(None),) * d + (builtins.slice(start, start + length),))
