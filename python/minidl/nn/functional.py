"""``md.nn.functional`` (as ``F``): activations, linear, softmax, losses, dropout, one_hot.

Each activation is one C++ kernel forward (cpp/ops/activation/activation.cpp) and one backward
that needs only x or only y, so the graph saves just that array.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..amp import autocast_mode as _amp
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import needs_grad, result
from ..ops.gemm import linear  # noqa: F401  (F.linear)
from .batchnorm import batch_norm  # noqa: F401
from .layernorm import layer_norm  # noqa: F401
from .attention import scaled_dot_product_attention  # noqa: F401
from .conv import conv1d, conv2d  # noqa: F401  (F.conv1d, F.conv2d)
from .embedding import embedding  # noqa: F401  (F.embedding)
from .losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,  # noqa: F401
                     focal_loss, l1_loss, mse_loss)
from ..ops.reduce import normalize_dims
from .pooling import adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d  # noqa: F401
from ..tensor import Tensor

_wrap = Tensor._wrap


# --- activations ----------------------------------------------------------------------------
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


class SoftmaxBackward(Node):
    __slots__ = ()

    def apply(self, g):
        y, dim, log = self.get_saved()
        if A.is_low(y):
            return (A.cast(_C.softmax_backward(A.to_f32(g), A.to_f32(y), dim, log), y.dtype),)
        return (_C.softmax_backward(g, y, dim, log),)


def _softmax(x: Tensor, dim, log: bool, dtype=None) -> Tensor:
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice
    d = x._data
    if dtype is not None:
        from ..dtypes import as_dtype
        d = A.cast(d, as_dtype(dtype).np)
    if d.dtype.kind in "bi":
        raise RuntimeError(f"softmax: expected a floating point tensor, got {x.dtype}")
    (dim,) = normalize_dims(dim, x.ndim) if x.ndim else (0,)
    src = d if d.ndim else d.reshape(1)
    y = A.cast(_C.softmax(A.to_f32(src), dim, log), d.dtype) if A.is_low(src) else _C.softmax(src, dim, log)
    y = y.reshape(d.shape)
    return result(y, SoftmaxBackward, (x,), (y if y.ndim else y.reshape(1), dim, log))


def softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    """exp(x_i - max) / sum_j exp(x_j - max) along ``dim``."""
    return _softmax(input, dim, False, dtype)


def log_softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    """x_i - max - log sum_j exp(x_j - max) along ``dim``."""
    return _softmax(input, dim, True, dtype)


# --- regularization ---------------------------------------------------------------------------
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


# --- losses -----------------------------------------------------------------------------------
class NLLBackward(Node):
    __slots__ = ()

    def apply(self, g):
        target, weight, ignore_index, C, denom, shape = self.get_saved()
        g = A.contiguous(g)
        if denom != 1.0:
            g = A.scale(g, 1.0 / denom)
        src = A.to_f32(g) if A.is_low(g) else g
        glogp = _C.nll_backward(src.reshape(-1), target, weight, ignore_index, C)
        if A.is_low(g):
            glogp = A.cast(glogp, g.dtype)
        if len(shape) > 2:  # rows are (N, d1, ...) positions: undo _flatten_classes' moveaxis
            moved = (shape[0],) + tuple(shape[2:]) + (C,)
            return (A.contiguous(np.moveaxis(glogp.reshape(moved), -1, 1)),)
        return (glogp.reshape(shape),)


def _flatten_classes(logp: Tensor, target: Tensor):
    """(N, C, d1, ...) -> (N*d1*..., C); targets (N, d1, ...) -> (N*d1*...)."""
    d = logp._data
    if d.ndim == 1:
        return d.reshape(1, -1), target._data.reshape(1)
    if d.ndim == 2:
        return d, target._data
    C = d.shape[1]
    moved = np.moveaxis(d, 1, -1)
    return _C.contiguous(moved).reshape(-1, C), A.contiguous(target._data).reshape(-1)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """-w[t] * input[n, t] with input of log-probabilities (N, C) and targets (N,)."""
    if _amp.active:
        input, target, weight = _amp.autocast_inputs("nll_loss", input, target, weight)
    if not isinstance(target, Tensor):
        raise TypeError("nll_loss: target must be a Tensor")
    if target._data.dtype != np.int64:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.name.capitalize()} "
                           "(targets must be int64 class indices)")
    d = input._data
    if d.ndim == 0:
        raise ValueError("nll_loss: input must have at least one dimension (N, C)")
    expected = (d.shape[0],) + d.shape[2:] if d.ndim >= 2 else ()
    if d.ndim >= 2 and target._data.shape != expected:
        raise ValueError(f"Expected input batch_size ({d.shape[0]}) to match target batch_size "
                         f"({target._data.shape[0] if target.ndim else 0}); target shape {list(target.shape)}, "
                         f"expected {list(expected)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    C = d.shape[1] if d.ndim >= 2 else d.shape[0]
    logp2, t2 = _flatten_classes(input, target)
    wd = None
    if weight is not None:
        wd = weight._data
        if wd.shape != (C,):
            raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes but got "
                               f"weight tensor of shape: {list(wd.shape)}")
    src = A.to_f32(logp2) if A.is_low(logp2) else logp2
    w_src = None if wd is None else (A.cast(wd, src.dtype) if wd.dtype != src.dtype else wd)
    losses, wsum = _C.nll_forward(src, t2, w_src, int(ignore_index))
    if A.is_low(logp2):
        losses = A.cast(losses, logp2.dtype)
    if reduction == "none":
        out = losses.reshape(target._data.shape)
        return result(out, NLLBackward, (input,), (t2, w_src, int(ignore_index), C, 1.0, d.shape))
    total = A.reduce(A.R_SUM, losses, (0,))
    denom = 1.0
    if reduction == "mean":
        denom = wsum
        total = A.scale(total, 1.0 / wsum) if wsum != 0 else A.full((), np.nan, total.dtype)
    return result(total, NLLBackward, (input,), (t2, w_src, int(ignore_index), C, denom if denom else 1.0, d.shape))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(*, ) int64 -> (*, num_classes) int64 with a 1 at each index."""
    if tensor._data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    d = tensor._data
    if num_classes == -1:
        num_classes = int(A.reduce(A.R_MAX, d.reshape(-1), (0,))) + 1 if d.size else 0
    if d.size and (int(A.reduce(A.R_MIN, d.reshape(-1), (0,))) < 0 or
                   int(A.reduce(A.R_MAX, d.reshape(-1), (0,))) >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes and non-negative.")
    classes = _C.arange(0, num_classes, 1, 4)
    hit = _C.binary(A.EQ, A.contiguous(d)[..., None], classes)
    return _wrap(A.cast(hit, np.int64))


def pad(input: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Constant padding; ``pad`` lists (left, right) pairs starting from the last dim."""
    if mode != "constant":
        raise NotImplementedError(f"pad mode '{mode}' is not supported (only 'constant')")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError("Padding length must be divisible by 2 and at most twice the number of dims")
    from ..ops.shape import getitem
    from ..ops.creation import full
    shape = list(input.shape)
    key = [slice(None)] * input.ndim
    crop = [slice(None)] * input.ndim
    for i in range(len(pad) // 2):
        d = input.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = shape[d]
        shape[d] = n + lo + hi
        key[d] = slice(max(lo, 0), max(lo, 0) + n + min(lo, 0) + min(hi, 0))
        crop[d] = slice(-min(lo, 0), n + min(hi, 0))
    out = full(shape, value, dtype=input.dtype)
    src = getitem(input, tuple(crop))
    return _PadFunction.apply(src, out._data, tuple(key))


class _PadBackward(Node):
    __slots__ = ()

    def apply(self, g):
        (key,) = self.get_saved()
        return (g[key],)


class _PadFunction:
    @staticmethod
    def apply(src: Tensor, out: np.ndarray, key):
        _C.copy_(out[key], src._data)
        return result(out, _PadBackward, (src,), (key,))
