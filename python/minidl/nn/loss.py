"""Loss functions: the number training minimises, how far a prediction is from its target.

Functions (``F.mse_loss``, ``F.l1_loss``, ``F.nll_loss``, ``F.binary_cross_entropy``,
``F.binary_cross_entropy_with_logits``, ``F.cross_entropy``, ``F.focal_loss``) and their
modules (``nn.MSELoss`` ... ``nn.FocalLoss``). Per element or per sample:

    MSE            l = (x - y)^2                                   regression
    L1 (MAE)       l = |x - y|                                     regression, robust to outliers
    BCE            l = -[y log p + (1 - y) log(1 - p)]             p a probability in [0, 1]
    BCE w/ logits  l = -[y log s(x) + (1 - y) log(1 - s(x))]       s the sigmoid, x a logit
    NLL            l = -logp[target]                               logp = log-probabilities
    cross-entropy  l = -log softmax(x)[target]                     x = logits (N, C)
    focal          l = -alpha_t (1 - p_t)^gamma log p_t            p_t = softmax(x)[target]

``reduction`` turns the per-element losses into the result: ``"mean"`` (default; for NLL
and cross-entropy a weighted mean over the non-ignored samples), ``"sum"``, or ``"none"``
(the unreduced tensor). Cross-entropy and NLL are what a classifier trains with: the
gradient of the cross-entropy with respect to the logits is simply softmax(x) - onehot(t).

The softmax losses (NLL, cross-entropy, focal) and their modules live in nn/loss_softmax.py.
Where the C++ lives: cpp/ops/loss/ holds one forward kernel and one backward kernel per loss,
each formula beside its derivative: loss_pointwise.cpp (MSE, L1, BCE, BCE with logits),
loss_softmax.cpp (cross-entropy, focal), loss.cpp (NLL), loss_simd.cpp (the float32 row
helpers of the softmax losses for each ISA); loss.h has the formulas.

Cross-entropy and focal loss fuse the log-softmax in: the forward keeps only each row's
log-sum-exp, the backward writes softmax - target straight from the logits, so the (N, C)
log-probabilities are never stored. BCE-with-logits fuses the sigmoid the same way.
Under ``md.autocast`` every loss runs in float32, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..amp import autocast_mode as _amp
from ..graph.node import Node
from ..ops import array as A
from ..ops.higher_order import recomputed_grads
from ..ops._graph import result, saved_input
from ..tensor import Tensor
from .module import Module

# minidl::PointwiseLoss (cpp/ops/loss/loss.h), by name
MSE, L1, BCE, BCE_LOGITS = (_C.PointwiseLoss.mse, _C.PointwiseLoss.l1, _C.PointwiseLoss.bce,
                             _C.PointwiseLoss.bce_with_logits)


def _check_reduction(reduction: str):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _f32(a):
    return A.to_f32(a) if A.is_low(a) else a


def _back(g, like):
    return A.cast(g, like.dtype) if A.is_low(like) else g


# --- elementwise losses -------------------------------------------------------------------------
class PointwiseLossBackward(Node):
    __slots__ = ()

    def apply(self, g):
        kind, x, y, w, pw, scale, orig = self.get_saved()
        dx = _C.pointwise_loss_backward(kind, x, y, w, pw, _f32(A.contiguous(g)).reshape(-1), scale)
        dx = dx.reshape(orig.shape)
        gx = _back(dx, orig) if self.next[0] is not None else None
        gy = _back(A.neg(dx), orig) if (len(self.next) > 1 and self.next[1] is not None) else None
        return gx, gy

    def apply_differentiable(self, g):
        """The loss recomputed with primitive ops (the formulas in loss.h), differentiated
        with create_graph=True."""
        kind, x, y, w, pw, scale, orig = self.get_saved()
        X = saved_input(self, 0, x)
        Y = saved_input(self, 1, y) if len(self.next) > 1 else Tensor._wrap(y)

        def loss(X, Y):
            if kind == MSE:
                l = (X - Y) ** 2
            elif kind == L1:
                l = (X - Y).abs()
            elif kind == BCE:  # PyTorch clamps each log at -100
                l = -(Y * X.log().clamp(min=-100.0) + (1.0 - Y) * (1.0 - X).log().clamp(min=-100.0))
            else:  # with logits: (1 - y) x + (1 + (pw - 1) y) softplus(-x), softplus stably
                softplus_neg = (-X).clamp(min=0.0) + (-X.abs()).exp().log1p()
                lw = 1.0 if pw is None else (Tensor._wrap(pw) - 1.0) * Y + 1.0
                l = (1.0 - Y) * X + lw * softplus_neg
            if w is not None:
                l = l * Tensor._wrap(w)
            return l if (g.ndim and scale == 1.0) else l.sum() * scale

        gx, gy = recomputed_grads((X, Y), loss, g)
        return (gx, gy) if len(self.next) > 1 else (gx,)


def _pointwise(kind: int, input: Tensor, target: Tensor, reduction: str, name: str, weight=None, pos_weight=None,
               target_grad: bool = True):
    if _amp.active:  # losses run in float32 under autocast
        input, target, weight, pos_weight = _amp.autocast_inputs(name, input, target, weight, pos_weight)
    _check_reduction(reduction)
    if not isinstance(target, Tensor):
        raise TypeError(f"{name}: target must be a Tensor, got {type(target).__name__}")
    if input.shape != target.shape:
        raise ValueError(f"{name}: Using a target size ({list(target.shape)}) that is different to the input size "
                         f"({list(input.shape)}) is deprecated/unsupported. Please ensure they have the same size.")
    xd = input._data
    if xd.dtype.kind != "f" and not A.is_low(xd):
        raise RuntimeError(f"{name}: expected a floating point input, got {input.dtype}")
    x = _f32(A.contiguous(xd))
    yd = target._data
    y = A.cast(yd, x.dtype) if yd.dtype != x.dtype else A.contiguous(yd)
    w = None
    if weight is not None:
        wt = weight._data if isinstance(weight, Tensor) else np.asarray(weight)
        out = np.empty(x.shape, dtype=x.dtype)
        _C.copy_(out, wt if wt.dtype == x.dtype else A.cast(wt, x.dtype))  # broadcast to the input's shape
        w = out
    pw = None
    if pos_weight is not None:
        p = pos_weight._data
        if x.ndim and p.size not in (1, x.shape[-1]):
            raise RuntimeError(f"{name}: pos_weight of shape {list(p.shape)} must match the last (class) dimension "
                               f"{x.shape[-1]} of the input")
        pw = A.contiguous(p if p.dtype == x.dtype else A.cast(p, x.dtype)).reshape(-1)
    elementwise = reduction == "none"
    out, total = _C.pointwise_loss(kind, x, y, w, pw, elementwise)
    n = x.size
    if reduction == "none":
        data, scale = out, 1.0
    elif reduction == "sum":
        data, scale = A.full((), total, x.dtype), 1.0
    else:
        data, scale = A.full((), total / n if n else np.nan, x.dtype), (1.0 / n if n else 1.0)
    data = _back(data, xd)
    inputs = (input, target) if target_grad else (input,)
    return result(data, PointwiseLossBackward, inputs, (kind, x, y, w, pw, scale, xd))


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean((input - target)^2) over all n elements.

    Gradient: 2 (input - target) / n (``"sum"``: without the 1/n). input and target must have
    the same shape (*) (minidl does not broadcast them; PyTorch warns and broadcasts) ->
    a scalar, or (*) with ``reduction="none"``. Minimising it fits the conditional mean.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([1.0, 2.0, 4.0], requires_grad=True)
    >>> y = md.tensor([1.0, 0.0, 2.0])
    >>> loss = F.mse_loss(x, y)          # (0 + 4 + 4) / 3
    >>> loss
    tensor(2.6667, grad_fn=<PointwiseLossBackward>)
    >>> loss.backward()
    >>> x.grad                           # 2 (x - y) / 3
    tensor([0.0000, 1.3333, 1.3333])
    >>> F.mse_loss(x, y, reduction="none")
    tensor([0.0000, 4.0000, 4.0000], grad_fn=<PointwiseLossBackward>)
    """
    return _pointwise(MSE, input, target, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error: mean(|input - target|) over all n elements.

    Gradient: sign(input - target) / n (0 where they are equal). Shapes as in
    :func:`mse_loss`. A large error counts linearly, not squared, so outliers pull less;
    minimising it fits the conditional median.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([1.0, 2.0, 4.0], requires_grad=True)
    >>> loss = F.l1_loss(x, md.tensor([1.0, 0.0, 2.0]))     # (0 + 2 + 2) / 3
    >>> loss
    tensor(1.3333, grad_fn=<PointwiseLossBackward>)
    >>> loss.backward()
    >>> x.grad
    tensor([0.0000, 0.3333, 0.3333])
    """
    return _pointwise(L1, input, target, reduction, "l1_loss")


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on probabilities: l = -w [y log x + (1 - y) log(1 - x)].

    input x: probabilities in [0, 1] (e.g. a sigmoid's output), target y in [0, 1] of the
    same shape (*), ``weight`` w broadcast to it (None: 1) -> a scalar, or (*) with
    ``reduction="none"``. Each log is clamped at -100 as in PyTorch, so x = 0 or 1 gives a
    finite loss. Gradient w (x - y) / max(x (1 - x), 1e-12). The target gets no gradient.
    Prefer :func:`binary_cross_entropy_with_logits` on logits: it is the same loss without
    the round trip through a saturated sigmoid.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> p = md.tensor([0.9, 0.2, 0.5])
    >>> y = md.tensor([1.0, 0.0, 1.0])
    >>> F.binary_cross_entropy(p, y, reduction="none")   # -log 0.9, -log 0.8, -log 0.5
    tensor([0.1054, 0.2231, 0.6931])
    >>> F.binary_cross_entropy(p, y)
    tensor(0.3406)
    >>> F.binary_cross_entropy(md.tensor([0.0]), md.tensor([1.0]))   # log 0 clamped at -100
    tensor(100.0000)
    """
    return _pointwise(BCE, input, target, reduction, "binary_cross_entropy", weight, target_grad=False)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor = None, size_average=None,
                                     reduce=None, reduction: str = "mean", pos_weight: Tensor = None) -> Tensor:
    """Sigmoid and BCE in one stable pass: l = -w [p y log s(x) + (1 - y) log(1 - s(x))].

    input x: logits (*), target y in [0, 1] of the same shape, ``weight`` w broadcast to it,
    ``pos_weight`` p per class along the last dim (a (C,) or one-element tensor; > 1 favours
    recall on a rare positive class). -> a scalar, or (*) with ``reduction="none"``.
    Written with softplus(-x) = log(1 + exp(-|x|)) + max(-x, 0) (log s(x) = -softplus(-x),
    log(1 - s(x)) = -x - softplus(-x)), so a logit of 100 gives loss 100, not inf.
    Gradient w [(1 + (p - 1) y) s(x) - p y], i.e. s(x) - y for w = p = 1. The target gets no
    gradient. ``size_average`` and ``reduce`` are PyTorch's deprecated arguments, accepted
    and ignored: use ``reduction``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([2.0, -1.0, 0.0], requires_grad=True)
    >>> y = md.tensor([1.0, 0.0, 1.0])
    >>> loss = F.binary_cross_entropy_with_logits(x, y)
    >>> loss                              # = F.binary_cross_entropy(F.sigmoid(x), y)
    tensor(0.3778, grad_fn=<PointwiseLossBackward>)
    >>> loss.backward()
    >>> x.grad                            # (sigmoid(x) - y) / 3
    tensor([-0.0397,  0.0896, -0.1667])
    >>> F.binary_cross_entropy_with_logits(x.detach(), y, pos_weight=md.tensor([3.0]))
    tensor(0.9245)
    """
    return _pointwise(BCE_LOGITS, input, target, reduction, "binary_cross_entropy_with_logits", weight, pos_weight,
                      target_grad=False)


