"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay, exactly
as ``torch.optim.SGD``:

    d   = -grad if maximize else grad
    d   = d + weight_decay * p
    buf = d                                        (first step)
    buf = momentum * buf + (1 - dampening) * d     (later steps)
    d   = d + momentum * buf  if nesterov  else  buf
    p   = p - lr * d

The arithmetic runs in one multi-tensor C++ call per parameter group (``_C.sgd_step``,
cpp/ops/optim/optim.cpp): every parameter is read and written once per step.
"""
from __future__ import annotations

from .. import _C
from ..graph.grad_mode import no_grad
from ._multi_tensor import batches_with_grad, run_closure, state_array, state_zeros
from .optimizer import Optimizer, required


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def __setstate__(self, state):
        self.__dict__.update(state)
        for g in self.param_groups:
            g.setdefault("nesterov", False)
            g.setdefault("maximize", False)

    @no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = run_closure(closure)
        for group in self.param_groups:
            momentum = group["momentum"]
            for batch in batches_with_grad(group):
                bufs, first = [], []
                if momentum != 0:
                    for p in batch.params:
                        state = self.state[p]
                        is_new = state.get("momentum_buffer") is None
                        if is_new:
                            state["momentum_buffer"] = state_zeros(p)
                        bufs.append(state_array(state, "momentum_buffer", p))
                        first.append(is_new)
                _C.sgd_step(batch.arrays, batch.grads, bufs, first, float(group["lr"]), float(momentum),
                            float(group["dampening"]), float(group["weight_decay"]), bool(group["nesterov"]),
                            bool(group["maximize"]))
                batch.finish()
        return loss
