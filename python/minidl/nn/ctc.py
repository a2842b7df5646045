"""CTC loss (Graves et al., ICML 2006): training a sequence model when the alignment between
its frames and the label sequence is unknown (speech, handwriting).

A model emits, for each of T frames, log-probabilities over C classes, one of which is the
*blank*. An alignment is one class per frame; collapsing it (merge repeats, then drop blanks)
gives a label sequence, so "-hh-e-ll-lo" collapses to "hello". The loss of a target sequence l
is -log of the summed probability of every alignment that collapses to l:

    loss = -log sum_{a : collapse(a) = l} prod_t p_t(a_t)

The sum over exponentially many alignments is a dynamic programme over the extended labels
l' = (blank, l_1, blank, l_2, ..., l_L, blank) (2L + 1 of them): alpha_t(s) is the log
probability of the alignments of frames 0..t that end at l'_s,

    alpha_t(s) = log p_t(l'_s) + log(e^alpha_{t-1}(s) + e^alpha_{t-1}(s-1)
                                     + [l'_s != l'_{s-2}] e^alpha_{t-1}(s-2))

(stay, advance by one, or jump over a blank between two different labels), and
loss = -log(e^alpha_{T-1}(2L) + e^alpha_{T-1}(2L-1)). A repeated label ("ll") needs a blank
between its copies, so a target needs at least L + (number of repeats) frames; with fewer the
loss is inf. The backward runs the same recursion from the end (beta) and gives each frame's
posterior over classes, gamma_t(c).

Where the C++ lives: cpp/ops/ctc/ctc.cpp (the forward and backward recursions side by side,
OpenMP over the batch), cpp/ops/ctc/ctc_simd.cpp (one step of the recursion over the 2L + 1
positions, float32, per ISA).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _C
from ..amp import autocast_mode as _amp
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result
from ..tensor import Tensor
from .loss import _Loss, _check_reduction

_WHERE = "(while checking arguments for ctc_loss_allocate_outputs)"


class CTCLossBackward(Node):
    __slots__ = ()

    def apply(self, g):
        lp, targets, offsets, il, tl, nll, alpha, max_len, blank, zero_infinity, sample_scale, shape = \
            self.get_saved()
        g = A.contiguous(g)
        # d loss / d nll_b: the incoming gradient per sample ("none"), or the one scalar times
        # 1 ("sum") or 1 / (max(L_b, 1) N) ("mean")
        grad_out = g.reshape(-1) if sample_scale is None else A.scale(sample_scale, float(g.reshape(-1)[0]))
        grad = _C.ctc_loss_backward(A.contiguous(grad_out).astype(lp.dtype, copy=False), lp, targets, offsets, il,
                                    tl, nll, alpha, max_len, blank, zero_infinity)
        return (grad.reshape(shape),)


def _lengths(value, name: str, batch: int, unbatched: bool) -> list:
    """input_lengths / target_lengths as a list of ints: a tensor of an integer dtype or a
    tuple/list of ints, one per sample (unbatched: one element, or a 0-d tensor)."""
    if isinstance(value, Tensor):
        d = value._data
        if d.dtype.kind not in "iu":
            raise RuntimeError(f"{name} must be integral, got {value.dtype}")
        values = d.reshape(-1).tolist()
    elif isinstance(value, (tuple, list)):
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
            raise TypeError(f"ctc_loss: {name} must be a tensor or a tuple/list of ints, got {value!r}")
        values = [int(v) for v in value]
    else:
        raise TypeError(f"ctc_loss: {name} must be a tensor or a tuple/list of ints, got {type(value).__name__}")
    if len(values) != batch:
        raise RuntimeError(f"{name} must be of size batch_size: {len(values)} values for "
                           f"{'an unbatched input' if unbatched else f'a batch of {batch}'}")
    return values


def _check_log_probs(log_probs: Tensor):
    if not isinstance(log_probs, Tensor):
        raise TypeError(f"ctc_loss: log_probs must be a Tensor, got {type(log_probs).__name__}")
    d = log_probs._data
    if d.ndim not in (2, 3):
        raise RuntimeError(f"ctc_loss: log_probs must be (T, N, C), or (T, C) unbatched, got a {d.ndim}-dimensional "
                           f"tensor of shape {list(d.shape)}")
    if d.dtype not in (np.float32, np.float64):
        raise NotImplementedError(f"\"ctc_loss_cpu\" not implemented for {log_probs.dtype}: log_probs must be "
                                  f"float32 or float64 (cast with .float(), or run under md.autocast, which "
                                  f"computes the loss in float32)")
    if d.size == 0:
        raise RuntimeError(f"log_probs tensor must not be empty (shape {list(d.shape)})")


def _layout_targets(targets: Tensor, target_lengths: list, batch: int, unbatched: bool):
    """(flat int64 targets, per-sample start offsets, the longest target the alpha rows hold)."""
    if not isinstance(targets, Tensor):
        raise TypeError(f"ctc_loss: targets must be a Tensor, got {type(targets).__name__}")
    td = targets._data
    if unbatched and td.ndim == 1:
        td = td.reshape(1, -1)
    if td.ndim not in (1, 2):
        raise RuntimeError(f"Expected 1 to 2 dimensions, but got {td.ndim}-dimensional tensor for argument #2 "
                           f"'targets' {_WHERE}")
    flat = A.contiguous(td).reshape(-1)
    if flat.dtype != np.int64:
        flat = flat.astype(np.int64)  # PyTorch casts the targets to long as well
    if td.ndim == 1:  # concatenated: sample b's labels follow those of samples 0..b-1
        total = sum(target_lengths)
        if td.shape[0] != total:
            raise RuntimeError(f"Expected tensor to have size {total} at dimension 0, but got size {td.shape[0]} for "
                               f"argument #2 'targets' {_WHERE}: concatenated targets hold sum(target_lengths) "
                               f"labels")
        starts = np.cumsum([0] + target_lengths[:-1], dtype=np.int64)
        return flat, starts, max(target_lengths)
    if td.shape[0] != batch:
        raise RuntimeError(f"Expected tensor to have size {batch} at dimension 0, but got size {td.shape[0]} for "
                           f"argument #2 'targets' {_WHERE}: padded targets are (N, S)")
    longest = max(target_lengths)
    if longest > td.shape[1]:
        raise RuntimeError(f"Expected tensor to have size at least {longest} at dimension 1, but got size "
                           f"{td.shape[1]} for argument #2 'targets' {_WHERE}: a target length exceeds the padded "
                           f"targets' width")
    return flat, np.arange(batch, dtype=np.int64) * td.shape[1], td.shape[1]


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist Temporal Classification loss: -log sum over the alignments of each target.

    Shapes: ``log_probs`` (T, N, C) log-probabilities (e.g. ``F.log_softmax(x, 2)``), or (T, C)
    for one sequence; ``targets`` either padded (N, S), sample n's labels in its first
    ``target_lengths[n]`` entries, or the N label sequences concatenated, 1-D of length
    sum(target_lengths); ``input_lengths`` and ``target_lengths`` (N,): tensors of an integer
    dtype or tuples/lists of ints, input_lengths[n] <= T frames of sample n count. Labels are
    in [0, C) and never ``blank``. Result: the per-sample losses (N,) with
    ``reduction="none"``; ``"sum"``; ``"mean"`` (default): each loss divided by its target
    length (at least 1), then averaged over the batch. A target that no alignment can produce
    (too few frames: a repeated label needs a blank between its copies) has loss inf;
    ``zero_infinity=True`` makes that loss and its gradient 0.

    The gradient with respect to ``log_probs`` is PyTorch's: (exp(log_probs) - gamma) times the
    incoming gradient, gamma_t(c) the posterior probability of class c at frame t, and 0 for
    frames past input_lengths. That is the gradient of ctc_loss(log_softmax(logits)) with
    respect to the logits; the exact gradient of the loss alone is -gamma. Because
    log_softmax's backward adds nothing to a gradient whose entries sum to 0 over C, the
    logits get the right gradient either way, which is what a model trains with; gradcheck
    the composition, not ctc_loss alone. minidl differs from PyTorch's CPU kernel on labels
    out of [0, C) (IndexError; PyTorch reads out of bounds) and on a label equal to
    ``blank`` (ValueError; PyTorch computes a meaningless number), and on a class whose
    log-probability is -inf (a masked class): its gradient is 0, where PyTorch's is NaN.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> logits = md.zeros(3, 1, 3, requires_grad=True)   # T=3 frames, N=1, C=3, uniform
    >>> log_probs = F.log_softmax(logits, 2)
    >>> loss = F.ctc_loss(log_probs, md.tensor([[1, 2]]), (3,), (2,), reduction="sum")
    >>> loss          # 5 of the 27 alignments give "1 2": 112, 122, -12, 1-2, 12- (- the blank)
    tensor(1.6864, grad_fn=<CTCLossBackward>)
    >>> round(float(md.exp(-loss)) * 27, 4)
    5.0
    >>> loss.backward()
    >>> logits.grad[0]           # softmax - posterior at frame 0: blank 1/5, label 1 4/5
    tensor([[ 0.1333, -0.4667,  0.3333]])
    >>> F.ctc_loss(log_probs, md.tensor([[1, 1]]), (3,), (2,), reduction="none")   # 1-1 only
    tensor([3.2958], grad_fn=<CTCLossBackward>)
    >>> F.ctc_loss(log_probs, md.tensor([[1, 1]]), (2,), (2,), reduction="none")   # too short
    tensor([inf], grad_fn=<CTCLossBackward>)
    """
    if _amp.active:  # losses run in float32 under autocast
        log_probs, = _amp.autocast_inputs("ctc_loss", log_probs)
    _check_reduction(reduction)
    _check_log_probs(log_probs)
    d = log_probs._data
    unbatched = d.ndim == 2
    T, C = d.shape[0], d.shape[-1]
    N = 1 if unbatched else d.shape[1]
    if not 0 <= blank < C:
        raise RuntimeError(f"blank must be in label range: blank {blank}, {C} classes")
    il = _lengths(input_lengths, "input_lengths", N, unbatched)
    tl = _lengths(target_lengths, "target_lengths", N, unbatched)
    for name, values in (("input_lengths", il), ("target_lengths", tl)):
        if min(values) < 0:
            raise RuntimeError(f"Expected {name} to have value at least 0, but got value {min(values)} {_WHERE}")
    if max(il) > T:
        raise RuntimeError(f"Expected input_lengths to have value at most {T}, but got value {max(il)} {_WHERE}: "
                           f"log_probs has {T} frames")
    flat, starts, max_len = _layout_targets(targets, tl, N, unbatched)
    lp = A.contiguous(d).reshape(T, N, C)
    il_a, tl_a = np.asarray(il, np.int64), np.asarray(tl, np.int64)
    # --8<-- [start:ctc_call]
    nll, alpha = _C.ctc_loss_forward(lp, flat, starts, il_a, tl_a, max_len, int(blank))
    losses = nll.tolist()
    if zero_infinity:
        losses = [0.0 if v == float("inf") else v for v in losses]
    if reduction == "none":
        out = np.asarray(losses, dtype=lp.dtype).reshape(() if unbatched else (N,))
        sample_scale = None
    elif reduction == "sum":
        out = A.full((), sum(losses), lp.dtype)
        sample_scale = np.ones(N, lp.dtype)
    else:  # each loss over its target length, then the batch mean
        out = A.full((), sum(v / max(n, 1) for v, n in zip(losses, tl)) / N, lp.dtype)
        sample_scale = np.asarray([1.0 / (max(n, 1) * N) for n in tl], lp.dtype)
    return result(out, CTCLossBackward, (log_probs,),
                  (lp, flat, starts, il_a, tl_a, nll, alpha, max_len, int(blank), bool(zero_infinity), sample_scale,
                   d.shape))
    # --8<-- [end:ctc_call]


class CTCLoss(_Loss):
    """CTC loss as a module (see ``F.ctc_loss``): the loss of a sequence model whose frames are
    not aligned with its labels, e.g. speech frames and characters.

    ``forward(log_probs, targets, input_lengths, target_lengths)``: log_probs (T, N, C) or
    (T, C), targets (N, S) padded or concatenated 1-D, lengths (N,) -> scalar (``"none"``:
    (N,)). ``blank`` is the blank's class index; ``zero_infinity`` zeroes infinite losses
    (targets too long for their inputs) and their gradients.

    >>> import minidl as md
    >>> from minidl import nn
    >>> ctc = nn.CTCLoss(blank=0)
    >>> log_probs = md.full((4, 2, 3), 1 / 3).log()               # T=4, N=2, C=3, uniform
    >>> targets = md.tensor([1, 2, 2])                             # "1 2" and "2", concatenated
    >>> ctc(log_probs, targets, md.tensor([4, 4]), md.tensor([2, 1]))
    tensor(1.4675)
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)
