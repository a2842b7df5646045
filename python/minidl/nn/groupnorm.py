"""Group, instance and RMS normalisation, and ``F.normalize``.

    GroupNorm (Wu & He, 2018)   split the C channels into G groups; normalise each sample's
                                group over its C/G channels and all positions, then a
                                per-channel affine:  y = (x - mean_g) / sqrt(var_g + eps) w_c + b_c
    InstanceNorm                GroupNorm with G = C: each channel of each sample on its own
                                (style transfer); optional running statistics as BatchNorm
    RMSNorm (Zhang & Sennrich)  no mean: y = x / sqrt(mean(x^2) + eps) w   (LLaMA, T5)
    LocalResponseNorm           y = x / (k + alpha mean_{nearby channels}(x^2))^beta  (AlexNet)
    normalize                   y = x / max(||x||_p, eps) along a dim

Unlike BatchNorm, GroupNorm and InstanceNorm do not depend on the batch: they work at batch
size 1 and behave the same in training and evaluation (detection and segmentation nets with
small batches use GroupNorm).

Where the compute runs: GroupNorm and InstanceNorm in one fused kernel per direction,
cpp/ops/groupnorm/ (reference forward and backward side by side in groupnorm.cpp, the float32
channel loops per ISA in groupnorm_simd.cpp): the forward takes each (sample, group)'s mean and
rstd in two passes and writes y = (x - mean) a[c] + beta[c] with a[c] = rstd gamma[c] in one
more; the backward takes per-(sample, channel) sums of dy and dy (x - mean), then dx in closed
form, group by group while the group is in cache. RMSNorm likewise in cpp/ops/rmsnorm/
(PyTorch composes it of elementwise ops; one kernel reads x once per direction). The
formulas of the backward passes are in groupnorm.h and rmsnorm.h.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..graph.grad_mode import no_grad
from ..graph.node import Node
from ..ops import array as A
from ..ops.higher_order import recomputed_grads
from ..ops._graph import result, saved_input
from ..ops.where import clamp
from ..ops import reduce as R
from ..ops.creation import ones, zeros
from ..ops.norms import vector_norm
from ..tensor import Tensor
from .layernorm import grads_as_inputs, kernel_operands
from .module import Module
from .padding import pad
from .pooling import avg_pool2d
from .parameter import Parameter


def _channel_shape(x: Tensor):
    """The shape that broadcasts a per-channel (C,) vector against x (N, C, *)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


class GroupNormBackward(Node):
    """dx, dweight, dbias of ``group_norm`` from one kernel call (formulas: cpp/ops/groupnorm/groupnorm.h)."""

    __slots__ = ()

    def apply(self, g):
        x, groups, w, mean, rstd, dtypes, shapes, _ = self.get_saved()
        if g.dtype != x.dtype:
            g = A.cast(g, x.dtype)
        wanted = [nxt is not None for nxt in self.next]
        if x.size == 0:  # no values: the gradients are sums of nothing
            grads = [A.zeros(shape, x.dtype) if want else None for shape, want in zip(shapes, wanted)]
        else:
            grads = _C.group_norm_backward(g, x, groups, w, mean, rstd, *wanted)
        return grads_as_inputs(grads, dtypes, shapes)

    def apply_differentiable(self, g):
        """The group norm recomputed with primitive ops (statistics per sample and group),
        differentiated with create_graph=True."""
        x, groups, w, mean, rstd, dtypes, shapes, eps = self.get_saved()
        c = x.shape[1]
        per_channel = (1, c) + (1,) * (x.ndim - 2)
        X = saved_input(self, 0, x)
        W = saved_input(self, 1, w) if w is not None else None
        B = saved_input(self, 2, A.zeros((c,), x.dtype)) if self.next[2] is not None else None

        def norm(X, W, B):
            xg = X.reshape(x.shape[0], groups, -1)
            centered = xg - xg.mean(2, keepdim=True)
            y = (centered * ((centered * centered).mean(2, keepdim=True) + eps) ** -0.5).reshape(x.shape)
            if W is not None:
                y = y * W.reshape(per_channel)
            return y + B.reshape(per_channel) if B is not None else y

        return recomputed_grads((X, W, B), norm, g)


