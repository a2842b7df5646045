"""Searching sorted tensors and counting values: ``searchsorted``, ``bucketize``,
``bincount``, ``histc``, ``unique``. None is differentiable (their results are indices and
counts), as in PyTorch.

    searchsorted(seq, v)[j] = the first i with seq[i] >= v[j]    (right=True: seq[i] > v[j])

is where v[j] would be inserted to keep ``seq`` sorted, found by binary search (O(log n) per
value). ``bucketize`` is the same search with the arguments the other way round. ``bincount``
counts each non-negative integer, ``histc`` counts values in equal-width bins, ``unique``
sorts and keeps one of each value.

minidl has no int32 dtype, so ``out_int32=True`` raises; the results are int64.

Where the C++ lives: cpp/ops/sort/search.cpp (binary search, the counting loops, unique as a
stable sort of (value, index) pairs and one walk over the groups).
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..dtypes import as_dtype, promote_types
from ..tensor import Tensor
from . import array as A
from .creation import tensor as _as_tensor
from .sort import kernel_input

_wrap = Tensor._wrap


def _no_int32(out_int32: bool, name: str) -> None:
    if out_int32:
        raise NotImplementedError(f"{name}(): out_int32=True is not supported: minidl has no int32 dtype "
                                  "(leave it False; the result is int64)")


def _shape(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _search_inputs(seq: np.ndarray, values: np.ndarray):
    """seq and values in one kernel dtype (their promoted type), as the kernels take them."""
    common = promote_types(as_dtype(seq.dtype), as_dtype(values.dtype)).np
    seq = seq if seq.dtype == common else A.cast(seq, common)
    values = values if values.dtype == common else A.cast(values, common)
    return kernel_input(seq), kernel_input(values)


def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False, side=None,
                 sorter=None) -> Tensor:
    """Indices where the values of ``input`` would be inserted into ``sorted_sequence`` to keep
    it sorted: out[.., j] = the first i with seq[.., i] >= input[.., j] (``right=True`` or
    ``side="right"``: seq[.., i] > input[.., j]).

    Shapes: ``sorted_sequence`` (n,) is searched for every value of ``input`` (any shape, or a
    Python number); an N-D sequence (*, n) pairs each of its rows with the same row of
    ``input`` (*, m). The result is int64 with input's shape. ``sorter`` (int64, the
    sequence's shape) reads an unsorted sequence in sorted order, seq[sorter[i]] (what
    ``argsort`` returns). NaN counts as larger than every number. Each value is a binary
    search: O(log n).

    >>> import minidl as md
    >>> seq = md.tensor([1., 3., 5., 7.])
    >>> md.searchsorted(seq, md.tensor([3., 6., 9.]))
    tensor([1, 3, 4])
    >>> md.searchsorted(seq, md.tensor([3., 6., 9.]), right=True)
    tensor([2, 3, 4])
    >>> md.searchsorted(md.tensor([5., 1., 3.]), 4.0, sorter=md.tensor([1, 2, 0]))
    tensor(2)
    """
    _no_int32(out_int32, "torch.searchsorted")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    seq = sorted_sequence._data
    scalar = not isinstance(input, Tensor)
    values = _as_tensor(input)._data if scalar else input._data
    if seq.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                           f"dimensions of boundaries tensor and input value tensor must match, but we got "
                           f"boundaries tensor {_shape(seq.shape)} and input value tensor {_shape(values.shape)}")
    if scalar and seq.ndim != 1:
        raise RuntimeError("torch.searchsorted(): input value can be a scalar only when boundaries tensor dimension "
                           f"is 1, but we got boundaries tensor dim({seq.ndim}) and input value's dim(0) numel(1)")
    if seq.ndim > 1 and (values.ndim != seq.ndim or values.shape[:-1] != seq.shape[:-1]):
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                           f"dimensions of boundaries tensor and input value tensor must match, but we got "
                           f"boundaries tensor {_shape(seq.shape)} and input value tensor {_shape(values.shape)}")
    order = None
    if sorter is not None:
        order = sorter._data
        if order.shape != seq.shape:
            raise RuntimeError("torch.searchsorted(): boundary and sorter must have the same size, but got boundary "
                               f"tensor {_shape(seq.shape)}and got sorter tensor {_shape(order.shape)}")
        if order.dtype != np.int64:
            raise RuntimeError(f"torch.searchsorted(): sorter must be a tensor of long dtype but got {sorter.dtype}")
        if order.size and (int(A.reduce(A.R_MIN, order, tuple(range(order.ndim)))) < 0
                           or int(A.reduce(A.R_MAX, order, tuple(range(order.ndim)))) >= seq.shape[-1]):
            raise RuntimeError("torch.searchsorted(): sorter index out of range")
    seq_k, values_k = _search_inputs(seq, values)
    out = _C.searchsorted(seq_k, values_k, order, bool(right))
    return _wrap(out.reshape(values.shape))


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each value of ``input`` among the sorted 1-D ``boundaries`` (b_0 < ... <
    b_{n-1}): out = i with b_{i-1} < x <= b_i (``right=True``: b_{i-1} <= x < b_i); 0 below
    b_0 and n above b_{n-1}. The same search as ``searchsorted(boundaries, input, right=right)``.

    Shapes: input (any shape, or a number) -> int64 of input's shape.

    >>> import minidl as md
    >>> md.bucketize(md.tensor([[0.5, 1.0], [2.5, 9.0]]), md.tensor([1., 2., 3.]))
    tensor([[0, 0],
            [2, 3]])
    """
    _no_int32(out_int32, "torch.bucketize")
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, right=right)


