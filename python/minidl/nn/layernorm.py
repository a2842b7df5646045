"""Layer normalization (Ba, Kiros & Hinton, 2016): ``F.layer_norm`` and ``nn.LayerNorm``.

Each sample's features are shifted and scaled to mean 0 and variance 1, then a learned
per-feature scale and shift give the layer back its expressiveness. It keeps the
activations of deep networks (Transformers above all) in a stable range, independently of
the batch.

Over the last ``len(normalized_shape)`` dimensions of x (a "row" of N values):
    mean = sum(x) / N,  var = sum((x - mean)^2) / N,  rstd = 1 / sqrt(var + eps)
    y = (x - mean) * rstd * weight + bias                 (weight, bias: normalized_shape)
Backward, with xhat = (x - mean) rstd and g = dy * weight, means over the row:
    dx = rstd (g - mean(g) - xhat mean(g xhat)),  dweight = sum_rows(dy xhat),  dbias = sum_rows(dy).
Unlike batch norm the statistics are per sample, so training and evaluation compute the same.

Where the C++ lives: cpp/ops/layernorm/layernorm.cpp holds the reference forward and backward
side by side (llm.c's layernorm_forward / layernorm_backward) and the dispatch;
cpp/ops/layernorm/layernorm_simd.cpp the float32 row loops per ISA. One fused kernel per
direction: the forward streams x once, the backward (dy, x) once.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops.higher_order import recomputed_grads
from ..ops._graph import result, saved_input
from ..ops.creation import ones, zeros
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


# --8<-- [start:ln_node]
class LayerNormBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, cols, w, mean, rstd, dtypes, _ = self.get_saved()
        if g.dtype != x.dtype:
            g = A.cast(g, x.dtype)
        if x.size == 0:  # no rows, or rows of 0 values: the weight and bias gradients are sums of nothing
            gx, gw, gb = (A.zeros(shape, x.dtype) if nxt is not None else None
                          for shape, nxt in zip((x.shape, (cols,), (cols,)), self.next))
        else:
            gx, gw, gb = _C.layer_norm_backward(g, x, cols, w, mean, rstd, self.next[0] is not None,
                                                self.next[1] is not None, self.next[2] is not None)
        return grads_as_inputs((gx, gw, gb), *dtypes)
# --8<-- [end:ln_node]

    def apply_differentiable(self, g):
        """y = (x - mean) / sqrt(var + eps) * w + b recomputed with primitive ops over the last
        dims, differentiated with create_graph=True."""
        x, cols, w, mean, rstd, (dts, shapes), eps = self.get_saved()
        ns = tuple(shapes[1])
        X = saved_input(self, 0, x.reshape(shapes[0]))
        W = saved_input(self, 1, w.reshape(ns)) if w is not None else None
        B = saved_input(self, 2, A.zeros(ns, x.dtype)) if self.next[2] is not None else None
        dims = tuple(range(X.ndim - len(ns), X.ndim))

        def norm(X, W, B):
            centered = X - X.mean(dims, keepdim=True)
            y = centered * ((centered * centered).mean(dims, keepdim=True) + eps) ** -0.5
            if W is not None:
                y = y * W
            return y + B if B is not None else y

        return recomputed_grads((X, W, B), norm, g)


def kernel_operands(input: Tensor, *params):
    """The compute dtype of a normalization kernel (float32 for 16-bit input, else the
    input's) and the arrays of ``input`` and ``params`` in it (None stays None)."""
    d = input._data
    cdt = np.dtype(np.float32) if A.is_low(d) else d.dtype
    return cdt, [None if t is None else (t._data if t._data.dtype == cdt else A.cast(t._data, cdt))
                 for t in (input,) + params]


def grads_as_inputs(grads, dtypes, shapes):
    """A normalization kernel's gradients (None: not wanted) in their inputs' dtypes and shapes."""
    out = []
    for grad, dt, shape in zip(grads, dtypes, shapes):
        if grad is not None:
            if grad.shape != tuple(shape):  # a reshape is a view: the engine would copy it
                grad = grad.reshape(shape)
            if grad.dtype != dt:
                grad = A.cast(grad, dt)
        out.append(grad)
    return tuple(out)


def _normalized_tuple(normalized_shape):
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(int(s) for s in normalized_shape)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer norm of ``input`` (*, *normalized_shape) over its last ``len(normalized_shape)``
    dims: y = (x - mean) / sqrt(var + eps) * weight + bias.

    mean and the biased variance var are taken over the normalized dims of each row (each
    sample, and each position of a sequence). ``weight`` and ``bias`` (shape
    normalized_shape, or None) scale and shift the normalized values. Returns a tensor of
    input's shape; the backward formulas are in the module docstring. The statistics are
    taken in two passes, mean = x0 + sum(x - x0) / N with x0 the row's first value, then the
    squared deviations: a constant row normalises to exactly 0, and rows with a large mean and
    a tiny spread lose no accuracy (PyTorch's float32 error there is ~1e-2, minidl's ~1e-7).
    16-bit inputs are computed in float32 and rounded once; as in PyTorch, the mean and rstd
    saved for the backward are rounded to the input's 16-bit dtype (kept in float32 when
    weight or bias is float32).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    >>> F.layer_norm(x, (3,))         # row 1: mean 2, var 2/3; row 2 is constant -> 0
    tensor([[-1.2247,  0.0000,  1.2247],
            [ 0.0000,  0.0000,  0.0000]])
    >>> F.layer_norm(x, (3,), weight=md.tensor([1.0, 2.0, 1.0]), bias=md.tensor([0.0, 0.0, 1.0]))
    tensor([[-1.2247,  0.0000,  2.2247],
            [ 0.0000,  0.0000,  1.0000]])
    """
    ns = _normalized_tuple(normalized_shape)
    d = input._data
    k = len(ns)
    if k == 0 or d.ndim < k or tuple(d.shape[d.ndim - k:]) != ns:
        raise ValueError(f"layer_norm: given normalized_shape={list(ns)}, expected input with shape "
                         f"[*, {', '.join(map(str, ns))}], but got input of size {list(d.shape)}")
    if d.dtype.kind in "biu":
        raise TypeError(f"layer_norm: expected a floating point input, got {input.dtype}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise ValueError(f"layer_norm: {name} of shape {list(t.shape)} does not match normalized_shape {list(ns)}")
    # --8<-- [start:ln_call]
    cdt, (x, w, b) = kernel_operands(input, weight, bias)
    cols = int(np.prod(ns))
    if cols == 0 or x.size == 0:
        y, mean, rstd = np.empty(x.shape, cdt), np.empty(0, cdt), np.empty(0, cdt)
    else:
        y, mean, rstd = _C.layer_norm(x, cols, w, b, float(eps))
        if cdt != d.dtype and all(t is None or t._data.dtype == d.dtype for t in (weight, bias)):
            # PyTorch keeps a 16-bit LayerNorm's saved mean and rstd in the input's dtype (unless
            # weight/bias are float32): its backward sees them rounded. On a row of 2 values the
            # gradient is a near-cancellation, and float32 statistics differ from PyTorch's
            # float16 result by ~5e-2 (bfloat16: >100); rounded ones by one 16-bit ulp.
            mean, rstd = A.cast(A.cast(mean, d.dtype), cdt), A.cast(A.cast(rstd, d.dtype), cdt)
    if y.dtype != d.dtype:
        y = A.cast(y, d.dtype)
    dtypes = ((d.dtype, None if weight is None else weight._data.dtype, None if bias is None else bias._data.dtype),
              (d.shape, ns, ns))
    return result(y, LayerNormBackward, (input, weight, bias), (x, cols, w, mean, rstd, dtypes, float(eps)))
    # --8<-- [end:ln_call]


class LayerNorm(Module):
    """Layer norm over the last dims ``normalized_shape`` of (*, *normalized_shape) input:
    y = (x - mean) / sqrt(var + eps) * weight + bias (see :func:`layer_norm`).

    Shapes: input (*, *normalized_shape) -> output of the same shape; e.g. a Transformer's
    (N, L, E) with ``LayerNorm(E)`` normalises each token's E features. Parameters:
    ``weight`` (ones) and ``bias`` (zeros) of shape normalized_shape exist when
    ``elementwise_affine`` (``bias=False`` drops the bias), as in PyTorch. Training and eval
    mode compute the same thing.

    >>> import minidl as md
    >>> from minidl import nn
    >>> ln = nn.LayerNorm(3)
    >>> ln
    LayerNorm((3,), eps=1e-05, elementwise_affine=True)
    >>> [(name, tuple(p.shape)) for name, p in ln.named_parameters()]
    [('weight', (3,)), ('bias', (3,))]
    >>> ln(md.tensor([[1.0, 2.0, 3.0]]))
    tensor([[-1.2247,  0.0000,  1.2247]], grad_fn=<LayerNormBackward>)
    >>> nn.LayerNorm([2, 3])(md.zeros(4, 2, 3)).shape     # normalises over the last two dims
    minidl.Size([4, 2, 3])
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _normalized_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(*self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(*self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.weight is not None:
            self.weight._data[...] = 1
        if self.bias is not None:
            self.bias._data[...] = 0

    def forward(self, input):
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
