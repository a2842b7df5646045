"""The softmax losses of a classifier: ``F.cross_entropy``, ``F.nll_loss``, ``F.focal_loss``
and ``nn.CrossEntropyLoss``, ``nn.NLLLoss``, ``nn.FocalLoss`` (the formulas and the reductions
are in ``nn/loss.py``'s docstring, with the elementwise losses).

    NLL            l = -logp[target]                               logp = log-probabilities
    cross-entropy  l = -log softmax(x)[target]                     x = logits (N, C)
    focal          l = -alpha_t (1 - p_t)^gamma log p_t            p_t = softmax(x)[target]

Cross-entropy and focal loss fuse the log-softmax in (cpp/ops/loss/loss_softmax.cpp): the
forward keeps only each row's log-sum-exp, the backward writes softmax - target straight from
the logits; NLL is cpp/ops/loss/loss.cpp.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _C
from ..amp import autocast_mode as _amp
from ..dtypes import PYTORCH_NAMES, from_numpy_dtype
from ..graph.node import Node
from ..ops import array as A
from ..ops.higher_order import recomputed_grads
from ..ops._graph import result, saved_input
from ..tensor import Tensor
from .loss import _Loss, _back, _check_reduction, _f32
from .softmax import _softmax

_FLOAT32_LANES = {"avx512": 16, "avx2": 8}  # float32 lanes of a vector of each kernel set (scalar: 1)


def _spatial_pays(positions: int) -> bool:
    """Whether the spatial cross-entropy kernels beat moving C last (the rows path) for
    ``positions`` positions per sample: their backward runs a row of that many positions per
    class, which pays once it fills more than half a vector of the active kernel set. Measured
    (N, 100, d), 1M logits, forward + backward, 1 thread, CPU time, ms, rows -> spatial (Intel
    Xeon family 6 model 167): AVX-512 d = 4 2.74 -> 3.60, 8 2.79 -> 2.69, 12 2.70 -> 2.12,
    16 2.66 -> 1.73; AVX2 d = 4 3.71 -> 3.87, 8 3.48 -> 2.68, 16 3.46 -> 2.35; scalar d = 2 .. 32
    spatial 2-7% faster. A count of positions, not lanes, set the switch before (16 on every
    set, which left AVX2's d = 8 .. 15 on the slower path)."""
    return positions >= 2 and 2 * positions > _FLOAT32_LANES.get(_C.isa_name(), 1)


# --- softmax losses -----------------------------------------------------------------------------
def _rows(input: Tensor):
    """(N, C), (C,) or (N, C, d1, ...) -> contiguous (rows, C) logits and the layout info."""
    d = input._data
    if d.ndim == 1:
        return _f32(A.contiguous(d)).reshape(1, -1), d.shape
    if d.ndim == 2:
        return _f32(A.contiguous(d)), d.shape
    C = d.shape[1]
    return _f32(_C.contiguous(np.moveaxis(d, 1, -1))).reshape(-1, C), d.shape


def _unrows(dx: np.ndarray, shape):
    if len(shape) <= 2:
        return dx.reshape(shape)
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return np.moveaxis(dx.reshape(moved), -1, 1)


# --8<-- [start:ce_node]
class CrossEntropyBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, lse, tgt, w, ignore_index, eps, scale, shape, orig = self.get_saved()
        gg = _f32(A.contiguous(g)).reshape(-1)
        dx = _C.cross_entropy_backward(x, lse, gg, scale, tgt, w, ignore_index, eps)
        return (_back(dx.reshape(shape) if x.ndim == 3 else _unrows(dx, shape), orig),)
# --8<-- [end:ce_node]

    def apply_differentiable(self, g):
        """The gradient written with a recorded softmax, so it can be differentiated again:
        with wq_rc = w_c q_rc (the weighted target distribution, a constant),

            d loss / d x_rc = g scale (softmax(x)_rc sum_c' wq_rc' - wq_rc).

        (Recomputing the loss from primitive ops and differentiating that took about twice the
        time of this in an MLP's Hessian-vector product: seven recorded ops and an inner walk.)"""
        x, lse, tgt, w, ignore_index, eps, scale, shape, orig = self.get_saved()
        rows_shape = (x.shape[0] * x.shape[2], x.shape[1]) if x.ndim == 3 else x.shape  # (positions, C)
        q = _target_distribution(tgt, rows_shape, ignore_index, eps)
        wq = q if w is None else q * np.asarray(w)[None, :]
        X = saved_input(self, 0, orig)
        rows = _rows_of(X)
        dt = rows._data.dtype
        p = _softmax(rows, 1, log=False)
        row_mass = wq.sum(1, keepdims=True)  # 1 per row, but 0 for ignored rows and sum w_c q_c with weights
        if not np.all(row_mass == 1.0):
            p = p * Tensor._wrap(A.cast(row_mass, dt))
        d = p - Tensor._wrap(A.cast(np.ascontiguousarray(wq), dt))
        d = d * ((g if g.ndim == 0 else g.reshape(-1, 1)) * scale)
        return (_unrows_of(d, X),)


def _rows_of(X: Tensor) -> Tensor:
    """(C,), (N, C), (N, C, d1, ...) -> (rows, C), as ``_rows`` with Tensor ops."""
    if X.ndim == 1:
        return X.reshape(1, -1)
    if X.ndim == 2:
        return X
    C = X.shape[1]
    return X.permute((0,) + tuple(range(2, X.ndim)) + (1,)).reshape(-1, C)


def _unrows_of(R: Tensor, X: Tensor) -> Tensor:
    """(rows, C) -> X's shape: the inverse of ``_rows_of``, with Tensor ops."""
    if X.ndim <= 2:
        return R.reshape(X.shape)
    moved = R.reshape((X.shape[0],) + tuple(X.shape[2:]) + (X.shape[1],))
    return moved.permute((0, X.ndim - 1) + tuple(range(1, X.ndim - 1)))


def _target_distribution(tgt, rows_shape, ignore_index, eps):
    """q of the cross-entropy per row: the given probabilities, or (1 - eps) onehot(t) + eps / C,
    with rows of ignored targets zero (a constant: the targets have no gradient)."""
    if tgt.dtype.kind == "f":
        return tgt.reshape(rows_shape)
    R, C = rows_shape
    t = np.asarray(tgt).reshape(-1)
    keep = t != ignore_index
    q = np.zeros((R, C), dtype=np.float64)
    q[np.nonzero(keep)[0], t[keep]] = 1.0 - eps
    q[keep] += eps / C
    return q


def _weighted_rows_loss(logp_rows: Tensor, q, w, g, scale) -> Tensor:
    """-sum_c w_c q_rc logp_rc per row; summed and scaled, or per sample (``g``'s shape)."""
    wq = q if w is None else q * np.asarray(w)[None, :]
    per_row = -(logp_rows * Tensor._wrap(A.cast(np.ascontiguousarray(wq), logp_rows._data.dtype))).sum(1)
    return per_row.sum() * scale if g.ndim == 0 else per_row.reshape(tuple(g.shape)) * scale


def _check_class_targets(shape, target: Tensor, probabilities_allowed: bool = False):
    """A class-index target for scores of ``shape`` (N, C, d1, ...) is int64 of shape
    (N, d1, ...); () for one sample (C,). Raises on the two mistakes a learner makes first,
    with PyTorch's message and then the fix: labels as a column (N, 1), and labels stored as
    floats. Returns the expected shape (the caller checks it against the target's)."""
    td = target._data
    expected = (shape[0],) + tuple(shape[2:]) if len(shape) >= 2 else ()
    to_long = "" if td.dtype == np.int64 else ".long()"
    if len(shape) >= 2 and td.ndim == len(shape) and td.shape[1] == 1 and td.shape[:1] + td.shape[2:] == expected:
        pytorch = ("0D or 1D target tensor expected, multi-target not supported" if len(shape) == 2 else
                   f"only batches of spatial targets supported ({len(shape) - 1}D tensors) but got targets of "
                   f"dimension: {td.ndim}")
        raise RuntimeError(f"{pytorch}. The target has shape {list(td.shape)}, a column of class indices; "
                           f"the loss wants one index per sample, shape {list(expected)}: pass "
                           f"target.squeeze(1){to_long}")
    if to_long:
        hint = (f" (a floating point target is read as class probabilities only when it has the input's shape "
                f"{list(shape)})" if probabilities_allowed and td.dtype.kind != "b" else "")
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                           f"{PYTORCH_NAMES[from_numpy_dtype(td.dtype)]}. Class indices are integers: pass "
                           f"target.long(){hint}")
    return expected


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor = None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits against class targets: l_n = -w[t_n] log softmax(x_n)[t_n].

    The loss of a softmax classifier: it is log-softmax followed by NLL, fused. With class
    indices t, ``reduction="mean"`` gives sum_n l_n / sum_n w[t_n] over the samples whose
    target is not ``ignore_index``; with ``weight`` None, w = 1.

    Shapes: input (N, C) logits, (C,) for one sample, or (N, C, d1, ...) (a class per
    position, e.g. per pixel); target either class indices (N,) / () / (N, d1, ...) (int64,
    in [0, C) or ``ignore_index``), or class probabilities of the input's shape, with
    l_n = -sum_c w[c] q_nc log softmax(x_n)_c, averaged over the N samples. ``weight`` (C,)
    rescales each class. Output: a scalar, or the per-sample losses (N,) / (N, d1, ...) with
    ``reduction="none"``.

    ``label_smoothing`` eps (Szegedy et al., 2016) mixes the target with the uniform
    distribution, q = (1 - eps) onehot(t) + eps / C, so the model is not pushed to infinite
    logits. Without class weights the gradient with respect to the logits is
    (softmax(x_n) - q_n) / N (``"mean"``), q_n = onehot(t_n) when eps = 0.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], requires_grad=True)
    >>> t = md.tensor([0, 1])
    >>> F.cross_entropy(x, t, reduction="none")     # -log softmax(x)[n, t_n]
    tensor([0.4170, 0.2200], grad_fn=<CrossEntropyBackward>)
    >>> loss = F.cross_entropy(x, t)
    >>> loss
    tensor(0.3185, grad_fn=<CrossEntropyBackward>)
    >>> loss.backward()
    >>> x.grad                                      # (softmax(x) - onehot(t)) / N
    tensor([[-0.1705,  0.1212,  0.0493],
            [ 0.0543, -0.0988,  0.0445]])
    >>> F.cross_entropy(x.detach(), md.tensor([0, -100]))    # the second sample is ignored
    tensor(0.4170)
    >>> F.cross_entropy(x.detach(), t, label_smoothing=0.1)
    tensor(0.4369)
    """
    if _amp.active:
        input, target, weight = _amp.autocast_inputs("cross_entropy", input, target, weight)
    _check_reduction(reduction)
    if not isinstance(target, Tensor):
        raise TypeError(f"cross_entropy: target must be a Tensor, got {type(target).__name__}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    d = input._data
    if d.ndim == 0:
        raise ValueError("cross_entropy: input must have at least one dimension (N, C)")
    if d.dtype.kind != "f" and not A.is_low(d):
        raise RuntimeError(f"cross_entropy: expected floating point logits, got {input.dtype}")
    td = target._data
    prob = (td.dtype.kind == "f" or A.is_low(td)) and td.shape == d.shape
    # (N, C, d1, ...) with class indices: the logits stay in place as (N, C, d = d1 * ...) and the
    # spatial kernels read each position's C logits at a stride (no copy moving C last), once d
    # fills more than half a vector (_spatial_pays); (16, 21, 4096) fwd + bwd 5.9 -> 2.8 ms.
    d_positions = int(np.prod(d.shape[2:])) if d.ndim > 2 else 0
    if _spatial_pays(d_positions) and not prob:
        x, shape = _f32(A.contiguous(d)).reshape(d.shape[0], d.shape[1], d_positions), d.shape
    else:
        x, shape = _rows(input)
    C = x.shape[1]
    if prob:
        tgt = A.cast(td, x.dtype) if td.dtype != x.dtype else td
        tgt = _rows(Tensor._wrap(tgt))[0]
    else:
        expected = (d.shape[0],) + d.shape[2:] if d.ndim >= 2 else ()
        _check_class_targets(d.shape, target, probabilities_allowed=True)
        if td.shape != expected:
            raise ValueError(f"Expected input batch_size ({d.shape[0] if d.ndim >= 2 else 1}) to match target "
                             f"batch_size ({td.shape[0] if td.ndim else 1}): expected a target of shape "
                             f"{list(expected)} for input of shape {list(d.shape)}, got {list(td.shape)}")
        tgt = A.contiguous(td).reshape(-1)
    w = None
    if weight is not None:
        wd = weight._data
        if wd.shape != (C,):
            raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes but got "
                               f"weight tensor of shape: {list(wd.shape)}")
        w = A.cast(wd, x.dtype) if wd.dtype != x.dtype else A.contiguous(wd)
    # --8<-- [start:ce_call]
    loss, lse, wsum = _C.cross_entropy_forward(x, tgt, w, int(ignore_index), float(label_smoothing))
    if reduction == "none":
        out = loss.reshape((d.shape[0],) + d.shape[2:] if d.ndim >= 2 else ())
        scale = 1.0
    else:
        total = float(A.reduce(A.R_SUM, loss, (0,))) if loss.size else 0.0
        scale = 1.0
        if reduction == "mean":
            denom = loss.shape[0] if prob else wsum  # probability targets average over samples
            scale = 1.0 / denom if denom else float("nan")
            total = total * scale if denom else float("nan")
        out = A.full((), total, x.dtype)
    out = _back(out, d)
    return result(out, CrossEntropyBackward, (input,),
                  (x, lse, tgt, w, int(ignore_index), float(label_smoothing), scale, shape, d))
    # --8<-- [end:ce_call]


class FocalBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, lse, tgt, a, a_scalar, gamma, scale, orig = self.get_saved()
        gg = _f32(A.contiguous(g)).reshape(-1)
        dx = _C.focal_backward(x, lse, gg, scale, tgt, a, a_scalar, gamma)
        return (_back(dx.reshape(orig.shape), orig),)

    def apply_differentiable(self, g):  # -alpha_t (1 - p_t)^gamma log p_t, recomputed with primitive ops
        x, lse, tgt, a, a_scalar, gamma, scale, orig = self.get_saved()
        alpha_t = Tensor._wrap(a[tgt]) if a is not None else a_scalar
        rows = Tensor._wrap(tgt.reshape(-1, 1))

        def loss(X):
            logp_t = (X - X.logsumexp(1, keepdim=True)).gather(1, rows).reshape(-1)
            per_row = -(alpha_t * (1.0 - logp_t.exp()) ** gamma * logp_t)
            return per_row.sum() * scale if g.ndim == 0 else per_row
        return recomputed_grads((saved_input(self, 0, orig),), loss, g)


def focal_loss(logits: Tensor, target: Tensor, alpha=0.25, gamma: float = 2.0, reduction: str = "mean") -> Tensor:
    """Multi-class focal loss (Lin et al., 2017): l_n = -alpha_t (1 - p_t)^gamma log p_t with
    p_t = softmax(logits_n)[target_n].

    logits (N, C), target (N,) int64; alpha a float (every class), a length-C tensor
    (alpha[target]) or None (1). gamma = 0, alpha = 1 is cross-entropy; gamma > 0
    down-weights the well-classified examples (p_t near 1), so the many easy examples of an
    imbalanced problem do not swamp the few hard ones. Output: a scalar (mean or sum over
    N), or (N,) with ``reduction="none"``. Not in PyTorch's core (torchvision has the binary
    ``sigmoid_focal_loss``); minidl's is the softmax form of the paper, fused like
    :func:`cross_entropy`.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> t = md.tensor([0, 1])
    >>> F.focal_loss(x, t, reduction="none")        # alpha = 0.25, gamma = 2
    tensor([0.0121, 0.0021])
    >>> F.focal_loss(x, t, alpha=None, gamma=0.0)   # = F.cross_entropy(x, t)
    tensor(0.3185)
    """
    if _amp.active:
        logits, target = _amp.autocast_inputs("focal_loss", logits, target)
    _check_reduction(reduction)
    d = logits._data
    if d.ndim != 2:
        raise ValueError(f"focal_loss expects (N, C) logits, got shape {list(d.shape)}")
    if not isinstance(target, Tensor) or target._data.dtype != np.int64 or target._data.shape != (d.shape[0],):
        raise ValueError(f"focal_loss expects int64 targets of shape [{d.shape[0]}]")
    if gamma < 0:
        raise ValueError(f"focal_loss: gamma must be >= 0, got {gamma}")
    x = _f32(A.contiguous(d))
    a, a_scalar = None, 1.0
    if isinstance(alpha, Tensor):
        if alpha._data.shape != (d.shape[1],):
            raise ValueError(f"focal_loss: alpha tensor must have C = {d.shape[1]} elements, got {list(alpha.shape)}")
        a = A.cast(alpha._data, x.dtype) if alpha._data.dtype != x.dtype else A.contiguous(alpha._data)
    elif alpha is not None:
        if not isinstance(alpha, numbers.Real):
            raise TypeError("focal_loss: alpha must be a float, a tensor or None")
        a_scalar = float(alpha)
    tgt = A.contiguous(target._data)
    loss, lse = _C.focal_forward(x, tgt, a, a_scalar, float(gamma))
    N = loss.shape[0]
    if reduction == "none":
        out, scale = loss, 1.0
    else:
        total = float(A.reduce(A.R_SUM, loss, (0,))) if N else 0.0
        scale = 1.0 / N if (reduction == "mean" and N) else 1.0
        out = A.full((), total * scale if (reduction == "sum" or N) else float("nan"), x.dtype)
    return result(_back(out, d), FocalBackward, (logits,), (x, lse, tgt, a, a_scalar, float(gamma), scale, d))


class NLLBackward(Node):
    __slots__ = ()

    def apply(self, g):
        target, weight, ignore_index, C, denom, shape = self.get_saved()
        g = A.contiguous(g)
        if denom != 1.0:
            g = A.scale(g, 1.0 / denom)
        src = A.to_f32(g) if A.is_low(g) else g
        glogp = _C.nll_backward(src.reshape(-1), target, weight, ignore_index, C)
        if A.is_low(g):
            glogp = A.cast(glogp, g.dtype)
        if len(shape) > 2:  # rows are (N, d1, ...) positions: undo _flatten_classes' moveaxis
            moved = (shape[0],) + tuple(shape[2:]) + (C,)
            return (A.contiguous(np.moveaxis(glogp.reshape(moved), -1, 1)),)
        return (glogp.reshape(shape),)

    def apply_differentiable(self, g):  # linear in the input: recomputed at any input of its shape
        target, weight, ignore_index, C, denom, shape = self.get_saved()
        q = _target_distribution(target, (target.size, C), ignore_index, 0.0)
        X = saved_input(self, 0, A.zeros(shape, g._data.dtype))
        return recomputed_grads((X,), lambda X: _weighted_rows_loss(_rows_of(X), q, weight, g, 1.0 / denom), g)


def _flatten_classes(logp: Tensor, target: Tensor):
    """(N, C, d1, ...) -> (N*d1*..., C); targets (N, d1, ...) -> (N*d1*...)."""
    d = logp._data
    if d.ndim == 1:
        return d.reshape(1, -1), target._data.reshape(1)
    if d.ndim == 2:
        return d, target._data
    C = d.shape[1]
    moved = np.moveaxis(d, 1, -1)
    return _C.contiguous(moved).reshape(-1, C), A.contiguous(target._data).reshape(-1)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: l_n = -w[t_n] input[n, t_n] on log-probabilities.

    input (N, C) log-probabilities (e.g. from ``F.log_softmax``), (C,) for one sample, or
    (N, C, d1, ...); target (N,) / () / (N, d1, ...) int64 class indices. ``weight`` (C,)
    rescales classes; targets equal to ``ignore_index`` contribute nothing. ``"mean"``
    divides by sum_n w[t_n] over the non-ignored samples (a weighted mean), ``"none"``
    returns the per-sample losses of the target's shape. Gradient: -w[t_n] / denominator at
    [n, t_n], 0 elsewhere. ``F.nll_loss(F.log_softmax(x, 1), t)`` is ``F.cross_entropy(x, t)``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> logp = md.tensor([[-0.5, -1.0], [-2.0, -0.1]])
    >>> F.nll_loss(logp, md.tensor([0, 0]))          # (0.5 + 2.0) / 2
    tensor(1.2500)
    >>> F.nll_loss(logp, md.tensor([0, 1]), reduction="none")
    tensor([0.5000, 0.1000])
    """
    if _amp.active:
        input, target, weight = _amp.autocast_inputs("nll_loss", input, target, weight)
    if not isinstance(target, Tensor):
        raise TypeError("nll_loss: target must be a Tensor")
    d = input._data
    if d.ndim == 0:
        raise ValueError("nll_loss: input must have at least one dimension (N, C)")
    expected = _check_class_targets(d.shape, target)
    if d.ndim >= 2 and target._data.shape != expected:
        raise ValueError(f"Expected input batch_size ({d.shape[0]}) to match target batch_size "
                         f"({target._data.shape[0] if target.ndim else 0}); target shape {list(target.shape)}, "
                         f"expected {list(expected)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    C = d.shape[1] if d.ndim >= 2 else d.shape[0]
    logp2, t2 = _flatten_classes(input, target)
    wd = None
    if weight is not None:
        wd = weight._data
        if wd.shape != (C,):
            raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes but got "
                               f"weight tensor of shape: {list(wd.shape)}")
    src = A.to_f32(logp2) if A.is_low(logp2) else logp2
    w_src = None if wd is None else (A.cast(wd, src.dtype) if wd.dtype != src.dtype else wd)
    losses, wsum = _C.nll_forward(src, t2, w_src, int(ignore_index))
    if A.is_low(logp2):
        losses = A.cast(losses, logp2.dtype)
    if reduction == "none":
        out = losses.reshape(target._data.shape)
        return result(out, NLLBackward, (input,), (t2, w_src, int(ignore_index), C, 1.0, d.shape))
    total = A.reduce(A.R_SUM, losses, (0,))
    denom = 1.0
    if reduction == "mean":
        denom = wsum
        total = A.scale(total, 1.0 / wsum) if wsum != 0 else A.full((), np.nan, total.dtype)
    return result(total, NLLBackward, (input,), (t2, w_src, int(ignore_index), C, denom if denom else 1.0, d.shape))


