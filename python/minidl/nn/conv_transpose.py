"""Transposed convolution: ``F.conv_transpose1d/2d`` and ``nn.ConvTranspose1d/2d``.

A transposed convolution maps each input position to a k x k patch of the output, scaled by
the filter, and sums where patches overlap: the adjoint (the "transpose") of a convolution
with the same stride, padding and dilation. With stride s it upsamples by s, which is why
decoders, GANs and U-Nets use it. Shapes:

    x (N, C_in, H, W), w (C_in, C_out / groups, kH, kW) -> y (N, C_out, H_out, W_out),
    H_out = (H - 1) s - 2 p + d (kH - 1) + output_padding + 1   (W likewise)

Being the adjoint of a convolution, it needs no kernel of its own: its forward is the
convolution's input-gradient kernel, and its backward is

    dx = conv(dy, w)                (the forward convolution kernel)
    dw = the convolution's weight gradient with the roles of x and dy swapped
    db = dy summed over the batch and the positions

all three from cpp/ops/conv/ (im2col + GEMM, or the direct kernels), as in PyTorch, whose
``ConvTranspose`` also runs the convolution's backward code.
"""
from __future__ import annotations

import math

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..autograd.backprop import grad as autograd_grad
from ..ops.higher_order import recomputed_grads
from ..ops._graph import result, saved_input
from ..ops.creation import empty
from ..tensor import Tensor
from . import init
from .conv import conv2d
from ._int_args import int_tuple
from .module import Module
from .parameter import Parameter


class ConvTransposeBackward(Node):
    """dx, dw, db of y = conv_transpose(x, w) + b, from the convolution kernels."""
    __slots__ = ()

    def apply(self, g):
        x4, w4, stride, pad, dil, groups, y4_shape, x_shape, w_shape = self.get_saved()
        need_x, need_w = self.next[0] is not None, self.next[1] is not None
        need_b = len(self.next) > 2 and self.next[2] is not None
        g4 = A.contiguous(g.reshape(y4_shape))
        if g4.dtype != x4.dtype:
            g4 = A.cast(g4, x4.dtype)
        gx = gw = gb = None
        if need_x:  # the convolution of dy with w
            gx = A.shaped(_C.conv2d_forward(g4, w4, None, stride, pad, dil, groups), x_shape)
        if need_w:  # conv's weight gradient, x and dy swapped: x plays the output gradient
            _, gw, _ = _C.conv2d_backward(x4, g4, w4, stride, pad, dil, groups, False, True, False)
            gw = A.shaped(gw, w_shape)
        if need_b:  # sum over positions, then over the batch: 0.17 ms instead of sum_to's 0.51 (32x32x32x32)
            per_image = A.reduce(A.R_SUM, g4.reshape(g4.shape[:2] + (g4.shape[2] * g4.shape[3],)), [2])
            gb = A.reduce(A.R_SUM, per_image, [0])
        return (gx, gw, gb)[:len(self.next)]

    def apply_differentiable(self, g):
        """conv_transpose(x, w) is the adjoint of conv(., w): the gradient with respect to z of
        sum(conv(z, w) * x), at any z. Recomputed that way (conv's own double backward does
        the rest) and differentiated with create_graph=True."""
        x4, w4, stride, pad, dil, groups, y4_shape, x_shape, w_shape = self.get_saved()
        X = saved_input(self, 0, x4.reshape(x_shape))
        W = saved_input(self, 1, w4.reshape(w_shape))
        B = saved_input(self, 2, A.zeros((y4_shape[1],), w4.dtype)) if len(self.next) > 2 else None

        def conv_transpose(X, W, B=None):
            z = Tensor._wrap(A.zeros(tuple(y4_shape), x4.dtype)).requires_grad_()
            inner = (conv2d(z, W.reshape(w4.shape), None, stride, pad, dil, groups) * X.reshape(x4.shape)).sum()
            (y,) = autograd_grad(inner, z, create_graph=True)
            if B is not None:
                y = y + B.reshape(1, -1, 1, 1)
            return y.reshape(tuple(g.shape))

        grads = recomputed_grads((X, W, B) if B is not None else (X, W), conv_transpose, g)
        return grads[:len(self.next)]


