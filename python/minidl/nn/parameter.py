"""``nn.Parameter``: a leaf tensor that a Module registers as a learnable weight.

A Parameter is a Tensor with ``requires_grad=True`` by default and one more meaning: when
it is assigned as an attribute of a ``Module`` it is registered, so ``parameters()``, the
optimizers and ``state_dict()`` find it. A plain Tensor attribute is not registered. Pure
Python: the data is an ordinary tensor buffer.
"""
from __future__ import annotations

from ..ops.creation import empty, tensor as _tensor
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and is found by ``Module.parameters()``.

    ``Parameter(data, requires_grad=True)`` shares ``data``'s storage (a Tensor, or anything
    ``md.tensor`` accepts) and has its shape and dtype. It is a leaf of the autograd graph:
    after ``backward()`` its gradient is in ``.grad``, which an optimizer reads.

    >>> import minidl as md
    >>> from minidl import nn
    >>> w = nn.Parameter(md.tensor([1.0, 2.0]))
    >>> w
    Parameter containing:
    tensor([1.0000, 2.0000], requires_grad=True)
    >>> class Scale(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = nn.Parameter(md.ones(2))   # registered
    ...         self.c = md.ones(2)                 # a plain tensor: not registered
    ...     def forward(self, x):
    ...         return x * self.w * self.c
    >>> [name for name, _ in Scale().named_parameters()]
    ['w']
    """

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
