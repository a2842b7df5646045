"""Softmax and log-softmax along a dim: ``F.softmax``, ``F.log_softmax``, ``nn.Softmax``,
``nn.LogSoftmax``. One C++ kernel per direction (cpp/ops/softmax/softmax.cpp), stable at
+-1000 because the row maximum is subtracted first."""
from __future__ import annotations

from .. import _C
from ..dtypes import as_dtype
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result
from ..ops.reduce import normalize_dims
from ..tensor import Tensor
from .module import Module


class SoftmaxBackward(Node):
    __slots__ = ()

    def apply(self, g):
        y, dim, log = self.get_saved()
        if A.is_low(y):
            return (A.cast(_C.softmax_backward(A.to_f32(g), A.to_f32(y), dim, log), y.dtype),)
        return (_C.softmax_backward(g, y, dim, log),)


def _softmax(x: Tensor, dim, log: bool, dtype=None) -> Tensor:
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice
    d = x._data
    if dtype is not None:
        d = A.cast(d, as_dtype(dtype).np)
    if d.dtype.kind in "bi":
        raise RuntimeError(f"softmax: expected a floating point tensor, got {x.dtype}")
    (dim,) = normalize_dims(dim, x.ndim) if x.ndim else (0,)
    src = d if d.ndim else d.reshape(1)
    y = A.cast(_C.softmax(A.to_f32(src), dim, log), d.dtype) if A.is_low(src) else _C.softmax(src, dim, log)
    y = y.reshape(d.shape)
    return result(y, SoftmaxBackward, (x,), (y if y.ndim else y.reshape(1), dim, log))


def softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    """exp(x_i - max) / sum_j exp(x_j - max) along ``dim``."""
    return _softmax(input, dim, False, dtype)


def log_softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    """x_i - max - log sum_j exp(x_j - max) along ``dim``."""
    return _softmax(input, dim, True, dtype)



class Softmax(Module):
    """exp(x_i) / sum_j exp(x_j) along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return log_softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"

