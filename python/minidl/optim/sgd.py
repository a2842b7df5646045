"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay:

    g = grad + weight_decay * p
    buf = momentum * buf + (1 - dampening) * g        (buf = g on the first step)
    g = g + momentum * buf if nesterov else buf
    p = p - lr * g
"""
from __future__ import annotations

from .. import _C
from ..autograd.grad_mode import no_grad
from ..ops import array as A
from ..tensor import Tensor
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
                                      nesterov=nesterov, maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            from ..autograd.grad_mode import enable_grad
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                g = p._grad._data
                if maximize:
                    g = A.neg(g)
                if wd != 0:
                    g = A.add(g, A.scale(p._data, wd))
                if mom != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = Tensor._wrap(A.copy(g))
                    else:
                        _C.binary_scalar_(A.MUL, buf._data, mom)
                        A.add_(buf._data, A.scale(g, 1.0 - damp) if damp else g)
                    g = A.add(g, A.scale(buf._data, mom)) if nesterov else buf._data
                A.add_(p._data, A.scale(g, -lr))
        return loss
