"""More pointwise activations, each one C++ kernel forward and one backward (as ``F.relu``):

    SiLU        y = x sigmoid(x)                          dy/dx = s (1 + x (1 - s)), s = sigmoid(x)
    Mish        y = x tanh(softplus(x))                   dy/dx = t + x sigmoid(x) (1 - t^2)
    ELU         y = x if x > 0 else a (e^x - 1)           dy/dx = 1 if x > 0 else a e^x
    SELU        y = scale * ELU(x) with PyTorch's alpha   dy/dx = scale * ELU'(x)
    CELU        y = x if x > 0 else a (e^(x/a) - 1)       dy/dx = 1 if x > 0 else e^(x/a)
    Softplus    y = log(1 + e^(b x)) / b                  dy/dx = sigmoid(b x)  (1 where b x > threshold)
    Softsign    y = x / (1 + |x|)                         dy/dx = 1 / (1 + |x|)^2
    Hardtanh    y = clamp(x, lo, hi)                      dy/dx = 1 if lo < x < hi else 0
    ReLU6       y = clamp(x, 0, 6)                        dy/dx = 1 if 0 < x < 6 else 0
    Hardswish   y = x clamp(x + 3, 0, 6) / 6              dy/dx = 0 (x < -3), x/3 + 1/2 (x <= 3), 1
    Hardsigmoid y = clamp(x + 3, 0, 6) / 6                dy/dx = 1/6 if -3 < x < 3 else 0
    LogSigmoid  y = log sigmoid(x) = -softplus(-x)        dy/dx = sigmoid(-x)
    Softshrink  y = x - l (x > l), x + l (x < -l), else 0 dy/dx = 1 if |x| > l else 0
    Hardshrink  y = x if |x| > l else 0                   dy/dx = 1 if |x| > l else 0
    Threshold   y = x if x > t else value                 dy/dx = 1 if x > t else 0

Every one keeps the input's shape and dtype; the gradient at a kink (x = 0, lo, hi, +-3, +-l,
t) is PyTorch's. The formulas, forward and backward side by side, are in
cpp/ops/activation/activation.cpp (reference) and activation_simd.cpp (float32 vectors).
``inplace=True`` where PyTorch has it, as in ``F.relu``.
"""
from __future__ import annotations

import numpy as np

from ..ops import array as A
from ..tensor import Tensor
from .activation import _activation, _maybe_inplace
from .module import Module

