"""Activation functions: the elementwise nonlinearities between layers.

Without a nonlinearity a stack of linear layers is one linear map; an activation phi applied
elementwise, y = phi(x), is what lets a network bend. This module holds the functions
``F.relu``, ``F.leaky_relu``, ``F.sigmoid``, ``F.tanh``, ``F.gelu`` and their modules
``nn.ReLU`` ... ``nn.GELU``, with the forward formula and the derivative of each:

    ReLU        y = max(x, 0)                          dy/dx = 1 if x > 0 else 0
    Leaky ReLU  y = x if x > 0 else a x                dy/dx = 1 if x > 0 else a
    Sigmoid     y = 1 / (1 + exp(-x))                  dy/dx = y (1 - y)
    Tanh        y = tanh(x)                            dy/dx = 1 - y^2
    GELU        y = x Phi(x), Phi the normal CDF       dy/dx = Phi(x) + x phi(x)

Every activation keeps the input's shape (any shape, elementwise) and dtype. The other
pointwise activations (SiLU, ELU, Softplus, Hardswish, ...) are in activation_pointwise.py,
on the same kernel; Softmin, GLU, Tanhshrink, PReLU and RReLU, built from other ops, in
activation_composed.py.

Where the C++ lives: cpp/ops/activation/activation.cpp holds the scalar reference loops,
forward and backward side by side, and the dispatch; cpp/ops/activation/activation_simd.cpp
the per-ISA vector versions of the same formulas. The backward needs only x (ReLU, Leaky
ReLU, GELU) or only y (Sigmoid, Tanh: the derivative is written with y), so the graph saves
just that one array. 16-bit inputs are computed in float32 inside C++ and rounded once.
"""
from __future__ import annotations

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops import inplace as inplace_ops
from ..ops._graph import needs_grad, result, saved_input, saved_output
from ..tensor import Tensor
from .module import Module


# --8<-- [start:activation_node]
class ActivationBackward(Node):
    __slots__ = ()

    def apply(self, g):
        act, saved, param, q = self.get_saved()
        if g.dtype != saved.dtype:
            g = A.cast(g, saved.dtype)
        return (_C.activation_backward(act, g, saved, param, q),)
# --8<-- [end:activation_node]

    def apply_sum(self, ga, gb):
        """The input gradient for the output gradient ga + gb (two consumers' gradients, summed
        by the engine: graph/engine.py ``_Sum``) in one kernel that never stores the sum: for a
        ResNet block's output ReLU (its output feeds the next block's convolution and shortcut)
        one pass over ga, gb and x instead of the add's pass and the ReLU's. None (the engine
        adds, then runs apply) for 16-bit dtypes, broadcast gradients, and a ReLU that fuses with
        the BatchNorm before it (fuse_with_producer)."""
        act, saved, param, q = self.get_saved()
        if not (ga.dtype == gb.dtype == saved.dtype and saved.dtype.kind == "f" and saved.dtype.itemsize >= 4
                and ga.shape == gb.shape == saved.shape):
            return None
        if act == A.RELU and self.next[0] is not None and hasattr(self.next[0][0], "apply_through_relu"):
            return None
        return (_C.activation_backward_sum(act, ga, gb, saved, param, q),)

    wrote_saved = False  # InplaceReluBackward: the saved array is the op's output, written over its input

    def fuse_with_producer(self, producer, g):
        """A ReLU right after a BatchNorm: both backwards in one kernel (the engine's peephole,
        graph/engine.py; BatchNormBackward.apply_through_relu says when), else None."""
        act, saved = self.saved[0], self.saved[1]
        if act != A.RELU:
            return None
        through_relu = getattr(producer, "apply_through_relu", None)
        if through_relu is None:
            return None
        return through_relu(g, saved, self.epoch if self.wrote_saved else None)

    # --8<-- [start:activation_double_backward]
    def apply_differentiable(self, g):
        """dy/dx with Tensor ops, so that it can be differentiated again. Piecewise-linear
        activations have a constant slope (0, 1, the leaky slope): g times that mask, taken
        from the kernel. The smooth ones write the slope as a formula of x (or of the saved
        output y, in this node's graph, for sigmoid and tanh)."""
        act, saved, param, q = self.get_saved()
        if act in _PIECEWISE_LINEAR:
            slope = _C.activation_backward(act, A.full(saved.shape, 1.0, saved.dtype), saved, param, q)
            return (g * Tensor._wrap(slope),)
        slope = _SMOOTH_SLOPES.get(act)
        if slope is None:
            raise RuntimeError(f"derivative for {self.name()} ({act.name}) is not implemented for create_graph=True "
                               "(double backward)")
        if act in _USES_OUTPUT:
            y = saved_output(self, saved)
            if g._data.dtype != saved.dtype:
                return (g * slope(y, param, q),)
            # one kernel call, recorded with its own backward (PyTorch's tanh_backward /
            # sigmoid_backward): instead of the three recorded ops of g * (1 - y * y). In the
            # MLP Hessian-vector product of bench_double_backward.py this took 10 of the 53
            # elementwise calls and 3 of the gradient sums out of every hvp.
            return (result(_C.activation_backward(act, g._data, saved, param, q), OutputSlopeBackward, (g, y),
                           (act, g._data, saved, param, q)),)
        return (g * slope(saved_input(self, 0, saved), param, q),)
    # --8<-- [end:activation_double_backward]


