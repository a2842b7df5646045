"""Pooling on (N, C, H, W) or unbatched (C, H, W) tensors: ``max_pool2d``, ``avg_pool2d``,
``adaptive_avg_pool2d`` (and the 1-D forms as the H = 1 case), their modules and backward
nodes.

Pooling summarises each k x k window of a feature map by one number, channel by channel,
without parameters: it shrinks the map (a stride-2 pool halves H and W, so later layers see
a wider field at a quarter of the cost) and makes the features tolerant of small shifts.

    max:       y[n, c, i, j] = max over the window of x        dx: dy goes to the arg-max
    average:   y[n, c, i, j] = sum over the window of x / divisor   dx: dy / divisor to each
    adaptive:  windows chosen so that the output has a given size (global pooling: 1 x 1)

The window of output (i, j) starts at (i stride - pad, j stride - pad). Output size
(PyTorch's rule), per spatial dim:
    out = floor((in + 2 pad - dilation (k - 1) - 1) / stride) + 1   (ceil in ceil_mode, where
    the last window must also start inside the input or the left padding).

Where the C++ lives: cpp/ops/pooling/pooling.cpp holds the reference loops, forward and
backward side by side, parallel over the N*C planes; cpp/ops/pooling/pooling_simd.cpp the
float32 max pooling per ISA, which matches the reference bit for bit (values and arg-max).
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import linear_grads, result
from ..ops.indexing import gather
from ..tensor import Tensor
from ._int_args import INT_ARG_LIMIT, check_int, int_tuple
from .module import Module

_wrap = Tensor._wrap


def _pair(v, name, op):
    if type(v) is int and 0 <= v < INT_ARG_LIMIT:  # the common case, without a call (per-op overhead)
        return v, v
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            v = (v[0], v[0])
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
    return int_tuple(v, 2, op, name, positive=name != "padding")


def _output_size(n, k, p, s, d, ceil_mode):
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _window_in_padding(n, k, p, s, d, out):
    """The first output index whose window taps i s - p + t d (t = 0 .. k-1) all miss the input
    positions 0 .. n-1, or None.

    Only a window that starts in the left padding can miss: one that starts at 0 <= i s - p
    has its first tap inside, since the output size keeps every start below n. With dilation
    the taps of a window that straddles the input can jump over it (n = 1, k = 2, p = 1,
    d = 2: taps -1 and 1)."""
    i = 0
    while i < out and i * s < p:
        start = i * s - p
        first_inside = (-start + d - 1) // d  # the first t with start + t d >= 0
        if first_inside >= k or start + first_inside * d >= n:
            return i
        i += 1
    return None


def _as_4d(x: Tensor, what: str, keep_16bit: bool = False):
    """(N, C, H, W) data of x (a view for unbatched (C, H, W)), float32 for 16-bit input unless
    keep_16bit (max pooling: its C++ kernel takes bfloat16 / float16)."""
    d = x._data
    if d.ndim not in (3, 4) or any(s == 0 for s in d.shape[-3:]):
        raise RuntimeError(f"{what}: non-empty 3D or 4D (batch mode) tensor expected for input, "
                           f"got input of shape {list(d.shape)}")
    if d.dtype.kind in "biu":
        raise RuntimeError(f"{what}: expected a floating point input, got {x.dtype}")
    low = A.is_low(d)
    if low and not keep_16bit:
        d = A.to_f32(d)
    return (d[None] if d.ndim == 3 else d), low


def _geometry(what, shape, kernel_size, stride, padding, dilation, ceil_mode):
    kh, kw = _pair(kernel_size, "kernel_size", what)
    sh, sw = _pair(kernel_size if stride is None or stride == [] or stride == () else stride, "stride", what)
    ph, pw = _pair(padding, "padding", what)
    dh, dw = _pair(dilation, "dilation", what)
    if kh <= 0 or kw <= 0:
        raise RuntimeError(f"{what}: kernel size should be greater than zero, but got kH: {kh} kW: {kw}")
    if sh <= 0 or sw <= 0:
        raise RuntimeError(f"{what}: stride should be greater than zero, but got dH: {sh} dW: {sw}")
    if dh <= 0 or dw <= 0:
        raise RuntimeError(f"{what}: dilation should be greater than zero, but got dilationH: {dh} dilationW: {dw}")
    if ph < 0 or pw < 0 or 2 * ph > kh or 2 * pw > kw:
        raise RuntimeError(f"{what}: pad should be at most half of effective kernel size, but got "
                           f"pad=({ph}, {pw}), kernel_size=({kh}, {kw}) and dilation=({dh}, {dw})")
    H, W = shape[2], shape[3]
    oh = _output_size(H, kh, ph, sh, dh, ceil_mode)
    ow = _output_size(W, kw, pw, sw, dw, ceil_mode)
    if oh < 1 or ow < 1:
        raise RuntimeError(f"{what}: Given input size: ({shape[1]}x{H}x{W}). Calculated output size: "
                           f"({shape[1]}x{oh}x{ow}). Output size is too small (kernel ({kh}, {kw}) with "
                           f"padding ({ph}, {pw}) and dilation ({dh}, {dw}) is larger than the padded input)")
    for axis, n, k, p, s, d, out in (("H", H, kh, ph, sh, dh, oh), ("W", W, kw, pw, sw, dw, ow)):
        i = _window_in_padding(n, k, p, s, d, out) if p else None  # (no padding: every window starts inside)
        if i is not None:
            axis = "L" if what.endswith("1d") else axis
            taps = [i * s - p + t * d for t in range(min(k, 3))]
            taps = ", ".join(map(str, taps)) + (f", ..., {i * s - p + (k - 1) * d}" if k > 3 else "")
            raise RuntimeError(
                f"{what}: output {i} along {axis} pools a window that lies entirely in the padding: its taps "
                f"{taps} (kernel_size {k}, stride {s}, padding {p}, "
                f"dilation {d}{', ceil_mode' if ceil_mode else ''}) all miss the input positions 0..{n - 1}, so "
                f"it would have no value to pool and no input to send its gradient to. Use less padding or dilation.")
    return [kh, kw, sh, sw, ph, pw, dh, dw]


def _grad_4d(g: np.ndarray, out_shape4):
    g = A.to_f32(g) if A.is_low(g) else g
    return g.reshape(out_shape4)


# --- max pooling --------------------------------------------------------------------------------
# --8<-- [start:max_pool_node]
class MaxPool2dBackward(Node):
    """gx = 0, then each output's gradient goes to its arg-max (the first maximum)."""
    __slots__ = ()

    def apply(self, g):
        idx, in_shape, dtype = self.get_saved()
        g = A.cast(g, dtype) if g.dtype != dtype else g  # 16-bit stays 16-bit (pool.cpp)
        gx = _C.max_pool2d_backward(g.reshape(idx.shape), idx, in_shape[-2], in_shape[-1])
        return (gx.reshape(in_shape),)
