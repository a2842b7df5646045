"""Activations: ReLU, Leaky ReLU, Sigmoid, Tanh, GELU: ``F.relu`` ... ``F.gelu`` and their modules.

Each activation is one C++ kernel forward (cpp/ops/activation/activation.cpp) and one backward
that needs only x or only y, so the graph saves just that array.
"""
from __future__ import annotations

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import needs_grad, result
from ..tensor import Tensor
from .module import Module


class ActivationBackward(Node):
    __slots__ = ()

    def apply(self, g):
        act, saved, param = self.get_saved()
        if g.dtype != saved.dtype:
            g = A.cast(g, saved.dtype)
        return (_C.activation_backward(act, g, saved, param),)


_USES_OUTPUT = {A.SIGMOID, A.TANH}


def _activation(x: Tensor, act: int, param: float = 0.0) -> Tensor:
    d = x._data
    if d.dtype.kind in "bi":
        raise RuntimeError(f"activation: expected a floating point tensor, got {x.dtype}")
    y = _C.activation(act, d, param)  # 16-bit: computed in float32 inside C++, rounded once
    return result(y, ActivationBackward, (x,), (act, y if act in _USES_OUTPUT else d, param))


def _inplace_result(x: Tensor, y: Tensor, inplace: bool) -> Tensor:
    if not inplace:
        return y
    x._check_inplace()
    _C.copy_(x._data, y._data)
    return x


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return _inplace_result(input, _activation(input, A.RELU), inplace and not needs_grad(input))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    return _inplace_result(input, _activation(input, A.LEAKY_RELU, float(negative_slope)),
                           inplace and not needs_grad(input))


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)); backward y (1 - y)."""
    return _activation(input, A.SIGMOID)


def tanh(input: Tensor) -> Tensor:
    """tanh(x); backward 1 - y^2."""
    return _activation(input, A.TANH)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) (``approximate="none"``, exact erf) or the tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (``approximate="tanh"``)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got '{approximate}'")
    return _activation(input, A.GELU if approximate == "none" else A.GELU_TANH)



class ReLU(Module):
    """max(x, 0)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return relu(input, self.inplace)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, input):
        return sigmoid(input)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, input):
        return tanh(input)


class GELU(Module):
    """x Phi(x) (approximate="none") or its tanh approximation (approximate="tanh")."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return gelu(input, self.approximate)

    def extra_repr(self):
        return f"approximate='{self.approximate}'"

