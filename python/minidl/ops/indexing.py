"""Indexing along one dimension: ``gather``, ``scatter``, ``scatter_add``, ``index_select``,
``index_add``, ``index_copy``, ``index_fill``, ``take``, ``take_along_dim`` (``scatter_reduce``
is in ops/scatter_reduce.py, indexing by mask or value in ops/masking.py).

Two families, each the other's backward (kernels in ``cpp/ops/indexing/indexing_dim.cpp``):

* **per element** (``index`` has the input's number of dims): ``gather`` reads
  ``out[i][j] = x[index[i][j]][j]`` (dim 0), ``scatter_add`` writes
  ``out[index[i][j]][j] += src[i][j]``. d gather / d x is a scatter-add of the gradient.
* **per slice** (``index`` is a vector): ``index_select`` reads whole slices
  ``out[:, k] = x[:, index[k]]`` (dim 1), ``index_add`` adds them back.

Indices are int64. Out-of-range indices raise ``IndexError("index 5 is out of bounds for
dimension 1 with size 3")``; PyTorch raises a RuntimeError with the same words for gather,
scatter and index_select (minidl raises IndexError, a subclass of LookupError, as for
``x[5]``). Negative indices are refused where PyTorch refuses them (gather, scatter,
index_select, index_add, index_copy) and count from the end where it accepts them (take,
take_along_dim, index_fill).
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ._graph import linear_grads, needs_grad, result
from .shape import _dim

ASSIGN, ADD, MULTIPLY = 0, 1, 2  # cpp/ops/indexing/indexing_dim.h: ScatterReduce


# --- argument checks ------------------------------------------------------------------------
def _index_array(index, name: str) -> np.ndarray:
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): index must be a Tensor, but got {type(index).__name__}")
    if index._data.dtype != np.int64:
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, but got {index.dtype} "
                           "(convert it with index.long())")
    return index._data


def _check_extents(name: str, x_shape, idx_shape, dim: int, src_shape=None) -> None:
    """PyTorch's rule: index has x's number of dims and is no larger than x except along dim
    (and, for scatter, no larger than src anywhere)."""
    if len(idx_shape) != max(len(x_shape), 1) and not (len(idx_shape) == 0 and len(x_shape) <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d, n in enumerate(idx_shape):
        too_big_for_x = d != dim and d < len(x_shape) and n > x_shape[d]
        too_big_for_src = src_shape is not None and d < len(src_shape) and n > src_shape[d]
        if too_big_for_x or too_big_for_src:
            if src_shape is None:
                raise RuntimeError(f"Size does not match at dimension {d} expected index {list(idx_shape)} to be no "
                                   f"larger than self {list(x_shape)} apart from dimension {dim}")
            raise RuntimeError(f"Expected index {list(idx_shape)} to be no larger than self {list(x_shape)} apart "
                               f"from dimension {dim} and to be no larger size than src {list(src_shape)}")


def _window(a: np.ndarray, idx_shape, dim: int) -> np.ndarray:
    """The part of ``a`` the index covers: its extents cut to index's, except along ``dim``."""
    if a.ndim == 0 or all(d == dim or a.shape[d] == n for d, n in enumerate(idx_shape)):
        return a
    return a[tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(idx_shape))]


# --- the kernels on arrays (also the backward passes) ---------------------------------------
def _gather(x: np.ndarray, dim: int, idx: np.ndarray) -> np.ndarray:
    if idx.size == 0:
        return np.empty(idx.shape, x.dtype)
    if x.ndim == 0:  # a 0-d input is read as a 1-element vector, as in PyTorch
        return _C.gather_dim(x.reshape(1), idx.reshape(-1), 0).reshape(idx.shape)
    return _C.gather_dim(_window(x, idx.shape, dim), idx, dim)