class NLLLoss(_Loss):
    """Negative log-likelihood as a module: -weight[t] * input[n, t] on log-probabilities
    (see ``F.nll_loss``). Put ``nn.LogSoftmax(dim=1)`` in front of it, or use
    ``nn.CrossEntropyLoss`` on the logits instead.

    input (N, C) log-probabilities, target (N,) int64 -> scalar (``"none"``: (N,)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> criterion = nn.NLLLoss(weight=md.tensor([2.0, 1.0]))
    >>> criterion(md.tensor([[-0.5, -1.0], [-2.0, -0.1]]), md.tensor([0, 1]))  # (2*0.5 + 0.1) / 3
    tensor(0.3667)
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        return nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy on logits as a module: -log softmax(input)[target] (log-softmax and NLL
    fused in C++; see ``F.cross_entropy`` for weights, ``ignore_index``, probability targets
    and ``label_smoothing``). The standard loss of a classifier: the network's last layer
    outputs raw scores, no softmax.

    input (N, C) logits (or (N, C, d1, ...)), target (N,) int64 (or (N, d1, ...), or
    probabilities of the input's shape) -> scalar (``"none"``: per sample).

    >>> import minidl as md
    >>> from minidl import nn
    >>> criterion = nn.CrossEntropyLoss()
    >>> logits = md.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> criterion(logits, md.tensor([0, 1]))
    tensor(0.3185)
    >>> nn.CrossEntropyLoss(weight=md.tensor([1.0, 3.0, 1.0]))(logits, md.tensor([0, 1]))
    tensor(0.2693)
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input, target):
        return cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class FocalLoss(_Loss):
    """Focal loss as a module: -alpha_t (1 - p_t)^gamma log p_t on (N, C) logits and int64
    targets (Lin et al., 2017; see ``F.focal_loss``). Not a PyTorch module (minidl extra).

    input (N, C) logits, target (N,) int64 -> scalar (``"none"``: (N,)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> criterion = nn.FocalLoss(alpha=None, gamma=0.0)      # reduces to cross-entropy
    >>> criterion(md.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]), md.tensor([0, 1]))
    tensor(0.3185)
    """

    def __init__(self, alpha=0.25, gamma: float = 2.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.alpha, self.gamma = alpha, gamma

    def forward(self, input, target):
        return focal_loss(input, target, self.alpha, self.gamma, self.reduction)
