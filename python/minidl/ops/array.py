"""Array-level kernel calls: thin wrappers over ``minidl._C`` used by forward and backward.

Everything here takes and returns NumPy arrays, which are only storage: the arithmetic runs
in minidl's C++ kernels. float16/bfloat16 arrays are computed in float32 and rounded back
(the 16-bit kernels come with mixed precision), so every op accepts every float dtype.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..dtypes import ALL as _ALL

# The op codes are the C++ enums themselves (exported by cpp/ops/elementwise, reduce and
# activation _bind.cpp), taken by name: renumbering a C++ enum cannot make Python run the wrong
# op, and the kernels refuse a plain int.
_B, _U, _R, _ACT = _C.BinaryOp, _C.UnaryOp, _C.ReduceOp, _C.Activation
ADD, SUB, MUL, DIV, POW, MAXIMUM, MINIMUM = _B.add, _B.sub, _B.mul, _B.div, _B.pow, _B.maximum, _B.minimum
EQ, NE, LT, LE, GT, GE = _B.eq, _B.ne, _B.lt, _B.le, _B.gt, _B.ge
LAND, LOR, LXOR, FLOOR_DIVIDE, REMAINDER = _B.logical_and, _B.logical_or, _B.logical_xor, _B.floor_divide, _B.remainder
(NEG, ABS, EXP, LOG, SQRT, RSQRT, SQUARE, RECIPROCAL, SIGN, SIN, COS, LOG1P, EXPM1, FLOOR, CEIL, ROUND, TRUNC,
 LOGICAL_NOT, ISNAN, ISINF, ISFINITE, ERF, ERFINV) = (
    _U.neg, _U.abs, _U.exp, _U.log, _U.sqrt, _U.rsqrt, _U.square, _U.reciprocal, _U.sign, _U.sin, _U.cos, _U.log1p,
    _U.expm1, _U.floor, _U.ceil, _U.round, _U.trunc, _U.logical_not, _U.isnan, _U.isinf, _U.isfinite, _U.erf,
    _U.erfinv)
R_SUM, R_PROD, R_MAX, R_MIN, R_ARGMAX, R_ARGMIN, R_LOGSUMEXP, R_ANY, R_ALL, R_SUM_SQUARES = (
    _R.sum, _R.prod, _R.max, _R.min, _R.argmax, _R.argmin, _R.logsumexp, _R.any, _R.all, _R.sum_squares)
RELU, LEAKY_RELU, SIGMOID, TANH, GELU, GELU_TANH = (
    _ACT.relu, _ACT.leaky_relu, _ACT.sigmoid, _ACT.tanh, _ACT.gelu, _ACT.gelu_tanh)
(SILU, MISH, ELU, CELU, SOFTPLUS, SOFTSIGN, HARDTANH, HARDSWISH, HARDSIGMOID, LOGSIGMOID, SOFTSHRINK, HARDSHRINK,
 THRESHOLD) = (_ACT.silu, _ACT.mish, _ACT.elu, _ACT.celu, _ACT.softplus, _ACT.softsign, _ACT.hardtanh,
              _ACT.hardswish, _ACT.hardsigmoid, _ACT.logsigmoid, _ACT.softshrink, _ACT.hardshrink, _ACT.threshold)
# binary ops without a gradient: comparisons and logical ops (bool result), floor_divide and
# remainder (piecewise constant in the inputs)
NO_GRAD_BINARY = frozenset({EQ, NE, LT, LE, GT, GE, LAND, LOR, LXOR, FLOOR_DIVIDE, REMAINDER})
BOOL_UNARY = frozenset({LOGICAL_NOT, ISNAN, ISINF, ISFINITE})  # unary ops with a bool result

_F32 = np.dtype(np.float32)
_KERNEL_DTYPES = {np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)}


# 16-bit floats the binary kernel takes as they are (cpp/ops/elementwise: blocks widened to
# float32 in C++, each result rounded once; the same numbers as casting here)
_BINARY_16BIT = {np.dtype(d.np) for d in _ALL if d.name in ("float16", "bfloat16")}


def is_low(a: np.ndarray) -> bool:
    """float16 / bfloat16: stored in 16 bits, computed in float32."""
    return a.dtype not in _KERNEL_DTYPES


def cast(a: np.ndarray, np_dtype) -> np.ndarray:
    """A contiguous copy of ``a`` converted to ``np_dtype`` (C++ conversion kernels)."""
    return _C.cast(a, _CODE[np.dtype(np_dtype)])


def to_f32(a: np.ndarray) -> np.ndarray:
    return _C.cast(a, _F32_CODE)


def binary(op: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype in _BINARY_16BIT and b.dtype == a.dtype:  # widened a block at a time in C++
        return _C.binary(op, a, b)
    if a.dtype not in _KERNEL_DTYPES:
        r = _C.binary(op, to_f32(a), to_f32(b))
        return r if r.dtype != _F32 else cast(r, a.dtype)
    return _C.binary(op, a, b)


def binary_scalar(op: int, a: np.ndarray, s, scalar_first: bool = False) -> np.ndarray:
    if a.dtype not in _KERNEL_DTYPES:
        r = _C.binary_scalar(op, to_f32(a), s, scalar_first)
        return r if r.dtype != _F32 else cast(r, a.dtype)
    return _C.binary_scalar(op, a, s, scalar_first)


def unary(op: int, a: np.ndarray) -> np.ndarray:
    if a.dtype not in _KERNEL_DTYPES:
        r = _C.unary(op, to_f32(a))
        return r if r.dtype != _F32 else cast(r, a.dtype)
    return _C.unary(op, a)


def add(a, b):
    return binary(ADD, a, b)


def sub(a, b):
    return binary(SUB, a, b)


def mul(a, b):
    return binary(MUL, a, b)


def div(a, b):
    return binary(DIV, a, b)


def neg(a):
    return unary(NEG, a)


def scale(a, s: float):
    return binary_scalar(MUL, a, s)


def reduce(op: int, a: np.ndarray, dims, keepdim: bool = False, scale: float = 1.0) -> np.ndarray:
    """Reduce over ``dims`` (a tuple of non-negative ints, sorted, unique). A 16-bit sum reads
    its input in 16 bits (widened in registers, one rounding); other 16-bit reductions run on a
    float32 copy."""
    if a.dtype not in _KERNEL_DTYPES and op != R_SUM:
        r = _C.reduce(op, to_f32(a), list(dims), keepdim, scale, 0.0, False)
        return r if r.dtype != _F32 else cast(r, a.dtype)
    return _C.reduce(op, a, list(dims), keepdim, scale, 0.0, False)


def variance(a: np.ndarray, dims, keepdim: bool, correction: float) -> np.ndarray:
    if a.dtype not in _KERNEL_DTYPES:
        return cast(_C.reduce(R_SUM, to_f32(a), list(dims), keepdim, 1.0, correction, True), a.dtype)
    return _C.reduce(R_SUM, a, list(dims), keepdim, 1.0, correction, True)


# --8<-- [start:sum_to]
def sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape`` (the backward of broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = list(range(lead))
    for i, s in enumerate(shape):
        if s == 1 and g.shape[lead + i] != 1:
            dims.append(lead + i)
    r = reduce(R_SUM, g, dims, keepdim=True) if dims else g
    return r.reshape(shape)
# --8<-- [end:sum_to]


def zeros(shape, np_dtype) -> np.ndarray:
    out = np.empty(shape, dtype=np_dtype)
    _C.fill_(out, 0.0)
    return out


def full(shape, value, np_dtype) -> np.ndarray:
    out = np.empty(shape, dtype=np_dtype)
    _C.fill_(out, value)
    return out


def shaped(g: np.ndarray, shape: tuple) -> np.ndarray:
    """g in ``shape``, g itself when it has that shape already: NumPy's reshape returns a view
    even then, and the backward engine copies a gradient that is a view before making it a
    leaf's .grad (graph/engine.py). Where a view cannot be had, minidl's copy makes it
    contiguous (NumPy's own reshape copies strided arrays element by element on one thread)."""
    if g.shape == tuple(shape):
        return g
    view = view_or_none(g, shape)
    return view if view is not None else _C.contiguous(g).reshape(shape)


# --8<-- [start:view_or_none]
def view_or_none(a: np.ndarray, shape: tuple):
    """``a`` seen in ``shape`` without copying (a view), or None where its strides do not allow
    one. Why not ``out.shape = shape`` and catch the error, as minidl did: NumPy's shape setter
    reshapes with a copy first and raises only after comparing the result's address, so every
    refused view cost a full (single-threaded, strided) NumPy copy that was thrown away:
    7.7 ms for a transposed (1024, 1024) float32, 3.8 ms for pixel_shuffle's (32, 64, 32, 32)
    permute, before minidl's own copy. NumPy >= 2.1 refuses without copying
    (``reshape(copy=False)``); older NumPy gets :func:`_nocopy_strides`, NumPy's own rule."""
    shape = tuple(shape)
    if a.flags.c_contiguous or a.size == 0:
        return a.reshape(shape)  # always a view (an empty array has no data to copy)
    try:
        return a.reshape(shape, copy=False)
    except ValueError:
        return None
    except TypeError:  # NumPy < 2.1: no copy argument
        strides = _nocopy_strides(a.shape, a.strides, shape, a.itemsize)
        return None if strides is None else np.lib.stride_tricks.as_strided(a, shape, strides)


def _nocopy_strides(old_shape: tuple, old_strides: tuple, new_shape: tuple, itemsize: int):
    """The strides of ``new_shape`` over the same memory, or None: NumPy's C-order
    _attempt_nocopy_reshape (numpy/_core/src/multiarray/shape.c). Old and new dims are matched
    in groups of equal product; a group of old dims merges only where each dim's stride is the
    next one's stride times its size. Needs a non-empty array of the same size."""
    olds = [(n, st) for n, st in zip(old_shape, old_strides) if n != 1]  # size-1 dims do not matter
    new_strides = [0] * len(new_shape)
    oi, oj, ni, nj = 0, 1, 0, 1
    while ni < len(new_shape) and oi < len(olds):
        np_, op = new_shape[ni], olds[oi][0]
        while np_ != op:
            if np_ < op:
                np_ *= new_shape[nj]
                nj += 1
            else:
                op *= olds[oj][0]
                oj += 1
        for ok in range(oi, oj - 1):
            if olds[ok][1] != olds[ok + 1][0] * olds[ok + 1][1]:
                return None
        new_strides[nj - 1] = olds[oj - 1][1]
        for nk in range(nj - 1, ni, -1):
            new_strides[nk - 1] = new_strides[nk] * new_shape[nk]
        ni, nj, oi, oj = nj, nj + 1, oj, oj + 1
    last = new_strides[ni - 1] if ni >= 1 else itemsize
    for nk in range(ni, len(new_shape)):  # trailing size-1 dims
        new_strides[nk] = last
    return tuple(new_strides)
# --8<-- [end:view_or_none]


def reshaped(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` in ``shape``: a view where ``a`` is made of contiguous rows (its last stride one
    element, no stride 0) and its strides allow one (setting ``.shape`` refuses otherwise, as
    in Tensor.view), else a contiguous copy reshaped. A gradient that is a window of a larger
    one (a head split off a packed projection and transposed back) keeps its place in that
    gradient, so whoever gathers the windows needs no copy (ops/join.py SplitBackward). A
    broadcast gradient (stride 0, the backward of a sum) is copied as before: kept as a view it
    sent the next kernels to their strided loops (x.repeat(2, 1) forward + backward 3.1 ->
    7.1 ms)."""
    if a.ndim and a.strides[-1] == a.itemsize and 0 not in a.strides:
        out = view_or_none(a, shape)
        if out is not None:
            return out
    return _C.contiguous(a).reshape(shape)


def same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """True when a and b are the same elements of memory: one address, shape and strides (a
    gradient already written where it must go needs no copy)."""
    return (a.shape == b.shape and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def contiguous(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else _C.contiguous(a)


def as_rows(a: np.ndarray) -> np.ndarray:
    """``a`` (..., k) as the matrix (rows, k), its leading dims flattened into rows.

    NumPy's ``reshape(-1, k)`` cannot infer the -1 of an empty array (a (2, 3, 0) operand of
    matmul, a Linear(0, 3) input, an empty index of an embedding), so there the row count is
    given; a non-empty array keeps the cheaper -1 (this runs on every Linear call)."""
    k = a.shape[-1]
    return a.reshape(-1, k) if a.size else a.reshape(math.prod(a.shape[:-1]), k)


def copy(a: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape, dtype=a.dtype)
    _C.copy_(out, a)
    return out


def add_(out: np.ndarray, b: np.ndarray) -> None:
    """out += b in place (b broadcast to out)."""
    if out.dtype not in _KERNEL_DTYPES and not (out.dtype in _BINARY_16BIT and b.dtype == out.dtype):
        _C.copy_(out, binary(ADD, out, b))
    else:
        _C.binary_(ADD, out, b)

_CODE = {d.np: d.code for d in _ALL}  # NumPy dtype -> _C.DType
_F32_CODE = _C.DType.f32