def _scatter_(out: np.ndarray, dim: int, idx: np.ndarray, src: np.ndarray, op: int) -> None:
    """out[... idx ...] (op)= src in place; out is a fresh contiguous array, src has idx's shape."""
    if idx.size == 0:
        return
    work = _window(out, idx.shape, dim)
    if work is not out:
        work = A.copy(work)
    low = A.is_low(work) and op != ASSIGN  # float16/bfloat16: combine in float32, round once
    target = A.to_f32(work) if low else work
    src = A.cast(src, target.dtype) if src.dtype != target.dtype else src
    if out.ndim == 0:
        _C.scatter_dim_(target.reshape(1), idx.reshape(1), src.reshape(1), 0, op)
    else:
        _C.scatter_dim_(target, idx, src, dim, op)
    if target is not out:
        _C.copy_(_window(out, idx.shape, dim), target)


def _index_select(x: np.ndarray, dim: int, idx: np.ndarray) -> np.ndarray:
    return _C.index_select_dim(x.reshape(1) if x.ndim == 0 else x, idx.reshape(-1), dim).reshape(
        () if x.ndim == 0 else x.shape[:dim] + (idx.size,) + x.shape[dim + 1:])


def _index_put_(out: np.ndarray, dim: int, idx: np.ndarray, src: np.ndarray, op: int, alpha=1.0) -> None:
    """out[.., idx[k], ..] (= or += alpha *) src[.., k, ..] in place; out fresh and contiguous."""
    low = A.is_low(out) and op != ASSIGN
    target = A.to_f32(out) if low else out
    src = A.cast(src, target.dtype) if src.dtype != target.dtype else src
    _C.index_put_dim_(target.reshape(1) if out.ndim == 0 else target, idx.reshape(-1), src, dim, op, float(alpha))
    if low:
        _C.copy_(out, target)


# --- gather ---------------------------------------------------------------------------------
# --8<-- [start:gather_backward]
class GatherBackward(Node):
    """d out / d x: each gradient element goes back to the position it was read from."""
    __slots__ = ()

    def apply(self, g):
        shape, np_dtype, dim, idx = self.get_saved()
        gx = A.zeros(shape, np_dtype)
        _scatter_(gx, dim, idx, A.contiguous(g), ADD)
        return (gx,)
    # --8<-- [end:gather_backward]

    def apply_differentiable(self, g):  # linear in g: its adjoint is gather again
        shape, np_dtype, dim, idx = self.get_saved()
        return linear_grads(self, g, (lambda h: gather(h, dim, Tensor._wrap(idx)),))


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """Pick, along ``dim``, the elements ``index`` names: out has index's shape.

    out[i][j][k] = input[index[i][j][k]][j][k]  (dim = 0)
    out[i][j][k] = input[i][index[i][j][k]][k]  (dim = 1) ...

    ``index`` is int64 with input's number of dims and no larger than input except along
    ``dim``. Backward: the gradient of ``input`` is a scatter-add of the output gradient
    (positions read twice get both contributions). ``sparse_grad`` is accepted and ignored
    (minidl has no sparse tensors).

    Shapes: input (*), index (*') -> (*').

    >>> import minidl as md
    >>> logits = md.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    >>> md.gather(logits, 1, md.tensor([[1], [0]]))      # each row's score of its label
    tensor([[0.7000],
            [0.5000]])
    """
    idx = _index_array(index, "gather")
    x = input._data
    dim = _dim(dim, x.ndim)
    _check_extents("gather", x.shape, idx.shape, dim)
    return result(_gather(x, dim, idx), GatherBackward, (input,), (x.shape, x.dtype, dim, idx))


