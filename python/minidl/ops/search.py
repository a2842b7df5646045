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
    occurs (``counts``).

    Returns ``output``, or the tuple ``(output, inverse)``, ``(output, counts)`` or
    ``(output, inverse, counts)``. Each NaN is its own value, as in PyTorch's CPU kernel.
    ``sorted=False`` also returns ascending order (PyTorch's order is unspecified then).
    minidl differs: ``dim`` (unique slices instead of values) is not supported and raises.
    Not differentiable.

    >>> import minidl as md
    >>> md.unique(md.tensor([3, 1, 3, 2, 1]))
    tensor([1, 2, 3])
    >>> md.unique(md.tensor([[3, 1], [3, 2]]), return_inverse=True, return_counts=True)
    (tensor([1, 2, 3]), tensor([[2, 0],
            [2, 1]]), tensor([1, 1, 2]))
    """
    if dim is not None:
        raise NotImplementedError("unique(dim=...) is not supported in minidl: call unique without dim "
                                  "(the distinct values of the flattened tensor)")
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
