"""Helpers every op uses to record itself in the backward graph."""
from __future__ import annotations

from ..graph import grad_mode
from ..tensor import Tensor, _edge

_wrap = Tensor._wrap


def needs_grad(*tensors) -> bool:
    """True when recording is on and some input requires grad."""
    if not grad_mode._enabled:
        return False
    for t in tensors:
        if t is not None and t._rg:
            return True
    return False


def edges(*tensors):
    return tuple(_edge(t) if (t is not None and t._rg) else None for t in tensors)


def result(data, node_cls=None, inputs=(), saved=()):
    """Wrap ``data`` in a Tensor and, when some input requires grad, attach ``node_cls``."""
    out = _wrap(data)
    if node_cls is not None and grad_mode._enabled:
        for t in inputs:
            if t is not None and t._rg:
                out._node = node_cls(edges(*inputs), saved)
                out._rg = True
                break
    return out
