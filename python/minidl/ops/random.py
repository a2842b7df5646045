"""Random tensors: rand, randn, randint, randperm, their ``_like`` forms, normal, bernoulli and
poisson. Each draws from the default generator (``md.manual_seed``) or, given
``generator=g``, from the ``md.Generator`` g alone (ops/generator.py); the sampling runs in
C++ (cpp/ops/random).

Sampling is not differentiable: a random draw has no gradient with respect to the
parameters of its distribution in PyTorch's samplers (no reparameterisation), so
``normal(mean, std)``, ``bernoulli(p)`` and ``poisson(rate)`` pass zeros back to a ``mean``,
``std``, ``p`` or ``rate`` that requires grad, as PyTorch's NormalBackward, BernoulliBackward
and PoissonBackward do. Write ``mean + std * md.randn(...)`` for the reparameterised sample
whose gradient flows.

>>> import minidl as md
>>> g = md.Generator().manual_seed(0)
>>> md.randint(10, (3,), generator=g).shape, md.poisson(md.tensor([0.0, 0.0]), generator=g)
(minidl.Size([3]), tensor([0.0000, 0.0000]))
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..dtypes import as_dtype, float64, get_default_dtype, int64, promote_types
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ._graph import result
from .creation import _check_device, _finish, _size
from .generator import rng_of

_wrap = Tensor._wrap


def _float_dtype(dtype):
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    if not dt.is_floating_point:
        raise RuntimeError(f"expected a floating point dtype for random floats, got {dt}")
    return dt


def _random_float(fill, size, dt, a, b, rng):
    """``fill`` (``_C.rand`` or ``_C.randn``) drawn in ``dt``; randn's 16-bit draws are float32 ones cast
    (rand draws 16-bit values itself, to keep them below ``b`` after rounding)."""
    if dt.np in (np.float32, np.float64) or fill is _C.rand:
        return fill(list(size), dt.code, a, b, rng)
    return A.cast(fill(list(size), _C.DType.f32, a, b, rng), dt.np)


def _size_arg(size):
    return _size(size if isinstance(size, (tuple, list)) else (size,))


class RandomSampleBackward(Node):
    """A sample's gradient with respect to its distribution's parameters: zeros, as PyTorch's
    NormalBackward, BernoulliBackward and PoissonBackward give (a draw is not reparameterised)."""
    __slots__ = ()

    def apply(self, g):
        return tuple(None if shape is None else A.zeros(shape, dtype) for shape, dtype in self.saved)

    def apply_differentiable(self, g):  # zeros whatever g is: constants
        return tuple(None if z is None else Tensor._wrap(z) for z in self.apply(g._data))


def _sample_result(data, params):
    """Wrap a sample; parameters that require grad get zeros back through RandomSampleBackward."""
    saved = tuple((p._data.shape, p._data.dtype) if isinstance(p, Tensor) else (None, None) for p in params)
    return result(data, RandomSampleBackward, tuple(p if isinstance(p, Tensor) else None for p in params), saved)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform on [0, 1).

    Each element is drawn independently from ``generator`` (default: the default generator,
    see :func:`manual_seed`), in a floating ``dtype`` (default float32).

    Shapes: ``md.rand(2, 3)`` and ``md.rand((2, 3))`` both give (2, 3).

    >>> import minidl as md
    >>> x = md.rand(2, 3)
    >>> x.shape, bool(((x >= 0) & (x < 1)).all())
    (minidl.Size([2, 3]), True)
    """
    _check_device(device)
    dt = _float_dtype(dtype)
    return _finish(_random_float(_C.rand, _size(size), dt, 0.0, 1.0, rng_of(generator)), requires_grad, dt)


