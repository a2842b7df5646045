"""``F.pad`` (constant, reflect, replicate, circular) and the padding modules
(``nn.ZeroPad2d``, ``nn.ConstantPad1d``, ``nn.ReflectionPad2d``, ``nn.ReplicationPad1d``,
``nn.CircularPad2d``, ...), differentiable.

The other modes fill the border from the tensor itself, per padded dim of size n:

    reflect     mirror without repeating the edge:  [c b | a b c d | c b]   (pad < n)
    replicate   repeat the edge value:              [a a | a b c d | d d]
    circular    wrap around:                        [c d | a b c d | a b]   (pad <= n)

They are a gather along each padded dim (an index array per dim), so the backward is the
matching scatter-add: a border element's gradient flows back to the element it copies.

Padding surrounds a tensor with a constant border: for one dim of size n padded by
(left, right) the output has size n + left + right, the input sits at [left, left + n) and
the border holds ``value``. A negative pad crops instead. The gradient of padding is the
crop of the output gradient back to the input's place. Convolution and pooling pad
internally; ``F.pad`` is for the cases they do not cover (asymmetric or non-zero borders).

No C++ of its own: the copy into the padded buffer is the strided copy kernel of
cpp/ops/copy/copy.cpp.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..ops._graph import result
from ..ops.creation import full, tensor as md_tensor
from ..ops.subscript import getitem
from ..tensor import Tensor
from .module import Module


def pad(input: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Constant padding; ``pad`` lists (left, right) pairs starting from the last dim.

    ``pad = (l_last, r_last, l_prev, r_prev, ...)``: the first pair pads the last dim, the
    next pair the dim before it, and so on (at most ``input.ndim`` pairs). Shapes: each
    padded dim d of size n becomes n + left + right; the other dims are unchanged.
    Negative pads crop. ``value`` fills the border. ``mode="reflect"``, ``"replicate"`` and
    ``"circular"`` fill it from the tensor (see the module docstring); as in PyTorch they pad
    the last 1, 2 or 3 dims of a batched or unbatched input (2-4 dims for 1 pair, 3-5 for
    2 pairs, 4-5 for 3) with non-negative pads. Backward: the output gradient cropped to the
    input's region (constant), or scatter-added back to the elements it copies.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> F.pad(x, (1, 1))                      # last dim: one zero left and right
    tensor([[0.0000, 1.0000, 2.0000, 0.0000],
            [0.0000, 3.0000, 4.0000, 0.0000]])
    >>> F.pad(x, (0, 1, 1, 0), value=-1.0)    # last dim: 1 right; first dim: 1 on top
    tensor([[-1.0000, -1.0000, -1.0000],
            [ 1.0000,  2.0000, -1.0000],
            [ 3.0000,  4.0000, -1.0000]])
    >>> F.pad(md.tensor([1.0, 2.0, 3.0]), (-1, 0))   # a negative pad crops
    tensor([2.0000, 3.0000])
    >>> F.pad(md.tensor([[[1.0, 2.0, 3.0]]]), (2, 1), mode="reflect")
    tensor([[[3.0000, 2.0000, 1.0000, 2.0000, 3.0000, 2.0000]]])
    """
    if mode in ("reflect", "replicate", "circular"):
        return _pad_from_input(input, tuple(pad), mode)
    if mode != "constant":
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError("Padding length must be divisible by 2 and at most twice the number of dims")
    shape = list(input.shape)
    key = [slice(None)] * input.ndim
    crop = [slice(None)] * input.ndim
    # --8<-- [start:pad_constant]
    for i in range(len(pad) // 2):
        d = input.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = shape[d]
        shape[d] = n + lo + hi
        key[d] = slice(max(lo, 0), max(lo, 0) + n + min(lo, 0) + min(hi, 0))
        crop[d] = slice(-min(lo, 0), n + min(hi, 0))
    out = full(shape, value, dtype=input.dtype)
    src = getitem(input, tuple(crop))
    return _PadFunction.apply(src, out._data, tuple(key))
    # --8<-- [end:pad_constant]


# --8<-- [start:pad_source_index]
def _source_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each of the n + lo + hi output positions of one dim, the input position it copies."""
    j = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    if mode == "circular":
        return j % n
    period = 2 * (n - 1)  # reflect: ... c b | a b c d | c b ...
    j = np.abs(j) % period if period else np.zeros_like(j)
    return np.where(j >= n, period - j, j)
# --8<-- [end:pad_source_index]


def _pad_from_input(input: Tensor, pad, mode: str) -> Tensor:
    pairs = len(pad) // 2
    if len(pad) % 2 or not 1 <= pairs <= 3:
        raise ValueError(f"Padding length must be divisible by 2 and give 1 to 3 dims for mode {mode}, got {len(pad)}")
    if not pairs + 1 <= input.ndim <= pairs + 2:
        raise NotImplementedError(f"Only {pairs + 1}D or {pairs + 2}D inputs are supported for {pairs}-dim "
                                  f"{mode} padding (got {input.ndim}D)")
    out = input
    for i in range(pairs):
        d = input.ndim - 1 - i
        lo, hi, n = int(pad[2 * i]), int(pad[2 * i + 1]), input.shape[d]
        if lo < 0 or hi < 0:
            raise ValueError(f"{mode} padding: negative pads are not supported, got {pad}")
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({lo}, {hi}) at dimension {d} of input {list(input.shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError(f"Padding value causes wrapping around more than once: pad ({lo}, {hi}) on a dim "
                               f"of size {n}")
        if n == 0:
            raise RuntimeError(f"{mode} padding: dim {d} of input {list(input.shape)} is empty")
        if lo or hi:
            key = (slice(None),) * d + (md_tensor(_source_index(n, lo, hi, mode)),)
            out = getitem(out, key)
    return out


class _PadBackward(Node):
    __slots__ = ()

    def apply(self, g):
        (key,) = self.get_saved()
        return (g[key],)

    def apply_differentiable(self, g):  # the same window, read with a recorded getitem
        (key,) = self.get_saved()
        return (getitem(g, key),)


class _PadFunction:
    @staticmethod
    def apply(src: Tensor, out: np.ndarray, key):
        _C.copy_(out[key], src._data)
        return result(out, _PadBackward, (src,), (key,))



# --- the padding modules ------------------------------------------------------------------------
class _PadNd(Module):
    """A fixed ``F.pad``: ``padding`` is an int (the same on every side) or a tuple of
    2 x dims ints (left, right[, top, bottom]), as PyTorch's padding modules take it."""

    dims, mode = 1, "constant"

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        self.padding = (int(padding),) * (2 * self.dims) if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != 2 * self.dims:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.dims} ints, "
                             f"got {padding}")
        self.value = value

    def forward(self, input):
        return pad(input, self.padding, self.mode, self.value)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self.mode == "constant" else "")


