"""Tensor factories: tensor, from_numpy, zeros/ones/full/empty(_like), arange, linspace,
eye, and the random ones (rand, randn, randint, randperm, normal) drawn from minidl's own
generator (``md.manual_seed``)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _C
from ..dtypes import as_dtype, bool_, from_numpy_dtype, get_default_dtype, int64
from ..tensor import Tensor
from . import array as A

_wrap = Tensor._wrap
_STORED = {d.np for d in (__import__("minidl.dtypes", fromlist=["ALL"]).ALL)}


def _check_device(device):
    if device is None:
        return
    name = str(device)
    if name.startswith("cuda"):
        from .. import cuda
        if not cuda.is_available():
            raise RuntimeError("Torch not compiled with CUDA enabled (minidl: no CUDA device available)")
    elif name != "cpu":
        raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {name}")


def _infer(data):
    """NumPy array + minidl dtype for arbitrary nested data."""
    if isinstance(data, Tensor):
        return data._data, data.dtype
    if isinstance(data, np.ndarray):
        return data, from_numpy_dtype(data.dtype)
    if isinstance(data, (bool, np.bool_)):
        return np.asarray(data, dtype=np.bool_), bool_
    if isinstance(data, numbers.Integral):
        return np.asarray(data, dtype=np.int64), int64
    if isinstance(data, numbers.Real):
        return np.asarray(data, dtype=get_default_dtype().np), get_default_dtype()
    if isinstance(data, (list, tuple)):
        arr = np.asarray([(x.item() if isinstance(x, Tensor) and x.ndim == 0 else
                           (x.tolist() if isinstance(x, Tensor) else x)) for x in data])
        if arr.dtype == object:
            raise ValueError("expected a sequence of numbers with a regular (rectangular) shape")
        if arr.dtype.kind == "f":
            return arr, get_default_dtype()
        if arr.dtype.kind in "iu":
            return arr, int64
        if arr.dtype.kind == "b":
            return arr, bool_
        if arr.size == 0:
            return arr.astype(np.float32), get_default_dtype()
        raise TypeError(f"can't build a tensor from elements of type {arr.dtype}")
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, NumPy array, number, Tensor)."""
    _check_device(device)
    arr, dt = _infer(data)
    if dtype is not None:
        dt = as_dtype(dtype)
    src = np.asarray(arr, order="C")  # not ascontiguousarray: it turns 0-d into 1-d
    if src.dtype == dt.np:
        out = A.copy(src)
    elif src.dtype in _STORED:
        out = A.cast(src, dt.np)
    else:  # other NumPy widths (int32, uint8 ...): a conversion on the way in (interop)
        out = np.asarray(src, dtype=dt.np)
    if not dt.is_floating_point and requires_grad:
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    t = _wrap(out)
    t._rg = bool(requires_grad)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or as_dtype(dtype) is data.dtype):
        return data
    if isinstance(data, np.ndarray) and data.dtype in _STORED and (dtype is None or as_dtype(dtype).np == data.dtype):
        return _wrap(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``a`` (no copy)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    from_numpy_dtype(a.dtype)
    if a.dtype.kind in "iu" and a.dtype != np.int64:
        raise TypeError(f"from_numpy shares memory, so the dtype must be one minidl stores: got {a.dtype} "
                        "(use md.tensor(a) to convert)")
    return _wrap(a)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if isinstance(s, bool) or not isinstance(s, (numbers.Integral,)):
            raise TypeError(f"size must be a tuple of ints, but got an element of type {type(s).__name__}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
    return tuple(out)


def _finish(arr, requires_grad, dt):
    t = _wrap(arr)
    if requires_grad:
        if not dt.is_floating_point:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        t._rg = True
    return t


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device)
    size = _size((size,) if isinstance(size, int) else size)
    if dtype is None:
        dt = bool_ if isinstance(fill_value, bool) else int64 if isinstance(fill_value, numbers.Integral) \
            else get_default_dtype()
    else:
        dt = as_dtype(dtype)
    return _finish(A.full(size, fill_value, dt.np), requires_grad, dt)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device)
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(A.zeros(_size(size), dt.np), requires_grad, dt)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device)
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(A.full(_size(size), 1, dt.np), requires_grad, dt)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device)
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(np.empty(_size(size), dtype=dt.np), requires_grad, dt)


def _like(x: Tensor, dtype):
    return x._data.shape, (as_dtype(dtype) if dtype is not None else x.dtype)


def zeros_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(x, dtype)
    return _finish(A.zeros(shape, dt.np), requires_grad, dt)


def ones_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(x, dtype)
    return _finish(A.full(shape, 1, dt.np), requires_grad, dt)