def take_along_dim(input: Tensor, indices: Tensor, dim=None) -> Tensor:
    """``gather`` after broadcasting ``input`` and ``indices`` (all dims but ``dim``).

    With ``dim=None`` both are flattened: out = input.flatten()[indices.flatten()], and
    indices must be in [0, numel) (as in PyTorch). With a ``dim``, negative indices count
    from the end. Where minidl differs: an index >= the size raises IndexError (PyTorch 2.13
    does not check it and wraps it around).

    Shapes: input (*), indices broadcastable to input except along dim -> broadcast shape.

    >>> import minidl as md
    >>> x = md.tensor([[10., 30., 20.], [60., 40., 50.]])
    >>> md.take_along_dim(x, x.argmax(dim=1, keepdim=True), dim=1)
    tensor([[30.0000],
            [60.0000]])
    """
    idx = _index_array(indices, "take_along_dim")
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    dim = _dim(dim, input.ndim)
    if idx.ndim != input.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {input.ndim} dimensions for input, and {idx.ndim} dimensions for indices")
    x_shape, i_shape = list(input.shape), list(idx.shape)
    for d in range(input.ndim):
        if d != dim:
            n = np.broadcast_shapes((x_shape[d],), (i_shape[d],))[0]
            x_shape[d] = i_shape[d] = n
    x = input if list(input.shape) == x_shape else input.expand(*x_shape)
    i = indices if i_shape == list(idx.shape) else indices.expand(*i_shape)
    return gather(x, dim, _wrap_negative(i, input.shape[dim] if input.ndim else 1))


def _wrap_negative(index: Tensor, size: int) -> Tensor:
    """index with size added to its negative entries (index in [-size, size) counts from the end)."""
    idx = index._data
    if idx.size == 0 or _min_max(idx)[0] >= 0:
        return index
    return Tensor._wrap(_C.where(A.binary_scalar(A.LT, idx, 0), A.binary_scalar(A.ADD, idx, size), idx))


def _min_max(idx: np.ndarray) -> tuple:
    dims = tuple(range(idx.ndim))
    return int(A.reduce(A.R_MIN, idx, dims)), int(A.reduce(A.R_MAX, idx, dims))


def take(input: Tensor, index: Tensor) -> Tensor:
    """``input`` read as a flat vector at ``index``: out = input.flatten()[index].

    out has index's shape; index in [-numel, numel) (negative counts from the end).
    Backward: the gradient scatter-adds into the flat input.

    >>> import minidl as md
    >>> md.take(md.tensor([[4., 3.], [5., 7.]]), md.tensor([0, 3, -1]))
    tensor([4.0000, 7.0000, 7.0000])
    """
    idx = _index_array(index, "take")
    n = input.numel()
    if idx.size:
        for bad in _min_max(idx):
            if not -n <= bad < n:
                raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    flat = _wrap_negative(index, n).reshape(-1)
    return gather(input.reshape(-1), 0, flat).reshape(*idx.shape)


# --- scatter --------------------------------------------------------------------------------
class ScatterBackward(Node):
    """scatter (assign): the overwritten positions of ``input`` get no gradient; ``src``'s
    gradient is the output gradient read back where it was written (a gather)."""
    __slots__ = ()

    def apply(self, g):
        dim, idx, src_shape, adds = self.get_saved()
        g = A.contiguous(g)
        gx = None
        if self.next[0] is not None:
            gx = g if adds else A.copy(g)
            if not adds:
                _scatter_(gx, dim, idx, A.zeros(idx.shape, g.dtype), ASSIGN)
        gs = None
        if len(self.next) > 1 and self.next[1] is not None:
            gs = _pad_to(_gather(g, dim, idx), src_shape)
        return (gx, gs) if len(self.next) > 1 else (gx,)

    def apply_differentiable(self, g):
        """Linear in g. input's part is g (or g with the written positions zeroed: its own
        adjoint); src's is a gather, whose adjoint is a scatter-add of the used part of src."""
        dim, idx, src_shape, adds = self.get_saved()
        index = Tensor._wrap(idx)

        def input_part(h):
            return h if adds else h * Tensor._wrap(self.apply(A.full(h.shape, 1.0, h._data.dtype))[0])

        def src_part(h):
            used = h[tuple(slice(0, n) for n in idx.shape)] if tuple(h.shape) != idx.shape else h
            return scatter_add(Tensor._wrap(A.zeros(tuple(g.shape), g._data.dtype)), dim, index, used)
        return linear_grads(self, g, (input_part, src_part))


def _pad_to(gs: np.ndarray, src_shape) -> np.ndarray:
    """The gradient of a src larger than index: the part index did not use gets 0."""
    if tuple(gs.shape) == tuple(src_shape):
        return gs
    full = A.zeros(src_shape, gs.dtype)
    _C.copy_(full[tuple(slice(0, n) for n in gs.shape)], gs)
    return full


