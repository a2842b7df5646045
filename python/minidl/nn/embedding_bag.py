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
its count). The rows are gathered by ``index_select`` and reduced into their bags by
``index_add`` / ``scatter_reduce`` (the C++ kernels of cpp/ops/indexing/), so the backward is
their backward: a scatter-add of the bag gradients into the used rows of the weight.
"""
from __future__ import annotations

import numpy as np

from ..ops.creation import empty, tensor, zeros
from ..ops.indexing import index_select, scatter_reduce
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor = None, max_norm=None, norm_type: float = 2.0,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor = None, include_last_offset: bool = False,
                  padding_idx: int = None) -> Tensor:
    """Sum / mean / max of the embedding rows of each bag (see the module docstring).

    Shapes: input (B, L) without offsets, or (N,) with offsets (B,) (or (B + 1,) with
    ``include_last_offset``); weight (num_embeddings, D) -> (B, D).

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
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: max_norm, scale_grad_by_freq and sparse are not supported by minidl")
    if weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    idx = input.numpy()
    if input.dtype.is_floating_point:
        raise RuntimeError(f"embedding_bag: expected input of dtype int64, got {input.dtype}; pass input.long()")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                      f"on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: per_sample_weights {list(per_sample_weights.shape)} must have the "
                             f"shape of input {list(input.shape)}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             "fixed length sequences.")
        bags, length = idx.shape
        bag_of = np.repeat(np.arange(bags), length)
        flat = idx.reshape(-1)
        psw = per_sample_weights.reshape(-1) if per_sample_weights is not None else None
    elif input.ndim == 1:
        if offsets is None or offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor but got None" if offsets is None else
                             f"offsets has to be a 1D Tensor, got {offsets.ndim}D")
        starts = offsets.numpy().astype(np.int64)
        if include_last_offset:
            starts = starts[:-1]
        if starts.size and (starts[0] != 0 or np.any(np.diff(starts) < 0) or starts[-1] > idx.size):
            raise ValueError(f"embedding_bag: offsets must start at 0, be non-decreasing and not exceed the input "
                             f"length {idx.size}, got {starts.tolist()}")
        bags = starts.size
        bag_of = np.searchsorted(starts, np.arange(idx.size), side="right") - 1
        flat = idx
        psw = per_sample_weights
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    n = weight.shape[0]
    if flat.size and (flat.min() < 0 or flat.max() >= n):
        bad = int(flat.min() if flat.min() < 0 else flat.max())
        raise IndexError(f"embedding_bag: index {bad} is out of range for {n} embeddings")
    keep = np.ones(flat.size, dtype=bool) if padding_idx is None else flat != (padding_idx % n)
    rows = index_select(weight, 0, tensor(flat[keep]))                      # (used, D)
    if psw is not None:
        rows = rows * psw[tensor(np.nonzero(keep)[0])].reshape(-1, 1)
    bag_index = tensor(bag_of[keep]).reshape(-1, 1).expand(-1, weight.shape[1])
    out = zeros(bags, weight.shape[1], dtype=weight.dtype)
    if mode == "max":
        return scatter_reduce(out, 0, bag_index, rows, "amax", include_self=False)
    out = scatter_reduce(out, 0, bag_index, rows, "sum")
    if mode == "mean":
        counts = np.bincount(bag_of[keep], minlength=bags).astype(weight._data.dtype)
        out = out / tensor(np.maximum(counts, 1)).reshape(-1, 1)
    return out


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
