"""Sorting and selection along a dim: ``sort``, ``argsort``, ``msort``, ``topk``,
``kthvalue``, ``median``.

Each line of the tensor along ``dim`` is ordered on its own (a matrix sorted along dim=1 sorts
each row). The result pairs the ordered ``values`` with their ``indices``: the positions in
the input they came from, so ``values == x.gather(dim, indices)``.

Order: ascending by default; NaN counts as larger than every number (last when ascending,
first when descending), as in PyTorch. Ties keep their input order (the kernel always runs a
stable sort, so ``stable=False`` gives the ``stable=True`` answer, which PyTorch allows).

Backward: the values are a selection of the input, so each input element gets the gradient of
the output position it went to (zero for elements topk left out):

    dx[.., indices[.., j, ..], ..] += g[.., j, ..]

Where the C++ lives: cpp/ops/sort/sort.cpp (one line at a time: (value, index) pairs sorted by
std::stable_sort, topk by std::nth_element + a sort of the k first, kthvalue and median by
std::nth_element alone; the backward scatter-add).
"""
from __future__ import annotations

import collections

import numpy as np

from .. import _C
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ._graph import linear_grads, result
from .indexing import gather
from .reduce import normalize_dims

_wrap = Tensor._wrap

# the named tuples PyTorch returns (torch.return_types.sort, torch.return_types.topk)
return_types_sort = collections.namedtuple("sort", ["values", "indices"])
return_types_topk = collections.namedtuple("topk", ["values", "indices"])
return_types_kthvalue = collections.namedtuple("kthvalue", ["values", "indices"])
return_types_median = collections.namedtuple("median", ["values", "indices"])


# --8<-- [start:select_backward]
class SelectAlongDimBackward(Node):
    """The values were picked from x along ``dim`` at ``indices``: the gradient goes back there
    (summed where an index repeats). Also the backward of cummax and cummin."""
    __slots__ = ()

    def apply(self, g):
        shape, dim, idx = self.get_saved()
        line_shape = list(shape) if shape else [1]  # a 0-d input was sorted as 1 element
        g32 = A.to_f32(g) if A.is_low(g) else g
        gx = _C.scatter_add_along(g32.reshape(idx.shape), idx, line_shape, dim).reshape(shape)
        return (A.cast(gx, g.dtype) if A.is_low(g) else gx,)
    # --8<-- [end:select_backward]

    def apply_differentiable(self, g):  # linear: its adjoint reads the same positions again (a gather)
        shape, dim, idx = self.get_saved()
        line_shape = tuple(shape) if shape else (1,)
        return linear_grads(self, g, (lambda h: gather(h.reshape(line_shape), dim, Tensor._wrap(idx))
                                      .reshape(tuple(g.shape)),))


def kernel_input(d: np.ndarray) -> np.ndarray:
    """The array the kernels take for ``d`` (float32, float64, int64): 16-bit floats go as
    float32 and bool as int64, both exactly; 0-d becomes 1-element 1-D."""
    if d.ndim == 0:
        d = d.reshape(1)
    if A.is_low(d):
        return A.to_f32(d)
    if d.dtype == np.bool_:
        return A.cast(d, np.int64)
    return d


def line_dim(x: Tensor, dim) -> int:
    """``dim`` checked (IndexError as PyTorch) and made non-negative; a 0-d tensor takes 0 or -1."""
    (d,) = normalize_dims(dim, x.ndim)
    return d


def _select(x: Tensor, values: np.ndarray, indices: np.ndarray, dim: int, make):
    """Wrap kernel results: back to x's dtype and 0-d shape, with the backward attached."""
    d = x._data
    values = A.cast(values, d.dtype) if values.dtype != d.dtype else values
    if d.ndim == 0:
        values, indices = values.reshape(()), indices.reshape(())
    saved_idx = indices if indices.ndim else indices.reshape(1)
    node = SelectAlongDimBackward if d.dtype.kind == "f" or A.is_low(d) else None
    v = result(values, node, (x,), (d.shape, dim, saved_idx))
    return make(v, _wrap(indices))