class InplaceReluBackward(ActivationBackward):
    """The node of an in-place ReLU (``F.relu(x, inplace=True)``, ``x.relu_()``): it saves
    the output, written over x's memory, instead of a copy of x, as PyTorch's relu_ does; the
    gradient is the same, relu(x) > 0 exactly where x > 0. Shown as ActivationBackward.

    >>> import minidl as md
    >>> h = md.tensor([-1.0, 2.0], requires_grad=True) * 1.0
    >>> type(h.relu_().grad_fn).__name__, h.grad_fn
    ('InplaceReluBackward', <ActivationBackward>)
    """
    __slots__ = ()
    wrote_saved = True

    def name(self) -> str:
        return "ActivationBackward"


class OutputSlopeBackward(Node):
    """Backward of the first derivative of sigmoid and tanh, gx = g s(y), as create_graph=True
    records it (the slope s written with the output y):

        d gx / d g = s(y)       -> gg s(y), the same activation_backward kernel on gg
        d gx / d y = g s'(y)    -> gg g s'(y);  tanh: s = 1 - y^2, s' = -2 y;  sigmoid: s = y (1 - y), s' = 1 - 2 y
    """
    __slots__ = ()

    def apply(self, gg):
        act, g, y, param, q = self.get_saved()
        dg = _C.activation_backward(act, gg, y, param, q) if self.next[0] is not None else None
        dy = None
        if self.next[1] is not None:
            dy = A.mul(A.mul(gg, g), _slope_derivative(act, y))
        return dg, dy

    def apply_differentiable(self, gg):
        act, g, y, param, q = self.get_saved()
        G, Y = saved_input(self, 0, g), saved_input(self, 1, y)
        return gg * _SMOOTH_SLOPES[act](Y, param, q), (gg * G) * _OUTPUT_SLOPE_DERIVATIVES[act](Y)


def _slope_derivative(act, y):  # s'(y) on arrays, as in OutputSlopeBackward's docstring
    if act == A.TANH:
        return A.scale(y, -2.0)
    return A.binary_scalar(A.ADD, A.scale(y, -2.0), 1.0)


_USES_OUTPUT = {A.SIGMOID, A.TANH}
_OUTPUT_SLOPE_DERIVATIVES = {A.TANH: lambda y: y * -2.0, A.SIGMOID: lambda y: 1.0 - y * 2.0}  # s'(y), Tensor ops
_PIECEWISE_LINEAR = {A.RELU, A.LEAKY_RELU, A.HARDTANH, A.THRESHOLD, A.SOFTSHRINK, A.HARDSHRINK, A.HARDSIGMOID}


def _gelu_slope(x, p, q):  # Phi(x) + x phi(x)
    return (1.0 + (x * 0.7071067811865476).erf()) * 0.5 + x * ((x * x * -0.5).exp() * 0.3989422804014327)


def _softplus_slope(x, beta, threshold):  # sigmoid(beta x); 1 where beta x > threshold (linear there)
    bx = x * beta
    return (bx).sigmoid().masked_fill(Tensor._wrap(A.binary_scalar(A.GT, bx._data, threshold)), 1.0)


def _elu_slope(x, alpha, scale):  # scale (1 if x > 0 else alpha e^x)
    positive = Tensor._wrap(A.binary_scalar(A.GT, x._data, 0.0))
    return (x.clamp(max=0.0).exp() * alpha).masked_fill(positive, 1.0) * scale


def _silu_slope(x, p, q):  # s (1 + x (1 - s)), s = sigmoid(x)
    s = x.sigmoid()
    return s * (1.0 + x * (1.0 - s))


def _gelu_tanh_slope(x, p, q):  # 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 k x^2), t = tanh(c (x + k x^3))
    c, k = 0.7978845608028654, 0.044715
    t = ((x + x * x * x * k) * c).tanh()
    return (1.0 + t) * 0.5 + x * (1.0 - t * t) * ((1.0 + x * x * (3.0 * k)) * (0.5 * c))


