"""Sub-pixel convolution's rearrangement (Shi et al., 2016): ``F.pixel_shuffle`` /
``F.pixel_unshuffle`` and ``nn.PixelShuffle`` / ``nn.PixelUnshuffle``.

    pixel_shuffle(r):    (*, C r^2, H, W) -> (*, C, H r, W r)
    pixel_unshuffle(r):  (*, C, H r, W r) -> (*, C r^2, H, W)

An upsampling layer for super-resolution: a convolution produces r^2 channels per output
channel at low resolution, and the shuffle lays them out as an r x r block of pixels, which
avoids the checkerboard artefacts of transposed convolution. Pure data movement (reshape,
permute, reshape), so the backward is the inverse rearrangement, done by autograd.
"""
from __future__ import annotations

from ..tensor import Tensor
from .module import Module


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.pixel_shuffle(md.arange(4.).reshape(1, 4, 1, 1), 2)
    tensor([[[[0.0000, 1.0000],
              [2.0000, 3.0000]]]])
    """
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if r <= 0 or c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    k = len(lead)
    # --8<-- [start:pixel_shuffle_permute]
    x = input.reshape(tuple(lead) + (c // (r * r), r, r, h, w))
    x = x.permute(tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))  # (*, C, H, r, W, r)
    return x.reshape(tuple(lead) + (c // (r * r), h * r, w * r))
    # --8<-- [end:pixel_shuffle_permute]


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of :func:`pixel_shuffle`.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.pixel_unshuffle(md.arange(4.).reshape(1, 1, 2, 2), 2).flatten()
    tensor([0.0000, 1.0000, 2.0000, 3.0000])
    """
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if r <= 0 or h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by downscale_factor, but "
                           f"got input of size {list(input.shape)} and downscale_factor={r}")
    k = len(lead)
    x = input.reshape(tuple(lead) + (c, h // r, r, w // r, r))
    x = x.permute(tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))  # (*, C, r, r, H, W)
    return x.reshape(tuple(lead) + (c * r * r, h // r, w // r))


class PixelShuffle(Module):
    """``F.pixel_shuffle`` as a layer.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.PixelShuffle(3)(md.zeros(1, 18, 4, 4)).shape
    minidl.Size([1, 2, 12, 12])
    """

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``F.pixel_unshuffle`` as a layer.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.PixelUnshuffle(2)(md.zeros(1, 2, 4, 6)).shape
    minidl.Size([1, 8, 2, 3])
    """

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
