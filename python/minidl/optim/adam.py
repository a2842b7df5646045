"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), as ``torch.optim.Adam`` /
``torch.optim.AdamW``. With t the parameter's step count (1 on the first step):

    d      = -grad if maximize else grad
    Adam:  d = d + weight_decay * p            AdamW: p = p * (1 - lr * weight_decay)
    m      = beta1 * m + (1 - beta1) * d       (first moment, ``exp_avg``)
    v      = beta2 * v + (1 - beta2) * d^2     (second moment, ``exp_avg_sq``)
    v_max  = max(v_max, v), used in place of v when amsgrad   (``max_exp_avg_sq``)
    p      = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

One multi-tensor C++ call per parameter group (``_C.adam_step``) reads p, grad, m, v and
writes p, m, v once.
"""
from __future__ import annotations

from .. import _C
from ..graph.grad_mode import no_grad
from ._multi_tensor import batches_with_grad, new_step, run_closure, state_array, state_zeros
from .optimizer import Optimizer


def _check_adam_args(lr, betas, eps, weight_decay):
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _increment_steps(state_list) -> list:
    """state["step"] += 1 (a float32 0-d tensor, as in PyTorch); returns the new values."""
    steps = []
    for state in state_list:
        s = state["step"]
        s._data += 1
        steps.append(float(s._data))
    return steps


class Adam(Optimizer):
    """Adam: per-parameter steps scaled by running estimates of the gradient's first and second
    moments (the update rule at the top of this module), as ``torch.optim.Adam``.

    ``lr`` the step size, ``betas`` (beta1, beta2) the moments' decay rates, ``eps`` added to
    sqrt(v) for stability, ``weight_decay`` L2 added to the gradient (coupled; see
    :class:`AdamW` for the decoupled form), ``amsgrad`` the max of past v, ``maximize`` ascent.
    ``foreach``, ``capturable``, ``differentiable`` and ``fused`` are accepted for PyTorch's
    signature; minidl always runs its one fused multi-tensor kernel per group.

    >>> import minidl as md
    >>> w = md.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = md.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()          # the first step moves each weight by about lr against its gradient's sign
    >>> w.detach()
    tensor([ 0.9000, -1.9000])
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    # --8<-- [start:adam_step]
    @no_grad()
    def step(self, closure=None):
        """One Adam update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = run_closure(closure)
        for group in self.param_groups:
            amsgrad = bool(group["amsgrad"])
            beta1, beta2 = group["betas"]
            for batch in batches_with_grad(group):
                m, v, vmax, states = [], [], [], []
                for p in batch.params:
                    state = self.state[p]
                    if len(state) == 0 or "step" not in state:
                        state["step"] = new_step()
                        state["exp_avg"] = state_zeros(p)
                        state["exp_avg_sq"] = state_zeros(p)
                    if amsgrad and "max_exp_avg_sq" not in state:
                        state["max_exp_avg_sq"] = state_zeros(p)
                    m.append(state_array(state, "exp_avg", p))
                    v.append(state_array(state, "exp_avg_sq", p))
                    if amsgrad:
                        vmax.append(state_array(state, "max_exp_avg_sq", p))
                    states.append(state)
                steps = _increment_steps(states)
                _C.adam_step(batch.arrays, batch.grads, m, v, vmax, steps, float(group["lr"]), float(beta1),
                             float(beta2), float(group["eps"]), float(group["weight_decay"]), amsgrad,
                             bool(group["maximize"]), bool(group.get("decoupled_weight_decay", False)))
                batch.finish()
        return loss
    # --8<-- [end:adam_step]


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step
    (instead of adding ``weight_decay * p`` to the gradient). Default weight_decay 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
