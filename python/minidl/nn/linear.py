"""The fully connected layer ``nn.Linear``: y = x W^T + b. Its function ``F.linear`` is the
fused GEMM + bias of ``minidl/ops/gemm.py`` (cpp/ops/gemm/)."""
from __future__ import annotations

import math

from ..ops.creation import empty
from ..ops.gemm import linear
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x W^T + b.  x (*, in_features) -> y (*, out_features); W (out, in), b (out,),
    both U(-1/sqrt(in), 1/sqrt(in)) as PyTorch initialises them."""

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
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise RuntimeError(f"Linear: expected input with last dimension {self.in_features} (in_features), got "
                               f"input of shape {list(input.shape)}")
        return linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

