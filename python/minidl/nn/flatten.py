"""``nn.Flatten`` and ``nn.Unflatten``: reshapes as modules (views when the input allows).

A CNN ends in feature maps (N, C, H, W) but a classifier head is a Linear layer on vectors:
``nn.Flatten()`` turns each sample into one vector of C*H*W features, keeping the batch dim.
``nn.Unflatten`` is the inverse. Neither moves data when the input is contiguous (the
result is a view) and the gradient is the same reshape backwards. No C++ of its own: the
reshape lives in ``minidl/ops/shape.py``.
"""
from __future__ import annotations

from ..ops.shape import flatten, unflatten
from .module import Module


class Flatten(Module):
    """Flattens dims ``start_dim``..``end_dim`` (inclusive) into one; the default keeps the
    batch dim and flattens the rest.

    Shapes: input (N, d1, ..., dk) -> output (N, d1 * ... * dk) for the defaults
    (start_dim=1, end_dim=-1); in general the dims start_dim..end_dim are replaced by their
    product. No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> flat = nn.Flatten()
    >>> flat
    Flatten(start_dim=1, end_dim=-1)
    >>> flat(md.zeros(2, 3, 4, 5)).shape
    minidl.Size([2, 60])
    >>> nn.Flatten(0, 2)(md.zeros(2, 3, 4, 5)).shape
    minidl.Size([24, 5])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim ``dim`` into the shape ``unflattened_size`` (the inverse of Flatten).

    Shapes: input (*, d, *) with d = prod(unflattened_size) at position ``dim`` ->
    output (*, *unflattened_size, *). No parameters. (minidl's repr does not list the
    arguments, PyTorch's does.)

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Unflatten(1, (2, 5))(md.zeros(3, 10)).shape
    minidl.Size([3, 2, 5])
    >>> nn.Unflatten(1, (1, 2))(md.tensor([[1.0, 2.0]]))
    tensor([[[1.0000, 2.0000]]])
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input):
        return unflatten(input, self.dim, self.unflattened_size)



class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups (ShuffleNet, Zhang et al., 2018).

    (N, C, *) -> view (N, g, C/g, *) -> swap the two group dims -> (N, C, *): after a grouped
    convolution, the next one sees channels from every group. Backward by autograd (the
    inverse permutation).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ChannelShuffle(2)(md.arange(6.).reshape(1, 6, 1, 1)).flatten().tolist()
    [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        n, c = input.shape[0], input.shape[1]
        if self.groups <= 0 or c % self.groups:
            raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and "
                               f"{self.groups} groups.")
        # --8<-- [start:channel_shuffle]
        rest = tuple(input.shape[2:])
        grouped = input.reshape((n, self.groups, c // self.groups) + rest)
        return grouped.transpose(1, 2).reshape((n, c) + rest)
        # --8<-- [end:channel_shuffle]

    def extra_repr(self):
        return f"groups={self.groups}"