# --8<-- [end:max_pool_node]

    def apply_differentiable(self, g):  # linear in g: its adjoint reads each window's arg-max
        idx, in_shape, dtype = self.get_saved()
        n, c = idx.shape[0], idx.shape[1]
        flat = Tensor._wrap(A.contiguous(idx).reshape(n, c, -1))
        return linear_grads(self, g, (lambda h: gather(h.reshape(n, c, -1), 2, flat).reshape(tuple(g.shape)),))


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """2-D max pooling: y[n, c, i, j] = max over the window at (i stride - pad, j stride - pad)
    with the given dilation; padding counts as -inf.

    Shapes: input (N, C, H, W) or (C, H, W) -> output (N, C, H_out, W_out) or (C, H_out, W_out),
    H_out = floor((H + 2 padding[0] - dilation[0] (kernel_size[0] - 1) - 1) / stride[0]) + 1
    (ceil with ``ceil_mode``), W_out likewise. ``stride`` defaults to ``kernel_size``;
    ``padding`` is at most half the kernel. ``return_indices`` also gives the arg-max as the
    flat index h * W + w in the input plane (int64), the first maximum on ties.
    Backward: each output's gradient goes to its arg-max position (added up where windows
    overlap), every other input gets 0. A geometry with a window whose taps all fall in the
    padding (possible with dilation, e.g. W = 1, kernel 2, padding 1, dilation 2: taps at -1
    and 1) raises RuntimeError; PyTorch returns -inf there with an out-of-range index and
    writes out of bounds in the backward.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.arange(16.0).reshape(1, 4, 4)      # one 4 x 4 channel: 0 .. 15
    >>> F.max_pool2d(x, 2)                        # 2 x 2 windows, stride 2
    tensor([[[ 5.0000,  7.0000],
             [13.0000, 15.0000]]])
    >>> y, idx = F.max_pool2d(x, 2, return_indices=True)
    >>> idx
    tensor([[[ 5,  7],
             [13, 15]]])
    >>> F.max_pool2d(x, 3, stride=1, padding=1).shape   # "same" size
    minidl.Size([1, 4, 4])
    >>> x = md.tensor([[[1.0, 2.0], [4.0, 3.0]]], requires_grad=True)
    >>> F.max_pool2d(x, 2).sum().backward()
    >>> x.grad                                    # the gradient goes to the maximum
    tensor([[[0.0000, 0.0000],
             [1.0000, 0.0000]]])
    """
    return _max_pool("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# --8<-- [start:max_pool_call]
def _max_pool(what, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    d4, _ = _as_4d(input, what, keep_16bit=True)
    geom = _geometry(what, d4.shape, kernel_size, stride, padding, dilation, ceil_mode)
    y, idx = _C.max_pool2d(d4, geom, bool(ceil_mode))
    dtype = input._data.dtype
    if input.ndim == 3:
        y, idx_out = y[0], idx[0]
    else:
        idx_out = idx
    out = result(y, MaxPool2dBackward, (input,), (idx, input._data.shape, dtype))
    return (out, _wrap(idx_out)) if return_indices else out
# --8<-- [end:max_pool_call]


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling over the last dim of (N, C, L) or (C, L): max_pool2d with H = 1.

    y[n, c, i] = max_k x[n, c, i stride - padding + k dilation]. Shapes: (N, C, L) ->
    (N, C, L_out), L_out = floor((L + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1
    (ceil with ``ceil_mode``); ``stride`` defaults to ``kernel_size``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[[1.0, 3.0, 2.0, 5.0, 4.0]]])
    >>> F.max_pool1d(x, 2)                   # windows [1, 3], [2, 5]; the 4 is left over
    tensor([[[3.0000, 5.0000]]])
    >>> F.max_pool1d(x, 2, ceil_mode=True)   # a last, partial window [4]
    tensor([[[3.0000, 5.0000, 4.0000]]])
    """
    if input.ndim not in (2, 3):
        raise RuntimeError(f"max_pool1d: expected a 2D or 3D input, got input of shape {list(input.shape)}")
    k = _pair(kernel_size, "kernel_size", "max_pool1d")[0]
    s = k if stride is None or stride == () else _pair(stride, "stride", "max_pool1d")[0]
    p, d = _pair(padding, "padding", "max_pool1d")[0], _pair(dilation, "dilation", "max_pool1d")[0]
    res = _max_pool("max_pool1d", input.unsqueeze(-2), (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    if return_indices:
        return res[0].squeeze(-2), res[1].squeeze(-2)
    return res.squeeze(-2)


# --- average pooling ----------------------------------------------------------------------------
class AvgPool2dBackward(Node):
    """Each output's gradient / divisor is spread over its window (clipped to the input)."""
    __slots__ = ()

    def apply(self, g):
        in_shape, out_shape4, geom, ceil_mode, cip, div, dtype = self.get_saved()
        gx = _C.avg_pool2d_backward(_grad_4d(g, out_shape4), in_shape[-2], in_shape[-1], geom, ceil_mode, cip, div)
        gx = gx.reshape(in_shape)
        return (A.cast(gx, dtype) if gx.dtype != dtype else gx,)

    def apply_differentiable(self, g):  # linear in g: its adjoint is the same average pooling
        in_shape, out_shape4, geom, ceil_mode, cip, div, dtype = self.get_saved()

        def pool(h):
            y = _C.avg_pool2d(_as_4d(h, "avg_pool2d")[0], geom, ceil_mode, cip, div)
            return result(y.reshape(tuple(g.shape)), AvgPool2dBackward, (h,), self.get_saved())
        return linear_grads(self, g, (pool,))


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None):
    """2-D average pooling: y = (sum of the window's input values) / divisor.

    The divisor is ``divisor_override`` if given, else the window size clipped to the padded
    input (``count_include_pad=True``, the default) or to the input itself. Padding
    contributes zeros. Shapes: input (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out),
    H_out = floor((H + 2 padding[0] - kernel_size[0]) / stride[0]) + 1 (ceil with
    ``ceil_mode``), W_out likewise; ``stride`` defaults to ``kernel_size``. Backward: each
    output's gradient, divided by its divisor, is added to every input of its window.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.arange(16.0).reshape(1, 4, 4)
    >>> F.avg_pool2d(x, 2)
    tensor([[[ 2.5000,  4.5000],
             [10.5000, 12.5000]]])
    >>> F.avg_pool2d(x, 3, stride=2, padding=1)       # zeros count: (0+1+4+5) / 9
    tensor([[[ 1.1111,  2.6667],
             [ 5.6667, 10.0000]]])
    >>> F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)   # (0+1+4+5) / 4
    tensor([[[ 2.5000,  4.0000],
             [ 8.5000, 10.0000]]])
    """
    d4, low = _as_4d(input, "avg_pool2d")
    geom = _geometry("avg_pool2d", d4.shape, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and check_int(divisor_override, "avg_pool2d", "divisor_override") == 0:
        raise RuntimeError("avg_pool2d: divisor must be not zero")
    div = 0 if divisor_override is None else int(divisor_override)
    y = _C.avg_pool2d(d4, geom, bool(ceil_mode), bool(count_include_pad), div)
    out_shape4 = y.shape
    if input.ndim == 3:
        y = y[0]
    dtype = input._data.dtype
    if low:
        y = A.cast(y, dtype)
    return result(y, AvgPool2dBackward, (input,),
                  (input._data.shape, out_shape4, geom, bool(ceil_mode), bool(count_include_pad), div, dtype))


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True):
    """1-D average pooling over the last dim of (N, C, L) or (C, L): avg_pool2d with H = 1.

    y[n, c, i] = mean of x[n, c, i stride - padding : i stride - padding + kernel_size]
    (padding counted as zeros with ``count_include_pad``). Shapes: (N, C, L) -> (N, C, L_out),
    L_out = floor((L + 2 padding - kernel_size) / stride) + 1; ``stride`` defaults to
    ``kernel_size``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.avg_pool1d(md.tensor([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2)
    tensor([[[2.0000, 3.5000]]])
    """
    if input.ndim not in (2, 3):
        raise RuntimeError(f"avg_pool1d: expected a 2D or 3D input, got input of shape {list(input.shape)}")
    k = _pair(kernel_size, "kernel_size", "avg_pool1d")[0]
    s = k if stride is None or stride == () else _pair(stride, "stride", "avg_pool1d")[0]
    return avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, _pair(padding, "padding", "avg_pool1d")[0]), ceil_mode,
                      count_include_pad).squeeze(-2)


