"""Vector and matrix norms (md.linalg.vector_norm / matrix_norm / norm, md.norm) and cdist.

||x||_p = (sum_i |x_i|^p)^(1/p); p = inf is max |x_i|, -inf min |x_i|, 0 the count of
nonzeros. The p-norm has a backward of its own: d||x||_p / dx_i = sign(x_i) |x_i|^(p-1) /
||x||_p^(p-1), which is 0/0 at a zero vector; PyTorch defines it as 0 there, and so does
minidl (the composition sqrt(sum x^2) would give 0 * inf = nan). The others are
compositions: inf/-inf is amax/amin of |x| (the gradient shared by ties, as PyTorch's), 1 is
sum |x|.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _C
from ..dtypes import PYTORCH_NAMES, as_dtype, bfloat16, float16
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ._graph import result, saved_input, saved_output
from .arrange import movedim
from .decomposition import svdvals
from .extremum import amax, amin
from .reduce import _keep_shape, normalize_dims
from .reduce import sum as _sum
from .shape import to_dtype, transpose, unsqueeze
from .elementwise import unary
from .where import where
from .elementwise_functions import sqrt
from .gemm import matmul

_INF = math.inf


# --8<-- [start:pnorm_backward]
class PNormBackward(Node):
    """dx = g * sign(x) |x|^(p-1) / norm^(p-1), and 0 where the norm is 0 (PyTorch's rule)."""
    __slots__ = ()

    def apply(self, g):
        x, norm, p, dims, keepdim = self.get_saved()
        kshape = _keep_shape(x.shape, dims)
        g, norm = A.contiguous(g).reshape(kshape), A.contiguous(norm).reshape(kshape)
        zero = A.zeros((), x.dtype)
        if p == 2:
            direction = x  # sign(x) |x|^1
            scale = A.div(g, norm)
        else:
            direction = A.mul(A.unary(A.SIGN, x), A.binary_scalar(A.POW, A.unary(A.ABS, x), p - 1))
            scale = A.div(g, A.binary_scalar(A.POW, norm, p - 1))
        scale = _C.where(A.binary_scalar(A.EQ, norm, 0.0), zero, scale)
        return (A.mul(direction, scale),)
# --8<-- [end:pnorm_backward]

    def apply_differentiable(self, g):  # the same formula with recorded ops; 0 where the norm is 0
        x, norm, p, dims, keepdim = self.get_saved()
        kshape = _keep_shape(x.shape, dims)
        X, N = saved_input(self, 0, x), saved_output(self, norm)
        if not keepdim:
            g, N = g.reshape(kshape), N.reshape(kshape)
        at_zero = Tensor._wrap(A.binary_scalar(A.EQ, A.contiguous(norm).reshape(kshape), 0.0))
        N = N.masked_fill(at_zero, 1.0)  # no 0/0 in the graph
        if p == 2:
            direction, scale = X, g / N
        else:
            direction = Tensor._wrap(A.unary(A.SIGN, x)) * X.abs() ** (p - 1)
            scale = g / N ** (p - 1)
        return (direction * scale.masked_fill(at_zero, 0.0),)


class CountNonzeroBackward(Node):
    """The 0-"norm" counts nonzeros: piecewise constant, so its gradient is 0 (PyTorch's too)."""
    __slots__ = ()

    def apply(self, g):
        shape, np_dtype = self.saved
        return (A.zeros(shape, np_dtype),)

    def apply_differentiable(self, g):
        return (Tensor._wrap(self.apply(g._data)[0]),)


# --8<-- [start:p_norm]
def _p_norm(x: Tensor, p: float, dims, keepdim: bool) -> Tensor:
    d = x._data
    if p == 2 and d.dtype in (np.float32, np.float64):
        # sum x^2 with each value squared as it is read (ReduceOp::sum_squares: float32 in
        # vector blocks added in double), not x * x stored and summed. 1 thread, Xeon family 6
        # model 167, ms (PyTorch): (1024, 1024).norm(dim=1) 0.58 -> 0.23 (0.24), F.normalize
        # 0.94 -> 0.59 (0.63), cosine_similarity 2.67 -> 1.93 (1.86); the whole tensor's norm
        # 0.19 as the dot product x . x through the GEMV was (0.18), 0.07 on 2 threads (0.18)
        total = A.reduce(A.R_SUM_SQUARES, d, dims, keepdim)
    else:
        powered = A.mul(d, d) if p == 2 else A.binary_scalar(A.POW, A.unary(A.ABS, d), p)  # 16-bit p = 2: x * x
        total = A.reduce(A.R_SUM, powered, dims, keepdim)
    norm = A.unary(A.SQRT, total) if p == 2 else A.binary_scalar(A.POW, total, 1.0 / p)
    return result(norm, PNormBackward, (x,), (d, norm, p, dims, keepdim))
# --8<-- [end:p_norm]


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The vector p-norm of ``x`` over ``dim`` (all elements when None).

    ||x||_ord = (sum_i |x_i|^ord)^(1/ord) for a number ord; ord = inf: max |x_i|; -inf:
    min |x_i|; 0: the number of nonzero x_i. ``dtype`` casts ``x`` first. Backward: see the
    module docstring (0 at a zero vector, as PyTorch). (ord = 0 has gradient 0.)

    Shapes: (*) -> (*) without the dims in ``dim`` (kept as size 1 with ``keepdim``).

    >>> import minidl as md
    >>> x = md.tensor([[3., -4.], [0., 0.]])
    >>> md.linalg.vector_norm(x, dim=1), md.linalg.vector_norm(x, ord=1), md.linalg.vector_norm(x, float("inf"))
    (tensor([5.0000, 0.0000]), tensor(7.0000), tensor(4.0000))
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg_vector_norm(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    if dtype is not None:
        x = to_dtype(x, as_dtype(dtype))
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                           f"{x.dtype.name.capitalize() if x.dtype.name != 'int64' else 'Long'}")
    if not isinstance(ord, numbers.Real) or isinstance(ord, bool):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    dims = normalize_dims(dim, x.ndim)
    if x.numel() == 0 and ord < 0:
        raise RuntimeError(f"linalg.vector_norm cannot compute the {ord} norm on an empty tensor because the "
                           "operation does not have an identity")
    if x.numel() == 0 and ord == _INF and any(x.shape[d] == 0 for d in dims):
        raise RuntimeError("linalg.vector_norm cannot compute the inf norm on an empty tensor because the "
                           "operation does not have an identity")
    if ord == _INF:
        return amax(unary(A.ABS, x), dims, keepdim)
    if ord == -_INF:
        return amin(unary(A.ABS, x), dims, keepdim)
    if ord == 0:
        count = _sum(x != 0, dims, keepdim, dtype=x.dtype)
        return result(count._data, CountNonzeroBackward, (x,), (x.shape, x._data.dtype))
    if ord == 1:
        return _sum(unary(A.ABS, x), dims, keepdim)
    return _p_norm(x, float(ord), dims, keepdim)


def _singular_value_norm(x: Tensor, ord, d0: int, d1: int, keepdim: bool) -> Tensor:
    """ord 2: the largest singular value, -2: the smallest, 'nuc': their sum (PyTorch's
    composition, so the gradient is svdvals' through amax / amin / sum)."""
    if x.dtype in (float16, bfloat16):
        raise RuntimeError(f"linalg.matrix_norm: Low precision dtypes not supported. Got {PYTORCH_NAMES[x.dtype]}")
    moved = movedim(x, (d0, d1), (-2, -1))
    if min(moved.shape[-2:]) == 0:  # no singular values: PyTorch's 0 for 2 and 'nuc', amin's error for -2
        if ord == -2:
            raise IndexError("amin(): Expected reduction dim -1 to have non-zero size.")
        out = _sum(moved, (-2, -1))
    else:
        s = svdvals(moved)
        out = amax(s, -1) if ord == 2 else amin(s, -1) if ord == -2 else _sum(s, -1)
    if keepdim:
        out = unsqueeze(unsqueeze(out, min(d0, d1)), max(d0, d1))
    return out


def matrix_norm(A_: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """A matrix norm of each matrix in ``A`` (the two dims ``dim``).

    ord = 'fro': sqrt(sum_ij a_ij^2); 'nuc': the sum of the singular values; 2: the largest
    singular value (the spectral norm, max ||A x|| over unit x); -2: the smallest;
    1: max_j sum_i |a_ij| (the largest column sum); -1: the smallest column sum; inf:
    max_i sum_j |a_ij| (the largest row sum); -inf: the smallest row sum. The singular
    values come from :func:`minidl.linalg.svdvals`, and so does the gradient of 2, -2 and
    'nuc' (NaN where the singular values it uses repeat, as PyTorch's).

    Shapes: (*, m, n) -> (*) (the two dims kept as size 1 with ``keepdim``).

    >>> import minidl as md
    >>> a = md.tensor([[1., -2.], [3., 4.]])
    >>> md.linalg.matrix_norm(a), md.linalg.matrix_norm(a, 1), md.linalg.matrix_norm(a, float("inf"))
    (tensor(5.4772), tensor(6.0000), tensor(7.0000))
    >>> md.linalg.matrix_norm(a, 2), md.linalg.matrix_norm(a, -2), md.linalg.matrix_norm(a, "nuc")
    (tensor(5.1167), tensor(1.9544), tensor(7.0711))
    """
    x = A_
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg_matrix_norm(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    if x.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    dims = list(dim) if isinstance(dim, (tuple, list)) else [dim]
    if len(dims) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(str(d) for d in dims)}")
    d0, d1 = (normalize_dims(d, x.ndim)[0] for d in dims)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dims[0]}, {dims[1]})")
    if isinstance(ord, str):
        if ord == "fro":
            return vector_norm(x, 2, (d0, d1), keepdim, dtype=dtype)
        if ord != "nuc":
            raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    elif ord not in (1, -1, 2, -2, _INF, -_INF):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if dtype is not None:
        x = to_dtype(x, as_dtype(dtype))
    if not x.dtype.is_floating_point:
        raise RuntimeError("linalg.matrix_norm: Expected a floating point or complex tensor as input. Got "
                           f"{PYTORCH_NAMES[x.dtype]}")
    if ord in (2, -2, "nuc"):
        return _singular_value_norm(x, ord, d0, d1, keepdim)
    summed, over = (d0, d1) if abs(ord) == 1 else (d1, d0)  # 1: column sums, then max over columns
    sums = vector_norm(x, 1, summed, keepdim=True)
    out = (amax if ord > 0 else amin)(sums, over, keepdim=True)
    if not keepdim:
        out = _sum(out, (d0, d1))  # drops the two size-1 dims (a sum of one element)
    return out