_REDUCE_OPS = {None: ASSIGN, "add": ADD, "multiply": MULTIPLY}


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor, or a number ``value``) written where ``index`` points.

    out[index[i][j]][j] = src[i][j]  (dim = 0)
    out[i][index[i][j]] = src[i][j]  (dim = 1) ...

    ``index`` is int64 with input's number of dims, no larger than input except along
    ``dim`` and no larger than ``src``. ``reduce="add"`` adds instead of writing,
    ``"multiply"`` multiplies. When an index repeats without a reduction, minidl keeps the
    last write (PyTorch leaves it unspecified). Backward: ``input``'s gradient is 0 where it
    was overwritten; ``src``'s is the output gradient gathered at ``index``. With
    ``reduce="multiply"`` there is no gradient (PyTorch has none either).

    Shapes: input (*), index (*'), src at least (*') -> (*).

    >>> import minidl as md
    >>> labels = md.tensor([[2], [0]])
    >>> md.scatter(md.zeros(2, 3), 1, labels, 1.0)       # one-hot rows
    tensor([[0.0000, 0.0000, 1.0000],
            [1.0000, 0.0000, 0.0000]])
    >>> md.scatter(md.zeros(2, 3), 1, md.tensor([[0, 0]]), md.tensor([[5., 6.]]), reduce="add")
    tensor([[11.0000,  0.0000,  0.0000],
            [ 0.0000,  0.0000,  0.0000]])
    """
    if reduce not in _REDUCE_OPS:
        raise RuntimeError("reduce argument must be either add or multiply.")
    if src is None and value is None:
        raise TypeError("scatter() missing the values to write: pass src (a Tensor) or value (a number)")
    if src is not None and value is not None:
        raise TypeError("scatter() takes src or value, not both")
    src = value if src is None else src
    return _scatter(input, dim, index, src, _REDUCE_OPS[reduce], "scatter")


def _scatter(input: Tensor, dim: int, index: Tensor, src, op: int, name: str) -> Tensor:
    idx = _index_array(index, name)
    x = input._data
    dim = _dim(dim, x.ndim)
    src_t = src if isinstance(src, Tensor) else None
    if src_t is not None:
        if src_t._data.dtype != x.dtype:
            raise RuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype")
        if src_t.ndim != idx.ndim and idx.size:
            raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
        _check_extents(name, x.shape, idx.shape, dim, src_t._data.shape)
        values = A.contiguous(src_t._data[tuple(slice(0, n) for n in idx.shape)] if idx.ndim else src_t._data)
    else:
        _check_extents(name, x.shape, idx.shape, dim)
        values = A.full(idx.shape, src, x.dtype)
    out = A.copy(x)
    _scatter_(out, dim, idx, values, op)
    if op == MULTIPLY and needs_grad(input, src_t):
        raise RuntimeError("the derivative for 'scatter' with reduce='multiply' is not implemented "
                           "(as in PyTorch); use md.scatter_reduce(..., reduce='prod')")
    saved = (dim, idx, None if src_t is None else src_t._data.shape, op == ADD)
    inputs = (input,) if src_t is None else (input, src_t)
    return result(out, ScatterBackward, inputs, saved)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added where ``index`` points; repeated indices add up.

    out[index[i][j]][j] += src[i][j]  (dim = 0)
    out[i][index[i][j]] += src[i][j]  (dim = 1) ...

    The backward of ``gather``, and the way to sum values into bins (a per-class sum).
    Backward: ``input``'s gradient is the output gradient, ``src``'s is it gathered at
    ``index``. Sums over repeated indices are added in index order whatever the thread count,
    so results are bit-for-bit reproducible.

    Shapes: input (*), index (*'), src at least (*') -> (*).

    >>> import minidl as md
    >>> classes = md.tensor([0, 1, 0, 1, 1])
    >>> md.scatter_add(md.zeros(2), 0, classes, md.tensor([1., 2., 3., 4., 5.]))   # per-class sums
    tensor([ 4.0000, 11.0000])
    """
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add(): src must be a Tensor, but got {type(src).__name__}")
    return _scatter(input, dim, index, src, ADD, "scatter_add")


