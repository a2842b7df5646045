"""Margin and embedding losses: push scores or embeddings apart by at least a margin.

    soft margin          l = log(1 + exp(-y x))                       y in {-1, 1}
    multilabel soft m.   l = -mean_c [y_c log s(x_c) + (1 - y_c) log s(-x_c)]   s = sigmoid
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

from ..ops import elementwise as E
from ..ops import reduce as R
from ..tensor import Tensor
from .distance import pairwise_distance
from .loss import _check_reduction, _Loss
from .loss_robust import _reduce


def _softplus(z: Tensor) -> Tensor:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return E.clamp(z, min=0) + (-z.abs()).exp().log1p()


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
    return _reduce(E.clamp(-target * (input1 - input2) + margin, min=0), reduction)


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
    loss = E.where(target != 1, E.clamp(margin - input, min=0), zero) + E.where(target != -1, input, zero)
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
    loss = E.where(target == 1, 1 - cos, zero) + E.where(target == -1, E.clamp(cos - margin, min=0), zero)
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

    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce(E.clamp(margin + d_pos - d_neg, min=0), reduction)


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
