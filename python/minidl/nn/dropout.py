"""Dropout (Srivastava et al., 2014), inverted: ``F.dropout`` and ``nn.Dropout``. The keep
mask comes from the C++ Bernoulli kernel (cpp/ops/random/random.cpp) and is the only thing the
backward keeps."""
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
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p)."""
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
    """Inverted dropout: in training, zero each element with probability p and scale the
    survivors by 1/(1-p), so eval mode is the identity."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"

