"""The fully connected (dense, affine) layer ``nn.Linear``: y = x W^T + b.

Every output feature is a weighted sum of all input features plus a bias:

    y[..., j] = sum_i x[..., i] W[j, i] + b[j]          x (*, in) -> y (*, out)
    backward:  dx = dy W,   dW = dy^T x,   db = sum over rows of dy

with the leading dims * flattened into rows. Its function ``F.linear`` is the fused
GEMM + bias of ``minidl/ops/gemm.py``.

Where the C++ lives: cpp/ops/gemm/: ``gemm_reference`` (the textbook triple loop every
faster path is tested against), gemm.cpp (which path runs, the thread split and
the portable blocked path), gemm_simd.cpp (the Goto/BLIS packing around a
register-blocked micro-kernel, compiled per ISA) and gemm_lowp*.cpp (bfloat16 /
float16). Linear, the convolutions, attention and the RNN gates all end in this GEMM.
"""
from __future__ import annotations

import math

from ..ops.creation import empty
from ..ops.gemm import linear
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """Fully connected layer: y = x W^T + b.

    Shapes: input (*, in_features) -> output (*, out_features), any number of leading dims.
    Parameters: ``weight`` W (out_features, in_features) and ``bias`` b (out_features,)
    (``bias=False``: none). Both are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)),
    as PyTorch initialises them: ``kaiming_uniform_(W, a=sqrt(5))`` has gain sqrt(1/3), so
    its bound gain * sqrt(3 / fan_in) is 1/sqrt(in_features). This keeps the variance of
    each output of order that of one input at the start of training.
    Backward: dx = dy W, dW = dy^T x, db = dy summed over rows.

    >>> import minidl as md
    >>> from minidl import nn
    >>> lin = nn.Linear(3, 2)
    >>> lin
    Linear(in_features=3, out_features=2, bias=True)
    >>> lin.weight.shape, lin.bias.shape
    (minidl.Size([2, 3]), minidl.Size([2]))
    >>> with md.no_grad():
    ...     _ = lin.weight.copy_(md.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]))
    ...     _ = lin.bias.fill_(1.0)
    >>> y = lin(md.tensor([[1.0, 2.0, 3.0]]))
    >>> y
    tensor([[-1.0000,  4.0000]], grad_fn=<LinearBackward>)
    >>> y.sum().backward()
    >>> lin.weight.grad           # dy^T x with dy = ones
    tensor([[1.0000, 2.0000, 3.0000],
            [1.0000, 2.0000, 3.0000]])
    >>> lin(md.zeros(4, 5, 3)).shape
    minidl.Size([4, 5, 2])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: feature counts must be non-negative, got {in_features} and {out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if isinstance(input, Tensor) and (input.ndim == 0 or input.shape[-1] != self.in_features):
            raise RuntimeError(f"Linear: expected input with last dimension {self.in_features} (in_features), got "
                               f"input of shape {list(input.shape)}")
        return linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

