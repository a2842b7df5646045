"""Weight initialisation (``nn.init``), PyTorch's distributions, drawn from minidl's
generator. kaiming_uniform_(a=sqrt(5)) is what Linear and Conv use by default.

The starting weights decide whether a deep network trains at all: too large and the
activations (and gradients) grow layer after layer, too small and they vanish. The
variance-preserving rules choose the spread from the layer's fan (for a weight (out, in, *k):
fan_in = in * prod(k), fan_out = out * prod(k)):

    Xavier / Glorot (2010):  Var(w) = gain^2 * 2 / (fan_in + fan_out)    (tanh, sigmoid, linear)
    Kaiming / He (2015):     Var(w) = gain^2 / fan                        (ReLU: gain^2 = 2)

U(-b, b) has variance b^2 / 3, hence the bounds sqrt(3) * std below. Every function fills
its tensor in place, without recording a gradient, and returns it; ``md.manual_seed`` makes
the draws reproducible. The random numbers come from ``generator=`` (an ``md.Generator``,
as in PyTorch 2.13) or the default generator: xoshiro256** streams of cpp/ops/random.
"""
from __future__ import annotations

import math

from .. import _C
from ..dtypes import float32, float64
from ..graph.grad_mode import no_grad
from ..ops import array as A
from ..ops.generator import rng_of as _rng_of
from ..ops.decomposition import qr
from ..ops.inplace import write as _write  # copies into t and bumps its version counter
from ..ops.random import _random_float, randn  # (_random_float: drawn in t's dtype, so U(a, b) never rounds up to b)
from ..ops.triangular import diagonal
from ..tensor import Tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity: the factor by which to scale the weights'
    standard deviation so that the activations keep their variance through the layer.

    linear / conv / sigmoid: 1, tanh: 5/3, relu: sqrt(2), leaky_relu with slope a (``param``,
    default 0.01): sqrt(2 / (1 + a^2)), selu: 3/4. Anything else raises ValueError.

    >>> from minidl.nn import init
    >>> init.calculate_gain("relu")
    1.4142135623730951
    >>> init.calculate_gain("tanh")
    1.6666666666666667
    >>> init.calculate_gain("leaky_relu", 5 ** 0.5)       # the a = sqrt(5) of Linear's init
    0.5773502691896257
    """
    # --8<-- [start:gain]
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "conv_transpose1d", "conv_transpose2d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")
    # --8<-- [end:gain]


# --8<-- [start:fan]
def _calculate_fan_in_and_fan_out(t: Tensor):
    if t.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in t.shape[2:]:
        receptive *= s
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fan(t: Tensor, mode: str) -> int:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    return fan_in if mode == "fan_in" else fan_out
# --8<-- [end:fan]


@no_grad()
def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill ``t`` in place with draws from the uniform distribution U(a, b); returns ``t``.

    Mean (a + b) / 2, variance (b - a)^2 / 12. Any shape.

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.uniform_(md.empty(1000, 100), -0.1, 0.1)
    >>> bool(w.min() >= -0.1), bool(w.max() <= 0.1)
    (True, True)
    """
    return _write(t, _random_float(_C.rand, t.shape, t.dtype, float(a), float(b), _rng_of(generator)))


