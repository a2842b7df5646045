"""``nn.Embedding`` and ``F.embedding``: a lookup table, out[..., :] = weight[input[...], :].

An embedding maps each of ``num_embeddings`` discrete tokens (words, item ids, classes) to a
learned vector of ``embedding_dim`` numbers. It equals the product onehot(i) W of a one-hot
row vector with the table W (a bias-free Linear layer on one-hot inputs), but reads one row
instead of multiplying by zeros:

    out[p, :] = weight[input[p], :]                 input (*) int64 -> out (*, embedding_dim)
    d weight[k, :] = sum of d out[p, :] over the positions p with input[p] == k

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
from ..ops._graph import linear_grads, result
from ..ops.indexing import index_select
from ..ops.creation import empty
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


# --8<-- [start:embedding_node]
class EmbeddingBackward(Node):
    __slots__ = ()

    def apply(self, g):
        idx, num, padding_idx = self.get_saved()
        gw = np.zeros((num,) + g.shape[idx.ndim:], dtype=g.dtype)
        _C.scatter_add_rows(gw, idx.reshape(-1), A.as_rows(A.contiguous(g)))
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (gw,)
# --8<-- [end:embedding_node]

    def apply_differentiable(self, g):  # linear in g: its adjoint is the lookup again (padding rows 0)
        idx, num, padding_idx = self.get_saved()

        def lookup(h):
            rows = index_select(h, 0, Tensor._wrap(idx.reshape(-1))).reshape(tuple(g.shape))
            if padding_idx is None:
                return rows
            keep = A.cast(A.binary_scalar(A.NE, idx, float(padding_idx)), g._data.dtype)
            return rows * Tensor._wrap(keep.reshape(idx.shape + (1,) * (g.ndim - idx.ndim)))
        return linear_grads(self, g, (lookup,))


def _padding_index(padding_idx, num_embeddings: int):
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx must be within num_embeddings: got {padding_idx} for "
                         f"num_embeddings={num_embeddings}")
    return padding_idx % num_embeddings


def embedding(input: Tensor, weight: Tensor, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Row lookup out = weight[input]: input int64 of any shape (*), weight
    (num_embeddings, dim) -> out (*, dim).

    Gradient: d weight[k] = sum of d out over the positions where input == k (a repeated
    index adds up), except k = ``padding_idx``, whose row gets zero gradient. The input gets
    no gradient (it is an index). An index outside [0, num_embeddings) raises IndexError.
    ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are not implemented in minidl
    (NotImplementedError); the defaults are PyTorch's.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> weight = md.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> out = F.embedding(md.tensor([1, 2, 1, 0]), weight, padding_idx=0)
    >>> out
    tensor([[1.0000, 2.0000],
            [3.0000, 4.0000],
            [1.0000, 2.0000],
            [0.0000, 0.0000]], grad_fn=<EmbeddingBackward>)
    >>> out.sum().backward()
    >>> weight.grad          # row 1 was read twice; row 0 is the padding row
    tensor([[0.0000, 0.0000],
            [2.0000, 2.0000],
            [1.0000, 1.0000]])
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not implemented")
    if input.dtype.is_floating_point:
        raise TypeError(f"embedding: expected an integer index tensor (Long), got {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight.shape)}")
    # --8<-- [start:embedding_call]
    num = weight.shape[0]
    pad = _padding_index(padding_idx, num)
    idx = A.contiguous(input._data.astype(np.int64, copy=False))
    try:
        out = _C.gather_rows(weight._data, idx)
    except IndexError as e:
        raise IndexError(f"embedding: {e} (weight of shape {tuple(weight.shape)}, num_embeddings={num})") from None
    return result(out, EmbeddingBackward, (weight,), (idx, num, pad))
    # --8<-- [end:embedding_call]


class Embedding(Module):
    """A learned table of ``num_embeddings`` vectors of size ``embedding_dim``:
    out = weight[input] (see :func:`embedding`).

    Shapes: input (*) int64 indices in [0, num_embeddings) -> output (*, embedding_dim).
    Parameter: ``weight`` (num_embeddings, embedding_dim), initialised N(0, 1) as in PyTorch;
    the ``padding_idx`` row (if given) is zero and gets no gradient, so padding tokens map to
    a constant zero vector. ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are stored
    but not implemented (a forward with them set raises NotImplementedError).

    >>> import minidl as md
    >>> from minidl import nn
    >>> emb = nn.Embedding(10, 3, padding_idx=0)
    >>> emb
    Embedding(10, 3, padding_idx=0)
    >>> emb.weight.shape
    minidl.Size([10, 3])
    >>> emb(md.tensor([[1, 2, 0], [4, 4, 9]])).shape     # (batch 2, sequence 3) -> (2, 3, 3)
    minidl.Size([2, 3, 3])
    >>> emb(md.tensor([0])).tolist()                     # the padding row
    [[0.0, 0.0, 0.0]]
    """

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
        """An Embedding whose weight is ``embeddings`` (2-D), frozen unless freeze=False.

        Used to start from pretrained vectors (word2vec, GloVe, another model's table).

        >>> import minidl as md
        >>> from minidl import nn
        >>> emb = nn.Embedding.from_pretrained(md.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> emb(md.tensor([1, 0]))
        tensor([[3.0000, 4.0000],
                [1.0000, 2.0000]])
        >>> emb.weight.requires_grad
        False
        """
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
    """One-hot encoding: (*) int64 class indices -> (*, num_classes) int64 with
    out[..., c] = 1 if tensor[...] == c else 0.

    ``num_classes=-1`` uses max(tensor) + 1. An index below 0 or at least ``num_classes``
    raises RuntimeError; a non-int64 input raises RuntimeError, as in PyTorch. Not
    differentiable (integer output). ``F.one_hot(t, C).float() @ W`` is what
    ``F.embedding(t, W)`` computes without the multiplications.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.one_hot(md.tensor([0, 2, 1]))
    tensor([[1, 0, 0],
            [0, 0, 1],
            [0, 1, 0]])
    >>> F.one_hot(md.tensor([1]), num_classes=4)
    tensor([[0, 1, 0, 0]])
    """
    if tensor._data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    d = tensor._data
    if num_classes == -1:
        num_classes = int(A.reduce(A.R_MAX, d.reshape(-1), (0,))) + 1 if d.size else 0
    if d.size and (int(A.reduce(A.R_MIN, d.reshape(-1), (0,))) < 0 or
                   int(A.reduce(A.R_MAX, d.reshape(-1), (0,))) >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes and non-negative.")
    # zeros, then a 1 at each row's class: one pass over the output (comparing every class
    # with every index and casting the booleans made three: 1024 rows x 1024 classes, 1
    # thread, 1.4 -> 0.7 ms, PyTorch 0.5-1.1)
    out = A.zeros(d.shape + (num_classes,), np.int64)
    flat = A.contiguous(d).reshape(-1)
    if flat.size and num_classes:
        out.reshape(-1)[_C.arange(0, flat.size * num_classes, num_classes, _C.DType.i64) + flat] = 1
    return Tensor._wrap(out)