# --- index_select and its kin ---------------------------------------------------------------
def _index_vector(index, name: str) -> np.ndarray:
    idx = _index_array(index, name)
    if idx.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector")
    return idx.reshape(-1)


def _out_of_bounds(idx: np.ndarray, size: int, dim: int, name: str = "") -> None:
    if idx.size:
        for bad in _min_max(idx):
            if not 0 <= bad < size:
                raise IndexError(f"{name}index {bad} is out of bounds for dimension {dim} with size {size}")


# --8<-- [start:index_select_backward]
class IndexSelectBackward(Node):
    """d out / d x: each selected slice's gradient is added back to the slice it came from."""
    __slots__ = ()

    def apply(self, g):
        shape, np_dtype, dim, idx = self.get_saved()
        gx = A.zeros(shape, np_dtype)
        _index_put_(gx, dim, idx, A.contiguous(g), ADD)
        return (gx,)
    # --8<-- [end:index_select_backward]

    def apply_differentiable(self, g):  # linear in g: its adjoint is index_select again
        shape, np_dtype, dim, idx = self.get_saved()
        return linear_grads(self, g, (lambda h: index_select(h, dim, Tensor._wrap(idx)),))


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``input`` along ``dim`` that ``index`` (a vector) names, in its order.

    out[:, k] = input[:, index[k]]  (dim = 1); the same as ``input[:, index]``. Indices may
    repeat; each must be in [0, size) (negative indices raise, as in PyTorch). Backward: the
    gradient slices are added back at ``index`` (``index_add``).

    Shapes: input (d_0, ..., d_dim, ...), index (n,) -> (d_0, ..., n, ...).

    >>> import minidl as md
    >>> x = md.tensor([[1., 2., 3.], [4., 5., 6.]])
    >>> md.index_select(x, 1, md.tensor([2, 0]))
    tensor([[3.0000, 1.0000],
            [6.0000, 4.0000]])
    """
    idx = _index_vector(index, "index_select")
    x = input._data
    dim = _dim(dim, x.ndim)
    return result(_index_select(x, dim, idx), IndexSelectBackward, (input,), (x.shape, x.dtype, dim, idx))


class IndexPutBackward(Node):
    """index_add / index_copy / index_fill: ``input``'s gradient passes through (with zeros at
    the overwritten slices for copy and fill); ``source``'s is the gradient read at index."""
    __slots__ = ()

    def apply(self, g):
        dim, idx, overwrites, alpha = self.get_saved()
        g = A.contiguous(g)
        gx = None
        if self.next[0] is not None:
            gx = g
            if overwrites:
                gx = A.copy(g)
                _fill_slices_(gx, dim, idx, 0)
        gs = None
        if len(self.next) > 1 and self.next[1] is not None:
            gs = _index_select(g, dim, idx)
            if alpha != 1:
                gs = A.scale(gs, alpha)
        return (gx, gs) if len(self.next) > 1 else (gx,)

    def apply_differentiable(self, g):
        """Linear in g: input's part is g (zeroed at overwritten slices: its own adjoint);
        source's is alpha index_select(g), whose adjoint is alpha index_add into zeros."""
        dim, idx, overwrites, alpha = self.get_saved()
        index = Tensor._wrap(idx)

        def input_part(h):
            if not overwrites:
                return h
            mask = A.full(h.shape, 1.0, h._data.dtype)
            _fill_slices_(mask, dim, idx, 0)
            return h * Tensor._wrap(mask)

        def source_part(h):
            return index_add(Tensor._wrap(A.zeros(tuple(g.shape), g._data.dtype)), dim, index, h, alpha=alpha)
        return linear_grads(self, g, (input_part, source_part))


def _fill_slices_(out: np.ndarray, dim: int, idx: np.ndarray, value) -> None:
    shape = out.shape[:dim] + (idx.size,) + out.shape[dim + 1:] if out.ndim else ()
    _index_put_(out, dim, idx, A.full(shape, value, out.dtype), ASSIGN)