# --- adaptive average pooling -------------------------------------------------------------------
class AdaptiveAvgPool2dBackward(Node):
    __slots__ = ()

    def apply(self, g):
        in_shape, out_shape4, dtype = self.get_saved()
        gx = _C.adaptive_avg_pool2d_backward(_grad_4d(g, out_shape4), in_shape[-2], in_shape[-1])
        gx = gx.reshape(in_shape)
        return (A.cast(gx, dtype) if gx.dtype != dtype else gx,)

    def apply_differentiable(self, g):  # linear in g: its adjoint is the same adaptive pooling
        in_shape, out_shape4, dtype = self.get_saved()

        def pool(h):
            y = _C.adaptive_avg_pool2d(_as_4d(h, "adaptive_avg_pool2d")[0], out_shape4[2], out_shape4[3])
            return result(y.reshape(tuple(g.shape)), AdaptiveAvgPool2dBackward, (h,), self.get_saved())
        return linear_grads(self, g, (pool,))


def adaptive_avg_pool2d(input: Tensor, output_size):
    """Adaptive average pooling to a fixed output size (OH, OW), whatever the input size.

    Output cell (i, j) averages input rows [floor(i H / OH), ceil((i + 1) H / OH)) and the
    same columns for W, OW: windows that overlap when OH does not divide H. ``output_size``
    is an int or a pair; None in the pair keeps that input size. Shapes: (N, C, H, W) or
    (C, H, W) -> (N, C, OH, OW). ``output_size=1`` is global average pooling, the head of
    ResNet: any image size gives one C-vector per image.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.arange(16.0).reshape(1, 4, 4)
    >>> F.adaptive_avg_pool2d(x, 1)               # the mean of 0 .. 15
    tensor([[[7.5000]]])
    >>> F.adaptive_avg_pool2d(md.tensor([[[0.0, 1.0, 2.0, 3.0, 4.0]]]), (1, 3))
    tensor([[[0.5000, 2.0000, 3.5000]]])
    """
    d4, low = _as_4d(input, "adaptive_avg_pool2d")
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"adaptive_avg_pool2d: output_size must be 2, got {len(output_size)}")
        oh, ow = output_size
    else:
        oh = ow = output_size
    oh = d4.shape[2] if oh is None else check_int(oh, "adaptive_avg_pool2d", "output_size", positive=False)
    ow = d4.shape[3] if ow is None else check_int(ow, "adaptive_avg_pool2d", "output_size", positive=False)
    if oh < 0 or ow < 0:
        raise RuntimeError(f"adaptive_avg_pool2d: output_size must be non-negative, got ({oh}, {ow})")
    n, c, h, w = d4.shape
    if oh == ow == 1 and h * w > 0 and d4.dtype == np.float32:
        # global average pooling (a ResNet head): each plane's sum by the reduce kernel's
        # vectorised row sums, then divided by H W as the window kernel divides. The window
        # kernel summed a plane one float after another: (32, 64, 32, 32) 1.36 ms against
        # PyTorch's 0.42 (1 thread, Xeon family 6 model 167)
        sums = A.reduce(A.R_SUM, A.contiguous(d4).reshape(n * c, h * w), (1,))
        y = A.binary_scalar(A.DIV, sums, float(h * w)).reshape(n, c, 1, 1)
    else:
        y = _C.adaptive_avg_pool2d(d4, oh, ow)
    out_shape4 = y.shape
    if input.ndim == 3:
        y = y[0]
    dtype = input._data.dtype
    if low:
        y = A.cast(y, dtype)
    return result(y, AdaptiveAvgPool2dBackward, (input,), (input._data.shape, out_shape4, dtype))


