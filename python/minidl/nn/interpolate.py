"""Resampling: ``F.interpolate`` (and its deprecated aliases ``F.upsample``,
``F.upsample_nearest``, ``F.upsample_bilinear``), ``nn.Upsample``, ``nn.UpsamplingNearest2d``,
``nn.UpsamplingBilinear2d``.

Interpolation resizes a feature map: the decoder of a U-Net or an FPN upsamples coarse
features back to the resolution of the skip connection; an image pipeline resizes to the
network's input size. Each output position o of a spatial dim of size in -> out reads the
input at the source coordinate r (PyTorch's formulas, ``ATen/native/UpSample.h``):

    align_corners=False:  r = s (o + 0.5) - 0.5      (pixel centres line up; s = in / out,
                                                      or 1 / scale_factor when that was given)
    align_corners=True:   r = o (in - 1) / (out - 1)  (the corner pixels line up)

    nearest        x[min(floor(o s), in - 1)]            (the legacy rule, s in float32)
    nearest-exact  x[min(floor((o + 0.5) s), in - 1)]    (rounds to the nearest centre)
    linear         (1 - t) x[i] + t x[i + 1],  i = floor(r), t = r - i
    cubic          4 taps x[i - 1 .. i + 2] (clamped to the border) with Keys' weights, A = -0.75

and the 2-D / 3-D modes multiply the 1-D weights of each dim (bilinear: 4 taps, bicubic: 16,
trilinear: 8). The backward sends each output's gradient back to the taps it read, with
the same weights.

Where the C++ lives: cpp/ops/interpolate/interpolate.cpp builds the per-dim index / weight
tables once per call and holds the reference loops (forward and backward side by side,
parallel over the N*C planes); interpolate_simd.cpp the float32 planes as separable passes.
"""
from __future__ import annotations

import numbers
import warnings

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result
from ..tensor import Tensor
from .adaptive_pool import adaptive_avg_pool1d
from .module import Module
from .pooling import adaptive_avg_pool2d

# mode -> (kernel mode, the one input rank it takes or None for any of 3, 4, 5)
_KERNEL_MODES = {
    "nearest": (_C.InterpMode.nearest, None),
    "nearest-exact": (_C.InterpMode.nearest_exact, None),
    "linear": (_C.InterpMode.linear, 3),
    "bilinear": (_C.InterpMode.linear, 4),
    "trilinear": (_C.InterpMode.linear, 5),
    "bicubic": (_C.InterpMode.cubic, 4),
}
_MODE_NEEDS = {"linear": "3D", "bilinear": "4D", "trilinear": "5D"}


class InterpolateBackward(Node):
    """gx = the adjoint of the interpolation: each output's gradient to the taps it read."""
    __slots__ = ()

    def apply(self, g):
        in_shape, scales, mode, align_corners, antialias, dtype = self.get_saved()
        g = A.to_f32(g) if A.is_low(g) else g
        gx = _C.interpolate_backward(g, list(in_shape), scales, mode, align_corners, antialias)
        return (A.cast(gx, dtype) if gx.dtype != dtype else gx,)


def _output_and_scales(input: Tensor, size, scale_factor, recompute_scale_factor):
    """PyTorch's argument rules: (output sizes, the scale factors the kernel uses or None)."""
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with spatial "
                    f"dimensions of {list(input.shape[2:])} and output size of {size}. Please provide input tensor in "
                    "(N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
            sizes = list(size)
        else:
            sizes = [size] * dim
        if not all(isinstance(s, numbers.Integral) for s in sizes):
            raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, int, int], "
                            f"but got size with types {[type(s) for s in sizes]}")
        sizes, scales = [int(s) for s in sizes], None
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {list(input.shape[2:])} and scale_factor of shape {scale_factor}. Please "
                    "provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) "
                    "format.")
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
        # the output size is floor(in * scale) (a C++ double-to-int64 conversion in PyTorch)
        sizes = [int(n * s) for n, s in zip(input.shape[2:], scales)]
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if recompute_scale_factor:
        scales = None  # the kernel then uses in / out, from the rounded output size
    return sizes, scales


