"""Batch normalization (Ioffe & Szegedy, 2015): ``F.batch_norm``, ``BatchNorm1d``,
``BatchNorm2d`` and the backward node.

Each channel is normalised with the mean and variance of the current mini-batch, then scaled
and shifted by learned per-channel parameters. It lets deep CNNs train with larger learning
rates; because a sample's output depends on the rest of its batch, evaluation uses running
averages of the statistics instead, gathered during training.

Per channel c, over the M = N * (spatial size) values of that channel:
    training:  mean, var = batch mean and biased variance,
               running <- (1 - momentum) running + momentum * (mean, var * M / (M - 1))
    eval:      mean, var = running_mean, running_var
    y = (x - mean) / sqrt(var + eps) * weight + bias
Backward with batch statistics (xhat = (x - mean) invstd):
    dx = invstd w (dy - mean(dy) - xhat mean(dy xhat)),  dweight = sum(dy xhat),  dbias = sum(dy).
(With running statistics, in eval mode, mean and var are constants: dx = invstd w dy.)

Where the C++ lives: cpp/ops/batchnorm/batchnorm.cpp holds the reference forward and backward
side by side and the dispatch; cpp/ops/batchnorm/batchnorm_simd.cpp the float32 streaming
reductions and pointwise maps per ISA. One fused kernel per direction; channel sums are kept
in double. A bfloat16/float16 input (BatchNorm2d after a convolution under autocast) keeps its
dtype, with float32 weight, bias and statistics, as in PyTorch: cpp/ops/batchnorm/batchnorm_lowp.cpp
widens one channel at a time into a float32 buffer, runs the float32 kernel on it and rounds
the output once.

A ReLU right after a BatchNorm (ResNet's bn -> relu) has its backward fused into this one:
the engine's peephole (graph/engine.py ``fused_with_producer``) hands the ReLU's output
gradient to ``BatchNormBackward.apply_through_relu``, whose kernel recomputes the mask y > 0
from x (docs/concepts/batchnorm.md lists when it fuses and when the two nodes run).
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import _C
from ..graph import version
from ..graph.node import Node
from ..graph.version import epoch as _epoch
from ..ops import array as A
from ..ops.higher_order import recomputed_grads
from ..ops._graph import result, saved_input
from ..dtypes import int64
from ..ops.creation import ones, tensor, zeros
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


# --8<-- [start:bn_node]
class BatchNormBackward(Node):
    __slots__ = ()

    def apply(self, g, relu_affine=None):
        x, w, mean, invstd, use_batch_stats, dtypes = self.get_saved()[:6]
        if g.dtype != x.dtype:
            g = A.cast(g, x.dtype)
        gx, gw, gb = _C.batch_norm_backward(g, x, w, mean, invstd, use_batch_stats, self.next[0] is not None,
                                            self.next[1] is not None, self.next[2] is not None, relu_affine)
        out = []
        for grad, dt in zip((gx, gw, gb), dtypes):
            out.append(A.cast(grad, dt) if grad is not None and grad.dtype != dt else grad)
        return tuple(out)
# --8<-- [end:bn_node]

    # --8<-- [start:bn_relu_fused]
    def apply_through_relu(self, g, relu_saved, relu_write=None):
        """The gradients of relu(batch_norm(x)) for the ReLU's output gradient ``g``, in one
        kernel (the engine's peephole, graph/engine.py ``fused_with_producer``), or None when
        this BatchNorm cannot stand for that ReLU. The kernel recomputes the ReLU's mask
        y > 0 from x with the forward's own arithmetic (the forward's ``affine`` record:
        cpp/ops/batchnorm/batchnorm.h), so the ReLU must have read this BatchNorm's output as
        the forward wrote it: ``relu_saved`` (the array the ReLU saved) is that output array,
        and no write to it since the forward but the in-place ReLU's own (``relu_write``: that
        write's epoch, None for an out-of-place ReLU). Any float dtype: for a bfloat16 or
        float16 input the kernel passes y > the largest float its rounding took to 0, since the
        ReLU saw the rounded y (BF16 autocast: 6 ms of a 110 ms ResNet-20 step). Saves the
        ReLU's pass over memory: on ResNet-20's (64, 16, 32, 32) BatchNorm the ReLU backward
        is 0.5-0.8 ms of the pair's 1.1-2.3 ms (Xeon, AVX-512, 1 thread)."""
        saved = self.saved
        affine, output = saved[7], saved[8]
        if affine is None or output() is not relu_saved or g.dtype != relu_saved.dtype:
            return None
        if self.epoch != _epoch[0]:
            writes = version.writes_after(relu_saved, self.epoch)
            if writes is None or any(w != relu_write for w in writes):
                return None  # written in place (under no_grad) before the ReLU read it
        return self.apply(g, affine)
    # --8<-- [end:bn_relu_fused]

    def apply_differentiable(self, g):
        """Training: y = (x - mean_c) / sqrt(var_c + eps) w_c + b_c with the batch statistics
        recomputed (they depend on x); evaluation: the running statistics, constants.
        Differentiated with create_graph=True."""
        x, w, mean, invstd, use_batch_stats, dtypes, eps = self.get_saved()[:7]
        C = x.shape[1]
        per_channel = (1, C) + (1,) * (x.ndim - 2)
        X = saved_input(self, 0, x)
        W = saved_input(self, 1, w) if w is not None else None
        B = saved_input(self, 2, A.zeros((C,), x.dtype)) if self.next[2] is not None else None
        dims = (0,) + tuple(range(2, x.ndim))

        def norm(X, W, B):
            if use_batch_stats:
                centered = X - X.mean(dims, keepdim=True)
                y = centered * ((centered * centered).mean(dims, keepdim=True) + eps) ** -0.5
            else:
                y = (X - Tensor._wrap(mean.reshape(per_channel))) * Tensor._wrap(invstd.reshape(per_channel))
            if W is not None:
                y = y * W.reshape(per_channel)
            return y + B.reshape(per_channel) if B is not None else y

        return recomputed_grads((X, W, B), norm, g)