def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False):
    """Sort the elements along ``dim``; returns the named tuple ``(values, indices)``.

    values[.., j, ..] = input[.., indices[.., j, ..], ..], ascending (``descending=True``:
    largest first). NaN sorts as the largest value. Ties keep their input order whatever
    ``stable`` says (minidl always sorts stably; PyTorch's unstable order is unspecified).
    Shapes: values and indices (int64) have input's shape. Backward: each input element gets
    the gradient of the position it was sorted to.

    >>> import minidl as md
    >>> x = md.tensor([[3., 1., 2.], [0., float('nan'), -1.]])
    >>> md.sort(x)
    sort(values=tensor([[ 1.0000,  2.0000,  3.0000],
            [-1.0000,  0.0000,     nan]]), indices=tensor([[1, 2, 0],
            [2, 0, 1]]))
    >>> md.sort(md.tensor([2, 1, 2, 1]), descending=True, stable=True).indices
    tensor([0, 2, 1, 3])
    """
    dim = line_dim(input, dim)
    values, indices = _C.sort(kernel_input(input._data), dim, bool(descending))
    return _select(input, values, indices, dim, return_types_sort)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim``: ``sort(input, dim, descending).indices``.

    int64, input's shape. Not differentiable (indices). Ties keep their input order.

    >>> import minidl as md
    >>> md.argsort(md.tensor([30., 10., 20.]))
    tensor([1, 2, 0])
    >>> md.tensor([[1., 5.], [4., 2.]]).argsort(dim=0, descending=True)
    tensor([[1, 0],
            [0, 1]])
    """
    dim = line_dim(input, dim)
    _, indices = _C.sort(kernel_input(input._data), dim, bool(descending))
    return _wrap(indices.reshape(input._data.shape))


def msort(input: Tensor) -> Tensor:
    """Sort along the first dim, ascending: ``sort(input, dim=0).values``. Differentiable.

    >>> import minidl as md
    >>> md.msort(md.tensor([[3., 0.], [1., 2.]]))
    tensor([[1.0000, 0.0000],
            [3.0000, 2.0000]])
    """
    return sort(input, dim=0).values


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim``, as the named
    tuple ``(values, indices)``.

    Shapes: input (.., n, ..) along dim -> values and indices (int64) (.., k, ..). The values
    come largest first (smallest first for ``largest=False``); ``sorted=False`` gives that same
    order (PyTorch leaves the order unspecified then). Ties go to the smaller index first;
    PyTorch does not define which of equal elements it picks, and agrees with this on the
    cases the tests try. NaN counts as the largest value. Raises RuntimeError "selected index
    k out of range" (PyTorch's message) unless 0 <= k <= n. Backward: the k chosen elements get
    their gradient, the others zero. Typical use: top-k sampling of a language model's logits.

    >>> import minidl as md
    >>> logits = md.tensor([[0.1, 2.0, -1.0, 3.0, 0.5]])
    >>> md.topk(logits, 2)
    topk(values=tensor([[3.0000, 2.0000]]), indices=tensor([[3, 1]]))
    >>> logits.topk(1, largest=False).indices
    tensor([[2]])
    """
    dim = line_dim(input, dim)
    k = int(k)
    n = input._data.shape[dim] if input._data.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range (k={k}, but dim {dim} has size {n}; "
                           f"k must be between 0 and {n})")
    values, indices = _C.topk(kernel_input(input._data), k, dim, bool(largest))
    return _select(input, values, indices, dim, return_types_topk)


