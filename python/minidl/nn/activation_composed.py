"""Activations written with existing ops (their gradients come from those ops' backward nodes):

    Softmin     y = softmax(-x) along dim
    GLU         y = a sigmoid(b), (a, b) the two halves of x along dim     (Dauphin et al., 2017)
    Tanhshrink  y = x - tanh(x)                                            dy/dx = tanh(x)^2
    PReLU       y = x if x > 0 else w_c x, w learned (one per channel, or one for all)
    RReLU       y = x if x >= 0 else r x, r ~ U(lower, upper) drawn per element in training,
                r = (lower + upper) / 2 in eval                           (Xu et al., 2015)

None is a single pointwise formula of x with fixed parameters, so none gets its own C++
kernel: Softmin and GLU reduce or split along a dim, PReLU's slope is a learned tensor, RReLU's
a random one, and Tanhshrink is one tanh and one subtraction.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..ops import inplace as inplace_ops
from ..ops._graph import result
from ..ops.creation import full
from ..ops.where import where
from ..ops.reduce import normalize_dims
from ..tensor import Tensor
from .activation import leaky_relu, sigmoid, tanh
from .module import Module
from .parameter import Parameter
from .softmax import softmax


def softmin(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """Softmin along ``dim``: y_i = exp(-x_i) / sum_j exp(-x_j) = softmax(-x)_i.

    input (*) -> output (*); every slice along ``dim`` is a probability vector that favours
    the smallest entries. ``dim`` and ``dtype`` as in ``F.softmax`` (``dim=None`` is PyTorch's
    deprecated implicit choice). ``_stacklevel`` is accepted for PyTorch's signature and unused.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.softmin(md.tensor([[1.0, 2.0, 3.0]]), dim=1)
    tensor([[0.6652, 0.2447, 0.0900]])
    """
    return softmax(-input, dim, dtype)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: split ``input`` in halves a, b along ``dim``; y = a sigmoid(b).

    Shapes: (.., 2n, ..) -> (.., n, ..). Gradient: da = g sigmoid(b),
    db = g a sigmoid(b) (1 - sigmoid(b)). An odd size along ``dim`` or a 0-d input raises
    RuntimeError, as in PyTorch.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.glu(md.tensor([[1.0, 2.0, 0.0, 100.0]]))
    tensor([[0.5000, 2.0000]])
    """
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    (d,) = normalize_dims(dim, input.ndim)
    n = input.shape[d]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {n}")
    a, b = input.split(n // 2, d)
    return a * sigmoid(b)


def tanhshrink(input: Tensor) -> Tensor:
    """Tanhshrink, elementwise: y = x - tanh(x).

    Gradient: 1 - (1 - tanh^2 x) = tanh(x)^2. input (*) -> output (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.tanhshrink(md.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.2384,  0.0000,  1.0360])
    """
    return input - tanh(input)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """Parametric ReLU (He et al., 2015): y = x if x > 0 else w x, with w learned.

    ``weight`` is a 0-d or 1-D tensor of one slope for every element, or of C slopes, one per
    channel, where the channel dim is dim 1 of an input of 2 or more dims (C = input.shape[1];
    a 0-d or 1-D input has one channel). Shapes: input (N, C, *), weight (C,) or (1,) ->
    output (N, C, *). Gradients: dx = g where x > 0 else g w; dw_c = sum over channel c of
    g x where x <= 0. Any other weight raises RuntimeError, as in PyTorch.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.prelu(md.tensor([[-1.0, -1.0], [2.0, -4.0]]), md.tensor([0.1, 0.5]))
    tensor([[-0.1000, -0.5000],
            [ 2.0000, -2.0000]])
    """
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise RuntimeError("Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                           f"{weight.numel()} and channel size = {channels}.")
    if weight.numel() == channels and input.ndim >= 2:
        weight = weight.reshape((channels,) + (1,) * (input.ndim - 2))  # broadcast over dim 1
    elif weight.ndim == 1:
        weight = weight.reshape(())
    return where(input > 0, input, weight * input)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU (Xu et al., 2015): y = x if x >= 0 else r x.

    In training each element draws its own slope r ~ U(lower, upper) from minidl's generator
    (``md.manual_seed``); the gradient is then r there (and 1 where x > 0). In eval
    (``training=False``, the default of this function) r = (lower + upper) / 2 for every
    element: ``F.leaky_relu`` with that slope. ``lower > upper`` raises RuntimeError, as in
    PyTorch. input (*) -> output (*). ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.rrelu(md.tensor([-3.0, 2.0]), 0.1, 0.3)
    tensor([-0.6000,  2.0000])
    >>> _ = md.manual_seed(0)
    >>> y = F.rrelu(md.tensor([-1.0, -1.0, 2.0]), 0.1, 0.3, training=True)
    >>> bool(((y[:2] <= -0.1) & (y[:2] >= -0.3)).all()), y[2].item()
    (True, 2.0)
    """
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    d = input._data
    if d.dtype.kind in "biu":
        raise RuntimeError(f"rrelu: expected a floating point tensor, got {input.dtype}")
    draw = _C.rand(list(d.shape), _C.DType.f64, float(lower), float(upper))
    # the slope r where x <= 0 (as PyTorch: x = 0 gets r too, y = 0 either way), 1 elsewhere
    noise = result(np.where(d <= 0, draw, 1.0).astype(d.dtype))
    if inplace:
        return inplace_ops.apply_(input, lambda old: old * noise)
    return input * noise


class Tanhshrink(Module):
    """Tanhshrink as a layer: y = x - tanh(x) (see :func:`tanhshrink`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Tanhshrink()(md.tensor([0.0, 2.0]))
    tensor([0.0000, 1.0360])
    """

    def forward(self, input):
        return tanhshrink(input)


class Softmin(Module):
    """Softmin as a layer: y = softmax(-x) along ``dim`` (see :func:`softmin`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> m = nn.Softmin(dim=1)
    >>> m
    Softmin(dim=1)
    >>> m(md.tensor([[0.0, 2.0]]))
    tensor([[0.8808, 0.1192]])
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return softmin(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class GLU(Module):
    """GLU as a layer: halves a, b of the input along ``dim``; y = a sigmoid(b) (see
    :func:`glu`). No parameters. Shapes: (.., 2n, ..) -> (.., n, ..).

    >>> import minidl as md
    >>> from minidl import nn
    >>> m = nn.GLU()
    >>> m
    GLU(dim=-1)
    >>> m(md.tensor([[1.0, 2.0, 0.0, 100.0]]))
    tensor([[0.5000, 2.0000]])
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class PReLU(Module):
    """PReLU as a layer: y = x if x > 0 else w x with a learned slope w (see :func:`prelu`).

    ``num_parameters``: 1 (one slope shared by all channels) or the number of channels C
    (input dim 1). Parameter: ``weight`` (num_parameters,), every entry ``init`` (0.25).
    Weight decay should not be applied to it (He et al., 2015).

    >>> import minidl as md
    >>> from minidl import nn
    >>> m = nn.PReLU(num_parameters=2)
    >>> m
    PReLU(num_parameters=2)
    >>> m(md.tensor([[-4.0, 4.0]]))
    tensor([[-1.0000,  4.0000]], grad_fn=<WhereBackward>)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(full((num_parameters,), float(init), dtype=dtype))

    def forward(self, input):
        return prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """RReLU as a layer: random slope r ~ U(lower, upper) per negative element in training,
    r = (lower + upper) / 2 in eval (see :func:`rrelu`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> m = nn.RReLU(0.1, 0.3)
    >>> m
    RReLU(lower=0.1, upper=0.3)
    >>> m.eval()(md.tensor([-3.0, 2.0]))
    tensor([-0.6000,  2.0000])
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")