# --- modules ------------------------------------------------------------------------------------
class MaxPool2d(Module):
    """2-D max pooling as a layer; see ``F.max_pool2d``. stride defaults to kernel_size.

    Shapes: (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2 padding - dilation
    (kernel_size - 1) - 1) / stride) + 1. No parameters. With ``return_indices`` the
    forward returns (output, indices).

    >>> import minidl as md
    >>> from minidl import nn
    >>> pool = nn.MaxPool2d(2)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(md.zeros(8, 3, 32, 32)).shape
    minidl.Size([8, 3, 16, 16])
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(MaxPool2d):
    """1-D max pooling as a layer over the last dim of (N, C, L); see ``F.max_pool1d``.

    Shapes: (N, C, L) -> (N, C, L_out), L_out = floor((L + 2 padding - dilation
    (kernel_size - 1) - 1) / stride) + 1; stride defaults to kernel_size. No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.MaxPool1d(2)(md.tensor([[[1.0, 3.0, 2.0, 5.0]]]))
    tensor([[[3.0000, 5.0000]]])
    """

    def forward(self, input):
        return max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class AvgPool2d(Module):
    """2-D average pooling as a layer; see ``F.avg_pool2d``. stride defaults to kernel_size.

    Shapes: (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2 padding -
    kernel_size) / stride) + 1. No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> pool = nn.AvgPool2d(2)
    >>> pool
    AvgPool2d(kernel_size=2, stride=2, padding=0)
    >>> pool(md.arange(16.0).reshape(1, 1, 4, 4))
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """1-D average pooling as a layer over the last dim of (N, C, L); see ``F.avg_pool1d``.

    Shapes: (N, C, L) -> (N, C, L_out), L_out = floor((L + 2 padding - kernel_size) /
    stride) + 1; stride defaults to kernel_size. No parameters. (minidl's repr does not list
    the arguments, PyTorch's does.)

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.AvgPool1d(3)(md.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]]))
    tensor([[[2.0000, 5.0000]]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad

    def forward(self, input):
        return avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Adaptive average pooling to a fixed output size (int or pair); see
    ``F.adaptive_avg_pool2d``. ``AdaptiveAvgPool2d((1, 1))`` is global average pooling.

    Shapes: (N, C, H, W) -> (N, C, OH, OW) for any H, W. No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> gap = nn.AdaptiveAvgPool2d((1, 1))
    >>> gap
    AdaptiveAvgPool2d(output_size=(1, 1))
    >>> gap(md.zeros(8, 64, 7, 7)).shape
    minidl.Size([8, 64, 1, 1])
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
