"""Tensor factories: tensor, from_numpy, zeros/ones/full/empty(_like), arange, linspace,
logspace, eye. The random ones (rand, randn, randint, randperm, normal, ...) are in
ops/random.py, the generators they draw from in ops/generator.py.

The factories take ``dtype`` (by default the default float dtype, float32, for float
values) and most take ``requires_grad`` (floating dtypes only), as PyTorch's do;
``device`` must be "cpu" (minidl has no CUDA tensors yet).

>>> import minidl as md
>>> md.zeros(2, 3).shape, md.arange(3), md.full((2,), 0.5)
(minidl.Size([2, 3]), tensor([0, 1, 2]), tensor([0.5000, 0.5000]))
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _C
from .. import cuda
from ..dtypes import ALL, as_dtype, bool_, float64, from_numpy_dtype, get_default_dtype, int64
from ..tensor import Tensor
from . import array as A
from .dlpack import array_from

_wrap = Tensor._wrap
_STORED = {d.np for d in ALL}


def _check_device(device):
    if device is None:
        return
    name = str(device)
    if name.startswith("cuda"):
        if not cuda.is_available():  # PyTorch's AssertionError, as a CPU-only PyTorch raises it
            raise cuda.not_compiled_error()
    elif name.startswith("mps"):
        raise RuntimeError("PyTorch is not linked with support for mps devices (minidl runs on the CPU)")
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
    arr = array_from(data)  # a PyTorch tensor, or anything with __dlpack__ / __array__ (ops/dlpack.py)
    if arr is not None:
        return arr, from_numpy_dtype(arr.dtype)
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, NumPy array, number, Tensor, a
    PyTorch tensor or anything with ``__dlpack__`` / ``__array__``).

    The dtype is inferred as in PyTorch: Python floats -> the default dtype (float32),
    ints -> int64, bools -> bool; a NumPy array keeps its dtype (narrower ints become
    int64). ``dtype`` overrides it. The data is always copied (see :func:`as_tensor` and
    :func:`from_numpy` for sharing memory). ``requires_grad=True`` makes the tensor a leaf of
    the autograd graph; only floating dtypes can require gradients.

    Shapes: nested lists must be rectangular; a number gives a 0-d tensor, shape ().

    >>> import minidl as md
    >>> md.tensor([[1., 2.], [3., 4.]])
    tensor([[1.0000, 2.0000],
            [3.0000, 4.0000]])
    >>> md.tensor([1, 2]), md.tensor(3.5), md.tensor([True, False])
    (tensor([1, 2]), tensor(3.5000), tensor([ True, False]))
    >>> md.tensor([1., 2.], dtype=md.float64, requires_grad=True)
    tensor([1.0000, 2.0000], dtype=minidl.float64, requires_grad=True)
    """
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
    """``data`` as a tensor, sharing memory instead of copying where it can.

    A Tensor of the requested dtype is returned as it is; a NumPy array or a PyTorch tensor
    (through DLPack) of a dtype minidl stores is wrapped without a copy (writes show through
    both ways); anything else goes through :func:`tensor` (a copy). As ``torch.as_tensor``.

    Shapes: the shape of ``data``.

    >>> import numpy as np
    >>> import minidl as md
    >>> a = np.array([1., 2., 3.], dtype=np.float32)
    >>> t = md.as_tensor(a)
    >>> a[0] = 10.                 # the same memory
    >>> t
    tensor([10.0000,  2.0000,  3.0000])
    """
    if isinstance(data, Tensor) and (dtype is None or as_dtype(dtype) is data.dtype):
        return data
    shared = data if isinstance(data, np.ndarray) else (
        array_from(data) if hasattr(data, "__dlpack__") or hasattr(data, "__array__") else None)
    if shared is not None and shared.dtype in _STORED and (dtype is None or as_dtype(dtype).np == shared.dtype):
        return _wrap(shared)  # NumPy's memory, or a PyTorch tensor's through DLPack
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``a`` (no copy).

    Writes to one show in the other. The dtype is the array's: float64 stays float64 (it
    is not turned into the default float32). Where minidl differs from PyTorch: only the
    dtypes minidl stores are accepted (float32/64, float16, bfloat16, int64, bool); an
    int32 or uint8 array raises TypeError (use ``md.tensor(a)`` to convert with a copy).

    Shapes: the shape (and strides) of ``a``.

    >>> import numpy as np
    >>> import minidl as md
    >>> a = np.array([1., 2., 3.])
    >>> t = md.from_numpy(a)
    >>> t[1] = -1.
    >>> a
    array([ 1., -1.,  3.])
    >>> t
    tensor([ 1.0000, -1.0000,  3.0000], dtype=minidl.float64)
    """
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
    """A tensor of shape ``size`` with every element equal to ``fill_value``.

    The dtype follows ``fill_value`` as in PyTorch: a bool gives bool, an int gives int64,
    a float gives the default dtype; ``dtype`` overrides it.

    Shapes: ``size`` (an int or a tuple) -> ``size``.

    >>> import minidl as md
    >>> md.full((2, 3), 7.)
    tensor([[7.0000, 7.0000, 7.0000],
            [7.0000, 7.0000, 7.0000]])
    >>> md.full((2,), 7)
    tensor([7, 7])
    """
    _check_device(device)
    size = _size((size,) if isinstance(size, int) else size)
    if dtype is None:
        dt = bool_ if isinstance(fill_value, bool) else int64 if isinstance(fill_value, numbers.Integral) \
            else get_default_dtype()
    else:
        dt = as_dtype(dtype)
    return _finish(A.full(size, fill_value, dt.np), requires_grad, dt)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of zeros of shape ``size`` (default float dtype unless ``dtype`` says otherwise).

    Shapes: ``md.zeros(2, 3)`` and ``md.zeros((2, 3))`` both give (2, 3).

    >>> import minidl as md
    >>> md.zeros(2, 3)
    tensor([[0.0000, 0.0000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
    """
    _check_device(device)
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(A.zeros(_size(size), dt.np), requires_grad, dt)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ones of shape ``size`` (default float dtype unless ``dtype`` says otherwise).

    Shapes: ``md.ones(2, 3)`` and ``md.ones((2, 3))`` both give (2, 3).

    >>> import minidl as md
    >>> md.ones(2, dtype=md.int64)
    tensor([1, 1])
    >>> md.ones((1, 3))
    tensor([[1.0000, 1.0000, 1.0000]])
    """
    _check_device(device)
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(A.full(_size(size), 1, dt.np), requires_grad, dt)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """An uninitialized tensor of shape ``size``: fastest to allocate, values arbitrary.

    Use it only when every element is written before it is read (an output buffer). The
    contents are whatever the memory held, as in PyTorch.

    Shapes: ``md.empty(2, 3)`` and ``md.empty((2, 3))`` both give (2, 3).

    >>> import minidl as md
    >>> md.empty(2, 3).shape
    minidl.Size([2, 3])
    """
    _check_device(device)
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    return _finish(np.empty(_size(size), dtype=dt.np), requires_grad, dt)


def _like(x: Tensor, dtype):
    return x._data.shape, (as_dtype(dtype) if dtype is not None else x.dtype)


def zeros_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Zeros with the shape and dtype of ``x`` (``dtype`` overrides the dtype).

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.zeros_like(md.tensor([[1., 2.], [3., 4.]]))
    tensor([[0.0000, 0.0000],
            [0.0000, 0.0000]])
    """
    shape, dt = _like(x, dtype)
    return _finish(A.zeros(shape, dt.np), requires_grad, dt)


