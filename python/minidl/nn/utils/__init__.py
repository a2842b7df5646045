"""``nn.utils``: gradient clipping, and transfer-learning helpers (beyond PyTorch, see API.md):
``freeze`` / ``unfreeze``, ``ProgressiveUnfreezer``, ``set_bn_eval`` and
``param_groups_by_depth`` (discriminative fine-tuning).

Gradient clipping bounds the size of an update when a gradient explodes (RNNs, early
Transformer training): ``clip_grad_norm_`` rescales all gradients together,
g <- g * min(1, max_norm / ||g||), keeping their direction; ``clip_grad_value_`` clamps each
element. Transfer learning reuses a network trained on a large data set: freeze the
pretrained body, train a new head, then unfreeze progressively with smaller learning rates
for the earlier layers (Howard & Ruder, 2018). Pure Python over the elementwise and
reduction kernels (cpp/ops/elementwise/, cpp/ops/reduce/).
"""
from __future__ import annotations

import math

from ... import _C
from ...graph.grad_mode import no_grad
from ...ops import array as A
from ...ops.join import cat
from ...tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p._grad for p in parameters if p._grad is not None]


def _sum_of_powers(d, p: float) -> float:
    """sum |d_i|^p over one gradient. p = 2 (the default norm) squares each value as it is read
    (the reduce kernel's sum_squares: float32 vector blocks added in double); p = 1 the sum of
    |d|; any other p the general |d|^p. Through |d|^p with p = 2, as before, a 10.4M-parameter
    model's clip took 62 ms against PyTorch's 6.3 (1 thread, Xeon family 6 model 167): the
    general pow is an exp of a log per element. (The dot product d . d through the GEMV, which
    p = 2 used before sum_squares, took the same time on 1 thread and did not use the second:
    clip_grad_norm_ over 10.5M gradients on 2 threads 3.08 -> 1.92 ms, PyTorch 5.4-5.9.)"""
    flat = A.contiguous(d).reshape(-1)
    if A.is_low(flat):
        flat = A.to_f32(flat)
    if p == 2.0 and flat.dtype in ("float32", "float64"):
        return float(A.reduce(A.R_SUM_SQUARES, flat, (0,)))
    magnitude = A.unary(A.ABS, flat)
    return float(A.reduce(A.R_SUM, magnitude if p == 1.0 else A.binary_scalar(A.POW, magnitude, p), (0,)))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients by min(1, max_norm / ||g||) with ||g|| the norm of all of them
    together; returns that total norm.

    ||g|| = (sum over every element of every gradient of |g|^p)^(1/p), p = ``norm_type``
    (``inf``: the largest |g|), as if all gradients were one vector; the scale is
    max_norm / (||g|| + 1e-6), applied in place only when it is below 1. ``parameters``: an
    iterable of tensors or one tensor; those without ``.grad`` are skipped. Call it between
    ``loss.backward()`` and ``optimizer.step()``. ``error_if_nonfinite=True`` raises on an
    inf/NaN norm; ``foreach`` is accepted and ignored.

    >>> import minidl as md
    >>> from minidl import nn
    >>> w = nn.Parameter(md.tensor([1.0, 1.0]))
    >>> w.grad = md.tensor([3.0, 4.0])
    >>> nn.utils.clip_grad_norm_([w], max_norm=1.0)      # returns the norm before clipping
    tensor(5.0000)
    >>> w.grad                                          # same direction, norm 1
    tensor([0.6000, 0.8000])
    """
    grads = _grads(parameters)
    if not grads:
        return Tensor._wrap(A.zeros((), "float32"))
    norm_type = float(norm_type)
    if math.isinf(norm_type):
        norms = [float(A.reduce(A.R_MAX, A.unary(A.ABS, g._data.reshape(-1)), (0,))) for g in grads]
        total = max(norms)
    else:
        total = sum(_sum_of_powers(g._data, norm_type) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            _C.binary_scalar_(A.MUL, g._data, coef) if not A.is_low(g._data) else _C.copy_(g._data, A.scale(g._data, coef))
    return Tensor._wrap(A.full((), total, grads[0]._data.dtype if not A.is_low(grads[0]._data) else "float32"))


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place; returns None.

    Unlike :func:`clip_grad_norm_` this changes the gradient's direction. ``parameters``: an
    iterable of tensors or one tensor; ``foreach`` is accepted and ignored.

    >>> import minidl as md
    >>> from minidl import nn
    >>> w = nn.Parameter(md.tensor([1.0, 1.0]))
    >>> w.grad = md.tensor([3.0, -4.0])
    >>> nn.utils.clip_grad_value_([w], clip_value=2.0)
    >>> w.grad
    tensor([ 2.0000, -2.0000])
    """
    for g in _grads(parameters):
        d = g._data
        if A.is_low(d) or not d.flags.writeable:
            _C.copy_(d, _C.clamp(d, -float(clip_value), float(clip_value)))
        else:  # in place, one pass
            _C.clamp(d, -float(clip_value), float(clip_value), d)