def _kth(x: Tensor, k: int, dim: int, keepdim: bool, nan_wins: bool, make):
    """The k-th smallest along ``dim`` (kthvalue, median): values and indices with ``dim``
    removed (kept as 1 with ``keepdim``); the gradient goes to the index."""
    d = x._data
    values, indices = _C.kthvalue(kernel_input(d), k, dim, nan_wins)
    kept = tuple(1 if i == dim else s for i, s in enumerate(d.shape))
    if keepdim:
        values, indices = values.reshape(kept), indices.reshape(kept)
    values = A.cast(values, d.dtype) if values.dtype != d.dtype else values
    node = SelectAlongDimBackward if d.dtype.kind == "f" or A.is_low(d) else None
    v = result(values, node, (x,), (d.shape, dim, indices.reshape(kept if d.ndim else (1,))))
    return make(v, _wrap(indices))


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The ``k``-th smallest element along ``dim`` (k counts from 1), as the named tuple
    ``(values, indices)``.

    Shapes: input (.., n, ..) -> values and indices (int64) (.., ..), or (.., 1, ..) with
    ``keepdim=True``. Computed with a selection (std::nth_element, O(n) per line), not a full
    sort. NaN counts as the largest value. Ties: the index is the k-th position of a stable
    sort (the earlier input index first); PyTorch's index among equal values is not defined
    (it differs from this on some ties), its value is the same. Raises RuntimeError unless
    1 <= k <= n. Backward: the gradient goes to the returned index.

    >>> import minidl as md
    >>> x = md.tensor([[5., 1., 4.], [2., 9., 3.]])
    >>> md.kthvalue(x, 2)
    kthvalue(values=tensor([4.0000, 3.0000]), indices=tensor([2, 2]))
    >>> x.kthvalue(1, dim=0, keepdim=True).values
    tensor([[2.0000, 1.0000, 3.0000]])
    """
    dim = line_dim(input, dim)
    k = int(k)
    n = input._data.shape[dim] if input._data.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim} "
                           f"(k={k}, the dimension has size {n})")
    return _kth(input, k, dim, keepdim, False, return_types_kthvalue)


class MedianBackward(Node):
    """median of all elements: the gradient is shared evenly by the elements equal to it (the
    NaNs when it is NaN), PyTorch's rule."""
    __slots__ = ()

    def apply(self, g):
        x, out = self.get_saved()
        mask = A.unary(A.ISNAN, x) if A.unary(A.ISNAN, out) else A.binary(A.EQ, x, out)
        count = int(A.reduce(A.R_SUM, A.cast(mask, np.int64), tuple(range(x.ndim))))
        share = A.scale(g, 1.0 / max(count, 1))
        return (_C.where(mask, share, A.zeros((), g.dtype)),)

    def apply_differentiable(self, g):  # g times the same constant share mask
        return (g * Tensor._wrap(self.apply(A.full((), 1.0, g._data.dtype))[0]),)


def median(input: Tensor, dim=None, keepdim: bool = False):
    """The median: the lower of the two middle values when the count is even (no averaging),
    as in PyTorch. A NaN anywhere in a line makes its median NaN.

    Two forms:

    - ``md.median(x)``: a 0-d tensor, the median of all elements (NaN for an empty tensor).
      Backward: the gradient is shared evenly by the elements equal to the median.
    - ``md.median(x, dim, keepdim=False)``: the named tuple ``(values, indices)``, the
      ((n - 1) // 2 + 1)-th smallest along ``dim`` (the first NaN's index where there is one).
      Backward: the gradient goes to the returned index. Index among equal values: as
      :func:`kthvalue` (PyTorch's is not defined).

    Shapes: (*) -> (); (.., n, ..) -> (.., ..) or (.., 1, ..) with keepdim.

    >>> import minidl as md
    >>> md.median(md.tensor([4., 1., 3., 2.]))
    tensor(2.0000)
    >>> md.median(md.tensor([[4., 1., 3.], [0., float('nan'), 1.]]), dim=1)
    median(values=tensor([3.0000,    nan]), indices=tensor([2, 1]))
    """
    d = input._data
    if dim is None:
        if d.size == 0:
            return _wrap(A.full((), float("nan"), d.dtype))
        flat = d.reshape(-1)
        values, _ = _C.kthvalue(kernel_input(flat), (flat.size - 1) // 2 + 1, 0, True)
        out = A.cast(values, d.dtype) if values.dtype != d.dtype else values
        node = MedianBackward if d.dtype.kind == "f" or A.is_low(d) else None
        return result(out, node, (input,), (d, out))
    dim = line_dim(input, dim)
    n = d.shape[dim] if d.ndim else 1
    if n == 0:
        raise IndexError(f"median(): Expected reduction dim {dim} to have non-zero size.")
    return _kth(input, (n - 1) // 2 + 1, dim, keepdim, True, return_types_median)