def full_like(x: Tensor, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(x, dtype)
    return _finish(A.full(shape, fill_value, dt.np), requires_grad, dt)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(x, dtype)
    return _finish(np.empty(shape, dtype=dt.np), requires_grad, dt)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values start, start+step, ... < end (int64 when all arguments are ints)."""
    _check_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (vals[1] - vals[0]) * vals[2] < 0:
        raise RuntimeError(f"upper bound and larger bound inconsistent with step sign (start={vals[0]}, "
                           f"end={vals[1]}, step={vals[2]})")
    if dtype is None:
        dt = int64 if all(isinstance(v, numbers.Integral) for v in vals) else get_default_dtype()
    else:
        dt = as_dtype(dtype)
    return _finish(_C.arange(float(vals[0]), float(vals[1]), float(vals[2]), dt.code), requires_grad, dt)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad=False) -> Tensor:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    if steps == 1:
        return _finish(A.full((1,), start, dt.np), requires_grad, dt)
    step = (end - start) / max(steps - 1, 1)
    base = _C.arange(0.0, float(steps), 1.0, _C.DType.f64)  # float64 0..steps-1
    vals = A.binary_scalar(A.ADD, A.binary_scalar(A.MUL, base, step), float(start))
    return _finish(A.cast(vals, dt.np), requires_grad, dt)


def eye(n: int, m: int = None, dtype=None, device=None, requires_grad=False) -> Tensor:
    m = n if m is None else m
    if n < 0 or m < 0:
        raise RuntimeError(f"n and m must be non-negative, got {n} and {m}")
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    out = A.zeros((n, m), dt.np)
    k = min(n, m)
    if k:
        _C.fill_(out.reshape(-1)[: (k - 1) * (m + 1) + 1: m + 1], 1.0)  # the diagonal is a strided view
    return _finish(out, requires_grad, dt)


# --- random --------------------------------------------------------------------------------
def manual_seed(seed: int):
    """Seeds minidl's generator (xoshiro256**): rand/randn/randint/randperm, init, dropout,
    shuffling and augmentation all draw from it."""
    _C.manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)
    return _Generator()


class _Generator:
    def initial_seed(self):
        return _C.initial_seed()

    def get_state(self):
        return tensor(np.array(_C.get_rng_state(), dtype=np.uint64).view(np.int64))

    def set_state(self, state):
        _C.set_rng_state(state.numpy().view(np.uint64).tolist())


default_generator = _Generator()


def initial_seed() -> int:
    return _C.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(state: Tensor) -> None:
    default_generator.set_state(state)


def _float_dtype(dtype):
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    if not dt.is_floating_point:
        raise RuntimeError(f"expected a floating point dtype for random floats, got {dt}")
    return dt


def _random_float(fill, size, dt, a, b):
    if dt.np in (np.float32, np.float64):
        return fill(list(size), dt.code, a, b)
    return A.cast(fill(list(size), _C.DType.f32, a, b), dt.np)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform on [0, 1)."""
    dt = _float_dtype(dtype)
    return _finish(_random_float(_C.rand, _size(size), dt, 0.0, 1.0), requires_grad, dt)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Standard normal N(0, 1)."""
    dt = _float_dtype(dtype)
    return _finish(_random_float(_C.randn, _size(size), dt, 0.0, 1.0), requires_grad, dt)


def rand_like(x: Tensor, dtype=None) -> Tensor:
    return rand(*x.shape, dtype=dtype or x.dtype)


def randn_like(x: Tensor, dtype=None) -> Tensor:
    return randn(*x.shape, dtype=dtype or x.dtype)


def randint(low, high=None, size=None, dtype=None, device=None, generator=None) -> Tensor:
    """Integers uniform on [low, high)."""
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    out = _C.randint(int(low), int(high), list(_size(size if isinstance(size, (tuple, list)) else (size,))))
    dt = as_dtype(dtype) if dtype is not None else int64
    return _wrap(out if dt is int64 else A.cast(out, dt.np))


def randperm(n: int, dtype=None, device=None, generator=None) -> Tensor:
    return _wrap(_C.randperm(int(n)))


def normal(mean: float, std: float, size, dtype=None, generator=None) -> Tensor:
    dt = _float_dtype(dtype)
    return _wrap(_random_float(_C.randn, _size(size if isinstance(size, (tuple, list)) else (size,)), dt,
                               float(mean), float(std)))


def bernoulli(p, generator=None) -> Tensor:
    """Each element 1 with probability p (p a tensor of probabilities or a float)."""
    if isinstance(p, Tensor):
        u = _C.rand(list(p.shape), _C.DType.f32, 0.0, 1.0)
        pd = p._data if p._data.dtype == np.float32 else A.cast(p._data, np.float32)
        return _wrap(A.cast(_C.binary(A.LT, u, pd), p._data.dtype))
    raise TypeError("bernoulli expects a tensor of probabilities")
