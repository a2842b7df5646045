"""Margin and embedding losses: push scores or embeddings apart by at least a margin.

    soft margin          l = log(1 + exp(-y x))                       y in {-1, 1}
    multilabel soft m.   l = -mean_c [y_c log s(x_c) + (1 - y_c) log s(-x_c)]   s = sigmoid
    multi margin         l = (1/C) sum_{i != y} max(0, margin - x_y + x_i)^p   (the SVM loss)
    multilabel margin    l = (1/C) sum_{j in y} sum_{i not in y} max(0, 1 - (x_j - x_i))
    margin ranking       l = max(0, -y (x1 - x2) + margin)           y = 1: x1 should rank higher
    hinge embedding      l = x if y = 1,  max(0, margin - x) if y = -1   x a distance
    cosine embedding     l = 1 - cos(x1, x2) if y = 1,  max(0, cos(x1, x2) - margin) if y = -1
    triplet margin       l = max(0, margin + d(a, p) - d(a, n))       d the p-norm distance

A margin loss is zero once a pair is on the right side by ``margin``: only the pairs still
violating it produce gradient, which is how metric learning (face embeddings, triplet
networks, Siamese networks) shapes an embedding space.

Compositions of minidl's differentiable ops (PyTorch composes these in ATen the same way);
their backward comes from autograd. ``reduction``: ``"mean"`` (default), ``"sum"``, ``"none"``.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import float32 as md_float32, int64 as md_int64
from ..ops.where import clamp, where
from ..ops import reduce as R
from ..ops.creation import tensor as md_tensor
from ..tensor import Tensor
from .distance import pairwise_distance
from .loss import _check_reduction, _Loss
from .loss_robust import _reduce


def _softplus(z: Tensor) -> Tensor:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return clamp(z, min=0) + (-z.abs()).exp().log1p()


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Two-class logistic loss with targets in {-1, 1}: l = log(1 + exp(-target input)).

    Shapes: input (*), target (*) -> scalar (``reduction="none"``: (*)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.soft_margin_loss(md.tensor([2.0, -1.0]), md.tensor([1.0, 1.0]), reduction="none")
    tensor([0.1269, 1.3133])
    """
    _check_reduction(reduction)
    return _reduce(_softplus(-(target * input)), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor = None, size_average=None,
                                reduce=None, reduction: str = "mean") -> Tensor:
    """Independent binary cross-entropy per class, averaged over the C classes of each sample.

    l_n = -(1/C) sum_c w_c [y_c log s(x_c) + (1 - y_c) log s(-x_c)], s the sigmoid.

    Shapes: input (N, C) or (C,), target of the same shape (0/1) -> scalar (``"none"``: (N,)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.multilabel_soft_margin_loss(md.tensor([[2.0, -1.0]]), md.tensor([[1.0, 0.0]]))
    tensor(0.2201)
    """
    _check_reduction(reduction)
    # -log s(x) = softplus(-x),  -log s(-x) = softplus(x)
    loss = target * _softplus(-input) + (1 - target) * _softplus(input)
    if weight is not None:
        loss = loss * weight
    return _reduce(R.mean(loss, dim=-1), reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """l = max(0, -target (input1 - input2) + margin): target = 1 asks input1 > input2 + margin.

    Shapes: input1 (*), input2 (*), target (*) -> scalar (``reduction="none"``: (*)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.margin_ranking_loss(md.tensor([3.0, 1.0]), md.tensor([1.0, 2.0]), md.tensor([1.0, 1.0]), margin=0.5,
    ...                       reduction="none")
    tensor([0.0000, 1.5000])
    """
    _check_reduction(reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {list(input1.shape)}, input2: {list(input2.shape)}, target: "
                           f"{list(target.shape)} ")
    return _reduce(clamp(-target * (input1 - input2) + margin, min=0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """l = input where target = 1, max(0, margin - input) where target = -1 (input a distance).

    Shapes: input (*), target (*) with values in {-1, 1} -> scalar (``reduction="none"``: (*)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.hinge_embedding_loss(md.tensor([0.3, 0.3]), md.tensor([1.0, -1.0]), reduction="none")
    tensor([0.3000, 0.7000])
    """
    _check_reduction(reduction)
    zero = input * 0
    # as PyTorch: a target that is neither 1 nor -1 counts for both terms
    loss = where(target != 1, clamp(margin - input, min=0), zero) + where(target != -1, input, zero)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(input1, input2) for target = 1; max(0, cos - margin) for target = -1.

    cos = <x1, x2> / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)) along the last dim.

    Shapes: input1 (N, D) or (D,), input2 the same, target (N,) or () -> scalar (``"none"``: (N,)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x1 = md.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> x2 = md.tensor([[1.0, 1.0], [1.0, 1.0]])
    >>> F.cosine_embedding_loss(x1, x2, md.tensor([1.0, -1.0]), reduction="none")
    tensor([0.2929, 0.7071])
    """
    _check_reduction(reduction)
    if input1.ndim not in (1, 2) or input1.shape != input2.shape:
        raise RuntimeError(f"cosine_embedding_loss: expected input1 and input2 of the same shape, 1-D or 2-D, "
                           f"got {list(input1.shape)} and {list(input2.shape)}")
    dim = input1.ndim - 1
    eps = 1e-12
    dot = R.sum(input1 * input2, dim=dim)
    cos = dot / ((R.sum(input1 * input1, dim=dim) + eps) * (R.sum(input2 * input2, dim=dim) + eps)).sqrt()
    zero = cos * 0
    loss = where(target == 1, 1 - cos, zero) + where(target == -1, clamp(cos - margin, min=0), zero)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """l = max(0, margin + d(anchor, positive) - d(anchor, negative)), d(a, b) = ||a - b + eps||_p.

    ``swap=True`` uses min(d(a, n), d(p, n)) as the negative distance (Balntas et al., 2016).

    Shapes: anchor, positive, negative (N, D) or (D,) -> scalar (``reduction="none"``: (N,)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> a, pos, neg = md.tensor([[0.0, 0.0]]), md.tensor([[1.0, 0.0]]), md.tensor([[0.0, 1.5]])
    >>> F.triplet_margin_loss(a, pos, neg, margin=1.0, eps=0.0)
    tensor(0.5000)
    """
    _check_reduction(reduction)
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")

    # --8<-- [start:triplet_body]
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp(margin + d_pos - d_neg, min=0), reduction)
    # --8<-- [end:triplet_body]


def _class_scores(input: Tensor, target: Tensor, name: str):
    """(input as (N, C), target as (N,) int64, was the input 1-D)."""
    one_d = input.ndim == 1
    x = input.reshape(1, -1) if one_d else input
    t = target.reshape(1) if one_d and target.ndim == 0 else target.reshape(-1)
    if x.ndim != 2 or t.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: expected input (N, C) or (C,) and target (N,) or (), got input "
                         f"{list(input.shape)} and target {list(target.shape)}")
    if t.dtype != md_int64:
        raise RuntimeError(f"{name}: expected target of dtype int64 (class indices), got {t.dtype}; pass target.long()")
    tn = t.numpy()
    C = x.shape[1]
    if tn.size and (tn.min() < 0 or tn.max() >= C):
        raise IndexError(f"{name}: target {int(tn.min() if tn.min() < 0 else tn.max())} is out of bounds for "
                         f"{C} classes")
    return x, tn, one_d


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor = None,
                      size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: l_n = (1/C) sum_{i != y} w_y max(0, margin - x[y] + x[i])^p.

    The correct class's score must beat every other score by ``margin`` (the SVM loss of
    CS231n). p is 1 or 2.

    Shapes: input (N, C) or (C,), target (N,) or () int64 -> scalar (``reduction="none"``: (N,)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.multi_margin_loss(md.tensor([[0.1, 0.2, 0.4, 0.8]]), md.tensor([3]))   # the docs' example
    tensor(0.3250)
    """
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x, tn, one_d = _class_scores(input, target, "multi_margin_loss")
    N, C = x.shape
    # --8<-- [start:multi_margin_body]
    is_target = np.zeros((N, C), dtype=bool)
    is_target[np.arange(N), tn] = True
    mask = md_tensor(is_target)
    x_y = R.sum(where(mask, x, x * 0), dim=1, keepdim=True)
    terms = clamp(margin - x_y + x, min=0)
    if p == 2:
        terms = terms * terms
    if weight is not None:
        terms = terms * weight[md_tensor(tn)].reshape(N, 1)
    loss = R.sum(where(mask, terms * 0, terms), dim=1) / C
    # --8<-- [end:multi_margin_body]
    return _reduce(loss.reshape(()) if one_d else loss, reduction)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: l_n = (1/C) sum_{j in targets} sum_{i not in targets} max(0, 1 - (x[j] - x[i])).

    ``target`` holds each sample's class indices first, then -1 (everything from the first -1
    on is ignored): every target class must beat every non-target class by a margin of 1.

    Shapes: input (N, C) or (C,), target of the same shape, int64 -> scalar (``"none"``: (N,)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.multilabel_margin_loss(md.tensor([[0.1, 0.2, 0.4, 0.8]]), md.tensor([[3, 0, -1, 1]]))   # the docs'
    tensor(0.8500)
    """
    _check_reduction(reduction)
    one_d = input.ndim == 1
    x = input.reshape(1, -1) if one_d else input
    t = target.reshape(1, -1) if target.ndim == 1 else target
    if x.ndim != 2 or tuple(t.shape) != tuple(x.shape):
        raise ValueError(f"multilabel_margin_loss: expected input and target of the same shape (N, C) or (C,), "
                         f"got {list(input.shape)} and {list(target.shape)}")
    if t.dtype != md_int64:
        raise RuntimeError(f"multilabel_margin_loss: expected target of dtype int64, got {t.dtype}; pass target.long()")
    tn = t.numpy()
    N, C = x.shape
    if tn.size and (tn.max() >= C or tn.min() < -1):
        raise IndexError(f"multilabel_margin_loss: target values must be class indices in [0, {C}) or -1")
    pairs_n, pairs_y = [], []  # (sample, target class) for each valid target
    is_target = np.zeros((N, C), dtype=bool)
    for n in range(N):
        for y in tn[n]:
            if y < 0:
                break
            pairs_n.append(n)
            pairs_y.append(int(y))
            is_target[n, y] = True
    if not pairs_n:
        loss = R.sum(x * 0, dim=1)
        return _reduce(loss.reshape(()) if one_d else loss, reduction)
    pn, py = md_tensor(np.array(pairs_n)), md_tensor(np.array(pairs_y))
    rows = x[pn]                                       # (K, C): the scores of each pair's sample
    x_y = x[pn, py].reshape(-1, 1)                     # (K, 1): the target class's score
    others = md_tensor(~is_target[np.array(pairs_n)])  # (K, C): the non-target classes of that sample
    per_pair = R.sum(where(others, clamp(1 - x_y + rows, min=0), rows * 0), dim=1)
    owner = np.zeros((N, len(pairs_n)), dtype=np.float32 if x.dtype == md_float32 else np.float64)
    owner[np.array(pairs_n), np.arange(len(pairs_n))] = 1  # sums the pairs of each sample
    loss = (md_tensor(owner) @ per_pair.reshape(-1, 1)).reshape(N) / C
    return _reduce(loss.reshape(()) if one_d else loss, reduction)


class SoftMarginLoss(_Loss):
    """Soft margin loss as a module (see ``F.soft_margin_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.SoftMarginLoss()(md.tensor([2.0, -1.0]), md.tensor([1.0, 1.0]))
    tensor(0.7201)
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input, target):
        return soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """Multi-label soft margin loss as a module (see ``F.multilabel_soft_margin_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.MultiLabelSoftMarginLoss()(md.tensor([[2.0, -1.0]]), md.tensor([[1.0, 0.0]]))
    tensor(0.2201)
    """

    def __init__(self, weight: Tensor = None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input, target):
        return multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """Margin ranking loss as a module (see ``F.margin_ranking_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.MarginRankingLoss(margin=0.5)(md.tensor([3.0, 1.0]), md.tensor([1.0, 2.0]), md.tensor([1.0, 1.0]))
    tensor(0.7500)
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return margin_ranking_loss(input1, input2, target, self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """Hinge embedding loss as a module (see ``F.hinge_embedding_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.HingeEmbeddingLoss(margin=1.0)(md.tensor([0.3, 0.3]), md.tensor([1.0, -1.0]))
    tensor(0.5000)
    """

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input, target):
        return hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """Cosine embedding loss as a module (see ``F.cosine_embedding_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> x1, x2 = md.tensor([[1.0, 0.0]]), md.tensor([[1.0, 1.0]])
    >>> nn.CosineEmbeddingLoss()(x1, x2, md.tensor([1.0]))
    tensor(0.2929)
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return cosine_embedding_loss(input1, input2, target, self.margin, reduction=self.reduction)


class MultiMarginLoss(_Loss):
    """Multi-class hinge loss as a module (see ``F.multi_margin_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.MultiMarginLoss()(md.tensor([[0.1, 0.2, 0.4, 0.8]]), md.tensor([3]))
    tensor(0.3250)
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor = None, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        self.p, self.margin, self.weight = p, margin, weight

    def forward(self, input, target):
        return multi_margin_loss(input, target, self.p, self.margin, self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss as a module (see ``F.multilabel_margin_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.MultiLabelMarginLoss()(md.tensor([[0.1, 0.2, 0.4, 0.8]]), md.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input, target):
        return multilabel_margin_loss(input, target, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """Triplet margin loss as a module (see ``F.triplet_margin_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> a, pos, neg = md.tensor([[0.0, 0.0]]), md.tensor([[1.0, 0.0]]), md.tensor([[0.0, 1.5]])
    >>> nn.TripletMarginLoss(margin=1.0, eps=0.0)(a, pos, neg)
    tensor(0.5000)
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps, self.swap,
                                   reduction=self.reduction)
