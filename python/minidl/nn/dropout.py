"""Dropout (Srivastava et al., 2014), inverted: ``F.dropout`` and ``nn.Dropout``; channel
dropout (``F.dropout1d/2d``, ``nn.Dropout1d/2d``) and alpha dropout for SELU networks.

A regulariser: in training every element is zeroed with probability p, so no unit can rely
on any other being present (it trains an ensemble of thinned networks that share weights).
"Inverted" dropout scales the survivors at training time, so evaluation is the identity:

    training:  m_i ~ Bernoulli(1 - p),   y_i = m_i x_i / (1 - p),   dx_i = m_i g_i / (1 - p)
    eval:      y = x

E[y_i] = x_i either way. Shapes: input (*) -> output (*).

Where the C++ lives: the keep mask m comes from the Bernoulli kernel of
cpp/ops/random/random.cpp, drawn from the generator that ``md.manual_seed`` seeds; the
multiply and scale are the elementwise kernels (cpp/ops/elementwise/). The mask is the only
thing the backward keeps.
"""
from __future__ import annotations

import math
import warnings

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result
from ..ops.creation import tensor as md_tensor
from ..tensor import Tensor
from .module import Module


# --8<-- [start:dropout_backward]
class DropoutBackward(Node):
    __slots__ = ()

    def apply(self, g):
        mask, scale = self.get_saved()
        return (A.scale(A.mul(g, A.cast(mask, g.dtype)), scale),)
# --8<-- [end:dropout_backward]

    def apply_differentiable(self, g):  # g times the same constant mask and scale
        mask, scale = self.get_saved()
        return (g * Tensor._wrap(A.cast(mask, g._data.dtype)) * scale,)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p).

    y = m * x / (1 - p) with m ~ Bernoulli(1 - p) drawn per element when ``training`` is
    true; with ``training=False`` or ``p=0`` the input itself is returned, and ``p=1`` gives
    zeros. Backward: dx = m * g / (1 - p) (the same mask). input (*) -> output (*).
    ``inplace`` is accepted for PyTorch compatibility and ignored: minidl always returns a
    new tensor. Note the default ``training=True``: inside a module use ``nn.Dropout``, which
    follows ``model.train()`` / ``model.eval()``.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.ones(1000)
    >>> y = F.dropout(x, p=0.5)
    >>> sorted(set(y.tolist()))    # each element is dropped (0) or kept and scaled by 1/(1-p)
    [0.0, 2.0]
    >>> F.dropout(x, p=0.5, training=False) is x
    True
    """
    return _dropout(input, p, training, tuple(input.shape))


# --8<-- [start:dropout_forward]
def _dropout(input: Tensor, p: float, training: bool, mask_shape) -> Tensor:
    """Inverted dropout with one Bernoulli draw per element of ``mask_shape`` (broadcast to
    the input: the input's shape for dropout, (N, C, 1, ...) for channel dropout)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    d = input._data
    if p == 1.0:
        return input * 0.0
    keep = _C.bernoulli(list(mask_shape), 1.0 - p)
    scale = 1.0 / (1.0 - p)
    out = A.scale(A.mul(d, A.cast(keep, d.dtype)), scale)
    return result(out, DropoutBackward, (input,), (keep, scale))
# --8<-- [end:dropout_forward]


def _channel_mask_shape(input: Tensor, name: str, spatial: int):
    """(N, C, 1, ...) for a batched input of 2 + spatial dims, (C, 1, ...) for an unbatched one."""
    if input.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{name}: Expected {spatial + 1}D or {spatial + 2}D input, but received a {input.ndim}D "
                           f"input. ")
    lead = 2 if input.ndim == spatial + 2 else 1
    return tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for sequences: zero whole channels (all L steps) with probability p.

    Adjacent steps of a feature map are correlated, so element dropout barely regularises
    them; dropping whole channels does (Tompson et al., 2015). Survivors scale by 1/(1-p).
    Shapes: (N, C, L) or (C, L) -> same.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> y = F.dropout1d(md.ones(1, 8, 4), p=0.5)
    >>> sorted(set(y.sum(2).flatten().tolist())) in ([0.0, 8.0], [0.0], [8.0])   # a channel: all or nothing
    True
    """
    return _dropout(input, p, training, _channel_mask_shape(input, "dropout1d", 1))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for images: zero whole channels (all H x W) with probability p.

    Shapes: (N, C, H, W) or (C, H, W) -> same. A 3-D input is read as (N, C, L), channel-wise
    1-D dropout, with PyTorch's warning.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> y = F.dropout2d(md.ones(2, 3, 4, 4), p=0.5, training=False)
    >>> bool((y == 1).all())
    True
    """
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.")
        return _dropout(input, p, training, tuple(input.shape[:2]) + (1,))
    return _dropout(input, p, training, _channel_mask_shape(input, "dropout2d", 2))