def linalg_norm(A_: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``md.linalg.norm``: a vector or a matrix norm, chosen as PyTorch chooses.

    A matrix norm (:func:`matrix_norm`) when ``ord`` is given and ``dim`` has two dims (or
    ``dim`` is None and ``A`` is 2-D), and always for a string ``ord`` ('fro', 'nuc');
    otherwise the vector norm (:func:`vector_norm`, ord 2 by default) over ``dim`` (all
    elements when None). Without ``dim``, an ``ord`` needs a 1-D or 2-D ``A``.

    Shapes: (*) -> (*) without the dims in ``dim``.

    >>> import minidl as md
    >>> a = md.tensor([[1., -2.], [3., 4.]])
    >>> md.linalg.norm(a), md.linalg.norm(a, 2), md.linalg.norm(a, "nuc"), md.linalg.norm(a, 1, dim=1)
    (tensor(5.4772), tensor(5.1167), tensor(7.0711), tensor([3.0000, 7.0000]))
    """
    if not isinstance(A_, Tensor):
        raise TypeError(f"linalg_norm(): argument 'input' (position 1) must be Tensor, not {type(A_).__name__}")
    if dim is not None:
        dims = [dim] if isinstance(dim, numbers.Integral) else list(dim)
        if len(dims) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {dims}")
    else:
        dims = None
        if ord is not None and A_.ndim not in (1, 2):
            raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                               f"{A_.ndim}D.")
    if isinstance(ord, str) or (ord is not None and (len(dims) == 2 if dims is not None else A_.ndim == 2)):
        return matrix_norm(A_, ord, dims if dims is not None else (0, 1), keepdim, dtype=dtype)
    return vector_norm(A_, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, out=None, dtype=None) -> Tensor:
    """The norm of ``input`` (PyTorch's older, overloaded entry; prefer md.linalg.*).

    A number ``p`` (or None, meaning 2) is :func:`vector_norm` over ``dim`` (all elements
    when None, also for a matrix); ``p = 'fro'`` is the 2-norm of the elements over ``dim``
    (at most 2 dims); ``'nuc'`` is :func:`matrix_norm`'s nuclear norm (the sum of the
    singular values) over the two dims ``dim`` (a 2-D ``input`` when None).

    Shapes: (*) -> (*) without the dims in ``dim``.

    >>> import minidl as md
    >>> x = md.tensor([[3., 4.], [6., 8.]])
    >>> md.norm(x), md.norm(x, dim=1), x.norm(p=1), x.norm(p="nuc")
    (tensor(11.1803), tensor([ 5.0000, 10.0000]), tensor(21.0000), tensor(11.1803))
    """
    if out is not None:
        raise TypeError("norm(): minidl has no out= argument")
    dims = [dim] if isinstance(dim, numbers.Integral) else dim
    if isinstance(p, str):
        if p == "fro" and (dims is None or len(dims) <= 2):
            return vector_norm(input, 2, dims, keepdim, dtype=dtype)
        return matrix_norm(input, p, list(range(input.ndim)) if dims is None else dims, keepdim, dtype=dtype)
    return vector_norm(input, 2.0 if p is None else p, dims, keepdim, dtype=dtype)


_MM_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


# --8<-- [start:cdist_by_matmul]
def _euclidean_by_matmul(x1: Tensor, x2: Tensor) -> Tensor:
    """||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b: one GEMM and (P, R) memory instead of (P, R, M).

    Rounding can make a zero distance slightly negative: clamped at 0, and the square root
    taken only where the square is positive, so a zero distance has gradient 0 (PyTorch's)."""
    sq1 = _sum(x1 * x1, -1, keepdim=True)  # (*, P, 1)
    sq2 = unsqueeze(_sum(x2 * x2, -1), -2)  # (*, 1, R)
    squared = sq1 + sq2 - 2.0 * matmul(x1, transpose(x2, -1, -2))
    positive = squared > 0
    return where(positive, sqrt(where(positive, squared, 1.0)), 0.0)
# --8<-- [end:cdist_by_matmul]


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """Pairwise distances between two sets of row vectors: out[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p.

    Batch dims broadcast. As in PyTorch, p = 2 with more than 25 rows in x1 or x2 (or
    ``compute_mode="use_mm_for_euclid_dist"``) uses ||a||^2 + ||b||^2 - 2 a.b (one GEMM,
    (P, R) memory; less exact for nearly equal rows); otherwise the p-norm of the broadcast
    difference, which holds P * R * M elements at once. The gradient at a zero distance is 0.

    Shapes: (*, P, M), (*, R, M) -> (*, P, R).

    >>> import minidl as md
    >>> md.cdist(md.tensor([[0., 0.], [1., 1.]]), md.tensor([[3., 4.]]))
    tensor([[5.0000],
            [3.6056]])
    """
    for i, t in enumerate((x1, x2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"cdist(): argument 'x{i + 1}' (position {i + 1}) must be Tensor, not {type(t).__name__}")
    if x1.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if not x1.dtype.is_floating_point or not x2.dtype.is_floating_point:
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {x1.dtype.name}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in _MM_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    if p == 2 and (compute_mode == _MM_MODES[1] or (compute_mode == _MM_MODES[0]
                                                    and (x1.shape[-2] > 25 or x2.shape[-2] > 25))):
        return _euclidean_by_matmul(x1, x2)
    diff = unsqueeze(x1, -2) - unsqueeze(x2, -3)  # (*, P, R, M)
    return vector_norm(diff, p, -1)