def _index_put(input: Tensor, dim: int, index: Tensor, source: Tensor, op: int, alpha, name: str) -> Tensor:
    idx = _index_vector(index, name)
    x = input._data
    dim = _dim(dim, x.ndim)
    if not isinstance(source, Tensor):
        raise TypeError(f"{name}(): source must be a Tensor, but got {type(source).__name__}")
    s = source._data
    if s.dtype != x.dtype:
        raise RuntimeError(f"{name}(): self ({input.dtype}) and source ({source.dtype}) must have the same scalar type")
    want = x.shape[:dim] + (idx.size,) + x.shape[dim + 1:] if x.ndim else (idx.size,) * s.ndim
    if tuple(s.shape) != tuple(want) and not (x.ndim == 0 and s.size == idx.size == 1):
        raise RuntimeError(f"{name}(): source must have shape {list(want)} (input's shape with dimension {dim} "
                           f"of size len(index) = {idx.size}), but got {list(s.shape)}")
    _out_of_bounds(idx, x.shape[dim] if x.ndim else 1, dim, f"{name}(): " if op == ASSIGN else "")
    out = A.copy(x)
    _index_put_(out, dim, idx, A.contiguous(s), op, alpha)
    return result(out, IndexPutBackward, (input, source), (dim, idx, op == ASSIGN, alpha))


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """A copy of ``input`` with ``alpha * source``'s slices added at the slices ``index`` names.

    out[:, index[k]] += alpha * source[:, k]  (dim = 1); repeated indices add up. The
    backward of ``index_select``. Backward: ``input``'s gradient is the output gradient,
    ``source``'s is alpha times it read at ``index``.

    Shapes: input (..., d_dim, ...), index (n,), source (..., n, ...) -> input's shape.

    >>> import minidl as md
    >>> md.index_add(md.zeros(3, 2), 0, md.tensor([0, 2, 0]), md.ones(3, 2), alpha=2)
    tensor([[4.0000, 4.0000],
            [0.0000, 0.0000],
            [2.0000, 2.0000]])
    """
    return _index_put(input, dim, index, source, ADD, alpha, "index_add")


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` whose slices at ``index`` are replaced by ``source``'s slices.

    out[:, index[k]] = source[:, k]  (dim = 1). A repeated index keeps the last slice
    (PyTorch leaves it unspecified). Backward: ``input``'s gradient is 0 on the replaced
    slices; ``source``'s is the output gradient read at ``index``.

    Shapes: input (..., d_dim, ...), index (n,), source (..., n, ...) -> input's shape.

    >>> import minidl as md
    >>> md.index_copy(md.zeros(3, 2), 0, md.tensor([2, 0]), md.tensor([[1., 2.], [3., 4.]]))
    tensor([[3.0000, 4.0000],
            [0.0000, 0.0000],
            [1.0000, 2.0000]])
    """
    return _index_put(input, dim, index, source, ASSIGN, 1, "index_copy")


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """A copy of ``input`` whose slices at ``index`` hold ``value`` (a number or 0-d tensor).

    out[:, index[k]] = value  (dim = 1). Negative indices count from the end, as in
    PyTorch. Backward: the gradient is 0 on the filled slices.

    >>> import minidl as md
    >>> md.index_fill(md.ones(2, 3), 1, md.tensor([0, -1]), 0.)
    tensor([[0.0000, 1.0000, 0.0000],
            [0.0000, 1.0000, 0.0000]])
    """
    idx = _index_vector(index, "index_fill")
    x = input._data
    dim = _dim(dim, x.ndim)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError("index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value = value.item()
    size = x.shape[dim] if x.ndim else 1
    if idx.size:
        for bad in (_min_max(idx)):
            if not -size <= bad < size:
                raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {size}")
        idx = _wrap_negative(Tensor._wrap(idx), size)._data
    out = A.copy(x)
    _fill_slices_(out, dim, idx, value)
    return result(out, IndexPutBackward, (input,), (dim, idx, True, 1))
