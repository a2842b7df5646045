"""Softmax and log-softmax along a dim: ``F.softmax``, ``F.log_softmax``, ``nn.Softmax``,
``nn.LogSoftmax``.

Softmax turns a vector of scores (logits) into a probability distribution:

    softmax(x)_i     = exp(x_i - m) / sum_j exp(x_j - m),      m = max_j x_j
    log_softmax(x)_i = x_i - m - log sum_j exp(x_j - m)

Subtracting the row maximum m changes nothing mathematically (it cancels) but keeps every
exp() <= 1, so logits of +-1000 give no overflow. Backward, with y the output and g the
incoming gradient along the same dim:

    softmax:      dx_i = y_i (g_i - sum_j g_j y_j)
    log_softmax:  dx_i = g_i - exp(y_i) sum_j g_j

The output has the input's shape; the slices along ``dim`` sum to 1 (softmax).

Where the C++ lives: cpp/ops/softmax/softmax.cpp (reference loops for both directions and the
dispatch) and cpp/ops/softmax/softmax_simd.cpp (per-ISA versions). One kernel per direction.
"""
from __future__ import annotations

from .. import _C
from ..dtypes import as_dtype
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result, saved_output
from ..ops.reduce import normalize_dims
from ..tensor import Tensor
from .module import Module


# --8<-- [start:softmax_node]
class SoftmaxBackward(Node):
    __slots__ = ()

    def apply(self, g):
        y, dim, log = self.get_saved()
        if A.is_low(y):
            return (A.cast(_C.softmax_backward(A.to_f32(g), A.to_f32(y), dim, log), y.dtype),)
        return (_C.softmax_backward(g, y, dim, log),)
# --8<-- [end:softmax_node]

    def apply_differentiable(self, g):
        """softmax: y (g - sum(g y)); log_softmax: g - e^y sum(g), with y read in this node's
        graph (PyTorch saves the result the same way)."""
        y, dim, log = self.get_saved()
        if g.ndim == 0:  # softmax of one number is 1, log_softmax 0: no slope
            return (g * 0.0,)
        Y = saved_output(self, y)
        if log:
            return (g - Y.exp() * g.sum(dim, keepdim=True),)
        return (Y * (g - (g * Y).sum(dim, keepdim=True)),)


# --8<-- [start:softmax_call]
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
# --8<-- [end:softmax_call]


def softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    """Softmax along ``dim``: y_i = exp(x_i - max) / sum_j exp(x_j - max).

    input (*) -> output (*), same shape; every slice along ``dim`` is a probability vector.
    Backward: dx_i = y_i (g_i - sum_j g_j y_j). ``dtype`` casts the input first (e.g. to
    compute in float64). ``dim=None`` is PyTorch's deprecated implicit choice (0 for 0-, 1-
    and 3-D input, else 1); always pass ``dim``. 16-bit inputs are computed in float32.
    ``md.softmax`` is this function (where ``torch.softmax`` requires ``dim``).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]])
    >>> F.softmax(x, dim=1)
    tensor([[0.0900, 0.2447, 0.6652],
            [0.3333, 0.3333, 0.3333]])
    >>> F.softmax(x, dim=1).sum(dim=1)
    tensor([1.0000, 1.0000])
    """
    return _softmax(input, dim, False, dtype)


def log_softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    """Log-softmax along ``dim``: y_i = x_i - max - log sum_j exp(x_j - max) = log softmax(x)_i.

    input (*) -> output (*), same shape. Computed in one pass, never as log(softmax(x)), which
    would give -inf where a probability underflows to 0. Backward:
    dx_i = g_i - softmax(x)_i sum_j g_j. Followed by ``F.nll_loss`` it is the cross-entropy
    loss (``F.cross_entropy`` fuses both). ``dim`` and ``dtype`` as in :func:`softmax`;
    ``md.log_softmax`` is this function.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.log_softmax(md.tensor([[1.0, 2.0, 3.0]]), dim=1)
    tensor([[-2.4076, -1.4076, -0.4076]])
    """
    return _softmax(input, dim, True, dtype)



class Softmax(Module):
    """Softmax as a layer: y_i = exp(x_i) / sum_j exp(x_j) along ``dim`` (see :func:`softmax`).

    No parameters. input (*) -> output (*). Do not put it in front of ``nn.CrossEntropyLoss``,
    which expects raw logits and applies log-softmax itself.

    >>> import minidl as md
    >>> from minidl import nn
    >>> m = nn.Softmax(dim=1)
    >>> m
    Softmax(dim=1)
    >>> m(md.tensor([[0.0, 0.0], [0.0, 2.0]]))
    tensor([[0.5000, 0.5000],
            [0.1192, 0.8808]])
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax as a layer: y_i = x_i - log sum_j exp(x_j) along ``dim`` (see
    :func:`log_softmax`). Pair it with ``nn.NLLLoss``; the two together are
    ``nn.CrossEntropyLoss``.

    No parameters. input (*) -> output (*).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.LogSoftmax(dim=1)(md.tensor([[0.0, 0.0]]))
    tensor([[-0.6931, -0.6931]])
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return log_softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"

