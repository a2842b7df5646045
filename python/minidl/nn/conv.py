"""Convolution: ``F.conv1d``, ``F.conv2d`` and the ``nn.Conv1d``, ``nn.Conv2d`` modules.

A convolution slides a small learned filter over the input and takes a dot product at every
position: the same weights are used everywhere (weight sharing), and each output sees only a
small neighbourhood (local connectivity), which is what makes CNNs work on images and
signals with few parameters. Like every deep-learning library, minidl computes the
cross-correlation (the filter is not flipped):

    y[n, k, p, q] = b[k] + sum_{c, r, s} w[k, c, r, s] * x[n, g*C/groups + c, p*sh - ph + r*dh, q*sw - pw + s*dw]

with g = k // (K/groups) the group of output channel k and c running over C/groups channels;
x (N, C, H, W) -> y (N, K, P, Q), w (K, C/groups, R, S), P = (H + 2 ph - dh (R-1) - 1) // sh + 1
(Q likewise with W, pw, dw, S, sw). Backward:

    dx = the transposed convolution of dy with w (each input collects the gradients of the
         outputs it contributed to),
    dw[k, c, r, s] = sum_{n, p, q} dy[n, k, p, q] x[n, g*C/groups + c, p*sh - ph + r*dh, q*sw - pw + s*dw],
    db[k] = sum_{n, p, q} dy[n, k, p, q].

Where the C++ lives: cpp/ops/conv/, whose textbook loops ``conv2d_forward_reference`` and
``conv2d_backward_reference`` are the reference every fast path is tested against. Conv1d is
the H = 1 case of the same C++ kernels (cpp/ops/conv/conv_direct.cpp with
conv_direct_simd.cpp: float32 implicit GEMM on a padded copy of the input;
cpp/ops/conv/conv.cpp: im2col + GEMM for the rest, and conv_simd.cpp, a direct SIMD kernel
for depthwise); the backward node calls the C++ backward kernels, which give dx (the
transposed convolution of dy), dw (dy correlated with x, summed over the batch) and db (dy
summed over batch and positions). bfloat16/float16 tensors (Conv2d under autocast) go to
cpp/ops/conv/conv_lowp.cpp: bfloat16 runs im2col + the vdpbf16ps GEMM with float32
accumulation where the CPU has AVX512-BF16, everything else widens to float32 inside C++;
both round each result to 16 bits once and return 16-bit gradients (as PyTorch).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..dtypes import from_numpy_dtype, layer_dtype_fix
from ..graph.node import Node
from ..amp import autocast_mode as _amp
from ..ops import array as A
from ..ops.higher_order import recomputed_grads
from ..ops._graph import result, saved_input
from ..ops.creation import empty
from ..tensor import Tensor
from . import init
from ._int_args import INT_ARG_LIMIT, check_int, int_tuple
from .fold import unfold
from .padding import pad as pad_fn
from .module import Module
from .parameter import Parameter

_PADDING_STRINGS = ("valid", "same")


def _ntuple(v, n: int, what: str, op: str):
    if type(v) is int and 0 <= v < INT_ARG_LIMIT:  # the common case, without a call (per-op overhead)
        return (v,) * n
    if isinstance(v, (tuple, list)) and len(v) != n:
        raise RuntimeError(f"expected {what} to be a single integer value or a list of {n} values to match "
                           f"the convolution dimensions, but got {what}={list(v)}")
    return int_tuple(v, n, op, what, positive=what != "padding")


def _dtype_name(a: np.ndarray) -> str:
    return from_numpy_dtype(a.dtype).name


# --8<-- [start:conv_node]
class ConvBackward(Node):
    """dx, dw, db of y = conv(x, w) + b, all three from the C++ backward kernels."""
    __slots__ = ()

    def apply(self, g):
        x4, w4, stride, pad, dil, groups, y4_shape, x_shape, w_shape, crop = self.get_saved()
        need_x, need_w = self.next[0] is not None, self.next[1] is not None
        need_b = len(self.next) > 2 and self.next[2] is not None
        g4 = g.reshape(y4_shape)
        if g4.dtype != x4.dtype:  # (a gradient arriving in another dtype: the kernels want x's)
            g4 = A.cast(g4, x4.dtype)
        gx, gw, gb = _C.conv2d_backward(g4, x4, w4, stride, pad, dil, groups, need_x, need_w, need_b)
        if gx is not None:
            if crop is not None:  # drop the extra right/bottom zeros of an asymmetric "same" padding
                gx = A.contiguous(gx[:, :, :crop[0], :crop[1]])
            gx = gx.reshape(x_shape)
        if gw is not None:
            gw = gw.reshape(w_shape)
        return (gx, gw, gb)[:len(self.next)]
# --8<-- [end:conv_node]

    def apply_differentiable(self, g):
        """The convolution recomputed as unfold (im2col, recorded index ops) and a batched
        matmul per group, then differentiated with create_graph=True."""
        x4, w4, stride, pad, dil, groups, y4_shape, x_shape, w_shape, crop = self.get_saved()
        x_in = x4 if crop is None else x4[:, :, :crop[0], :crop[1]]
        X = saved_input(self, 0, A.contiguous(x_in).reshape(x_shape))
        W = saved_input(self, 1, w4.reshape(w_shape))
        B = saved_input(self, 2, A.zeros((w4.shape[0],), w4.dtype)) if len(self.next) > 2 else None

        def conv(X, W, B=None):
            X4 = X.reshape(x_in.shape)
            if crop is not None:  # the extra right/bottom zeros of an asymmetric "same" padding
                X4 = pad_fn(X4, (0, x4.shape[3] - crop[1], 0, x4.shape[2] - crop[0]))
            n, c = X4.shape[0], X4.shape[1]
            o, kh, kw = w4.shape[0], w4.shape[2], w4.shape[3]
            cols = unfold(X4, (kh, kw), dil, pad, stride)  # (N, C kh kw, L)
            cols = cols.reshape(n, groups, (c // groups) * kh * kw, -1)
            y = (W.reshape(groups, o // groups, -1) @ cols).reshape(y4_shape)
            if B is not None:
                y = y + B.reshape(1, o, 1, 1)
            return y.reshape(tuple(g.shape))

        grads = recomputed_grads((X, W, B) if B is not None else (X, W), conv, g)
        return grads[:len(self.next)]


def _conv(input: Tensor, weight: Tensor, bias, stride, padding, dilation, groups, nd: int) -> Tensor:
    name = f"conv{nd}d"
    if _amp.active:
        input, weight, bias = _amp.autocast_inputs(name, input, weight, bias)
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{name}(): input and weight must be Tensors")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{name}(): bias must be a Tensor or None")
    xd, wd = input._data, weight._data
    if xd.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, "
                           f"but got input of size: {list(xd.shape)}")
    if wd.ndim != nd + 2:
        raise RuntimeError(f"{name}: expected a {nd + 2}-D weight (out_channels, in_channels/groups, "
                           f"{'kernel_size' if nd == 1 else 'kH, kW'}), but got weight of size {list(wd.shape)}")
    if wd.dtype != xd.dtype:  # PyTorch's message, then the fix (int64 pixels, float64 NumPy data)
        raise RuntimeError(f"Input type ({_dtype_name(xd)}) and weight type ({_dtype_name(wd)}) should be the same. "
                           + layer_dtype_fix(from_numpy_dtype(xd.dtype), from_numpy_dtype(wd.dtype)))
    for a, what in ((xd, "input"), (wd, "weight")) + (((bias._data, "bias"),) if bias is not None else ()):
        if a.dtype.kind not in "fV":  # bfloat16's NumPy kind is "V"
            raise RuntimeError(f"{name}: expected a floating point {what}, got {_dtype_name(a)}")
    if bias is not None and bias._data.dtype != xd.dtype:
        raise RuntimeError(f"Input type ({_dtype_name(xd)}) and bias type ({_dtype_name(bias._data)}) should be the same")
    stride = _ntuple(stride, nd, "stride", name)
    dilation = _ntuple(dilation, nd, "dilation", name)
    groups = check_int(groups, name, "groups")
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"non-positive stride is not supported, got stride={list(stride)}")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, got dilation={list(dilation)}")
    if groups <= 0:
        raise RuntimeError(f"non-positive groups is not supported, got groups={groups}")
    K = wd.shape[0]
    if K % groups != 0:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(wd.shape)} instead")
    x_full = xd if xd.ndim == nd + 2 else xd[None]
    C = x_full.shape[1]
    if C != wd.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(wd.shape)}, expected input{list(x_full.shape)} "
                           f"to have {wd.shape[1] * groups} channels, but got {C} channels instead")
    if bias is not None and (bias._data.ndim != 1 or bias._data.shape[0] != K):
        raise RuntimeError(f"Given weight of size {list(wd.shape)}, expected bias to be 1-dimensional with {K} "
                           f"elements, but got bias of size {list(bias._data.shape)} instead")
    ksize = wd.shape[2:]
    if isinstance(padding, str):
        if padding not in _PADDING_STRINGS:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {set(_PADDING_STRINGS)}")
        if padding == "valid":
            pad_lo = pad_hi = (0,) * nd
        else:
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            total = tuple(d * (k - 1) for d, k in zip(dilation, ksize))
            pad_lo = tuple(t // 2 for t in total)
            pad_hi = tuple(t - t // 2 for t in total)  # PyTorch puts the odd one on the right
    else:
        pad_lo = pad_hi = _ntuple(padding, nd, "padding", name)
        if any(p < 0 for p in pad_lo):
            raise RuntimeError(f"negative padding is not supported, got padding={list(pad_lo)}")
    spatial = x_full.shape[2:]
    padded = tuple(s + lo + hi for s, lo, hi in zip(spatial, pad_lo, pad_hi))
    eff = tuple(d * (k - 1) + 1 for d, k in zip(dilation, ksize))
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
                           f"Kernel size: ({' x '.join(map(str, eff))}). "
                           "Kernel size can't be greater than actual input size")

    # --8<-- [start:conv_call]
    x4, w4 = x_full, wd
    b1 = bias._data if bias is not None else None
    if nd == 1:  # (N, C, L) -> (N, C, 1, L)
        x4, w4 = x4[:, :, None, :], w4[:, :, None, :]
        stride, dilation = (1,) + stride, (1,) + dilation
        pad_lo, pad_hi = (0,) + pad_lo, (0,) + pad_hi
    crop = None
    if pad_hi != pad_lo:  # asymmetric "same": zero-pad the right/bottom, the kernel pads symmetrically
        crop = x4.shape[2:]
        x4 = np.pad(x4, ((0, 0), (0, 0)) + tuple((0, h - lo) for lo, h in zip(pad_lo, pad_hi)))
    x4, w4 = A.contiguous(x4), A.contiguous(w4)
    y4 = _C.conv2d_forward(x4, w4, b1, stride, pad_lo, dilation, groups)
    y = y4.reshape(y4.shape[:2] + y4.shape[3:]) if nd == 1 else y4
    if xd.ndim == nd + 1:
        y = y[0]
    saved = (x4, w4, stride, pad_lo, dilation, groups, y4.shape, xd.shape, wd.shape, crop)
    inputs = (input, weight, bias) if bias is not None else (input, weight)
    return result(y, ConvBackward, inputs, saved)
    # --8<-- [end:conv_call]


def conv1d(input: Tensor, weight: Tensor, bias: Tensor = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation): input (N, C_in, L) or (C_in, L), weight
    (C_out, C_in/groups, kW), bias (C_out,) -> (N, C_out, L_out),
    L_out = (L + 2 padding - dilation (kW - 1) - 1) // stride + 1. padding: int, tuple,
    'valid' (0) or 'same' (output length L, stride 1 only).

    y[n, k, t] = b[k] + sum_{c, s} w[k, c, s] x[n, c', t stride - padding + s dilation], c'
    the input channel c of k's group. The same C++ kernels as :func:`conv2d`, with H = 1.
    Used on sequences and audio (a filter over time).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[[1.0, 2.0, 3.0, 4.0]]], requires_grad=True)   # N = 1, C_in = 1, L = 4
    >>> w = md.tensor([[[1.0, -1.0]]], requires_grad=True)            # a difference filter
    >>> y = F.conv1d(x, w)                                            # x[t] - x[t + 1]
    >>> y
    tensor([[[-1.0000, -1.0000, -1.0000]]], grad_fn=<ConvBackward>)
    >>> y.sum().backward()
    >>> w.grad                     # dw[s] = sum_t x[t + s]: 1+2+3, 2+3+4
    tensor([[[6.0000, 9.0000]]])
    >>> F.conv1d(md.zeros(2, 4, 10), md.zeros(6, 2, 3), groups=2, padding="same").shape
    minidl.Size([2, 6, 10])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation): input (N, C_in, H, W) or (C_in, H, W), weight
    (C_out, C_in/groups, kH, kW), bias (C_out,) -> (N, C_out, H_out, W_out),
    H_out = (H + 2 padding[0] - dilation[0] (kH - 1) - 1) // stride[0] + 1 (W likewise).
    groups splits the channels into independent convolutions (groups == C_in: depthwise).

    y[n, k, i, j] = b[k] + sum_{c, r, s} w[k, c, r, s] x[n, c', i sH - pH + r dH, j sW - pW + s dW]
    (the module docstring has the full formula and the backward). ``stride``, ``padding``
    and ``dilation`` are an int or a pair; ``padding`` may also be 'valid' (no padding) or
    'same' (output size = input size, stride 1 only; an odd total pad puts the extra zero
    on the right/bottom, as PyTorch does). Input, weight and bias must share a float dtype;
    under ``md.autocast`` they run in bfloat16 / float16.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.arange(9.0).reshape(1, 3, 3)       # (C_in, H, W): one 3 x 3 channel 0 .. 8
    >>> w = md.tensor([[[[1.0, 0.0], [0.0, -1.0]]]])   # (C_out, C_in, 2, 2)
    >>> F.conv2d(x, w)                            # x[i, j] - x[i + 1, j + 1] = -4
    tensor([[[-4.0000, -4.0000],
             [-4.0000, -4.0000]]])
    >>> F.conv2d(x, md.ones(1, 1, 3, 3), padding=1)    # 3 x 3 box sums, zero border
    tensor([[[ 8.0000, 15.0000, 12.0000],
             [21.0000, 36.0000, 27.0000],
             [20.0000, 33.0000, 24.0000]]])
    >>> F.conv2d(md.zeros(2, 3, 32, 32), md.zeros(8, 3, 5, 5), stride=2, padding=2).shape
    minidl.Size([2, 8, 16, 16])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


class _ConvNd(Module):
    _nd = 2
    _padding_modes = ("zeros", "reflect", "replicate", "circular")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__()
        nd, op = self._nd, type(self).__name__
        groups = check_int(groups, op, "groups")
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        kernel_size, stride, dilation = (_ntuple(v, nd, n, op) for v, n in
                                         ((kernel_size, "kernel_size"), (stride, "stride"), (dilation, "dilation")))
        if isinstance(padding, str):
            if padding not in _PADDING_STRINGS:
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {set(_PADDING_STRINGS)}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = _ntuple(padding, nd, "padding", op)
        if padding_mode not in self._padding_modes:
            raise ValueError(f"padding_mode must be one of {self._padding_modes}, but got padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            raise NotImplementedError(f"padding_mode='{padding_mode}' is not supported by minidl (only 'zeros')")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.groups, self.padding_mode = groups, padding_mode
        self.weight = Parameter(empty(out_channels, in_channels // groups, *kernel_size, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's init: W ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        # b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups * prod(kernel_size)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels // self.groups * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution layer: (N, C_in, L) -> (N, C_out, L_out); weight (C_out, C_in/groups,
    kernel_size), bias (C_out,), initialised as PyTorch does (see reset_parameters).

    y = conv1d(x, weight, bias, stride, padding, dilation, groups) (see ``F.conv1d``);
    L_out = (L + 2 padding - dilation (kernel_size - 1) - 1) // stride + 1. Init: weight and
    bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in/groups * kernel_size. Only
    ``padding_mode="zeros"`` is implemented (the others raise NotImplementedError).

    >>> import minidl as md
    >>> from minidl import nn
    >>> conv = nn.Conv1d(4, 8, 3, dilation=2, groups=2, bias=False)
    >>> conv
    Conv1d(4, 8, kernel_size=(3,), stride=(1,), dilation=(2,), groups=2, bias=False)
    >>> conv.weight.shape
    minidl.Size([8, 2, 3])
    >>> conv(md.zeros(2, 4, 10)).shape        # L_out = 10 - 2 (3 - 1) = 6
    minidl.Size([2, 8, 6])
    """
    _nd = 1

    def forward(self, input):
        return conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution layer: (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_out,
    C_in/groups, kH, kW), bias (C_out,), initialised as PyTorch does (see reset_parameters).

    y = conv2d(x, weight, bias, stride, padding, dilation, groups) (see ``F.conv2d``);
    H_out = (H + 2 padding[0] - dilation[0] (kH - 1) - 1) // stride[0] + 1, W_out likewise.
    Init: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in/groups * kH * kW
    (``kaiming_uniform_(a=sqrt(5))``). ``groups=C_in=C_out`` is a depthwise convolution (one
    3 x 3 filter per channel, as in MobileNet). Only ``padding_mode="zeros"`` is implemented.

    >>> import minidl as md
    >>> from minidl import nn
    >>> conv = nn.Conv2d(3, 16, 3, padding=1)
    >>> conv
    Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> conv.weight.shape, conv.bias.shape
    (minidl.Size([16, 3, 3, 3]), minidl.Size([16]))
    >>> conv(md.zeros(2, 3, 32, 32)).shape                  # padding 1 keeps 32 x 32
    minidl.Size([2, 16, 32, 32])
    >>> nn.Conv2d(3, 8, 5, stride=2)(md.zeros(1, 3, 28, 28)).shape   # (28 - 5) // 2 + 1 = 12
    minidl.Size([1, 8, 12, 12])
    """
    _nd = 2

    def forward(self, input):
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