@no_grad()
def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill ``t`` in place with draws from the normal distribution N(mean, std^2); returns ``t``.

    N(0, 0.02^2) is GPT-2's initialisation of its linear and embedding weights. Any shape.

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.normal_(md.empty(1000, 100), mean=0.0, std=0.02)
    >>> round(float(w.std()), 3)
    0.02
    """
    return _write(t, _random_float(_C.randn, t.shape, t.dtype, float(mean), float(std), _rng_of(generator)))


@no_grad()
def constant_(t: Tensor, val: float) -> Tensor:
    """Fill ``t`` in place with the value ``val``; returns ``t``.

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> init.constant_(md.empty(2, 3), 0.5)
    tensor([[0.5000, 0.5000, 0.5000],
            [0.5000, 0.5000, 0.5000]])
    """
    return _write(t, A.full((), float(val), t._data.dtype))


def zeros_(t: Tensor) -> Tensor:
    """Fill ``t`` in place with zeros; returns ``t``. The usual initialisation of biases.

    (Zero weights would make every unit of a layer compute the same thing and get the same
    gradient: random weights break that symmetry.)

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> init.zeros_(md.empty(3))
    tensor([0.0000, 0.0000, 0.0000])
    """
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    """Fill ``t`` in place with ones; returns ``t``. The initial scale of LayerNorm and BatchNorm.

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> init.ones_(md.empty(3))
    tensor([1.0000, 1.0000, 1.0000])
    """
    return constant_(t, 1.0)


def kaiming_uniform_(t: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None) -> Tensor:
    """U(-bound, bound), bound = gain * sqrt(3 / fan) (He et al., 2015).

    gain = ``calculate_gain(nonlinearity, a)``; fan is fan_in (default: preserves the
    variance of the activations in the forward pass) or fan_out (of the gradients in the
    backward pass). The resulting std is gain / sqrt(fan); for ReLU, sqrt(2 / fan_in).
    ``t`` needs at least 2 dims: (out, in, *kernel).

    >>> import math
    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.kaiming_uniform_(md.empty(1000, 100), nonlinearity="relu")   # fan_in = 100
    >>> bool(w.abs().max() <= math.sqrt(6 / 100))              # bound = sqrt(2) sqrt(3 / 100)
    True
    >>> round(float(w.std()) / math.sqrt(2 / 100), 1)           # std = sqrt(2 / fan_in)
    1.0
    """
    # --8<-- [start:kaiming_uniform]
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _fan(t, mode)) if t.numel() else 0.0
    return uniform_(t, -bound, bound, generator)
    # --8<-- [end:kaiming_uniform]


def kaiming_normal_(t: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None) -> Tensor:
    """N(0, std^2), std = gain / sqrt(fan) (He et al., 2015).

    gain and fan as in :func:`kaiming_uniform_`: ``kaiming_normal_(w, mode="fan_out",
    nonlinearity="relu")`` is how torchvision's ResNet initialises its convolutions.

    >>> import math
    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.kaiming_normal_(md.empty(64, 32, 3, 3), mode="fan_out", nonlinearity="relu")
    >>> round(float(w.std()) / math.sqrt(2 / (64 * 3 * 3)), 1)   # fan_out = 64 * 3 * 3
    1.0
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode))
    return normal_(t, 0.0, std, generator)


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    Variance gain^2 * 2 / (fan_in + fan_out): a compromise between keeping the forward
    activations' and the backward gradients' variance. The input projections of
    ``nn.MultiheadAttention`` and every matrix of ``nn.Transformer`` start this way.

    >>> import math
    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.xavier_uniform_(md.empty(1000, 100))           # fan_in 100, fan_out 1000
    >>> bool(w.abs().max() <= math.sqrt(6 / 1100))
    True
    >>> round(float(w.std()) / math.sqrt(2 / 1100), 1)
    1.0
    """
    # --8<-- [start:xavier_uniform]
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, generator)
    # --8<-- [end:xavier_uniform]


def xavier_normal_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    >>> import math
    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.xavier_normal_(md.empty(1000, 100), gain=init.calculate_gain("tanh"))
    >>> round(float(w.std()) / (5 / 3 * math.sqrt(2 / 1100)), 1)
    1.0
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


@no_grad()
def trunc_normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None) -> Tensor:
    """Fill ``t`` with N(mean, std^2) draws truncated to [a, b] (ViT and BERT initialise with
    std 0.02 this way); returns ``t``.

    Inverse-CDF sampling, as PyTorch: u ~ U(Phi(alpha), Phi(beta)) with alpha = (a - mean) / std,
    beta = (b - mean) / std, then w = mean + std sqrt(2) erfinv(2u - 1), clamped to [a, b].

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.trunc_normal_(md.empty(10000), std=1.0, a=-1.0, b=1.0)
    >>> bool(w.min() >= -1.0), bool(w.max() <= 1.0), round(float(w.std()), 1)
    (True, True, 0.5)
    """
    def phi(x):  # the standard normal CDF
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0
    lo, hi = phi((a - mean) / std), phi((b - mean) / std)
    u = Tensor._wrap(_C.rand(list(t.shape), _C.DType.f64, 2 * lo - 1, 2 * hi - 1, _rng_of(generator)))
    w = (u.erfinv() * (std * math.sqrt(2.0)) + mean).clamp(a, b)
    return _write(t, w._data)


@no_grad()
def eye_(t: Tensor) -> Tensor:
    """Fill the 2-D ``t`` with the identity matrix (ones on the diagonal); returns ``t``.

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> init.eye_(md.empty(2, 3))
    tensor([[1.0000, 0.0000, 0.0000],
            [0.0000, 1.0000, 0.0000]])
    """
    if t.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = t.shape
    eye = A.zeros((rows, cols), t._data.dtype)
    n = min(rows, cols)
    eye[range(n), range(n)] = 1
    return _write(t, eye)


@no_grad()
def dirac_(t: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D conv weight (out, in, *k) with the Dirac delta: a convolution that
    copies input channel i to output channel i (per group), the identity at initialisation.

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.dirac_(md.empty(2, 2, 3))
    >>> w[:, :, 1]                        # the centre tap of each kernel
    tensor([[1.0000, 0.0000],
            [0.0000, 1.0000]])
    """
    if t.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    out_per_group = t.shape[0] // groups
    if t.shape[0] % groups:
        raise ValueError("dim 0 must be divisible by groups")
    w = A.zeros(tuple(t.shape), t._data.dtype)
    centre = tuple(k // 2 for k in t.shape[2:])
    for g in range(groups):
        for i in range(min(out_per_group, t.shape[1])):
            w[(g * out_per_group + i, i) + centre] = 1
    return _write(t, w)


@no_grad()
def orthogonal_(tensor: Tensor, gain: float = 1, generator=None) -> Tensor:
    """Fill ``tensor`` in place with a (semi-)orthogonal matrix times ``gain``; returns it.

    Saxe et al. (2013): an orthogonal weight keeps every singular value at 1, so a deep linear
    (or RNN) stack neither grows nor shrinks its signal. Built as PyTorch builds it: flatten
    to rows = size(0) by cols = numel / rows, draw a standard normal matrix (transposed when
    rows < cols), take its QR, multiply each column of Q by sign(R_jj) (which makes Q uniform
    over the orthogonal matrices, Mezzadri 2007), transpose back and scale by ``gain``. The
    rows (rows <= cols) or the columns (rows >= cols) are then orthonormal. The draws come from
    minidl's generator (``generator`` or the default one), so the values differ from
    PyTorch's; float16 / bfloat16 tensors are built in float32 (PyTorch's QR refuses them).

    Shapes: any tensor with at least 2 dims; an empty one is left as it is.

    >>> import minidl as md
    >>> from minidl.nn import init
    >>> w = init.orthogonal_(md.empty(3, 5))
    >>> md.allclose(w @ w.T, md.eye(3), atol=1e-6)        # orthonormal rows
    True
    """
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    dtype = tensor.dtype if tensor.dtype in (float32, float64) else float32
    flattened = randn(rows, cols, dtype=dtype, generator=generator)
    if rows < cols:
        flattened = flattened.T
    q, r = qr(flattened)
    q = q * diagonal(r).sign()  # column j times sign(R_jj)
    if rows < cols:
        q = q.T
    return _write(tensor, A.cast(A.contiguous((q * gain)._data), tensor._data.dtype).reshape(tuple(tensor.shape)))
