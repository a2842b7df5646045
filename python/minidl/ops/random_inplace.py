"""Tensor's in-place samplers: ``x.uniform_()``, ``x.normal_()``, ``x.bernoulli_()``,
``x.random_()``, ``x.exponential_()``, ``x.geometric_()``, ``x.cauchy_()``, ``x.log_normal_()``.

Each overwrites every element of ``x`` with an independent draw and returns ``x``; the draws
come from ``generator`` (an ``md.Generator``) or the default generator, sampled in C++
(cpp/ops/random) in float64 and rounded once to ``x``'s dtype. Inside a graph the old values
of ``x`` no longer matter, so they get a zero gradient, as PyTorch's in-place samplers give.
Bad parameters raise RuntimeError with PyTorch's message.

>>> import minidl as md
>>> g = md.Generator().manual_seed(0)
>>> x = md.empty(100000).exponential_(2.0, generator=g)     # mean 1 / lambda
>>> round(x.mean().item(), 2)
0.5
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _C
from ..dtypes import bool_, int64
from ..tensor import Tensor
from . import array as A
from ._graph import needs_grad, result
from .generator import rng_of
from .inplace import FillBackward, commit, write
from .random import _check_std, _num, _random_float

# the largest integer n such that every integer in [0, n] is exact in the dtype: 2^(mantissa + 1)
_FLOAT_INTEGER_SPAN = {"float16": 2 ** 11, "bfloat16": 2 ** 8, "float32": 2 ** 24, "float64": 2 ** 53}
_INT64_MAX = 2 ** 63 - 1
_NOT_GIVEN = object()  # random_'s ``to``: None means "to the end of the dtype's range"


def _fill(x: Tensor, values: np.ndarray) -> Tensor:
    """Write the draws into ``x``; inside a graph ``x``'s old values get a zero gradient."""
    x._check_inplace()
    if needs_grad(x):
        return commit(x, result(values if values.dtype == x._data.dtype else A.cast(values, x._data.dtype),
                                FillBackward, (x,)))
    return write(x, values)


def _continuous(x: Tensor, name: str, distribution: str) -> None:
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{distribution} distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {x.dtype} ({name})")


def uniform_(x: Tensor, from_: float = 0.0, to: float = 1.0, *, generator=None) -> Tensor:
    """``x.uniform_(from=0, to=1)``: every element ~ U(from, to), from <= to; x floating.

    >>> import minidl as md
    >>> x = md.empty(3).uniform_(-1, 1)
    >>> bool(((x >= -1) & (x < 1)).all())
    True
    """
    _continuous(x, "uniform_", "Uniform")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={_num(from_)} > "
                           f"to={_num(to)}")
    # drawn in x's dtype: the kernel keeps the rounded value below `to` (a float64 draw cast
    # to float32 would round up to `to` about once in 2^24 draws)
    return _fill(x, _random_float(_C.rand, x._data.shape, x.dtype, float(from_), float(to), rng_of(generator)))


def normal_(x: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """``x.normal_(mean=0, std=1)``: every element ~ N(mean, std^2), std >= 0; x floating.

    >>> import minidl as md
    >>> x = md.empty(100000).normal_(3.0, 0.5)
    >>> round(x.mean().item(), 1), round(x.std().item(), 1)
    (3.0, 0.5)
    """
    _continuous(x, "normal_", "Normal")
    _check_std(std)
    return _fill(x, _random_float(_C.randn, x._data.shape, x.dtype, float(mean), float(std), rng_of(generator)))


def bernoulli_(x: Tensor, p=0.5, *, generator=None) -> Tensor:
    """``x.bernoulli_(p=0.5)``: every element 1 with probability p, else 0; p a float or a
    tensor of probabilities broadcastable to x, each in [0, 1]. Any dtype.

    >>> import minidl as md
    >>> md.zeros(4).bernoulli_(md.tensor([0., 1., 1., 0.]))
    tensor([0.0000, 1.0000, 1.0000, 0.0000])
    """
    rng = rng_of(generator)
    if isinstance(p, Tensor):
        probabilities = A.cast(np.broadcast_to(p._data, x._data.shape), np.float64)
        return _fill(x, _C.bernoulli_tensor(probabilities, rng))
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_num(p)}")
    return _fill(x, _C.bernoulli(list(x._data.shape), float(p), rng))