class ConstantPad1d(_PadNd):
    """Pad the last dim with ``value``: (*, W) -> (*, W + left + right).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ConstantPad1d((1, 2), 9.0)(md.tensor([[1.0, 2.0]]))
    tensor([[9.0000, 1.0000, 2.0000, 9.0000, 9.0000]])
    """

    def __init__(self, padding, value: float):
        super().__init__(padding, value)


class ConstantPad2d(ConstantPad1d):
    """Pad the last two dims with ``value``: (*, H, W) -> (*, H + top + bottom, W + left + right).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ConstantPad2d(1, -1.0)(md.ones(1, 1, 1)).shape
    minidl.Size([1, 3, 3])
    """

    dims = 2


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros (``ConstantPad1d(padding, 0)``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ZeroPad1d(1)(md.tensor([[1.0, 2.0]]))
    tensor([[0.0000, 1.0000, 2.0000, 0.0000]])
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad2d(ZeroPad1d):
    """Pad the last two dims with zeros: (*, H, W) -> (*, H + top + bottom, W + left + right).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ZeroPad2d((1, 1, 0, 2))(md.ones(1, 2, 2)).shape
    minidl.Size([1, 4, 4])
    """

    dims = 2


class ReflectionPad1d(_PadNd):
    """Mirror the last dim without repeating the edge (pad < W): (N, C, W) or (C, W).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ReflectionPad1d(2)(md.tensor([[1.0, 2.0, 3.0]]))
    tensor([[3.0000, 2.0000, 1.0000, 2.0000, 3.0000, 2.0000, 1.0000]])
    """

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Mirror the last two dims: (N, C, H, W) or (C, H, W).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ReflectionPad2d(1)(md.arange(4.).reshape(1, 2, 2))
    tensor([[[3.0000, 2.0000, 3.0000, 2.0000],
             [1.0000, 0.0000, 1.0000, 0.0000],
             [3.0000, 2.0000, 3.0000, 2.0000],
             [1.0000, 0.0000, 1.0000, 0.0000]]])
    """

    dims = 2


class ReplicationPad1d(_PadNd):
    """Repeat the edge value of the last dim: (N, C, W) or (C, W).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ReplicationPad1d((2, 1))(md.tensor([[1.0, 2.0, 3.0]]))
    tensor([[1.0000, 1.0000, 1.0000, 2.0000, 3.0000, 3.0000]])
    """

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Repeat the edge values of the last two dims: (N, C, H, W) or (C, H, W).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.ReplicationPad2d(1)(md.ones(1, 2, 2)).shape
    minidl.Size([1, 4, 4])
    """

    dims = 2


class CircularPad1d(_PadNd):
    """Wrap the last dim around (pad <= W): (N, C, W) or (C, W).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.CircularPad1d(1)(md.tensor([[1.0, 2.0, 3.0]]))
    tensor([[3.0000, 1.0000, 2.0000, 3.0000, 1.0000]])
    """

    mode = "circular"


class CircularPad2d(CircularPad1d):
    """Wrap the last two dims around: (N, C, H, W) or (C, H, W).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.CircularPad2d(1)(md.ones(1, 2, 2)).shape
    minidl.Size([1, 4, 4])
    """

    dims = 2
