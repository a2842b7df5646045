"""Max unpooling: ``F.max_unpool1d/2d`` and ``nn.MaxUnpool1d/2d``, the inverse of max pooling
with ``return_indices=True`` (SegNet's decoder): each max goes back to the position it came
from, every other position is 0. A recorded setitem of the values at their indices, so the
backward gathers the gradient back from those positions.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.creation import tensor, zeros
from ..tensor import Tensor
from .module import Module


def _unpool(input: Tensor, indices: Tensor, out_spatial, name: str) -> Tensor:
    k = len(out_spatial)
    if input.shape != indices.shape:
        raise RuntimeError(f"{name}: Expected shape of indices to be same as that of the input tensor "
                           f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}")
    if input.ndim not in (k + 1, k + 2):
        raise RuntimeError(f"{name}: Expected {k + 1}D or {k + 2}D input, got {list(input.shape)}")
    lead = tuple(input.shape[:-k])
    size = math.prod(out_spatial)
    flat_idx = indices.reshape(lead + (-1,))
    idx = flat_idx.numpy()
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise RuntimeError(f"{name}: Found an invalid max index: {int(idx.max() if idx.max() >= size else idx.min())} "
                           f"(output volumes are of size {' x '.join(map(str, out_spatial))})")
    out = zeros(lead + (size,), dtype=input.dtype)
    grid = np.meshgrid(*[np.arange(n) for n in lead], indexing="ij")  # every (n, c) plane
    key = tuple(tensor(g[..., None]) for g in grid) + (flat_idx,)
    out[key] = input.reshape(lead + (-1,))  # recorded by autograd: the gradient is gathered back
    return out.reshape(lead + tuple(out_spatial))


def _unpool_size(name, input, kernel_size, stride, padding, output_size, k):
    ks = (kernel_size,) * k if isinstance(kernel_size, int) else tuple(kernel_size)
    st = ks if stride is None else ((stride,) * k if isinstance(stride, int) else tuple(stride))
    pd = (padding,) * k if isinstance(padding, int) else tuple(padding)
    default = tuple((input.shape[-k + i] - 1) * st[i] - 2 * pd[i] + ks[i] for i in range(k))
    if output_size is None:
        return default
    out = tuple(output_size)[-k:]
    for i in range(k):
        lo, hi = default[i] - st[i], default[i] + st[i]
        if not lo < out[i] < hi:
            raise ValueError(f"{name}: invalid output_size {list(output_size)} (dim {i} must be between {lo + 1} "
                             f"and {hi - 1})")
    return out


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The inverse of ``max_pool1d(..., return_indices=True)``: each max goes back to its
    position, every other position is 0. Shapes: (N, C, L_in) -> (N, C, L_out) with
    L_out = (L_in - 1) stride - 2 padding + kernel_size (or ``output_size``).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> y, idx = F.max_pool1d(md.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2, return_indices=True)
    >>> F.max_unpool1d(y, idx, 2)
    tensor([[[0.0000, 3.0000, 2.0000, 0.0000]]])
    """
    size = _unpool_size("max_unpool1d", input, kernel_size, stride, padding, output_size, 1)
    return _unpool(input, indices, size, "max_unpool1d")


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The inverse of ``max_pool2d(..., return_indices=True)`` (SegNet's decoder): each max goes
    back to its flat position h W + w in its plane, the rest is 0. Shapes: (N, C, H_in, W_in)
    -> (N, C, H_out, W_out), H_out = (H_in - 1) stride - 2 padding + kernel (or ``output_size``).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> y, idx = F.max_pool2d(x, 2, return_indices=True)
    >>> F.max_unpool2d(y, idx, 2)
    tensor([[[[0.0000, 0.0000],
              [4.0000, 0.0000]]]])
    """
    size = _unpool_size("max_unpool2d", input, kernel_size, stride, padding, output_size, 2)
    return _unpool(input, indices, size, "max_unpool2d")


class MaxUnpool1d(Module):
    """``F.max_unpool1d`` as a layer.

    >>> import minidl as md
    >>> from minidl import nn
    >>> pool, unpool = nn.MaxPool1d(2, return_indices=True), nn.MaxUnpool1d(2)
    >>> unpool(*pool(md.tensor([[[1.0, 3.0, 2.0, 0.0]]])))
    tensor([[[0.0000, 3.0000, 2.0000, 0.0000]]])
    """

    fn = staticmethod(max_unpool1d)

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, input, indices, output_size=None):
        return self.fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool2d(MaxUnpool1d):
    """``F.max_unpool2d`` as a layer.

    >>> import minidl as md
    >>> from minidl import nn
    >>> pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    >>> unpool(*pool(md.arange(16.0).reshape(1, 1, 4, 4))).shape
    minidl.Size([1, 1, 4, 4])
    """

    fn = staticmethod(max_unpool2d)