def bincount(input: Tensor, weights=None, minlength: int = 0) -> Tensor:
    """Count each non-negative integer of the 1-D int64 ``input``: out[v] = #{i : x_i = v}, or
    with ``weights`` (same length) out[v] = sum of w_i over those i.

    Shapes: (n,) -> (max(max(x) + 1, minlength),). int64 counts; with weights, float32 for
    float32 weights and float64 otherwise (PyTorch's rule).

    >>> import minidl as md
    >>> md.bincount(md.tensor([0, 2, 2, 5]))
    tensor([1, 0, 2, 0, 0, 1])
    >>> md.bincount(md.tensor([1, 1]), weights=md.tensor([0.25, 0.5]), minlength=3)
    tensor([0.0000, 0.7500, 0.0000])
    """
    d = input._data
    if d.dtype.kind not in "iu" and d.dtype != np.bool_:
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{input.dtype}': pass integers "
                                  "(x.long())")
    minlength = int(minlength)
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    x = A.cast(d, np.int64) if d.dtype != np.int64 else d
    if x.ndim != 1 or (x.size and int(A.reduce(A.R_MIN, x, (0,))) < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    bins = max(int(A.reduce(A.R_MAX, x, (0,))) + 1 if x.size else 0, minlength)
    w = None
    if weights is not None:
        w = weights._data
        if w.ndim != 1 or w.shape[0] != x.shape[0]:
            raise RuntimeError("weights should be 1-d and have the same length as input")
        if w.dtype != np.float32:
            w = A.cast(w, np.float64)
    return _wrap(_C.bincount(x, w, bins))


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Histogram of ``input`` in ``bins`` equal-width bins over [min, max]: out[b] counts the
    x with min + b w <= x < min + (b + 1) w, w = (max - min) / bins (x == max counts in the
    last bin). Values outside [min, max] and NaN are not counted. ``min == max`` (the default
    0, 0) uses the data's smallest and largest values; if those are equal too, [x - 1, x + 1].

    Shapes: any -> (bins,), input's float dtype. Not differentiable.

    >>> import minidl as md
    >>> md.histc(md.tensor([1., 2., 1., 4.]), bins=3, min=0, max=3)
    tensor([0.0000, 2.0000, 1.0000])
    """
    d = input._data
    if d.dtype.kind != "f" and not A.is_low(d):
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{input.dtype}': pass a floating point "
                                  "tensor (x.float())")
    bins = int(bins)
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    lo, hi = float(min), float(max)
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    src = A.to_f32(d) if A.is_low(d) else d
    if lo == hi and src.size:
        dims = tuple(range(src.ndim))
        lo, hi = float(A.reduce(A.R_MIN, src, dims)), float(A.reduce(A.R_MAX, src, dims))
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo:g}, {hi:g}] is not finite")
    out = _C.histc(src, bins, lo, hi)
    return _wrap(A.cast(out, d.dtype) if out.dtype != d.dtype else out)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim=None):
    """The distinct values of ``input`` (flattened), ascending; optionally where each element
    went (``inverse``, input's shape, so ``output[inverse] == input``) and how often each value
    occurs (``counts``). With ``dim``: the distinct slices along ``dim`` (rows for dim=0), in
    lexicographic order; ``inverse`` then has shape (input.size(dim),).

    Returns ``output``, or the tuple ``(output, inverse)``, ``(output, counts)`` or
    ``(output, inverse, counts)``. Each NaN is its own value, as in PyTorch's CPU kernel.
    ``sorted=False`` also returns ascending order (PyTorch's order is unspecified then).
    Not differentiable.

    >>> import minidl as md
    >>> md.unique(md.tensor([3, 1, 3, 2, 1]))
    tensor([1, 2, 3])
    >>> md.unique(md.tensor([[3, 1], [3, 2]]), return_inverse=True, return_counts=True)
    (tensor([1, 2, 3]), tensor([[2, 0],
            [2, 1]]), tensor([1, 1, 2]))
    >>> md.unique(md.tensor([[2, 0], [1, 5], [2, 0]]), dim=0, return_counts=True)
    (tensor([[1, 5],
            [2, 0]]), tensor([1, 2]))
    """
    if dim is not None:
        return _unique_slices(input, dim, return_inverse, return_counts, consecutive=False)
    d = input._data
    values, inverse, counts = _C.unique(kernel_input(d).reshape(-1))
    if values.dtype != d.dtype:
        values = A.cast(values, d.dtype)
    out = [_wrap(values)]
    if return_inverse:
        out.append(_wrap(inverse.reshape(d.shape)))
    if return_counts:
        out.append(_wrap(counts))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """Collapse each run of equal consecutive values (with ``dim``: equal consecutive slices)
    into one, as the Unix ``uniq`` does; no sorting, so ``[1, 1, 2, 1]`` gives ``[1, 2, 1]``.

    ``inverse`` maps each element (slice) to its run, ``counts`` gives each run's length.
    Not differentiable.

    >>> import minidl as md
    >>> md.unique_consecutive(md.tensor([1, 1, 2, 2, 3, 1, 1]), return_counts=True)
    (tensor([1, 2, 3, 1]), tensor([2, 2, 1, 2]))
    """
    if dim is None:
        flat = input.reshape(-1)
        out = _unique_slices(flat, 0, return_inverse, return_counts, consecutive=True)
        if return_inverse:  # PyTorch gives the flattened input's inverse the input's shape
            out = list(out)
            out[1] = out[1].reshape(tuple(input.shape))
            return tuple(out)
        return out
    return _unique_slices(input, dim, return_inverse, return_counts, consecutive=True)


def _unique_slices(input: Tensor, dim: int, return_inverse: bool, return_counts: bool, consecutive: bool):
    """Unique slices along ``dim``: each slice flattened to a row of m values; the rows are
    put in lexicographic order (unless ``consecutive``) by m stable sorts, last column first
    (an LSD radix sort whose digits are whole values: the sort kernel of ops/sort.py, then one
    gather per column), and a new group starts wherever a row differs from the one before it."""
    x = input.detach()
    if x.ndim == 0:
        raise IndexError("unique: dim given for a 0-d tensor (use dim=None)")
    dim = dim + x.ndim if dim < 0 else dim
    if not 0 <= dim < x.ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-x.ndim}, {x.ndim - 1}], "
                         f"but got {dim})")
    n = x.shape[dim]
    if any(size == 0 for i, size in enumerate(x.shape) if i != dim):
        raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    if n == 0:  # nothing to compare: an empty result (and empty inverse and counts)
        none = _wrap(np.zeros(0, np.int64))
        res = [x] + [none] * (int(return_inverse) + int(return_counts))
        return res[0] if len(res) == 1 else tuple(res)
    moved = x.movedim(dim, 0)
    rows = moved.reshape(n, -1)
    order = _wrap(np.arange(n, dtype=np.int64))
    if not consecutive:
        for j in reversed(range(rows.shape[1])):
            _, by_column = rows[:, j].index_select(0, order).sort(stable=True)
            order = order.index_select(0, by_column)
    ranked = rows.index_select(0, order)
    # a row starts a new group when any of its values differs from the row before it (NaN
    # differs from everything, itself included: each NaN row is its own group, as in PyTorch)
    starts = _wrap(np.ones(n, dtype=np.bool_))
    if n > 1:
        starts[1:] = (ranked[1:] != ranked[:-1]).any(1)
    first = starts.nonzero().reshape(-1)
    out = moved.index_select(0, order.index_select(0, first)).movedim(0, dim)
    group = starts.long().cumsum(0) - 1  # the group of each ranked row
    res = [out]
    if return_inverse:
        inverse = _wrap(np.empty(n, np.int64))
        inverse[order] = group
        res.append(inverse)
    if return_counts:
        res.append(group.bincount(minlength=first.shape[0]))
    return res[0] if len(res) == 1 else tuple(res)
