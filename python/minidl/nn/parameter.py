"""``nn.Parameter``: a leaf tensor that a Module registers as a learnable weight."""
from __future__ import annotations

from ..ops.creation import empty, tensor as _tensor
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and is found by ``Module.parameters()``."""

    __slots__ = ()

    def __new__(cls, data=None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        src = data if isinstance(data, Tensor) else _tensor(data)
        t = Tensor._wrap(src._data)
        t.__class__ = cls  # same slots, so the instance can become a Parameter
        t._rg = bool(requires_grad)
        return t

    def __init__(self, data=None, requires_grad: bool = True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
