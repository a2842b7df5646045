"""Dropout (Srivastava et al., 2014), inverted: ``F.dropout`` and ``nn.Dropout``.

A regulariser: in training every element is zeroed with probability p, so no unit can rely
on any other being present (it trains an ensemble of thinned networks that share weights).
"Inverted" dropout scales the survivors at training time, so evaluation is the identity:

    training:  m_i ~ Bernoulli(1 - p),   y_i = m_i x_i / (1 - p),   dx_i = m_i g_i / (1 - p)
    eval:      y = x

E[y_i] = x_i either way. Shapes: input (*) -> output (*).

Where the C++ lives: the keep mask m comes from the Bernoulli kernel of
cpp/ops/random/random.cpp, drawn from the generator that ``md.manual_seed`` seeds; the
multiply and scale are the elementwise kernels (cpp/ops/elementwise/). The mask is the only
thing the backward keeps.
"""
from __future__ import annotations

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result
from ..tensor import Tensor
from .module import Module


class DropoutBackward(Node):
    __slots__ = ()

    def apply(self, g):
        mask, scale = self.get_saved()
        return (A.scale(A.mul(g, A.cast(mask, g.dtype)), scale),)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p).

    y = m * x / (1 - p) with m ~ Bernoulli(1 - p) drawn per element when ``training`` is
    true; with ``training=False`` or ``p=0`` the input itself is returned, and ``p=1`` gives
    zeros. Backward: dx = m * g / (1 - p) (the same mask). input (*) -> output (*).
    ``inplace`` is accepted for PyTorch compatibility and ignored: minidl always returns a
    new tensor. Note the default ``training=True``: inside a module use ``nn.Dropout``, which
    follows ``model.train()`` / ``model.eval()``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.ones(1000)
    >>> y = F.dropout(x, p=0.5)
    >>> sorted(set(y.tolist()))    # each element is dropped (0) or kept and scaled by 1/(1-p)
    [0.0, 2.0]
    >>> F.dropout(x, p=0.5, training=False) is x
    True
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    d = input._data
    if p == 1.0:
        return input * 0.0
    keep = _C.bernoulli(list(d.shape), 1.0 - p)
    scale = 1.0 / (1.0 - p)
    out = A.scale(A.mul(d, A.cast(keep, d.dtype)), scale)
    return result(out, DropoutBackward, (input,), (keep, scale))



class Dropout(Module):
    """Inverted dropout as a layer: in training, zero each element with probability p and
    scale the survivors by 1/(1-p), so eval mode is the identity (see :func:`dropout`).

    No parameters; the module's ``training`` flag (``model.train()`` / ``model.eval()``)
    decides. input (*) -> output (*). A p outside [0, 1] raises ValueError. ``inplace`` is
    accepted and ignored (minidl returns a new tensor).

    >>> import minidl as md
    >>> from minidl import nn
    >>> drop = nn.Dropout(p=0.2)
    >>> drop
    Dropout(p=0.2, inplace=False)
    >>> y = drop(md.ones(1000))
    >>> sorted(set(y.tolist()))    # training mode: 0 or 1 / 0.8 = 1.25
    [0.0, 1.25]
    >>> _ = drop.eval()
    >>> drop(md.tensor([1.0, 2.0]))
    tensor([1.0000, 2.0000])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"

