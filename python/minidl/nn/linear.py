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

    # --8<-- [start:reset_parameters]
    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)
    # --8<-- [end:reset_parameters]

    def forward(self, input):
        if isinstance(input, Tensor) and (input.ndim == 0 or input.shape[-1] != self.in_features):
            raise RuntimeError(f"Linear: expected input with last dimension {self.in_features} (in_features), got "
                               f"input of shape {list(input.shape)}")
        return linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"



def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor = None) -> Tensor:
    """y_o = x1^T A_o x2 + b_o: one bilinear form per output feature.

    Computed as one GEMM, x1 (..., I1) @ A rearranged to (I1, O I2), then a product with x2 and a
    sum over I2, so the work is minidl's GEMM. Backward by autograd.

    Shapes: input1 (*, I1), input2 (*, I2), weight (O, I1, I2), bias (O,) -> (*, O).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> A = md.tensor([[[1., 0.], [0., 2.]]])              # one output: x1_0 x2_0 + 2 x1_1 x2_1
    >>> F.bilinear(md.tensor([[1., 1.]]), md.tensor([[3., 4.]]), A, md.tensor([0.5]))
    tensor([[11.5000]])
    """
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear: expected input1 (*, {weight.shape[1] if weight.ndim == 3 else 'I1'}), input2 "
                           f"(*, I2) and weight (O, I1, I2), got {list(input1.shape)}, {list(input2.shape)} and "
                           f"{list(weight.shape)}")
    # --8<-- [start:bilinear_as_gemm]
    O, I1, I2 = weight.shape
    lead = tuple(input1.shape[:-1])
    mixed = input1.reshape(-1, I1) @ weight.permute(1, 0, 2).reshape(I1, O * I2)   # (rows, O I2)
    y = (mixed.reshape(-1, O, I2) * input2.reshape(-1, 1, I2)).sum(-1)                # (rows, O)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (O,))
    # --8<-- [end:bilinear_as_gemm]


class Bilinear(Module):
    """y = x1^T A x2 + b as a layer (see ``F.bilinear``), PyTorch's initialisation:
    A and b uniform in (-1/sqrt(in1_features), 1/sqrt(in1_features)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> layer = nn.Bilinear(3, 5, 2)
    >>> layer(md.zeros(4, 3), md.zeros(4, 5)).shape, layer.weight.shape
    (minidl.Size([4, 2]), minidl.Size([2, 3, 5]))
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(empty(out_features, in1_features, in2_features, dtype=dtype))
        self.bias = Parameter(empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