def group_norm(input: Tensor, num_groups: int, weight: Tensor = None, bias: Tensor = None,
               eps: float = 1e-5) -> Tensor:
    """Group normalisation: each sample's group of C/G channels normalised over the group.

    For each sample n and group g of channels, over its (C/G) * prod(*) values:
    y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c] (var biased). Shapes: input
    (N, C, *), weight and bias (C,) or None -> (N, C, *). C must divide by num_groups. The
    statistics are shifted two-pass sums (a constant group normalises to exactly 0). 16-bit
    inputs are computed in float32 and rounded once.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[[1.0, 3.0], [5.0, 7.0]]])                # N=1, C=2, L=2
    >>> F.group_norm(x, 1)                                       # one group: all four values
    tensor([[[-1.3416, -0.4472],
             [ 0.4472,  1.3416]]])
    >>> F.group_norm(x, 2)                                       # a group per channel
    tensor([[[-1.0000,  1.0000],
             [-1.0000,  1.0000]]])
    """
    return _group_norm(input, num_groups, weight, bias, eps)[0]


def _group_norm(input: Tensor, num_groups: int, weight: Tensor, bias: Tensor, eps: float):
    """``group_norm``'s output and the kernel's per-(sample, group) mean and rstd (arrays of
    shape (N, G) in the compute dtype; None for an empty input)."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    c = input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {list(t.shape)} and input of shape {list(input.shape)}")
    if input._data.dtype.kind in "biu":
        raise TypeError(f"group_norm: expected a floating point input, got {input.dtype}")
    cdt, (x, w, b) = kernel_operands(input, weight, bias)
    x = np.ascontiguousarray(x)  # once here, not again in the backward
    if x.size == 0:
        y, mean, rstd = np.empty(x.shape, cdt), None, None
    else:
        y, mean, rstd = _C.group_norm(x, num_groups, w, b, float(eps))
    if y.dtype != input._data.dtype:
        y = A.cast(y, input._data.dtype)
    dtypes = tuple(None if t is None else t._data.dtype for t in (input, weight, bias))
    out = result(y, GroupNormBackward, (input, weight, bias),
                 (x, num_groups, w, mean, rstd, dtypes, (x.shape, (c,), (c,)), float(eps)))
    return out, mean, rstd


def instance_norm(input: Tensor, running_mean: Tensor = None, running_var: Tensor = None, weight: Tensor = None,
                  bias: Tensor = None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:
    """Instance normalisation: each channel of each sample normalised over its positions.

    With ``running_mean``/``running_var`` and ``use_input_stats``, they are updated in place
    with the batch's per-channel mean of the instance statistics (unbiased variance), as
    PyTorch does; ``use_input_stats=False`` normalises with them instead.

    Shapes: input (N, C, *), running stats, weight and bias (C,) -> (N, C, *).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.instance_norm(md.tensor([[[1.0, 3.0], [5.0, 9.0]]]))
    tensor([[[-1.0000,  1.0000],
             [-1.0000,  1.0000]]])
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *) with at least one position dim, got "
                         f"{list(input.shape)}")
    c = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    if use_input_stats:
        if math.prod(input.shape[2:]) == 1:  # every value would normalise to 0 (beta)
            raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                             f"{list(input.shape)}")
        # GroupNorm with a group per channel: the statistics and the affine in one kernel
        y, mean, rstd = _group_norm(input, c, None if weight is None else weight.reshape(c),
                                    None if bias is None else bias.reshape(c), eps)
        if (running_mean is not None or running_var is not None) and mean is not None:
            # the batch's mean of the instance statistics, from the kernel's mean and rstd
            # (var = rstd^-2 - eps, off by ~1e-7 (var + eps)); a separate mean and var of the
            # input cost 16 ms of a 20 ms InstanceNorm2d(64) step at 32x64x32x32
            with no_grad():
                m = math.prod(input.shape[2:])
                inst_mean, inst_rstd = Tensor._wrap(mean), Tensor._wrap(rstd)
                inst_var = clamp(inst_rstd.pow(-2) - eps, min=0.0) * (m / (m - 1))
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(R.mean(inst_mean, dim=0).to(running_mean.dtype) * momentum)
                if running_var is not None:
                    running_var.mul_(1 - momentum).add_(R.mean(inst_var, dim=0).to(running_var.dtype) * momentum)
        return y
    if running_mean is None or running_var is None:
        raise ValueError("Expected running_mean and running_var to be defined when use_input_stats is false")
    shape = _channel_shape(input)
    y = (input - running_mean.reshape(shape)) / (running_var.reshape(shape) + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


class RMSNormBackward(Node):
    """dx and dweight of ``rms_norm`` from one kernel call (formulas: cpp/ops/rmsnorm/rmsnorm.h)."""

    __slots__ = ()

    def apply(self, g):
        x, cols, w, rrms, dtypes, shapes, _ = self.get_saved()
        if g.dtype != x.dtype:
            g = A.cast(g, x.dtype)
        wanted = [nxt is not None for nxt in self.next]
        if x.size == 0:  # no rows, or rows of 0 values: the weight gradient is a sum of nothing
            grads = [A.zeros(shape, x.dtype) if want else None for shape, want in zip(shapes, wanted)]
        else:
            grads = _C.rms_norm_backward(g, x, cols, w, rrms, *wanted)
        return grads_as_inputs(grads, dtypes, shapes)

    def apply_differentiable(self, g):  # y = x / sqrt(mean(x^2) + eps) * w, recomputed and differentiated
        x, cols, w, rrms, dtypes, (x_shape, ns), eps = self.get_saved()
        X = saved_input(self, 0, x.reshape(x_shape))
        W = saved_input(self, 1, w.reshape(ns)) if w is not None else None
        dims = tuple(range(len(x_shape) - len(ns), len(x_shape)))

        def norm(X, W):
            y = X * ((X * X).mean(dims, keepdim=True) + eps) ** -0.5
            return y * W if W is not None else y

        return recomputed_grads((X, W), norm, g)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor = None, eps: float = None) -> Tensor:
    """Root-mean-square normalisation over the last dims: y = x / sqrt(mean(x^2) + eps) * weight.

    ``eps`` defaults to the dtype's machine epsilon (torch.finfo(dtype).eps), as in PyTorch.
    16-bit inputs are computed in float32 and rounded once (PyTorch rounds x / rms to the
    16-bit dtype before multiplying by the weight: results may differ by one 16-bit ulp).

    Shapes: input (*, *normalized_shape), weight normalized_shape or None -> input's shape.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.rms_norm(md.tensor([[3.0, 4.0]]), (2,))               # rms = sqrt(12.5)
    tensor([[0.8485, 1.1314]])
    """
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not ns:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           "element, but got normalized_shape = []")
    if len(ns) > input.ndim or tuple(input.shape[input.ndim - len(ns):]) != ns:
        raise RuntimeError(f"rms_norm: given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(map(str, ns))}], but got input of size {list(input.shape)}")
    if weight is not None and tuple(weight.shape) != ns:
        raise RuntimeError(f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
                           f"{list(weight.shape)} and normalized_shape = {list(ns)}")
    if input._data.dtype.kind in "biu":
        raise TypeError(f"rms_norm: expected a floating point input, got {input.dtype}")
    if eps is None:
        eps = {2: 0.0009765625, 4: 1.1920928955078125e-07}.get(input.element_size(), 2.220446049250313e-16)
        if str(input.dtype).endswith("bfloat16"):
            eps = 0.0078125
    cdt, (x, w) = kernel_operands(input, weight)
    x = np.ascontiguousarray(x)  # once here, not again in the backward
    cols = math.prod(ns)
    if x.size == 0:
        y, rrms = np.empty(x.shape, cdt), None
    else:
        y, rrms = _C.rms_norm(x, cols, w, float(eps))
    if y.dtype != input._data.dtype:
        y = A.cast(y, input._data.dtype)
    dtypes = tuple(None if t is None else t._data.dtype for t in (input, weight))
    return result(y, RMSNormBackward, (input, weight), (x, cols, w, rrms, dtypes, (x.shape, ns), float(eps)))


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """Local response normalisation across channels (AlexNet, 2012): each value is divided by
    (k + alpha / size * sum of squares over ``size`` neighbouring channels)^beta.

    The sum runs over channels c - size // 2 .. c + (size - 1) // 2 (zero beyond the edges), as
    PyTorch: the squares are padded along the channel dim and averaged by the AvgPool kernel.

    Shapes: (N, C, *) with at least one position dim -> same.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.local_response_norm(md.ones(1, 3, 1), size=2, alpha=1.0, beta=1.0, k=1.0).flatten()  # channel 0: 1 / (1 + (0 + 1) / 2)
    tensor([0.6667, 0.5000, 0.5000])
    """
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    n, c = input.shape[0], input.shape[1]
    sq = (input * input).reshape(n, 1, c, -1)                              # channels as a height
    sq = pad(sq, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(sq, (size, 1), stride=1).reshape(tuple(input.shape))  # the window mean
    return input / (div * alpha + k) ** beta


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """Scale vectors along ``dim`` to unit p-norm: y = x / max(||x||_p, eps).

    Shapes: input (*) -> (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.normalize(md.tensor([[3.0, 4.0], [0.0, 0.0]]))        # a zero row stays zero
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    """
    return input / clamp(vector_norm(input, p, dim=dim, keepdim=True), min=eps)


class GroupNorm(Module):
    """Group normalisation as a layer with per-channel weight (ones) and bias (zeros).

    >>> import minidl as md
    >>> from minidl import nn
    >>> gn = nn.GroupNorm(2, 4)
    >>> gn, gn(md.randn(3, 4, 5, 5)).shape
    (GroupNorm(2, 4, eps=1e-05, affine=True), minidl.Size([3, 4, 5, 5]))
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Parameter(ones(num_channels, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_channels, dtype=dtype)) if affine else None

    def forward(self, input):
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LocalResponseNorm(Module):
    """Local response normalisation as a layer (see ``F.local_response_norm``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.LocalResponseNorm(2)
    LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class _InstanceNorm(Module):
    spatial = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
        else:
            self.running_mean = self.running_var = None

    def forward(self, input):
        unbatched = input.ndim == self.spatial + 1
        if input.ndim not in (self.spatial + 1, self.spatial + 2):
            raise ValueError(f"expected {self.spatial + 1}D or {self.spatial + 2}D input (got {input.ndim}D input)")
        x = input.unsqueeze(0) if unbatched else input
        use_input_stats = self.training or not self.track_running_stats
        y = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                          self.momentum, self.eps)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs (see ``F.instance_norm``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.InstanceNorm1d(3)(md.randn(2, 3, 8)).shape
    minidl.Size([2, 3, 8])
    """


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs (see ``F.instance_norm``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
    InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    """

    spatial = 2


class RMSNorm(Module):
    """RMS normalisation as a layer with an elementwise weight (ones) (see ``F.rms_norm``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.RMSNorm(2)(md.tensor([[3.0, 4.0]]))
    tensor([[0.8485, 1.1314]], grad_fn=<RMSNormBackward>)
    """

    def __init__(self, normalized_shape, eps: float = None, elementwise_affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                                 else tuple(normalized_shape))
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Parameter(ones(*self.normalized_shape, dtype=dtype)) if elementwise_affine else None

    def forward(self, input):
        return rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