# --8<-- [start:randn]
def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal N(0, 1).

    Each element is drawn independently (mean 0, standard deviation 1) from ``generator``
    (default: the default generator), in a floating ``dtype`` (default float32).
    ``mu + sigma * md.randn(...)`` draws from N(mu, sigma^2).

    Shapes: ``md.randn(2, 3)`` and ``md.randn((2, 3))`` both give (2, 3).

    >>> import minidl as md
    >>> md.randn(2, 3).shape
    minidl.Size([2, 3])
    >>> x = md.randn(100000)          # sample mean ~ 0, sample std ~ 1
    >>> abs(x.mean().item()) < 0.05, abs(x.std().item() - 1.0) < 0.05
    (True, True)
    """
    _check_device(device)
    dt = _float_dtype(dtype)
    return _finish(_random_float(_C.randn, _size(size), dt, 0.0, 1.0, rng_of(generator)), requires_grad, dt)
# --8<-- [end:randn]


def rand_like(x: Tensor, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform on [0, 1), with the shape and dtype of ``x`` (which must be floating, or give ``dtype``).

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.rand_like(md.zeros(2, 3)).shape
    minidl.Size([2, 3])
    """
    return rand(*x.shape, generator=generator, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


def randn_like(x: Tensor, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal N(0, 1), with the shape and dtype of ``x`` (which must be floating, or give ``dtype``).

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.randn_like(md.zeros(2, 3, dtype=md.float64)).dtype
    minidl.float64
    """
    return randn(*x.shape, generator=generator, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers uniform on [low, high).

    ``md.randint(high, size)`` draws from [0, high). ``size`` is required (a tuple, or an int
    for 1-D), as in PyTorch; the dtype is int64 unless ``dtype`` says otherwise.

    Shapes: () -> ``size``.

    >>> import minidl as md
    >>> x = md.randint(0, 10, (2, 3))
    >>> x.shape, x.dtype, bool(((x >= 0) & (x < 10)).all())
    (minidl.Size([2, 3]), minidl.int64, True)
    >>> md.randint(3, (4,)).shape            # randint(high, size): low = 0
    minidl.Size([4])
    """
    _check_device(device)
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size): PyTorch's second form
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    out = _C.randint(int(low), int(high), list(_size_arg(size)), rng_of(generator))
    dt = as_dtype(dtype) if dtype is not None else int64
    return _finish(out if dt is int64 else A.cast(out, dt.np), requires_grad, dt)


def randint_like(x: Tensor, low: int = 0, high: int = None, *, generator=None, dtype=None, device=None,
                 requires_grad=False) -> Tensor:
    """Integers uniform on [low, high) with the shape (and, unless ``dtype``, the dtype) of ``x``.

    ``md.randint_like(x, high)`` draws from [0, high), as PyTorch's two forms.

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> y = md.randint_like(md.zeros(2, 3), 5)
    >>> y.shape, y.dtype, bool(((y >= 0) & (y < 5)).all())
    (minidl.Size([2, 3]), minidl.float32, True)
    """
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(x.shape), generator=generator, dtype=dtype or x.dtype, device=device,
                   requires_grad=requires_grad)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0, 1, ..., n-1, e.g. to shuffle a dataset (Fisher-Yates).

    Every ordering is equally likely. The dtype is int64 unless ``dtype`` says otherwise.

    Shapes: () -> (n,).

    >>> import minidl as md
    >>> p = md.randperm(5)
    >>> p.shape, sorted(p.tolist())
    (minidl.Size([5]), [0, 1, 2, 3, 4])
    """
    _check_device(device)
    out = _C.randperm(int(n), rng_of(generator))
    dt = as_dtype(dtype) if dtype is not None else int64
    return _finish(out if dt is int64 else A.cast(out, dt.np), requires_grad, dt)


def _num(v) -> str:
    """A parameter as PyTorch's messages print it (C++ stream format: 2.0 -> 2, 1e-05)."""
    return f"{float(v):g}"


def _check_std(std):
    if isinstance(std, Tensor):
        if not bool((std >= 0).all()):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")


