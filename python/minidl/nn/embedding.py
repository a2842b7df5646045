"""``nn.Embedding`` and ``F.embedding``: a lookup table, out[..., :] = weight[input[...], :].

Forward is a row gather, backward a scatter-add of the output gradient into the rows that
were read (repeated indices add up), both in C++ (cpp/ops/indexing/indexing.cpp). The row
``padding_idx`` (if given) receives no gradient, and nn.Embedding initialises it to zeros, so
padding tokens map to a constant zero vector. Weights ~ N(0, 1), as in PyTorch.
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


class EmbeddingBackward(Node):
    __slots__ = ()

    def apply(self, g):
        idx, num, padding_idx = self.get_saved()
        gw = np.zeros((num,) + g.shape[idx.ndim:], dtype=g.dtype)
        _C.scatter_add_rows(gw, idx.reshape(-1), A.contiguous(g).reshape(idx.size, -1))
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (gw,)


def _padding_index(padding_idx, num_embeddings: int):
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx must be within num_embeddings: got {padding_idx} for "
                         f"num_embeddings={num_embeddings}")
    return padding_idx % num_embeddings


def embedding(input: Tensor, weight: Tensor, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """out = weight[input]: input int64 of any shape (*), weight (num_embeddings, dim) ->
    out (*, dim). Gradient: d weight[k] = sum of d out over the positions where input == k,
    except k = padding_idx. An index outside [0, num_embeddings) raises IndexError."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not implemented")
    if input.dtype.is_floating_point:
        raise TypeError(f"embedding: expected an integer index tensor (Long), got {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight.shape)}")
    num = weight.shape[0]
    pad = _padding_index(padding_idx, num)
    idx = A.contiguous(input._data.astype(np.int64, copy=False))
    try:
        out = _C.gather_rows(weight._data, idx)
    except IndexError as e:
        raise IndexError(f"embedding: {e} (weight of shape {tuple(weight.shape)}, num_embeddings={num})") from None
    return result(out, EmbeddingBackward, (weight,), (idx, num, pad))


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``: input (*) int64 ->
    (*, embedding_dim). weight ~ N(0, 1); the ``padding_idx`` row is zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        if num_embeddings < 0 or embedding_dim < 0:
            raise ValueError(f"Embedding: sizes must be non-negative, got ({num_embeddings}, {embedding_dim})")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_index(padding_idx, num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(empty(num_embeddings, embedding_dim, dtype=dtype), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"{(num_embeddings, embedding_dim)}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, **kw):
        """An Embedding whose weight is ``embeddings`` (2-D), frozen unless freeze=False."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got shape "
                             f"{tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings.detach(), _freeze=freeze, **kw)

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(*, ) int64 -> (*, num_classes) int64 with a 1 at each index."""
    if tensor._data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    d = tensor._data
    if num_classes == -1:
        num_classes = int(A.reduce(A.R_MAX, d.reshape(-1), (0,))) + 1 if d.size else 0
    if d.size and (int(A.reduce(A.R_MIN, d.reshape(-1), (0,))) < 0 or
                   int(A.reduce(A.R_MAX, d.reshape(-1), (0,))) >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes and non-negative.")
    classes = _C.arange(0, num_classes, 1, _C.DType.i64)
    hit = _C.binary(A.EQ, A.contiguous(d)[..., None], classes)
    return Tensor._wrap(A.cast(hit, np.int64))