def ones_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Ones with the shape and dtype of ``x`` (``dtype`` overrides the dtype).

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.ones_like(md.tensor([5, 6, 7]))
    tensor([1, 1, 1])
    """
    shape, dt = _like(x, dtype)
    return _finish(A.full(shape, 1, dt.np), requires_grad, dt)


def full_like(x: Tensor, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``fill_value`` everywhere, with the shape and dtype of ``x`` (``dtype`` overrides the dtype).

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.full_like(md.tensor([[1., 2.], [3., 4.]]), 0.5)
    tensor([[0.5000, 0.5000],
            [0.5000, 0.5000]])
    """
    shape, dt = _like(x, dtype)
    return _finish(A.full(shape, fill_value, dt.np), requires_grad, dt)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """An uninitialized tensor with the shape and dtype of ``x`` (values arbitrary; see :func:`empty`).

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.empty_like(md.tensor([[1., 2.], [3., 4.]])).shape
    minidl.Size([2, 2])
    """
    shape, dt = _like(x, dtype)
    return _finish(np.empty(shape, dtype=dt.np), requires_grad, dt)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values start, start+step, ... < end (int64 when all arguments are ints).

    ``md.arange(n)`` is 0, 1, ..., n-1. The interval is half-open, [start, end), and holds
    ceil((end - start) / step) values; ``step`` may be negative. With a float step the
    rounding of the step can add or drop the last point: :func:`linspace` is the safer
    choice for floats, as in PyTorch.

    Shapes: () -> (ceil((end - start) / step),).

    >>> import minidl as md
    >>> md.arange(5)
    tensor([0, 1, 2, 3, 4])
    >>> md.arange(1, 2, 0.25)
    tensor([1.0000, 1.2500, 1.5000, 1.7500])
    >>> md.arange(5, 0, -2)
    tensor([5, 3, 1])
    """
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
    """``steps`` evenly spaced values from ``start`` to ``end``, both ends included.

    value_i = start + i * (end - start) / (steps - 1), i = 0 .. steps-1 (minidl computes
    them in float64 and rounds once to ``dtype``, the default float dtype).

    Shapes: () -> (steps,).

    >>> import minidl as md
    >>> md.linspace(0, 1, 5)
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    if steps == 1:
        return _finish(A.full((1,), start, dt.np), requires_grad, dt)
    step = (end - start) / max(steps - 1, 1)
    base = _C.arange(0.0, float(steps), 1.0, _C.DType.f64)  # float64 0..steps-1
    vals = A.binary_scalar(A.ADD, A.binary_scalar(A.MUL, base, step), float(start))
    return _finish(A.cast(vals, dt.np), requires_grad, dt)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` values spaced evenly on a log scale: base ** linspace(start, end, steps).

    value_i = base ** (start + i (end - start) / (steps - 1)), so the first is base**start
    and the last base**end. Computed in float64 and rounded once to ``dtype`` (the default
    float dtype).

    Shapes: () -> (steps,).

    >>> import minidl as md
    >>> md.logspace(0, 3, 4)
    tensor([   1.0000,   10.0000,  100.0000, 1000.0000])
    >>> md.logspace(0, 2, 3, base=2)
    tensor([1.0000, 2.0000, 4.0000])
    """
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    exponents = linspace(start, end, steps, dtype=float64)._data
    return _finish(A.cast(np.power(float(base), exponents), dt.np), requires_grad, dt)


def eye(n: int, m: int = None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The identity matrix: ones on the main diagonal, zeros elsewhere.

    Shapes: () -> (n, m), m = n unless given.

    >>> import minidl as md
    >>> md.eye(3)
    tensor([[1.0000, 0.0000, 0.0000],
            [0.0000, 1.0000, 0.0000],
            [0.0000, 0.0000, 1.0000]])
    >>> md.eye(2, 3)
    tensor([[1.0000, 0.0000, 0.0000],
            [0.0000, 1.0000, 0.0000]])
    """
    m = n if m is None else m
    if n < 0 or m < 0:
        raise RuntimeError(f"n and m must be non-negative, got {n} and {m}")
    dt = as_dtype(dtype) if dtype is not None else get_default_dtype()
    out = A.zeros((n, m), dt.np)
    k = min(n, m)
    if k:
        _C.fill_(out.reshape(-1)[: (k - 1) * (m + 1) + 1: m + 1], 1.0)  # the diagonal is a strided view
    return _finish(out, requires_grad, dt)