def _float_param(t: Tensor, what: str):
    if not t.dtype.is_floating_point:
        raise RuntimeError(f"normal: {what} must be a floating point tensor, got {t.dtype} (\"normal_kernel_cpu\" "
                           "not implemented for integer dtypes)")
    return t


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Normal samples N(mean, std^2): ``mean + std * z`` with z ~ N(0, 1), in PyTorch's four forms.

    - ``normal(mean: float, std: float, size)``: a tensor of ``size`` (float32 unless ``dtype``);
    - ``normal(mean: Tensor, std: float = 1.0)``: one draw per element of ``mean``;
    - ``normal(mean: float, std: Tensor)``: one draw per element of ``std``;
    - ``normal(mean: Tensor, std: Tensor)``: mean and std broadcast against each other.

    A tensor ``mean`` or ``std`` that requires grad gets a zero gradient, as in PyTorch (the
    sample is not reparameterised; ``mean + std * md.randn_like(mean)`` is). std must be >= 0.

    Shapes: mean (*), std (*) broadcast -> (*); floats -> ``size``.

    >>> import minidl as md
    >>> x = md.normal(2.0, 0.5, (100000,))
    >>> x.shape, abs(x.mean().item() - 2.0) < 0.05, abs(x.std().item() - 0.5) < 0.05
    (minidl.Size([100000]), True, True)
    >>> y = md.normal(md.tensor([0.0, 100.0]), 1e-3)         # one draw per mean
    >>> y.round().tolist()
    [0.0, 100.0]
    """
    rng = rng_of(generator)
    mean_t, std_t = isinstance(mean, Tensor), isinstance(std, Tensor)
    _check_std(std)
    if not mean_t and not std_t:
        if size is None:
            raise TypeError("normal() received an invalid combination of arguments: with a float mean and a float "
                            "std, give size, e.g. md.normal(0.0, 1.0, (2, 3))")
        _check_device(device)
        dt = _float_dtype(dtype)
        return _finish(_random_float(_C.randn, _size_arg(size), dt, float(mean), float(std), rng), requires_grad, dt)
    if size is not None:
        raise TypeError("normal() received an invalid combination of arguments: size is only for a float mean "
                        "and a float std (a tensor mean/std gives the shape)")
    if mean_t and std_t:
        dt = promote_types(_float_param(mean, "mean").dtype, _float_param(std, "std").dtype)
        shape = np.broadcast_shapes(mean._data.shape, std._data.shape)
    else:
        t = _float_param(mean if mean_t else std, "mean" if mean_t else "std")
        dt, shape = t.dtype, t._data.shape
    # z in float64, then mean + std * z with the C++ broadcasting kernels, rounded once to dt
    z = _C.randn(list(shape), _C.DType.f64, 0.0, 1.0, rng)
    m = A.cast(mean._data, np.float64) if mean_t else float(mean)
    s = A.cast(std._data, np.float64) if std_t else float(std)
    scaled = A.binary(A.MUL, z, s) if std_t else A.binary_scalar(A.MUL, z, s)
    sample = A.binary(A.ADD, scaled, m) if mean_t else A.binary_scalar(A.ADD, scaled, m)
    return _sample_result(sample if dt is float64 else A.cast(sample, dt.np), (mean, std))


def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    """Each element 1 with probability p: a coin flip per element, as dropout uses.

    out_i = 1 if u_i < p_i else 0, with u_i uniform on [0, 1) and p_i = ``input[i]`` (each
    must lie in [0, 1]), or the one float ``p`` for every element when given (then ``input``
    gives only the shape and dtype). The result has ``input``'s dtype. A ``input`` that
    requires grad gets a zero gradient, as in PyTorch.

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.bernoulli(md.tensor([0., 1., 0., 1.]))    # p = 0 and p = 1 are certain
    tensor([0.0000, 1.0000, 0.0000, 1.0000])
    >>> md.bernoulli(md.zeros(2, 3), p=0.5).shape
    minidl.Size([2, 3])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"bernoulli(): argument 'input' must be Tensor, not {type(input).__name__}")
    if p is not None:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_num(p)}")
        draws = A.cast(_C.bernoulli(list(input.shape), float(p), rng_of(generator)), input._data.dtype)
        return _sample_result(draws, (input,))
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"bernoulli: the probabilities must be a floating point tensor, got {input.dtype}")
    draws = _C.bernoulli_tensor(A.cast(input._data, np.float64), rng_of(generator))
    return _sample_result(A.cast(draws, input._data.dtype), (input,))


def poisson(input: Tensor, generator=None) -> Tensor:
    """Poisson samples: out_i ~ Poisson(rate = input_i), P(out_i = k) = rate^k e^(-rate) / k!.

    The counts come back as floats of ``input``'s dtype (as in PyTorch); mean and variance
    are both the rate. Sampled in C++: Knuth's product of uniforms below rate 10, Hormann's
    PTRS transformed rejection (1993) from 10 on, as NumPy and PyTorch do. A rate must be
    finite and >= 0 (RuntimeError naming the bad value otherwise); where minidl differs from
    PyTorch: an infinite rate raises (PyTorch returns a meaningless number). An ``input``
    that requires grad gets a zero gradient, as in PyTorch.

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> g = md.Generator().manual_seed(0)
    >>> counts = md.poisson(md.full((100000,), 4.0), generator=g)
    >>> round(counts.mean().item(), 1), round(counts.var().item(), 1)    # both ~ the rate
    (4.0, 4.0)
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"poisson(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"poisson: the rates must be a floating point tensor, got {input.dtype}")
    draws = _C.poisson(A.cast(input._data, np.float64), rng_of(generator))
    return _sample_result(A.cast(draws, input._data.dtype), (input,))