# SELU's constants (Klambauer et al., 2017): the fixed point of mean 0 and variance 1
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit (also called swish), elementwise: silu(x) = x sigmoid(x).

    Gradient: s (1 + x (1 - s)) with s = sigmoid(x). input (*) -> output (*). ``inplace`` as
    in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> F.silu(x)
    tensor([-0.2689,  0.0000,  1.7616], grad_fn=<ActivationBackward>)
    >>> F.silu(x).sum().backward()
    >>> x.grad
    tensor([0.0723, 0.5000, 1.0908])
    """
    return _maybe_inplace(input, A.SILU, 0.0, inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Mish (Misra, 2019), elementwise: mish(x) = x tanh(softplus(x)), softplus(x) = log(1 + e^x).

    Gradient: t + x sigmoid(x) (1 - t^2) with t = tanh(softplus(x)). input (*) -> output (*).
    ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.mish(md.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.3034,  0.0000,  1.9440])
    """
    return _maybe_inplace(input, A.MISH, 0.0, inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit (Clevert et al., 2015), elementwise:
    elu(x) = x if x > 0 else alpha (e^x - 1).

    Gradient: 1 if x > 0 else alpha e^x. Negative outputs saturate at -alpha, which pushes the
    mean activation towards 0. input (*) -> output (*). ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.elu(md.tensor([-2.0, 0.0, 3.0]), alpha=0.5)
    tensor([-0.4323,  0.0000,  3.0000])
    """
    return _maybe_inplace(input, A.ELU, float(alpha), inplace, q=1.0)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Scaled ELU (Klambauer et al., 2017), elementwise: selu(x) = scale * elu(x, alpha) with
    alpha = 1.6732632423543772 and scale = 1.0507009873554805.

    With these constants a stack of SELU layers keeps activations near mean 0, variance 1
    ("self-normalising"). Gradient: scale if x > 0 else scale alpha e^x. input (*) -> output
    (*). ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.selu(md.tensor([-1.0, 0.0, 1.0]))
    tensor([-1.1113,  0.0000,  1.0507])
    """
    return _maybe_inplace(input, A.ELU, SELU_ALPHA, inplace, q=SELU_SCALE)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Continuously differentiable ELU (Barron, 2017), elementwise:
    celu(x) = x if x > 0 else alpha (e^(x/alpha) - 1).

    Gradient: 1 if x > 0 else e^(x/alpha), continuous at 0 for every alpha. ``alpha = 0``
    raises RuntimeError, as in PyTorch. input (*) -> output (*). ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.celu(md.tensor([-2.0, 0.0, 3.0]), alpha=2.0)
    tensor([-1.2642,  0.0000,  3.0000])
    """
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _maybe_inplace(input, A.CELU, float(alpha), inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Softplus, elementwise: softplus(x) = log(1 + e^(beta x)) / beta, a smooth ReLU.

    Where beta x > ``threshold`` the result is x itself (the two agree to float precision
    there). Gradient: sigmoid(beta x), 1 above the threshold. Computed as
    max(z, 0) + log1p(e^-|z|), z = beta x, so no exponential overflows. input (*) -> output (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.softplus(md.tensor([-1.0, 0.0, 1.0, 30.0]))
    tensor([ 0.3133,  0.6931,  1.3133, 30.0000])
    >>> F.softplus(md.tensor([0.0]), beta=2.0)
    tensor([0.3466])
    """
    return _activation(input, A.SOFTPLUS, float(beta), float(threshold))


def softsign(input: Tensor) -> Tensor:
    """Softsign, elementwise: softsign(x) = x / (1 + |x|), in (-1, 1).

    Gradient: 1 / (1 + |x|)^2: like tanh, but its tails approach +-1 polynomially.
    input (*) -> output (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.softsign(md.tensor([-3.0, 0.0, 1.0]))
    tensor([-0.7500,  0.0000,  0.5000])
    """
    return _activation(input, A.SOFTSIGN)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """Hard tanh, elementwise: hardtanh(x) = min(max(x, min_val), max_val).

    Gradient: 1 where min_val < x < max_val, else 0 (also at the two edges, as in PyTorch).
    ``min_val > max_val`` raises ValueError, as in PyTorch. input (*) -> output (*).
    ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.hardtanh(md.tensor([-2.0, 0.5, 3.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _maybe_inplace(input, A.HARDTANH, float(min_val), inplace, q=float(max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """ReLU capped at 6, elementwise: relu6(x) = min(max(x, 0), 6) = hardtanh(x, 0, 6).

    Gradient: 1 where 0 < x < 6, else 0. Used by MobileNet, whose low-precision deployments
    like the bounded range. input (*) -> output (*). ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.relu6(md.tensor([-1.0, 3.0, 7.0]))
    tensor([0.0000, 3.0000, 6.0000])
    """
    return hardtanh(input, 0.0, 6.0, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """Hard swish (Howard et al., 2019, MobileNetV3), elementwise:
    hardswish(x) = x relu6(x + 3) / 6, a piecewise-quadratic SiLU.

    Gradient: 0 for x < -3, x/3 + 1/2 for -3 <= x <= 3, 1 for x > 3 (PyTorch's choice at the
    edges). input (*) -> output (*). ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.hardswish(md.tensor([-4.0, -1.0, 0.0, 1.0, 4.0]))
    tensor([-0.0000, -0.3333,  0.0000,  0.6667,  4.0000])
    """
    return _maybe_inplace(input, A.HARDSWISH, 0.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Hard sigmoid, elementwise: hardsigmoid(x) = relu6(x + 3) / 6, in [0, 1].

    Gradient: 1/6 where -3 < x < 3, else 0. input (*) -> output (*). ``inplace`` as in
    ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.hardsigmoid(md.tensor([-4.0, 0.0, 1.5, 4.0]))
    tensor([0.0000, 0.5000, 0.7500, 1.0000])
    """
    return _maybe_inplace(input, A.HARDSIGMOID, 0.0, inplace)


def logsigmoid(input: Tensor) -> Tensor:
    """Log of the sigmoid, elementwise: logsigmoid(x) = log(1 / (1 + e^-x)) = -softplus(-x).

    Computed as min(x, 0) - log1p(e^-|x|), finite for every finite x (log(sigmoid(x)) gives
    -inf once sigmoid underflows). Gradient: sigmoid(-x). input (*) -> output (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.logsigmoid(md.tensor([-200.0, 0.0, 2.0]))
    tensor([-2.0000e+02, -6.9315e-01, -1.2693e-01])
    """
    return _activation(input, A.LOGSIGMOID)


def _dtype_name(np_dtype) -> str:
    return {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16"}.get(
        np.dtype(np_dtype).name, str(np_dtype))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """Soft shrinkage, elementwise: x - lambd if x > lambd, x + lambd if x < -lambd, else 0.

    The proximal operator of lambd |x| (the step of ISTA for L1-regularised problems).
    Gradient: 1 where |x| > lambd, else 0. ``lambd < 0`` raises RuntimeError, as in PyTorch.
    input (*) -> output (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.softshrink(md.tensor([-2.0, 0.3, 1.0]))
    tensor([-1.5000,  0.0000,  0.5000])
    """
    if not lambd >= 0:
        d = input._data
        big = np.finfo(np.float32 if d.dtype.itemsize < 4 else d.dtype).max
        raise RuntimeError(f"lambda must be in range [0, {big:g}] for input dtype {_dtype_name(d.dtype)}, "
                           f"but found {lambd:g}")
    return _activation(input, A.SOFTSHRINK, float(lambd))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """Hard shrinkage, elementwise: x if |x| > lambd, else 0 (also at |x| = lambd).

    Gradient: 1 where |x| > lambd, else 0. input (*) -> output (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.hardshrink(md.tensor([-2.0, 0.3, 0.5, 1.0]))
    tensor([-2.0000,  0.0000,  0.0000,  1.0000])
    """
    return _activation(input, A.HARDSHRINK, float(lambd))


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """Threshold, elementwise: x if x > threshold, else ``value`` (also at x = threshold).

    Gradient: 1 where x > threshold, else 0. ``F.relu`` is ``threshold(x, 0, 0)``.
    input (*) -> output (*). ``inplace`` as in ``F.relu``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.threshold(md.tensor([-1.0, 0.5, 2.0]), 0.5, -9.0)
    tensor([-9.0000, -9.0000,  2.0000])
    """
    return _maybe_inplace(input, A.THRESHOLD, float(threshold), inplace, q=float(value))


# --- the modules: each holds its hyper-parameters and calls its function above ------------------
class _Inplace(Module):
    """An activation module whose only option is ``inplace`` (repr as PyTorch's)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class SiLU(_Inplace):
    """SiLU as a layer: y = x sigmoid(x) elementwise (see :func:`silu`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.SiLU()(md.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.2689,  0.0000,  1.7616])
    """

    def forward(self, input):
        return silu(input, self.inplace)


class Mish(_Inplace):
    """Mish as a layer: y = x tanh(softplus(x)) elementwise (see :func:`mish`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Mish()(md.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.3034,  0.0000,  1.9440])
    """

    def forward(self, input):
        return mish(input, self.inplace)


class SELU(_Inplace):
    """SELU as a layer: y = scale * elu(x, alpha) with fixed alpha, scale (see :func:`selu`).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.SELU()(md.tensor([-1.0, 0.0, 1.0]))
    tensor([-1.1113,  0.0000,  1.0507])
    """

    def forward(self, input):
        return selu(input, self.inplace)


class Hardswish(_Inplace):
    """Hardswish as a layer: y = x relu6(x + 3) / 6 elementwise (see :func:`hardswish`).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Hardswish()(md.tensor([-4.0, 1.0, 4.0]))
    tensor([-0.0000,  0.6667,  4.0000])
    """

    def forward(self, input):
        return hardswish(input, self.inplace)

    def extra_repr(self):
        return ""  # PyTorch's repr omits inplace here


class Hardsigmoid(_Inplace):
    """Hardsigmoid as a layer: y = relu6(x + 3) / 6 elementwise (see :func:`hardsigmoid`).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Hardsigmoid()(md.tensor([-4.0, 0.0, 4.0]))
    tensor([0.0000, 0.5000, 1.0000])
    """

    def forward(self, input):
        return hardsigmoid(input, self.inplace)

    def extra_repr(self):
        return ""  # PyTorch's repr omits inplace here


class ELU(Module):
    """ELU as a layer: y = x if x > 0 else alpha (e^x - 1) (see :func:`elu`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> act = nn.ELU(alpha=0.5)
    >>> act
    ELU(alpha=0.5)
    >>> act(md.tensor([-2.0, 3.0]))
    tensor([-0.4323,  3.0000])
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """CELU as a layer: y = x if x > 0 else alpha (e^(x/alpha) - 1) (see :func:`celu`).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.CELU(alpha=2.0)(md.tensor([-2.0, 3.0]))
    tensor([-1.2642,  3.0000])
    """

    def forward(self, input):
        return celu(input, self.alpha, self.inplace)


class Softplus(Module):
    """Softplus as a layer: y = log(1 + e^(beta x)) / beta, x where beta x > threshold (see
    :func:`softplus`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> act = nn.Softplus(beta=2.0)
    >>> act
    Softplus(beta=2.0, threshold=20.0)
    >>> act(md.tensor([0.0, 15.0]))
    tensor([ 0.3466, 15.0000])
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(Module):
    """Softsign as a layer: y = x / (1 + |x|) (see :func:`softsign`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Softsign()(md.tensor([-3.0, 1.0]))
    tensor([-0.7500,  0.5000])
    """

    def forward(self, input):
        return softsign(input)


class Hardtanh(Module):
    """Hardtanh as a layer: y = clamp(x, min_val, max_val) (see :func:`hardtanh`).

    ``min_val > max_val`` raises ValueError here (PyTorch raises an AssertionError).

    >>> import minidl as md
    >>> from minidl import nn
    >>> act = nn.Hardtanh(-2.0, 2.0)
    >>> act
    Hardtanh(min_val=-2.0, max_val=2.0)
    >>> act(md.tensor([-3.0, 1.0, 3.0]))
    tensor([-2.0000,  1.0000,  2.0000])
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """ReLU6 as a layer: y = clamp(x, 0, 6) (see :func:`relu6`). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ReLU6()(md.tensor([-1.0, 3.0, 7.0]))
    tensor([0.0000, 3.0000, 6.0000])
    """

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LogSigmoid(Module):
    """LogSigmoid as a layer: y = log sigmoid(x) = -softplus(-x) (see :func:`logsigmoid`).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.LogSigmoid()(md.tensor([0.0, 2.0]))
    tensor([-0.6931, -0.1269])
    """

    def forward(self, input):
        return logsigmoid(input)


class Softshrink(Module):
    """Softshrink as a layer: y = x -+ lambd outside [-lambd, lambd], else 0 (see
    :func:`softshrink`).

    >>> import minidl as md
    >>> from minidl import nn
    >>> act = nn.Softshrink(1.0)
    >>> act
    Softshrink(1.0)
    >>> act(md.tensor([-2.0, 0.5, 3.0]))
    tensor([-1.0000,  0.0000,  2.0000])
    """

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return softshrink(input, self.lambd)

    def extra_repr(self):
        return str(self.lambd)


class Hardshrink(Softshrink):
    """Hardshrink as a layer: y = x outside [-lambd, lambd], else 0 (see :func:`hardshrink`).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Hardshrink(1.0)(md.tensor([-2.0, 0.5, 3.0]))
    tensor([-2.0000,  0.0000,  3.0000])
    """

    def forward(self, input):
        return hardshrink(input, self.lambd)


class Threshold(Module):
    """Threshold as a layer: y = x if x > threshold else value (see :func:`threshold`).

    >>> import minidl as md
    >>> from minidl import nn
    >>> act = nn.Threshold(0.5, -9.0)
    >>> act
    Threshold(threshold=0.5, value=-9.0)
    >>> act(md.tensor([0.0, 2.0]))
    tensor([-9.0000,  2.0000])
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")