def _check_sizes(input: Tensor, sizes):
    spatial = list(input.shape[2:])
    if any(n <= 0 for n in spatial) or any(o <= 0 for o in sizes):
        names = "DHW"[3 - len(spatial):]
        ins = ", ".join(f"{a}: {n}" for a, n in zip(names, spatial))
        outs = ", ".join(f"{a}: {n}" for a, n in zip(names, sizes))
        joint = " and output" if len(spatial) == 1 else " output"
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input ({ins}){joint} ({outs})")
    if input.shape[1] == 0:
        raise RuntimeError(f"Non-empty {input.ndim}D data tensor expected but got a tensor with sizes "
                           f"{list(input.shape)}")


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize ``input`` (N, C, [D], [H], W) to ``size`` or by ``scale_factor`` (one of the two;
    an int / float or one per spatial dim). Shapes: (N, C, *in) -> (N, C, *out) with
    out = size, or out = floor(in * scale_factor).

    Modes: ``"nearest"`` (PyTorch's legacy rule, index floor(o in / out)), ``"nearest-exact"``
    (rounds to the nearest pixel centre, as Pillow and scikit-image), ``"linear"`` (3-D input),
    ``"bilinear"`` and ``"bicubic"`` (4-D, bicubic with A = -0.75 and taps clamped at the border,
    so it can overshoot the input's range), ``"trilinear"`` (5-D), ``"area"`` (adaptive average
    pooling; 3-D and 4-D input here). ``align_corners`` (the interpolating modes only; default
    False) maps the corner pixels onto each other: r = o (in - 1) / (out - 1) instead of
    r = (o + 0.5) s - 0.5. When ``scale_factor`` is given and ``recompute_scale_factor`` is not
    True, s = 1 / scale_factor, not in / out (they differ when in * scale_factor is not whole);
    with ``recompute_scale_factor=True`` s = in / out.

    ``antialias=True`` (bilinear and bicubic, 4-D input) resamples as PIL does: when a dim
    shrinks by s > 1, the triangle (bilinear) or Keys cubic with A = -0.5 (bicubic) filter is
    stretched by s, so each output averages all the inputs under it instead of sampling 2 or 4
    of them (no aliasing); weights are normalised at the borders, and a dim that keeps its
    size is copied.

    Differentiable in ``input``. float16 / bfloat16 input is computed in float32 and rounded
    back. Where minidl differs: ``"area"`` on 5-D input and ``"lanczos"`` raise
    NotImplementedError; and the backward is always the exact adjoint of the forward, where
    PyTorch's backward is not in two corners (a scale_factor that leaves the size unchanged, or
    doubles it, for 1-D / 3-D nearest and for bicubic: PyTorch's backward copies or halves
    indices there, its forward does not).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[[1.0, 2.0, 4.0]]])
    >>> F.interpolate(x, scale_factor=2)
    tensor([[[1.0000, 1.0000, 2.0000, 2.0000, 4.0000, 4.0000]]])
    >>> F.interpolate(x, size=5, mode="linear", align_corners=True)
    tensor([[[1.0000, 1.5000, 2.0000, 3.0000, 4.0000]]])
    >>> F.interpolate(md.tensor([[[[0.0, 1.0], [2.0, 3.0]]]]), size=(3, 3), mode="bilinear")
    tensor([[[[0.0000, 0.5000, 1.0000],
              [1.0000, 1.5000, 2.0000],
              [2.0000, 2.5000, 3.0000]]]])
    >>> row = md.arange(8.0).reshape(1, 1, 1, 8)       # shrink 8 -> 2: bilinear reads 2 pixels,
    >>> F.interpolate(row, size=(1, 2), mode="bilinear")   # antialias weighs the 6 under each output
    tensor([[[[1.5000, 5.5000]]]])
    >>> F.interpolate(row, size=(1, 2), mode="bilinear", antialias=True)
    tensor([[[[1.8929, 5.1071]]]])
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    sizes, scales = _output_and_scales(input, size, scale_factor, recompute_scale_factor)
    if mode == "area" and scales is not None:  # area needs a size: PyTorch recomputes it
        scales = None
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a "
                         "4-D tensor as input")
    if mode == "lanczos" and input.ndim == 4:
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    if antialias and mode == "lanczos":
        raise NotImplementedError("interpolate: mode 'lanczos' is not implemented in minidl; use 'bicubic' with "
                                  "antialias=True")
    if mode == "area" and input.ndim in (3, 4, 5):
        if input.ndim == 5:
            raise NotImplementedError("interpolate: mode 'area' on 5-D input (adaptive_avg_pool3d) is not "
                                      "implemented in minidl")
        pool = adaptive_avg_pool1d if input.ndim == 3 else adaptive_avg_pool2d
        return pool(input, sizes[0] if input.ndim == 3 else tuple(sizes))
    kernel_mode, rank = _KERNEL_MODES.get(mode, (None, -1))
    if rank is not None and input.ndim != rank and input.ndim in (3, 4, 5) and mode in _MODE_NEEDS:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_MODE_NEEDS[mode]} input")
    if kernel_mode is None or input.ndim not in (3, 4, 5) or (rank is not None and input.ndim != rank):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: nearest | "
            f"linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {mode})")
    # --8<-- [start:interpolate_call]
    _check_sizes(input, sizes)
    d = input._data
    if d.dtype.kind in "biu":
        raise NotImplementedError(f"interpolate: mode {mode!r} is not implemented for {input.dtype} input; convert "
                                  "it with .float() first")
    low = A.is_low(d)
    if low:
        d = A.to_f32(d)
    kernel_scales = [0.0] * len(sizes) if scales is None else scales
    y = _C.interpolate(d, sizes, kernel_scales, kernel_mode, bool(align_corners), bool(antialias))
    dtype = input._data.dtype
    if low:
        y = A.cast(y, dtype)
    return result(y, InterpolateBackward, (input,),
                  (tuple(input.shape), kernel_scales, kernel_mode, bool(align_corners), bool(antialias), dtype))
    # --8<-- [end:interpolate_call]