def _conv_transpose(input: Tensor, weight: Tensor, bias, stride, padding, output_padding, groups, dilation,
                    nd: int) -> Tensor:
    name = f"conv_transpose{nd}d"
    xd, wd = input._data, weight._data
    if xd.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got input "
                           f"of size: {list(xd.shape)}")
    if wd.ndim != nd + 2:
        raise RuntimeError(f"{name}: expected a {nd + 2}-D weight (in_channels, out_channels/groups, kernel...), "
                           f"got {list(wd.shape)}")
    if wd.dtype != xd.dtype or xd.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected float32 or float64 input and weight of the same dtype, got "
                           f"{xd.dtype} and {wd.dtype}")
    stride = int_tuple(stride, nd, name, "stride")
    padding = int_tuple(padding, nd, name, "padding", positive=False)
    output_padding = int_tuple(output_padding, nd, name, "output_padding", positive=False)
    dilation = int_tuple(dilation, nd, name, "dilation")
    if groups <= 0 or wd.shape[0] % groups:
        raise RuntimeError(f"{name}: groups={groups} must be positive and divide in_channels={wd.shape[0]}")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got "
                               f"output_padding={list(output_padding)}, stride={list(stride)}, "
                               f"dilation={list(dilation)}")
    x_full = xd if xd.ndim == nd + 2 else xd[None]
    if x_full.shape[1] != wd.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(wd.shape)}, expected input{list(x_full.shape)} "
                           f"to have {wd.shape[0]} channels, but got {x_full.shape[1]} channels instead")
    c_out = wd.shape[1] * groups
    out_spatial = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
                        zip(x_full.shape[2:], stride, padding, dilation, wd.shape[2:], output_padding))
    if any(o <= 0 for o in out_spatial):
        raise RuntimeError(f"{name}: the output size {list(out_spatial)} is not positive")
    x4, w4 = x_full, wd
    if nd == 1:  # (N, C, L) -> (N, C, 1, L)
        x4, w4 = x4[:, :, None, :], w4[:, :, None, :]
        stride, padding, dilation, out_spatial = (1,) + stride, (0,) + padding, (1,) + dilation, (1,) + out_spatial
    x4, w4 = A.contiguous(x4), A.contiguous(w4)
    # the bias is where the kernel's output starts (no pass of its own; 16-bit: added after)
    fused_bias = bias is not None and bias._data.dtype == x4.dtype and not A.is_low(x4)
    y4 = _C.conv2d_backward_input(x4, w4, (x4.shape[0], c_out) + out_spatial, stride, padding, dilation, groups,
                                  bias._data if fused_bias else None)
    if bias is not None and not fused_bias:
        y4 = A.add(y4, bias._data.reshape(1, -1, 1, 1))
    y = y4.reshape(y4.shape[:2] + y4.shape[3:]) if nd == 1 else y4
    if xd.ndim == nd + 1:
        y = y[0]
    saved = (x4, w4, stride, padding, dilation, groups, y4.shape, xd.shape, wd.shape)
    inputs = (input, weight, bias) if bias is not None else (input, weight)
    return result(y, ConvTransposeBackward, inputs, saved)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor = None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution: (N, C_in, L) -> (N, C_out, L_out), weight (C_in, C_out/groups, k),
    L_out = (L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.conv_transpose1d(md.tensor([[[1.0, 2.0]]]), md.tensor([[[1.0, 10.0]]]), stride=2)   # patches side by side
    tensor([[[ 1.0000, 10.0000,  2.0000, 20.0000]]])
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor = None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution: (N, C_in, H, W) -> (N, C_out, H_out, W_out), weight
    (C_in, C_out/groups, kH, kW), H_out = (H - 1) stride - 2 padding + dilation (kH - 1) +
    output_padding + 1.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.conv_transpose2d(md.ones(1, 1, 2, 2), md.ones(1, 1, 2, 2)).squeeze()   # overlapping patches add
    tensor([[1.0000, 2.0000, 1.0000],
            [2.0000, 4.0000, 2.0000],
            [1.0000, 2.0000, 1.0000]])
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


class _ConvTransposeNd(Module):
    nd, fn = 2, staticmethod(conv_transpose2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if in_channels % groups or out_channels % groups:
            raise ValueError("in_channels and out_channels must be divisible by groups")
        k = (kernel_size,) * self.nd if isinstance(kernel_size, int) else tuple(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.groups, self.dilation = groups, dilation
        self.weight = Parameter(empty(in_channels, out_channels // groups, *k, dtype=dtype))
        self.bias = Parameter(empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's: kaiming_uniform_(a=sqrt(5)) on the weight (its fan_in is dim 1 x kernel), bias
        # uniform in +-1/sqrt(fan_in)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input, output_size=None):
        op = self.output_padding
        if output_size is not None:  # choose output_padding so the output has this size
            spatial = tuple(output_size)[-self.nd:]
            st = (self.stride,) * self.nd if isinstance(self.stride, int) else tuple(self.stride)
            pd = (self.padding,) * self.nd if isinstance(self.padding, int) else tuple(self.padding)
            dl = (self.dilation,) * self.nd if isinstance(self.dilation, int) else tuple(self.dilation)
            base = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                    zip(input.shape[-self.nd:], st, pd, dl, self.kernel_size)]
            op = tuple(o - b for o, b in zip(spatial, base))
        return self.fn(input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
                + (f", padding={self.padding}" if self.padding else "")
                + (f", output_padding={self.output_padding}" if self.output_padding else ""))


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution as a layer (see ``F.conv_transpose1d``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ConvTranspose1d(4, 2, 3, stride=2)(md.zeros(1, 4, 5)).shape
    minidl.Size([1, 2, 11])
    """

    nd, fn = 1, staticmethod(conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution as a layer (see ``F.conv_transpose2d``): a learned upsampling.

    >>> import minidl as md
    >>> from minidl import nn
    >>> up = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)      # doubles H and W
    >>> up(md.zeros(1, 64, 16, 16)).shape
    minidl.Size([1, 32, 32, 32])
    """
