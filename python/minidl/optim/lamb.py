"""LAMB, layer-wise adaptive moments (You et al., "Large Batch Optimization for Deep
Learning: Training BERT in 76 minutes", ICLR 2020, Algorithm 2). Per parameter tensor w,
with t its step count:

    m     = beta1 * m + (1 - beta1) * g,      v = beta2 * v + (1 - beta2) * g^2
    m_hat = m / (1 - beta1^t),                v_hat = v / (1 - beta2^t)
    u     = m_hat / (sqrt(v_hat) + eps) + weight_decay * w
    r     = ||w|| / ||u||      (r = 1 where either norm is 0)
    w     = w - lr * r * u

The trust ratio r makes the step of every layer proportional to its weight norm, which is
what lets large batches train with one global learning rate. No gradient clipping.
The C++ kernel (``_C.lamb_step``) makes two passes per tensor: moments and both norms, then
the update once r is known.
"""
from __future__ import annotations

from .. import _C
from ..graph.grad_mode import no_grad
from ._multi_tensor import batches_with_grad, new_step, run_closure, state_array, state_zeros
from .adam import _check_adam_args, _increment_steps
from .optimizer import Optimizer


class LAMB(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @no_grad()
    def step(self, closure=None):
        """One LAMB update of every parameter that has a gradient; returns ``closure()``'s loss.
        The trust ratios r of this step are left in ``self.last_trust_ratios`` (in the order
        the parameters were updated), for a learner to look at."""
        loss = run_closure(closure)
        self.last_trust_ratios = []
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for batch in batches_with_grad(group):
                m, v, states = [], [], []
                for p in batch.params:
                    state = self.state[p]
                    if len(state) == 0 or "step" not in state:
                        state["step"] = new_step()
                        state["exp_avg"] = state_zeros(p)
                        state["exp_avg_sq"] = state_zeros(p)
                    m.append(state_array(state, "exp_avg", p))
                    v.append(state_array(state, "exp_avg_sq", p))
                    states.append(state)
                steps = _increment_steps(states)
                ratios = _C.lamb_step(batch.arrays, batch.grads, m, v, steps, float(group["lr"]), float(beta1),
                                      float(beta2), float(group["eps"]), float(group["weight_decay"]))
                self.last_trust_ratios.extend(ratios)
                batch.finish()
        return loss