# --- the loss modules ---------------------------------------------------------------------------
class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{reduction} is not a valid value for reduction")
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error as a module: mean((input - target)^2) (see ``F.mse_loss``).

    input (*), target (*) of the same shape -> scalar (``reduction="none"``: (*)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> criterion = nn.MSELoss()
    >>> criterion(md.tensor([1.0, 2.0, 4.0]), md.tensor([1.0, 0.0, 2.0]))
    tensor(2.6667)
    >>> nn.MSELoss(reduction="sum")(md.tensor([1.0, 2.0, 4.0]), md.tensor([1.0, 0.0, 2.0]))
    tensor(8.0000)
    """

    def forward(self, input, target):
        return mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error as a module: mean(|input - target|) (see ``F.l1_loss``).

    input (*), target (*) of the same shape -> scalar (``reduction="none"``: (*)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.L1Loss()(md.tensor([1.0, 2.0, 4.0]), md.tensor([1.0, 0.0, 2.0]))
    tensor(1.3333)
    """

    def forward(self, input, target):
        return l1_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities as a module: -w [y log x + (1-y) log(1-x)]
    (logs clamped at -100; see ``F.binary_cross_entropy``).

    input (*) probabilities in [0, 1], target (*) -> scalar (``"none"``: (*)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.BCELoss()(md.tensor([0.9, 0.2, 0.5]), md.tensor([1.0, 0.0, 1.0]))
    tensor(0.3406)
    """

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input, target):
        return binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + BCE in one stable pass; ``pos_weight`` weighs positives per class (see
    ``F.binary_cross_entropy_with_logits``). The loss for binary and multi-label
    classification on raw logits.

    input (*) logits, target (*) in [0, 1] -> scalar (``"none"``: (*)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> criterion = nn.BCEWithLogitsLoss()
    >>> criterion(md.tensor([2.0, -1.0, 0.0]), md.tensor([1.0, 0.0, 1.0]))
    tensor(0.3778)
    """

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        return binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