_SELU_ALPHA_PRIME = 1.7580993408473766  # -scale * alpha of SELU: the value SELU saturates to, negated


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for self-normalising networks (SELU, Klambauer et al., 2017): a dropped unit is
    set to SELU's negative saturation -alpha', then an affine map a x + b restores zero mean
    and unit variance:  a = ((1 - p)(1 + p alpha'^2))^(-1/2),  b = a alpha' p.

    y = a (m x - alpha' (1 - m)) + b with m ~ Bernoulli(1 - p); dx = a m g. Note PyTorch's
    default ``training=False`` for this function. Shapes: (*) -> (*).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.randn(100000)
    >>> y = F.alpha_dropout(x, p=0.2, training=True)
    >>> abs(float(y.mean())) < 0.05, abs(float(y.std()) - 1) < 0.05   # still ~N(0, 1)
    (True, True)
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = A.cast(_C.bernoulli(list(input.shape), 1.0 - p), input._data.dtype)
    a = 1.0 / math.sqrt((_SELU_ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    noise = md_tensor(A.scale(keep, a))                                                       # a m
    shift = md_tensor(A.binary_scalar(A.ADD, A.scale(keep, _SELU_ALPHA_PRIME * a), -_SELU_ALPHA_PRIME * a * (1 - p)))
    return input * noise + shift  # b = (m - 1) alpha' a + alpha' a p, as PyTorch computes it



class Dropout(Module):
    """Inverted dropout as a layer: in training, zero each element with probability p and
    scale the survivors by 1/(1-p), so eval mode is the identity (see :func:`dropout`).

    No parameters; the module's ``training`` flag (``model.train()`` / ``model.eval()``)
    decides. input (*) -> output (*). A p outside [0, 1] raises ValueError. ``inplace`` is
    accepted and ignored (minidl returns a new tensor).

    >>> import minidl as md
    >>> from minidl import nn
    >>> drop = nn.Dropout(p=0.2)
    >>> drop
    Dropout(p=0.2, inplace=False)
    >>> y = drop(md.ones(1000))
    >>> sorted(set(y.tolist()))    # training mode: 0 or 1 / 0.8 = 1.25
    [0.0, 1.25]
    >>> _ = drop.eval()
    >>> drop(md.tensor([1.0, 2.0]))
    tensor([1.0000, 2.0000])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class _ChannelDropout(Dropout):
    fn = staticmethod(dropout1d)

    def forward(self, input):
        return self.fn(input, self.p, self.training, self.inplace)


class Dropout1d(_ChannelDropout):
    """Channel dropout as a layer for (N, C, L) / (C, L) inputs (see ``F.dropout1d``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Dropout1d(0.3).eval()(md.ones(2, 3, 5)).shape
    minidl.Size([2, 3, 5])
    """


class Dropout2d(_ChannelDropout):
    """Channel dropout as a layer for (N, C, H, W) / (C, H, W) inputs (see ``F.dropout2d``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.Dropout2d(0.3)
    Dropout2d(p=0.3, inplace=False)
    """

    fn = staticmethod(dropout2d)


class AlphaDropout(_ChannelDropout):
    """Alpha dropout as a layer, for SELU networks (see ``F.alpha_dropout``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.AlphaDropout(0.2).eval()(md.tensor([1.0, -1.0]))
    tensor([ 1.0000, -1.0000])
    """

    fn = staticmethod(alpha_dropout)

