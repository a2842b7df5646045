"""im2col and col2im: ``F.unfold`` / ``F.fold`` and ``nn.Unfold`` / ``nn.Fold``.

``unfold`` cuts every kernel-sized patch out of an image and lays each patch out as a column:

    (N, C, H, W) -> (N, C kH kW, L),   L = number of patch positions = OH OW,
    OH = (H + 2 padding - dilation (kH - 1) - 1) // stride + 1   (OW likewise)

after which a convolution is one matrix product: weight (K, C kH kW) @ columns (C kH kW, L)
-> (K, L), then reshape to (K, OH, OW). That is how minidl's and most libraries' convolutions
run on a GEMM (cpp/ops/conv/conv_im2col.h). ``fold`` is the adjoint: it puts each column
back at its patch position and adds where patches overlap, so fold(unfold(x)) multiplies
each pixel by the number of patches that contain it.

Both run on the convolution's own im2col / col2im (cpp/ops/conv/conv_im2col.h, vectorized in
conv_simd.cpp; the whole-image entry points conv2d_unfold / conv2d_fold in conv.cpp), one
(image, channel) plane per task, and each is the other's backward.
"""
from __future__ import annotations

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result
from ..tensor import Tensor
from .module import Module


# --8<-- [start:fold_adjoints]
class UnfoldBackward(Node):
    __slots__ = ()

    def apply(self, g):   # the adjoint of im2col is col2im
        image_size, k, d, p, s = self.get_saved()
        return (_C.fold(g, image_size, k, s, p, d),)

    def apply_differentiable(self, g):  # (create_graph=True: the same, as a recorded op)
        image_size, k, d, p, s = self.get_saved()
        return (fold(g, image_size, k, d, p, s),)


class FoldBackward(Node):
    __slots__ = ()

    def apply(self, g):   # and the adjoint of col2im is im2col
        k, d, p, s = self.get_saved()
        return (_C.unfold(g, k, s, p, d),)

    def apply_differentiable(self, g):
        k, d, p, s = self.get_saved()
        return (unfold(g, k, d, p, s),)
# --8<-- [end:fold_adjoints]


def _pairs(name: str, **args):
    out = []
    for what, v in args.items():
        t = (v, v) if isinstance(v, int) else tuple(v)
        if len(t) != 2 or any(not isinstance(a, int) for a in t):
            raise ValueError(f"{name}: {what} must be an int or a pair of ints, got {v}")
        if what == "padding" and min(t) < 0 or what != "padding" and min(t) <= 0:
            raise ValueError(f"{name}: {what} must be {'non-negative' if what == 'padding' else 'positive'}, got {v}")
        out.append(t)
    return out


def _blocks(h: int, w: int, k, d, p, s):
    """(OH, OW), the number of patch positions along each axis; PyTorch's error if none fit."""
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"Given input with spatial size ({h}, {w}), kernel_size={list(k)}, dilation={list(d)}, "
                           f"padding={list(p)}, calculated shape of the array of sliding blocks as ({oh}, {ow}), "
                           "but its components must be at least one.")
    return oh, ow


def _is_16bit(t: Tensor, name: str) -> bool:
    """True for float16 / bfloat16, which are unfolded / folded in float32 (the kernels take
    float32 and float64); TypeError for an integer or bool tensor."""
    if not t.dtype.is_floating_point:
        raise TypeError(f"{name}: expected a floating point input, got {t.dtype}")
    return A.is_low(t._data)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: every (kH, kW) patch of the zero-padded input as a column.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C kH kW, L) or (C kH kW, L); the channel dim is
    ordered (c, i, j), c slowest, as PyTorch's.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.unfold(md.arange(9.0).reshape(1, 1, 3, 3), 2)      # 4 patches of 2 x 2, one per column
    tensor([[[0.0000, 1.0000, 3.0000, 4.0000],
             [1.0000, 2.0000, 4.0000, 5.0000],
             [3.0000, 4.0000, 6.0000, 7.0000],
             [4.0000, 5.0000, 7.0000, 8.0000]]])
    """
    k, d, p, s = _pairs("unfold", kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)")
    if _is_16bit(input, "unfold"):
        return unfold(input.float(), k, d, p, s).to(input.dtype)
    x = input if input.ndim == 4 else input.unsqueeze(0)
    _blocks(x.shape[2], x.shape[3], k, d, p, s)
    cols = result(_C.unfold(x._data, k, s, p, d), UnfoldBackward, (x,), (tuple(x.shape[2:]), k, d, p, s))
    return cols if input.ndim == 4 else cols.squeeze(0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im: add each column back at its patch position (the adjoint of :func:`unfold`).

    Shapes: (N, C kH kW, L) or (C kH kW, L) -> (N, C, H, W) or (C, H, W), (H, W) = output_size;
    L must be the number of patch positions of that geometry.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.fold(F.unfold(md.ones(1, 1, 3, 3), 2), (3, 3), 2)  # how many 2 x 2 patches hold each pixel
    tensor([[[[1.0000, 2.0000, 1.0000],
              [2.0000, 4.0000, 2.0000],
              [1.0000, 2.0000, 1.0000]]]])
    """
    (h, w), k, d, p, s = _pairs("fold", output_size=output_size, kernel_size=kernel_size, dilation=dilation,
                                padding=padding, stride=stride)
    if input.ndim not in (2, 3):
        raise NotImplementedError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                                  f"(got {input.ndim}D)")
    if _is_16bit(input, "fold"):
        return fold(input.float(), (h, w), k, d, p, s).to(input.dtype)
    x = input if input.ndim == 3 else input.unsqueeze(0)
    n, ckk, length = x.shape
    if ckk % (k[0] * k[1]):
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                           f"got input.size(1)={ckk} and kernel_size={tuple(k)}")
    oh, ow = _blocks(h, w, k, d, p, s)
    if length != oh * ow:
        raise RuntimeError(f"Given output_size=({h}, {w}), kernel_size={tuple(k)}, dilation={tuple(d)}, "
                           f"padding={tuple(p)}, stride={tuple(s)}, expected size of input's dimension 2 to match the "
                           f"calculated number of sliding blocks {oh} * {ow} = {oh * ow}, but got input.size(2)={length}.")
    out = result(_C.fold(x._data, (h, w), k, s, p, d), FoldBackward, (x,), (k, d, p, s))
    return out if input.ndim == 3 else out.squeeze(0)


class Unfold(Module):
    """``F.unfold`` as a layer.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Unfold(kernel_size=(2, 3))(md.zeros(2, 5, 3, 4)).shape     # 5*2*3 rows, 2*2 patches
    minidl.Size([2, 30, 4])
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"


class Fold(Module):
    """``F.fold`` as a layer.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Fold(output_size=(4, 5), kernel_size=(2, 2))(md.zeros(1, 3 * 4, 12)).shape
    minidl.Size([1, 3, 4, 5])
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
