"""Robust and distribution losses: Smooth L1 / Huber, Poisson and Gaussian NLL, KL divergence.

Per element, with d = |x - y|:

    Smooth L1 (beta)   l = 0.5 d^2 / beta  if d < beta  else  d - 0.5 beta
    Huber (delta)      l = 0.5 d^2         if d < delta else  delta (d - 0.5 delta)
    Poisson NLL        l = exp(x) - y x  (x = log rate; log_input=False: x - y log(x + eps))
    Gaussian NLL       l = 0.5 (log v + (x - y)^2 / v)   (x the predicted mean, v the variance)
    KL divergence      l = y (log y - x)  (x = log-probabilities; log_target: exp(y) (y - x))

Smooth L1 and Huber are L2 near the target and L1 far from it: the gradient is bounded by 1
(Smooth L1) or delta (Huber), so an outlier cannot dominate a batch, which is why detection
heads (Fast R-CNN's box regression) use them. Huber = beta * Smooth L1 with beta = delta.

These are compositions of minidl's differentiable elementwise ops, as in PyTorch's own
Python-level definitions of most of them; their backward comes from autograd.
``reduction``: ``"mean"`` (default), ``"sum"`` or ``"none"``; ``kl_div`` also takes
``"batchmean"`` (the sum divided by the batch size: the true KL divergence per sample).
"""
from __future__ import annotations

import math
import warnings

from ..graph.grad_mode import no_grad
from ..ops.where import where
from ..ops import reduce as R
from ..tensor import Tensor
from .loss import _check_reduction, _Loss


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return R.mean(loss)
    if reduction == "sum":
        return R.sum(loss)
    return loss


def _check_shapes(name: str, input: Tensor, target: Tensor):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: target size ({list(target.shape)}) must be the same as input size "
                         f"({list(input.shape)})")


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Smooth L1: 0.5 d^2 / beta where d = |input - target| < beta, else d - 0.5 beta.

    Shapes: input (*), target (*) -> scalar (``reduction="none"``: (*)). ``beta=0`` is L1.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.smooth_l1_loss(md.tensor([0.5, 3.0]), md.tensor([0.0, 0.0]), reduction="none")
    tensor([0.1250, 2.5000])
    """
    _check_reduction(reduction)
    _check_shapes("smooth_l1_loss", input, target)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    d = (input - target).abs()
    # --8<-- [start:smooth_l1_body]
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)
    # --8<-- [end:smooth_l1_body]


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber: 0.5 d^2 where d = |input - target| < delta, else delta (d - 0.5 delta).

    Shapes: input (*), target (*) -> scalar (``reduction="none"``: (*)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.huber_loss(md.tensor([0.5, 3.0]), md.tensor([0.0, 0.0]), reduction="none", delta=2.0)
    tensor([0.1250, 4.0000])
    """
    _check_reduction(reduction)
    _check_shapes("huber_loss", input, target)
    if not delta > 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    d = (input - target).abs()
    return _reduce(where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta), reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` counts under Poisson(rate).

    log_input=True: input is log(rate), l = exp(input) - target input; else input is the rate,
    l = input - target log(input + eps). ``full`` adds Stirling's log(target!) approximation
    target log target - target + 0.5 log(2 pi target) where target > 1.

    Shapes: input (*), target (*) -> scalar (``reduction="none"``: (*)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.poisson_nll_loss(md.tensor([0.0, 1.0]), md.tensor([1.0, 2.0]), reduction="none")
    tensor([1.0000, 0.7183])
    """
    _check_reduction(reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        t = target.detach()
        stirling = t * t.log() - t + 0.5 * (t * (2 * math.pi)).log()
        loss = loss + where(t > 1, stirling, t * 0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under N(input, var): the network predicts a mean
    and a variance (heteroscedastic regression).

    l = 0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)) (+ 0.5 log(2 pi) if ``full``).
    The clamp to ``eps`` is outside autograd, as in PyTorch: var's gradient passes through it.

    Shapes: input (N, *), target (N, *), var (N, *), or (N, *) without the last dim or with it
    of size 1 (one variance per sample), or a float -> scalar (``reduction="none"``: (N, *)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.gaussian_nll_loss(md.tensor([0.0, 1.0]), md.tensor([1.0, 1.0]), md.tensor([1.0, 0.5]), reduction="none")
    tensor([ 0.5000, -0.3466])
    """
    if not isinstance(var, Tensor):
        var = input.detach() * 0 + float(var)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)  # one variance per sample (homoscedastic over the last dim)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(reduction + " is not valid")
    if bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    # --8<-- [start:gaussian_nll_clamp]
    var = var.clone()
    with no_grad():
        var.clamp_(min=eps)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    # --8<-- [end:gaussian_nll_clamp]
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL divergence KL(target || p) with ``input`` = log p: l = target (log target - input).

    ``log_target=True``: target is given as log-probabilities, l = exp(target) (target - input).
    Where target is 0, l is 0 (0 log 0 = 0). ``reduction="batchmean"`` divides the sum by the
    batch size input.shape[0] (the KL divergence per sample); ``"mean"`` averages over every
    element, as PyTorch does.

    Shapes: input (N, *), target (N, *) -> scalar (``reduction="none"``: (N, *)).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> p = md.tensor([[0.5, 0.5]])
    >>> q = md.tensor([[0.25, 0.75]])
    >>> F.kl_div(q.log(), p, reduction="batchmean")            # sum p log(p / q)
    tensor(0.1438)
    """
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.")
    # --8<-- [start:kl_div_xlogy]
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy: target log target, with 0 where target == 0 (not 0 * -inf = nan)
        safe = where(target > 0, target, target * 0 + 1)
        loss = where(target > 0, target * safe.log(), target * 0) - target * input
    # --8<-- [end:kl_div_xlogy]
    if reduction == "batchmean":
        return R.sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss as a module (see ``F.smooth_l1_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.SmoothL1Loss(beta=0.5)(md.tensor([0.25, 2.0]), md.tensor([0.0, 0.0]))
    tensor(0.9062)
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Huber loss as a module (see ``F.huber_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.HuberLoss(delta=1.0)(md.tensor([0.5, 3.0]), md.tensor([0.0, 0.0]))
    tensor(1.3125)
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood as a module (see ``F.poisson_nll_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.PoissonNLLLoss()(md.tensor([0.0, 1.0]), md.tensor([1.0, 2.0]))
    tensor(0.8591)
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood as a module (see ``F.gaussian_nll_loss``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.GaussianNLLLoss()(md.tensor([0.0, 1.0]), md.tensor([1.0, 1.0]), md.tensor([1.0, 0.5]))
    tensor(0.0767)
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class KLDivLoss(_Loss):
    """KL divergence as a module (see ``F.kl_div``); ``reduction`` may also be "batchmean".

    >>> import minidl as md
    >>> from minidl import nn
    >>> p = md.tensor([[0.5, 0.5]])
    >>> nn.KLDivLoss(reduction="batchmean", log_target=True)(md.tensor([[0.25, 0.75]]).log(), p.log())
    tensor(0.1438)
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__("mean")
        if reduction not in ("mean", "sum", "none", "batchmean"):
            raise ValueError(f"{reduction} is not a valid value for reduction")
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