def _mish_slope(x, p, q):  # tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x), sp = softplus(x) = -logsigmoid(-x)
    t = (-((-x).sigmoid().log())).tanh()
    return t + x * (1.0 - t * t) * x.sigmoid()


def _celu_slope(x, alpha, q):  # 1 if x > 0 else e^(x / alpha)
    return (x.clamp(max=0.0) / alpha).exp().masked_fill(Tensor._wrap(A.binary_scalar(A.GT, x._data, 0.0)), 1.0)


def _hardswish_slope(x, p, q):  # 0 below -3, x / 3 + 1/2 up to 3, 1 above (PyTorch's boundaries)
    slope = x / 3.0 + 0.5
    slope = slope.masked_fill(Tensor._wrap(A.binary_scalar(A.LT, x._data, -3.0)), 0.0)
    return slope.masked_fill(Tensor._wrap(A.binary_scalar(A.GT, x._data, 3.0)), 1.0)


_SMOOTH_SLOPES = {
    A.GELU_TANH: _gelu_tanh_slope,
    A.MISH: _mish_slope,
    A.CELU: _celu_slope,
    A.HARDSWISH: _hardswish_slope,
    A.SIGMOID: lambda y, p, q: y * (1.0 - y),
    A.TANH: lambda y, p, q: 1.0 - y * y,
    A.GELU: _gelu_slope,
    A.SILU: _silu_slope,
    A.SOFTPLUS: _softplus_slope,
    A.ELU: _elu_slope,
    A.LOGSIGMOID: lambda x, p, q: (-x).sigmoid(),
    A.SOFTSIGN: lambda x, p, q: 1.0 / ((1.0 + x.abs()) ** 2),
}


# --8<-- [start:activation_call]
def _activation(x: Tensor, act: int, param: float = 0.0, q: float = 0.0, node=ActivationBackward) -> Tensor:
    """y = f(x) by the C++ kernel ``act`` with its parameters p = ``param`` and ``q`` (the
    meaning of each is listed in cpp/ops/activation/activation.h), recorded with ``node``
    (InplaceReluBackward: an in-place ReLU, which saves its output)."""
    d = x._data
    if d.dtype.kind in "biu":
        raise RuntimeError(f"activation: expected a floating point tensor, got {x.dtype}")
    y = _C.activation(act, d, param, q)  # 16-bit: computed in float32 inside C++, rounded once
    saves_output = act in _USES_OUTPUT or node.wrote_saved
    return result(y, node, (x,), (act, y if saves_output else d, param, q))
# --8<-- [end:activation_call]