def random_(x: Tensor, *bounds, to=_NOT_GIVEN, generator=None) -> Tensor:
    """``x.random_()``, ``x.random_(to)``, ``x.random_(from, to)``: integers uniform on
    [from, to) (from = 0), written in ``x``'s dtype.

    With no bounds the range is every integer the dtype holds exactly: [0, 2^24] for float32,
    [0, 2^53] for float64, [0, 1] for bool, and for int64 [0, 2^63 - 2] (where minidl differs
    from PyTorch, whose int64 range ends at 2^63 - 1). ``x.random_(from, None)`` runs from
    ``from`` to the end of that range; ``to`` may also be given by name (``x.random_(to=5)``).

    >>> import minidl as md
    >>> x = md.empty(1000, dtype=md.int64).random_(-3, 4)
    >>> x.min().item() >= -3, x.max().item() < 4
    (True, True)
    """
    if to is not _NOT_GIVEN:
        if len(bounds) > 1:
            raise TypeError("random_() got 'to' both by position and by name")
        bounds = (bounds[0] if bounds else 0, to)
    if len(bounds) > 2:
        raise TypeError(f"random_() takes at most 2 bounds (from, to), got {len(bounds)}")
    low, high = (0, None) if not bounds else (0, bounds[0]) if len(bounds) == 1 else bounds
    for name, v in (("from", low), ("to", high)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
            raise TypeError(f"random_(): '{name}' must be an int, got {type(v).__name__}")
    if high is None:  # one past the largest integer the dtype holds exactly
        high = 2 if x.dtype is bool_ else _INT64_MAX if x.dtype is int64 else \
            _FLOAT_INTEGER_SPAN[str(x.dtype).split(".")[-1]] + 1
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _fill(x, _C.randint(int(low), int(high), list(x._data.shape), rng_of(generator)))


def exponential_(x: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    """``x.exponential_(lambd=1)``: every element ~ Exp(lambd), density lambd e^(-lambd y) on
    y >= 0, mean 1/lambd; lambd > 0, x floating.

    >>> import minidl as md
    >>> bool((md.empty(100).exponential_() >= 0).all())
    True
    """
    _continuous(x, "exponential_", "Exponential")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_num(lambd)}")
    return _fill(x, _C.exponential(list(x._data.shape), float(lambd), rng_of(generator)))


def geometric_(x: Tensor, p: float, *, generator=None) -> Tensor:
    """``x.geometric_(p)``: every element ~ Geometric(p), the number of coin flips up to and
    including the first success, P(k) = (1 - p)^(k - 1) p for k = 1, 2, ...; mean 1/p;
    0 < p < 1. Any dtype.

    >>> import minidl as md
    >>> bool((md.empty(100, dtype=md.int64).geometric_(0.3) >= 1).all())
    True
    """
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_num(p)}")
    return _fill(x, _C.geometric(list(x._data.shape), float(p), rng_of(generator)))


def cauchy_(x: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    """``x.cauchy_(median=0, sigma=1)``: every element ~ Cauchy(median, sigma), density
    1 / (pi sigma (1 + ((y - median) / sigma)^2)) (no mean: heavy tails); sigma > 0, x floating.

    >>> import minidl as md
    >>> round(md.empty(100001).cauchy_(5.0).median().item())     # the median is the location
    5
    """
    _continuous(x, "cauchy_", "Cauchy")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={_num(sigma)}")
    return _fill(x, _C.cauchy(list(x._data.shape), float(median), float(sigma), rng_of(generator)))


def log_normal_(x: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    """``x.log_normal_(mean=1, std=2)``: every element exp(z), z ~ N(mean, std^2) (mean and
    std are those of log x); std > 0, x floating.

    >>> import minidl as md
    >>> x = md.empty(100001).log_normal_(0.0, 1.0)
    >>> round(x.log().mean().item(), 1), bool((x > 0).all())
    (0.0, True)
    """
    _continuous(x, "log_normal_", "LogNormal")
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_num(std)}")
    return _fill(x, _C.log_normal(list(x._data.shape), float(mean), float(std), rng_of(generator)))