# ---------------------------------------------------------------------------------------------
# Transfer learning
# ---------------------------------------------------------------------------------------------

def _params_of(obj):
    """The parameters of a Module, a single tensor, or an iterable of either (each once)."""
    if isinstance(obj, Tensor):
        return [obj]
    if hasattr(obj, "parameters") and callable(obj.parameters):
        return list(obj.parameters())
    out, seen = [], set()
    for item in obj:
        for p in _params_of(item):
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def freeze(module):
    """Turn ``requires_grad`` off for every parameter of ``module`` (a Module, a parameter, or
    an iterable of them) and drop any gradient they still hold, so the frozen part gets no
    gradient in later backward passes and no optimizer update (the optimizers skip a
    parameter whose ``.grad`` is None, weight decay included). Returns ``module``.

    BatchNorm layers keep updating their running statistics in training mode even when
    frozen; call :func:`set_bn_eval` after ``model.train()`` to stop that.

    >>> from minidl import nn
    >>> model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> _ = nn.utils.freeze(model[0])                    # keep the "pretrained" body
    >>> [p.requires_grad for p in model.parameters()]    # only the head trains
    [False, False, True, True]
    """
    # --8<-- [start:freeze_body]
    for p in _params_of(module):
        p.requires_grad_(False)
        p.grad = None
    return module
    # --8<-- [end:freeze_body]


def unfreeze(module):
    """Turn ``requires_grad`` back on for every parameter of ``module``. Returns ``module``.

    ``module``: a Module, a parameter, or an iterable of them, as in :func:`freeze`.

    >>> from minidl import nn
    >>> layer = nn.utils.freeze(nn.Linear(2, 2))
    >>> nn.utils.is_frozen(layer)
    True
    >>> nn.utils.is_frozen(nn.utils.unfreeze(layer))
    False
    """
    for p in _params_of(module):
        p.requires_grad_(True)
    return module


def is_frozen(module) -> bool:
    """True when ``module`` has parameters and none of them requires a gradient.

    A module without parameters (e.g. ``nn.ReLU()``) is not frozen.

    >>> from minidl import nn
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    >>> _ = nn.utils.freeze(model[0])
    >>> nn.utils.is_frozen(model[0]), nn.utils.is_frozen(model), nn.utils.is_frozen(nn.ReLU())
    (True, False, False)
    """
    ps = _params_of(module)
    return bool(ps) and not any(p.requires_grad for p in ps)


def set_bn_eval(module, frozen_only: bool = True):
    """Put BatchNorm layers into eval mode (use running statistics, stop updating them).

    With ``frozen_only`` (the default) only the BatchNorm layers that lie in a frozen part of
    ``module`` are switched: one whose parameters are all frozen, or, for a BatchNorm without
    parameters (``affine=False``), one whose nearest enclosing module with parameters is
    frozen. ``frozen_only=False`` switches every BatchNorm. Layers are recognised by class
    name (``"BatchNorm" in type(m).__name__``), so this works for minidl's and PyTorch's
    BatchNorm1d/2d alike. ``model.train()`` puts them back in training mode, so call this
    again after each ``model.train()``. Returns ``module``.

    >>> from minidl import nn
    >>> model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    >>> _ = nn.utils.freeze(model[:2])                   # a frozen body with its BatchNorm
    >>> _ = model.train()
    >>> _ = nn.utils.set_bn_eval(model)
    >>> model[1].training, model[2].training             # the BatchNorm stops updating
    (False, True)
    """
    def visit(m, ancestor_frozen):
        own = list(m.parameters())
        frozen = (bool(own) and not any(p.requires_grad for p in own)) if own else ancestor_frozen
        if "BatchNorm" in type(m).__name__ and (frozen or not frozen_only):
            m.eval()
        for child in m.children():
            visit(child, frozen)

    visit(module, False)
    return module