def _compute_dtype(d: np.ndarray):
    return np.dtype(np.float32) if A.is_low(d) else d.dtype


def _as_compute(t, dtype):
    """The data of tensor t (or None) in the compute dtype."""
    if t is None:
        return None
    d = t._data
    return d if d.dtype == dtype else A.cast(d, dtype)


def _running_arg(t, dtype):
    """(array the kernel may update in place, original array to copy back into or None)."""
    if t is None:
        return None, None
    d = t._data
    if d.dtype == dtype and d.flags.c_contiguous and d.flags.writeable:
        return d, None
    return np.array(A.cast(d, dtype) if d.dtype != dtype else d, copy=True, order="C"), d


def _copy_back(t, tmp, orig):
    if orig is None:
        return
    new = A.cast(tmp, orig.dtype) if tmp.dtype != orig.dtype else tmp
    if orig.flags.writeable:
        _C.copy_(orig, new.reshape(orig.shape))
    else:
        t._data = new.reshape(orig.shape)


def batch_norm(input: Tensor, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization of (N, C, *) ``input`` per channel C:
    y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c.

    With ``training=True`` mean_c and var_c are the batch mean and biased variance over the
    N * (spatial) values of channel c, and ``running_mean``/``running_var`` (if given) are
    updated in place: running = (1 - momentum) running + momentum * batch statistic, with
    the unbiased variance. Otherwise the running statistics are used (they must be given).
    Shapes: input (N, C) or (N, C, L) or (N, C, H, W) -> the same shape; running_mean,
    running_var, weight, bias: (C,) or None. Training needs more than one value per channel.
    Note the default ``training=False``, as in PyTorch.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[1.0, 2.0], [3.0, 6.0]])            # N = 2 samples, C = 2 channels
    >>> running_mean, running_var = md.zeros(2), md.ones(2)
    >>> F.batch_norm(x, running_mean, running_var, training=True)
    tensor([[-1.0000, -1.0000],
            [ 1.0000,  1.0000]])
    >>> running_mean, running_var     # 0.9 * old + 0.1 * (batch mean, unbiased batch var)
    (tensor([0.2000, 0.4000]), tensor([1.1000, 1.7000]))
    >>> F.batch_norm(x, running_mean, running_var)          # eval: the running statistics
    tensor([[0.7628, 1.2271],
            [2.6697, 4.2950]])
    """
    d = input._data
    if d.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got input of shape {list(d.shape)}")
    if d.dtype.kind in "biu":
        raise RuntimeError(f"batch_norm: expected a floating point input, got {input.dtype}")
    C = d.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.numel() != C:
            raise RuntimeError(f"{name} should contain {C} elements not {t.numel()} "
                               f"(input of shape {list(d.shape)} has {C} channels)")
    if training:
        per_channel = d.size // C if C else 0
        if per_channel <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(d.shape)}")
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be given when training=False")
    # --8<-- [start:bn_call]
    cdt = _compute_dtype(d)
    # a 16-bit input goes to the kernel as it is (per channel widened there, in cache:
    # cpp/ops/batchnorm/batchnorm_lowp.cpp), with float32 parameters and statistics, and the
    # output comes back in the input's dtype; the backward then reads the 16-bit input too
    x = d
    w = _as_compute(weight, cdt)
    b = _as_compute(bias, cdt)
    rm, rm_orig = _running_arg(running_mean, cdt)
    rv, rv_orig = _running_arg(running_var, cdt)
    y, mean, invstd, affine = _C.batch_norm(x, w, b, rm, rv, bool(training),
                                            float(momentum if momentum is not None else 0.0), float(eps))
    _copy_back(running_mean, rm, rm_orig)
    _copy_back(running_var, rv, rv_orig)
    dtypes = (d.dtype, weight._data.dtype if weight is not None else None, bias._data.dtype if bias is not None else None)
    # affine and a weak reference to y: for the backward fused with a following ReLU
    # (BatchNormBackward.apply_through_relu); y itself is not kept alive by this node
    return result(y, BatchNormBackward, (input, weight, bias),
                  (x, w, mean, invstd, bool(training), dtypes, float(eps), affine, weakref.ref(y)))
    # --8<-- [end:bn_call]


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: PyTorch's constructor, parameters, buffers and forward."""

    _expected = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype))
            self.bias = Parameter(zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            self.weight._data[...] = 1
            self.bias._data[...] = 0

    def _check_input_dim(self, input):
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"{type(self).__name__}: expected input with {self.num_features} channels "
                               f"(num_features), got input of shape {list(input.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._data[...] = self.num_batches_tracked._data + 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked._data)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if use_running else None,
                          self.running_var if use_running else None, self.weight, self.bias, bn_training, factor,
                          self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input, statistics per channel C (over N, or N
    and L): y = (x - mean) / sqrt(var + eps) * weight + bias (see :func:`batch_norm`).

    Shapes: input (N, C) or (N, C, L) -> the same shape, C = ``num_features``. Parameters
    (``affine=True``): ``weight`` (C,) = 1 and ``bias`` (C,) = 0. Buffers
    (``track_running_stats=True``): ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1,
    ``num_batches_tracked`` (). In training mode each call normalises with the batch
    statistics and updates the buffers with ``momentum`` (None: a cumulative average); in
    eval mode it uses the buffers.

    >>> import minidl as md
    >>> from minidl import nn
    >>> bn = nn.BatchNorm1d(2)
    >>> bn
    BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    >>> x = md.tensor([[1.0, 2.0], [3.0, 6.0]])
    >>> bn(x)
    tensor([[-1.0000, -1.0000],
            [ 1.0000,  1.0000]], grad_fn=<BatchNormBackward>)
    >>> bn.running_mean, bn.running_var, bn.num_batches_tracked
    (tensor([0.2000, 0.4000]), tensor([1.1000, 1.7000]), tensor(1))
    >>> _ = bn.eval()
    >>> bn(x)
    tensor([[0.7628, 1.2271],
            [2.6697, 4.2950]], grad_fn=<BatchNormBackward>)
    """

    def _check_input_dim(self, input):
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input of shape {list(input.shape)})")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, statistics per channel C over N, H and W:
    y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c (see :func:`batch_norm`).

    The normalisation of a CNN: placed after a convolution, before its activation. Shapes:
    input (N, C, H, W) -> the same shape, C = ``num_features``. Parameters and buffers as in
    ``BatchNorm1d``: ``weight``, ``bias``, ``running_mean``, ``running_var`` (C,) and
    ``num_batches_tracked``.

    >>> import minidl as md
    >>> from minidl import nn
    >>> bn = nn.BatchNorm2d(3)
    >>> y = bn(md.randn(4, 3, 5, 5))
    >>> y.shape
    minidl.Size([4, 3, 5, 5])
    >>> bool(y.mean(dim=(0, 2, 3)).abs().max() < 1e-5)     # each channel now has mean 0
    True
    """

    def _check_input_dim(self, input):
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input of shape {list(input.shape)})")
