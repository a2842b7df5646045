"""``F.pad``: constant padding (negative pads crop), differentiable."""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph.node import Node
from ..ops._graph import result
from ..ops.creation import full
from ..ops.shape import getitem
from ..tensor import Tensor


def pad(input: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Constant padding; ``pad`` lists (left, right) pairs starting from the last dim."""
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