class ProgressiveUnfreezer:
    """Gradual unfreezing (Howard and Ruder, ULMFiT 2018).

    ``stages`` lists modules from the head down (e.g. ``[model.fc, model.layer3,
    model.layer2, model.layer1, model.conv1]``). On construction every stage is frozen;
    ``step(epoch)`` unfreezes stage k once ``epoch >= k * every`` (so stage 0, the head,
    trains from epoch 0) and returns the list of stages unfrozen so far. Stages are never
    frozen again, and skipped epochs are caught up. Build the optimizer over all parameters
    (frozen ones get no gradient, so no update, until they are unfrozen), e.g. with
    :func:`param_groups_by_depth`.

    >>> from minidl import nn
    >>> body, head = nn.Linear(4, 4), nn.Linear(4, 2)
    >>> unfreezer = nn.utils.ProgressiveUnfreezer([head, body], every=2)
    >>> nn.utils.is_frozen(head), nn.utils.is_frozen(body)        # all frozen at first
    (True, True)
    >>> [len(unfreezer.step(epoch)) for epoch in range(4)]       # stages unfrozen so far
    [1, 1, 2, 2]
    >>> nn.utils.is_frozen(body)
    False
    """

    def __init__(self, stages, every: int = 1):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.stages = list(stages)
        if not self.stages:
            raise ValueError("ProgressiveUnfreezer needs at least one stage")
        self.every = every
        self.num_unfrozen = 0
        for s in self.stages:
            freeze(s)

    # --8<-- [start:unfreezer_step]
    def step(self, epoch: int):
        target = min(len(self.stages), int(epoch) // self.every + 1) if epoch >= 0 else 0
        while self.num_unfrozen < target:
            unfreeze(self.stages[self.num_unfrozen])
            self.num_unfrozen += 1
        return self.stages[:self.num_unfrozen]
    # --8<-- [end:unfreezer_step]

    @property
    def unfrozen(self):
        return self.stages[:self.num_unfrozen]


def param_groups_by_depth(stages, base_lr: float, decay: float = 0.5):
    """Parameter groups for discriminative fine-tuning: ``stages`` from the head down, stage k
    gets ``lr = base_lr * decay ** k`` (the head ``base_lr``, earlier layers less). Returns
    a list of ``{"params": [...], "lr": ...}`` dicts, one per stage, to hand to any
    optimizer. Frozen parameters are included (they get no update until unfrozen); a
    parameter listed in several stages belongs to the first (nearest the head).

    >>> import minidl as md
    >>> from minidl import nn
    >>> body, head = nn.Linear(4, 4), nn.Linear(4, 2)
    >>> groups = nn.utils.param_groups_by_depth([head, body], base_lr=0.1, decay=0.5)
    >>> [(len(g["params"]), g["lr"]) for g in groups]            # (weight, bias) per stage
    [(2, 0.1), (2, 0.05)]
    >>> optimizer = md.optim.SGD(groups, lr=0.1)
    """
    # --8<-- [start:lr_by_depth]
    groups, seen = [], set()
    for k, stage in enumerate(stages):
        params = [p for p in _params_of(stage) if id(p) not in seen]
        seen.update(id(p) for p in params)
        groups.append({"params": params, "lr": float(base_lr) * float(decay) ** k})
    return groups
    # --8<-- [end:lr_by_depth]


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and joined into one 1-D tensor (in the order given).

    Shapes: parameters of shapes s_1, s_2, ... -> (sum of their numels,). Differentiable: the
    vector is part of the graph, as in PyTorch.

    >>> import minidl as md
    >>> from minidl import nn
    >>> layer = nn.Linear(2, 3)
    >>> nn.utils.parameters_to_vector(layer.parameters()).shape    # 3*2 weights + 3 biases
    minidl.Size([9])
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    # --8<-- [start:parameters_to_vector]
    return cat([p.reshape(-1) for p in parameters])
    # --8<-- [end:parameters_to_vector]


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` (in place, no autograd).

    The inverse of :func:`parameters_to_vector`: ``vec`` must hold exactly their numels.

    >>> import minidl as md
    >>> from minidl import nn
    >>> layer = nn.Linear(2, 1)
    >>> nn.utils.vector_to_parameters(md.tensor([1., 2., 3.]), layer.parameters())
    >>> layer.weight, layer.bias
    (Parameter containing:
    tensor([[1.0000, 2.0000]], requires_grad=True), Parameter containing:
    tensor([3.0000], requires_grad=True))
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if vec.ndim != 1 or vec.numel() != total:
        raise RuntimeError(f"vector_to_parameters: vec has shape {list(vec.shape)}, the parameters hold {total} "
                           "elements; pass a 1-D vector of exactly that many")
    # --8<-- [start:vector_to_parameters]
    start = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[start:start + n].reshape(p.shape))
            start += n
    # --8<-- [end:vector_to_parameters]


from . import rnn  # noqa: E402,F401  (nn.utils.rnn, as in PyTorch)
