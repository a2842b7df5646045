"""Power-average (LP) pooling: ``F.lp_pool1d/2d`` and ``nn.LPPool1d/2d``.

    y = (sum over the window of x^p)^(1/p)

p = 1 is sum pooling and p -> infinity tends to max pooling: one knob between the two. It
runs on the average-pooling kernel (cpp/ops/pooling/): the average of x^p times the window
size, then the p-th root, as PyTorch computes it.
"""
from __future__ import annotations

from ..tensor import Tensor
from .module import Module
from .pooling import avg_pool1d, avg_pool2d


def _lp_pool(avg, input: Tensor, norm_type: float, kernel_size, window: int, stride, ceil_mode: bool) -> Tensor:
    # (sum over the window of x^p)^(1/p), as PyTorch: the average times the window size; the
    # sign(out) * relu(|out|) keeps a negative sum (odd p) from a NaN root and has PyTorch's gradient
    out = avg(input.pow(norm_type), kernel_size, stride if stride is not None else kernel_size, 0, ceil_mode)
    return (out.sign() * out.abs().relu() * float(window)).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over the last dim: y = (sum_window x^p)^(1/p).

    p = 1 is sum pooling, p -> inf tends to max pooling. Shapes as ``F.avg_pool1d``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.lp_pool1d(md.tensor([[[3.0, 4.0, 1.0, 1.0]]]), 2, 2)       # sqrt(9 + 16), sqrt(1 + 1)
    tensor([[[5.0000, 1.4142]]])
    """
    return _lp_pool(avg_pool1d, input, norm_type, kernel_size, int(kernel_size), stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over the last two dims: y = (sum_window x^p)^(1/p).

    Shapes as ``F.avg_pool2d``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.lp_pool2d(md.tensor([[[[1.0, 2.0], [2.0, 4.0]]]]), 2, 2)   # sqrt(1 + 4 + 4 + 16)
    tensor([[[[5.0000]]]])
    """
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    return _lp_pool(avg_pool2d, input, norm_type, kernel_size, kh * kw, stride, ceil_mode)


class LPPool1d(Module):
    """Power-average pooling as a layer (see ``F.lp_pool1d``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.LPPool1d(2, 3)(md.ones(1, 2, 6)).shape
    minidl.Size([1, 2, 2])
    """

    fn = staticmethod(lp_pool1d)

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, input):
        return self.fn(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, " \
               f"ceil_mode={self.ceil_mode}"


class LPPool2d(LPPool1d):
    """Power-average pooling over the last two dims as a layer (see ``F.lp_pool2d``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.LPPool2d(2, (2, 3))(md.ones(1, 1, 4, 6))
    tensor([[[[2.4495, 2.4495],
              [2.4495, 2.4495]]]])
    """

    fn = staticmethod(lp_pool2d)