def _deprecated(name: str):
    # PyTorch warns with a UserWarning (its comment: "DeprecationWarning is ignored by default")
    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=3)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Deprecated alias of :func:`interpolate` (same arguments but ``recompute_scale_factor`` and
    ``antialias``); warns, as PyTorch does.

    >>> import warnings
    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     F.upsample(md.tensor([[[1.0, 3.0]]]), size=3, mode="linear", align_corners=True)
    tensor([[[1.0000, 2.0000, 3.0000]]])
    """
    _deprecated("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated: ``interpolate(input, size, scale_factor, mode="nearest")``; warns.

    >>> import warnings
    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     F.upsample_nearest(md.tensor([[[1.0, 3.0]]]), scale_factor=2)
    tensor([[[1.0000, 1.0000, 3.0000, 3.0000]]])
    """
    _deprecated("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated: ``interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)``;
    warns. Input (N, C, H, W).

    >>> import warnings
    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     F.upsample_bilinear(md.tensor([[[[0.0, 2.0]]]]), size=(1, 3))
    tensor([[[[0.0000, 1.0000, 2.0000]]]])
    """
    _deprecated("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


class Upsample(Module):
    """Resampling as a layer: ``F.interpolate(input, size, scale_factor, mode, align_corners,
    recompute_scale_factor=recompute_scale_factor)``. Shapes: (N, C, [D], [H], W) ->
    (N, C, [D_out], [H_out], W_out), D_out = size or floor(D * scale_factor). No parameters.

    >>> import minidl as md
    >>> from minidl import nn
    >>> up = nn.Upsample(scale_factor=2, mode="bilinear")
    >>> up
    Upsample(scale_factor=2.0, mode='bilinear')
    >>> up(md.zeros(1, 3, 4, 5)).shape
    minidl.Size([1, 3, 8, 10])
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """2-D nearest-neighbour upsampling: ``Upsample(size, scale_factor, mode="nearest")``.

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.UpsamplingNearest2d(scale_factor=2)(md.tensor([[[[1.0, 2.0]]]]))
    tensor([[[[1.0000, 1.0000, 2.0000, 2.0000],
              [1.0000, 1.0000, 2.0000, 2.0000]]]])
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """2-D bilinear upsampling with the corners aligned: ``Upsample(size, scale_factor,
    mode="bilinear", align_corners=True)`` (what this PyTorch layer has always done).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.UpsamplingBilinear2d(size=(1, 3))(md.tensor([[[[0.0, 2.0]]]]))
    tensor([[[[0.0000, 1.0000, 2.0000]]]])
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
