"""``nn.utils``: gradient clipping."""
from __future__ import annotations

import math

from .. import _C
from ..ops import array as A
from ..tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p._grad for p in parameters if p._grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients by min(1, max_norm / ||g||) with ||g|| the norm of all of them
    together; returns that total norm."""
    grads = _grads(parameters)
    if not grads:
        return Tensor._wrap(A.zeros((), "float32"))
    norm_type = float(norm_type)
    if math.isinf(norm_type):
        norms = [float(A.reduce(A.R_MAX, A.unary(A.ABS, g._data.reshape(-1)), (0,))) for g in grads]
        total = max(norms)
    else:
        acc = 0.0
        for g in grads:
            a = A.unary(A.ABS, g._data.reshape(-1))
            acc += float(A.reduce(A.R_SUM, A.binary_scalar(A.POW, a, norm_type), (0,)))
        total = acc ** (1.0 / norm_type)
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
    """Clamp every gradient element to [-clip_value, clip_value]."""
    for g in _grads(parameters):
        _C.copy_(g._data, _C.clamp(g._data, -float(clip_value), float(clip_value)))


def parameters_to_vector(parameters) -> Tensor:
    from ..ops.shape import cat
    return cat([p.detach().reshape(-1) for p in parameters])
