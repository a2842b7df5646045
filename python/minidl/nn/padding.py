"""``F.pad``: constant padding (negative pads crop), differentiable.

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
from ..ops.creation import full
from ..ops.shape import getitem
from ..tensor import Tensor


def pad(input: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Constant padding; ``pad`` lists (left, right) pairs starting from the last dim.

    ``pad = (l_last, r_last, l_prev, r_prev, ...)``: the first pair pads the last dim, the
    next pair the dim before it, and so on (at most ``input.ndim`` pairs). Shapes: each
    padded dim d of size n becomes n + left + right; the other dims are unchanged.
    Negative pads crop. ``value`` fills the border. Only ``mode="constant"`` is implemented
    (PyTorch also has "reflect", "replicate" and "circular": NotImplementedError here).
    Backward: the output gradient cropped to the input's region.

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
    """
    if mode != "constant":
        raise NotImplementedError(f"pad mode '{mode}' is not supported (only 'constant')")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError("Padding length must be divisible by 2 and at most twice the number of dims")
    shape = list(input.shape)
    key = [slice(None)] * input.ndim
    crop = [slice(None)] * input.ndim
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


class _PadBackward(Node):
    __slots__ = ()

    def apply(self, g):
        (key,) = self.get_saved()
        return (g[key],)


class _PadFunction:
    @staticmethod
    def apply(src: Tensor, out: np.ndarray, key):
        _C.copy_(out[key], src._data)
        return result(out, _PadBackward, (src,), (key,))

