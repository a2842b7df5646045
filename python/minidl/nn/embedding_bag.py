"""``F.embedding_bag`` and ``nn.EmbeddingBag``: the sum, mean or max of the embeddings of a
bag of indices, without materialising the (bag, length, D) tensor.

A bag is a variable-length set of tokens (the words of a document, the items a user clicked);
a bag-of-words model needs one vector per bag. With 2-D input (B, L) every row is a bag; with
1-D input the bags are slices of it that start at ``offsets``:

    input = [4, 1, 7, 7, 2],  offsets = [0, 2]  ->  bags [4, 1] and [7, 7, 2]
    sum:  out_b = sum_{i in bag b} w_i weight[input_i]      (w = per_sample_weights, or 1)
    mean: out_b = (1 / |bag b|) sum_{i in bag b} weight[input_i]
    max:  out_b = max_{i in bag b} weight[input_i]          (per feature)

An empty bag gives zeros. Indices equal to ``padding_idx`` are left out of their bag (and of
its count). Backward, with g = dL/dout:

    sum/mean: dweight[input_i] += (w_i, or 1 / |bag b|) g_b      (a scatter-add into the used rows)
    max:      dweight[argmax, d] += g_b[d]     (argmax: the first row of the bag reaching the max)
    dL/dw_i = <g_b, weight[input_i]>           (per_sample_weights, mode "sum")

Where the C++ lives: cpp/ops/embedding_bag/embedding_bag.cpp holds the reference forward and
backward side by side and the dispatch (threads over bags forward; over 16-column blocks of the
embedding dimension backward, so two bags naming one row never race on it),
embedding_bag_simd.cpp the float32 row loops per ISA.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result
from ..ops.creation import empty
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

_MODES = {"sum": _C.EmbeddingBagMode.sum, "mean": _C.EmbeddingBagMode.mean, "max": _C.EmbeddingBagMode.max}


class EmbeddingBagBackward(Node):
    __slots__ = ()

    def apply(self, g):
        weight, indices, starts, psw, padding_idx, mode, psw_like = self.get_saved()
        if g.dtype != weight.dtype:
            g = A.cast(g, weight.dtype)
        grad_weight = grad_psw = None
        if self.next[0] is not None:
            grad_weight = _C.embedding_bag_backward(g, weight, indices, starts, psw, padding_idx, mode)
        if self.next[1] is not None:
            grad_psw = _C.embedding_bag_backward_per_sample_weights(g, weight, indices, starts, padding_idx)
            shape, dtype = psw_like
            grad_psw = A.shaped(grad_psw if grad_psw.dtype == dtype else A.cast(grad_psw, dtype), shape)
        return grad_weight, grad_psw


def _bags(input: Tensor, offsets, include_last_offset: bool):
    """The indices as one int64 vector and the B + 1 bag starts (bag b = indices[starts[b]:starts[b+1]])."""
    idx = input._data
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             "fixed length sequences.")
        bags, length = idx.shape
        return np.ascontiguousarray(idx, dtype=np.int64).reshape(-1), np.arange(bags + 1, dtype=np.int64) * length
    if input.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if offsets is None or offsets.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor but got None" if offsets is None else
                         f"offsets has to be a 1D Tensor but got Tensor of dimension {offsets.ndim}")
    if offsets.dtype.is_floating_point:
        raise TypeError(f"embedding_bag: expected offsets of an integer dtype, got {offsets.dtype}")
    starts = offsets._data.astype(np.int64)
    if not include_last_offset:       # the last bag ends where the input does
        starts = np.append(starts, idx.size)
    elif starts.size == 0 or starts[-1] != idx.size:
        # PyTorch's contract (CSR): the last offset is the input's length. PyTorch does not check,
        # and for a smaller one its kernels disagree (sum/mean stop there, max and padding_idx
        # run to the end of the input, mean divides by the latter count): minidl raises instead.
        raise ValueError(f"embedding_bag: with include_last_offset=True the last offset must equal the input length "
                         f"{idx.size}, got {starts[-1] if starts.size else 'no offsets'}")
    return np.ascontiguousarray(idx, dtype=np.int64), starts


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor = None, max_norm=None, norm_type: float = 2.0,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor = None, include_last_offset: bool = False,
                  padding_idx: int = None) -> Tensor:
    """Sum / mean / max of the embedding rows of each bag (see the module docstring).

    Shapes: input (B, L) without offsets, or (N,) with offsets (B,) (or (B + 1,) with
    ``include_last_offset``, whose last offset is N, the CSR format); weight
    (num_embeddings, D) -> (B, D). per_sample_weights: input's shape, mode "sum" only.
    Where PyTorch does not check, minidl raises ValueError: offsets must be non-decreasing, and
    with ``include_last_offset`` the last one must be N (PyTorch's kernels disagree otherwise).
    float16/bfloat16 weights are pooled in float32 and rounded once.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> w = md.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    >>> F.embedding_bag(md.tensor([0, 1, 2, 2]), w, md.tensor([0, 2]), mode="sum")   # bags [0, 1], [2, 2]
    tensor([[1.0000, 1.0000],
            [4.0000, 4.0000]])
    >>> F.embedding_bag(md.tensor([[0, 2], [1, 1]]), w, mode="max")
    tensor([[2.0000, 2.0000],
            [0.0000, 1.0000]])
    """
    if mode not in _MODES:
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: max_norm, scale_grad_by_freq and sparse are not supported by minidl")
    if weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if not weight.dtype.is_floating_point:
        raise TypeError(f"embedding_bag: expected a floating point weight, got {weight.dtype}")
    if input.dtype.is_floating_point or input.dtype.name == "bool":
        raise RuntimeError(f"embedding_bag: expected input of dtype int64, got {input.dtype}; pass input.long()")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                      f"on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: per_sample_weights {list(per_sample_weights.shape)} must have the "
                             f"shape of input {list(input.shape)}")
    if A.is_low(weight._data):   # pooled in float32; the cast's backward rounds the gradient back
        psw = None if per_sample_weights is None else per_sample_weights.float()
        return embedding_bag(input, weight.float(), offsets, mode=mode, per_sample_weights=psw,
                             include_last_offset=include_last_offset, padding_idx=padding_idx).to(weight.dtype)
    indices, starts = _bags(input, offsets, include_last_offset)
    n = weight.shape[0]
    if padding_idx is not None and not -n <= padding_idx < n:
        raise ValueError(f"embedding_bag: padding_idx {padding_idx} must be within num_embeddings ({n})")
    pad = -1 if padding_idx is None else padding_idx % n
    psw = psw_like = None
    if per_sample_weights is not None:
        psw_like = (per_sample_weights._data.shape, per_sample_weights._data.dtype)
        psw = per_sample_weights._data.reshape(-1)
        if psw.dtype != weight._data.dtype:
            psw = A.cast(psw, weight._data.dtype)
    out = _C.embedding_bag(weight._data, indices, starts, psw, pad, _MODES[mode])
    return result(out, EmbeddingBagBackward, (weight, per_sample_weights),
                  (weight._data, indices, starts, psw, pad, _MODES[mode], psw_like))


class EmbeddingBag(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim`` whose rows are pooled
    per bag (see ``F.embedding_bag``); the weight starts N(0, 1), as PyTorch's.

    >>> import minidl as md
    >>> from minidl import nn
    >>> bag = nn.EmbeddingBag(10, 3, mode="mean")
    >>> bag(md.tensor([1, 2, 4, 5, 4, 3, 2, 9]), md.tensor([0, 4])).shape
    minidl.Size([2, 3])
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx: int = None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim, self.mode = num_embeddings, embedding_dim, mode
        self.include_last_offset, self.padding_idx = include_last_offset, padding_idx
        self.weight = Parameter(_weight if _weight is not None else empty(num_embeddings, embedding_dim, dtype=dtype))
        if _weight is None:
            init.normal_(self.weight)
            if padding_idx is not None:
                self.weight.data[padding_idx] = 0.0

    def forward(self, input, offsets=None, per_sample_weights=None):
        return embedding_bag(input, self.weight, offsets, mode=self.mode, per_sample_weights=per_sample_weights,
                             include_last_offset=self.include_last_offset, padding_idx=self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}, mode='{self.mode}'"