def _maybe_inplace(x: Tensor, act: int, param: float, inplace: bool, q: float = 0.0) -> Tensor:
    if not inplace:
        return _activation(x, act, param, q)
    if act == A.RELU:
        # the backward reads the output (commit() then saves x's memory at its new version):
        # no copy of the old x, one pass over memory fewer than the generic path below, and
        # a ReLU after a BatchNorm stays fusable (BatchNormBackward.apply_through_relu)
        return inplace_ops.apply_(x, lambda old: _activation(old, act, node=InplaceReluBackward), keeps_old=False)
    # the activation's backward reads its output (relu) or its input (a copy of it is kept)
    return inplace_ops.apply_(x, lambda old: _activation(old, act, param, q), keeps_old=act not in _USES_OUTPUT)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Rectified linear unit, elementwise: relu(x) = max(x, 0).

    Gradient: 1 where x > 0, else 0 (PyTorch's choice at x = 0 too). input (*) -> output (*),
    same shape and dtype. ReLU (Nair & Hinton, 2010) does not saturate for x > 0, which is why
    deep networks train with it where sigmoid and tanh layers stall.

    ``inplace=True`` overwrites ``input`` and returns it, as in PyTorch: under autograd the
    input takes the ReLU's place in the graph (``ops/inplace.py``); on a leaf that requires
    grad it raises.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> y = F.relu(x)
    >>> y
    tensor([0.0000, 0.0000, 2.0000], grad_fn=<ActivationBackward>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([0.0000, 0.0000, 1.0000])
    """
    return _maybe_inplace(input, A.RELU, 0.0, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Leaky ReLU, elementwise: x if x > 0 else negative_slope * x.

    Gradient: 1 where x > 0, else ``negative_slope`` (a, default 0.01). The small slope keeps
    a gradient flowing for negative inputs, so a unit cannot "die" as a ReLU unit can (Maas et
    al., 2013). input (*) -> output (*), same shape and dtype. ``inplace`` as in :func:`relu`.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.leaky_relu(md.tensor([-2.0, 0.0, 3.0]), negative_slope=0.1)
    tensor([-0.2000,  0.0000,  3.0000])
    """
    return _maybe_inplace(input, A.LEAKY_RELU, float(negative_slope), inplace)


def sigmoid(input: Tensor) -> Tensor:
    """Logistic sigmoid, elementwise: sigmoid(x) = 1 / (1 + exp(-x)), a value in (0, 1).

    Gradient: y (1 - y) with y = sigmoid(x), at most 1/4 (at x = 0), which is why deep stacks
    of sigmoid layers suffer from vanishing gradients. input (*) -> output (*). For a binary
    classifier prefer raw logits with ``F.binary_cross_entropy_with_logits``, which fuses
    this function into a numerically stable loss.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    >>> y = F.sigmoid(x)
    >>> y
    tensor([0.2689, 0.5000, 0.7311], grad_fn=<ActivationBackward>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([0.1966, 0.2500, 0.1966])
    """
    return _activation(input, A.SIGMOID)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise: tanh(x) = (e^x - e^-x) / (e^x + e^-x), in (-1, 1).

    Gradient: 1 - y^2 with y = tanh(x) (1 at x = 0). Zero-centred, unlike the sigmoid
    (tanh(x) = 2 sigmoid(2x) - 1); the RNN cells use it for their candidate state.
    input (*) -> output (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    >>> y = F.tanh(x)
    >>> y
    tensor([-0.7616,  0.0000,  0.7616], grad_fn=<ActivationBackward>)
    >>> y.sum().backward()
    >>> x.grad
    tensor([0.4200, 1.0000, 0.4200])
    """
    return _activation(input, A.TANH)


# --8<-- [start:gelu]
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit (Hendrycks & Gimpel, 2016), elementwise.

    ``approximate="none"`` (default): gelu(x) = x Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), Phi the
    standard normal CDF. ``approximate="tanh"``: the tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) used by BERT and GPT-2.
    Gradient (exact form): Phi(x) + x phi(x), phi the normal density. A smooth ReLU: the
    input is weighted by how likely a standard normal value lies below it. input (*) ->
    output (*). Any other ``approximate`` raises RuntimeError, as in PyTorch.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([-1.0, 0.0, 1.0])
    >>> F.gelu(x)
    tensor([-0.1587,  0.0000,  0.8413])
    >>> F.gelu(x, approximate="tanh")
    tensor([-0.1588,  0.0000,  0.8412])
    """
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got '{approximate}'")
    return _activation(input, A.GELU if approximate == "none" else A.GELU_TANH)
# --8<-- [end:gelu]



class ReLU(Module):
    """Rectified linear unit as a layer: y = max(x, 0) elementwise (see :func:`relu`).

    No parameters. input (*) -> output (*), same shape. ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ReLU()(md.tensor([[-1.0, 2.0], [3.0, -4.0]]))
    tensor([[0.0000, 2.0000],
            [3.0000, 0.0000]])
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return relu(input, self.inplace)


class LeakyReLU(Module):
    """Leaky ReLU as a layer: y = x if x > 0 else negative_slope * x (see :func:`leaky_relu`).

    No parameters (the slope is a fixed hyper-parameter, default 0.01). input (*) -> output (*).

    >>> import minidl as md
    >>> from minidl import nn
    >>> act = nn.LeakyReLU(0.1)
    >>> act
    LeakyReLU(negative_slope=0.1)
    >>> act(md.tensor([-2.0, 0.0, 3.0]))
    tensor([-0.2000,  0.0000,  3.0000])
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """Logistic sigmoid as a layer: y = 1 / (1 + exp(-x)) elementwise (see :func:`sigmoid`).

    No parameters. input (*) -> output (*), values in (0, 1).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Sigmoid()(md.tensor([-1.0, 0.0, 1.0]))
    tensor([0.2689, 0.5000, 0.7311])
    """

    def forward(self, input):
        return sigmoid(input)


class Tanh(Module):
    """Hyperbolic tangent as a layer: y = tanh(x) elementwise (see :func:`tanh`).

    No parameters. input (*) -> output (*), values in (-1, 1).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Tanh()(md.tensor([-1.0, 0.0, 1.0]))
    tensor([-0.7616,  0.0000,  0.7616])
    """

    def forward(self, input):
        return tanh(input)


class GELU(Module):
    """GELU as a layer: y = x Phi(x) (``approximate="none"``) or its tanh approximation
    (``approximate="tanh"``); see :func:`gelu`. The activation of the Transformer
    feed-forward blocks in BERT and GPT.

    No parameters. input (*) -> output (*).

    >>> import minidl as md
    >>> from minidl import nn
    >>> act = nn.GELU(approximate="tanh")
    >>> act
    GELU(approximate='tanh')
    >>> act(md.tensor([-1.0, 0.0, 1.0]))
    tensor([-0.1588,  0.0000,  0.8412])
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return gelu(input, self.approximate)

    def extra_repr(self):
        return f"approximate='{self.approximate}'"

