"""Matrix decompositions: ``md.linalg.svd``, ``svdvals`` and ``qr``, with their gradients.

The singular value decomposition A = U diag(S) Vh (U, Vh with orthonormal columns / rows, S
descending and >= 0) is computed by one-sided Jacobi rotations, and A = Q R (Q orthonormal
columns, R upper triangular) by Householder reflections; both in C++
(cpp/ops/decomposition/svd.cpp and qr.cpp, where the derivations are), batched over the
leading dims. PyTorch calls LAPACK, which is faster on large matrices (see
bench/python/bench_linalg.py) but not a thing a learner can read.

Backward (g = the incoming gradient, * elementwise, k = min(m, n); PyTorch's formulas, from
"Auto-differentiating linear algebra", Seeger et al. 2017, and Walter and Lehmann 2018):

    svdvals:  gA = U diag(gS) Vh
    svd:      E_ij = S_j^2 - S_i^2 (1 on the diagonal), skew(X) = X - X^T,
              J = (skew(U^T gU) S_row + S_col skew(Vh gVh^T)) / E + diag(gS),
              gA = U J Vh, plus (I - U U^T) gU S^-1 Vh when m > n and
              U S^-1 gVh (I - Vh^T Vh) when m < n.
              With a repeated singular value E has a 0 off the diagonal and the gradient is
              inf / NaN, as PyTorch's (the singular vectors are not unique there; only a loss
              that depends on S alone, or on U, Vh through U Vh, is well defined).
    qr:       m >= n: M = R gR^T - gQ^T Q, gA = (gQ + Q copyltu(M)) R^-T, with
              copyltu(M) = tril(M) + tril(M, -1)^T; m < n: the same on the first m columns
              X = A[:, :m] (with gQ + Y gR_Y^T in place of gQ), and gY = Q gR_Y.
"""
from __future__ import annotations

import collections

from .. import _C
from ..dtypes import PYTORCH_NAMES, bfloat16, float16
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ._graph import edges, needs_grad
from .creation import empty, eye
from .gemm import matmul
from .shape import transpose, unsqueeze
from .join import cat, narrow
from .triangular import tril

_wrap = Tensor._wrap

# PyTorch's torch.return_types.linalg_svd / linalg_qr: tuples with named fields
linalg_svd = collections.namedtuple("linalg_svd", ["U", "S", "Vh"])
linalg_qr = collections.namedtuple("linalg_qr", ["Q", "R"])

_NON_FINITE = "linalg.svd: The algorithm failed to converge because the input matrix contained non-finite values."


def _check_matrices(A_: Tensor, name: str, kernel: str, function: str) -> None:
    """PyTorch's checks: a Tensor of float32 / float64 matrices (*, m, n)."""
    if not isinstance(A_, Tensor):
        raise TypeError(f"{function}(): argument 'A' (position 1) must be Tensor, not {type(A_).__name__}")
    if A_.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if not A_.dtype.is_floating_point:
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got "
                           f"{PYTORCH_NAMES[A_.dtype]}")
    if A_.dtype in (float16, bfloat16):
        raise NotImplementedError(f'"{kernel}" not implemented for \'{PYTORCH_NAMES[A_.dtype]}\' (use .float() '
                                  "or .double() first)")


def _mT(x: Tensor) -> Tensor:
    return transpose(x, -2, -1)


def _skew(x: Tensor) -> Tensor:
    return x - _mT(x)


# --8<-- [start:svd_backward]
def svd_backward(gU, gS, gVh, U: Tensor, S: Tensor, Vh: Tensor) -> Tensor:
    """gA from the gradients of the reduced U (m, k), S (k), Vh (k, n) (any may be None)."""
    m, n = U.shape[-2], Vh.shape[-1]
    if gU is None and gVh is None:  # svdvals: gA = U diag(gS) Vh
        return matmul(U * unsqueeze(gS, -2), Vh)
    k = S.shape[-1]
    S2 = S * S
    E = unsqueeze(S2, -2) - unsqueeze(S2, -1) + eye(k, dtype=S.dtype)  # 1 on the diagonal: 0 / 1 there
    if gU is not None and gVh is not None:
        J = (_skew(matmul(_mT(U), gU)) * unsqueeze(S, -2) + unsqueeze(S, -1) * _skew(matmul(Vh, _mT(gVh)))) / E
    elif gU is not None:
        J = _skew(matmul(_mT(U), gU)) * (unsqueeze(S, -2) / E)
    else:
        J = unsqueeze(S, -1) * (_skew(matmul(Vh, _mT(gVh))) / E)
    if gS is not None:
        J = J + unsqueeze(gS, -1) * eye(k, dtype=S.dtype)
    if m > n and gU is not None:  # the part of gU outside the column space of U
        gUSinv = gU / unsqueeze(S, -2)
        return matmul(matmul(U, J) + gUSinv - matmul(U, matmul(_mT(U), gUSinv)), Vh)
    if m < n and gVh is not None:  # the part of gVh outside the row space of Vh
        SinvgVh = gVh / unsqueeze(S, -1)
        return matmul(U, matmul(J, Vh) + SinvgVh - matmul(matmul(SinvgVh, _mT(Vh)), Vh))
    return matmul(U, matmul(J, Vh))
# --8<-- [end:svd_backward]


class SvdBackward(Node):
    """Outputs (U, S, Vh) -> gA; with full_matrices only the first k columns of U and rows of
    Vh carry gradient (the others are an arbitrary basis, as in PyTorch)."""
    __slots__ = ()
    n_outputs = 3

    def apply(self, grads):
        u, s, vh, full = self.get_saved()
        U, S, Vh = _wrap(u), _wrap(s), _wrap(vh)
        k = s.shape[-1]
        gU, gS, gVh = (None if g is None else _wrap(g) for g in grads)
        if full:
            U, Vh = narrow(U, -1, 0, k), narrow(Vh, -2, 0, k)
            gU = None if gU is None else narrow(gU, -1, 0, k)
            gVh = None if gVh is None else narrow(gVh, -2, 0, k)
        return (svd_backward(gU, gS, gVh, U, S, Vh)._data,)


class SvdvalsBackward(Node):
    __slots__ = ()

    def apply(self, g):
        u, s, vh = self.get_saved()
        return (svd_backward(None, _wrap(g), None, _wrap(u), _wrap(s), _wrap(vh))._data,)


def _svd_arrays(A_: Tensor, compute_uv: bool, full_matrices: bool):
    u, s, vh, non_finite = _C.svd(A_._data, compute_uv, full_matrices)
    if non_finite:
        raise RuntimeError(_NON_FINITE)
    return u, s, vh


def _no_driver(driver) -> None:
    if driver is not None:
        raise RuntimeError("torch.linalg.svd: keyword argument `driver=` is only supported on CUDA inputs with "
                           "cuSOLVER backend.")


def svd(A: Tensor, full_matrices: bool = True, *, driver=None) -> linalg_svd:
    """The singular value decomposition A = U diag(S) Vh of each matrix in ``A``.

    S holds the singular values, descending and >= 0; U's columns and Vh's rows are
    orthonormal (the left / right singular vectors). Unique only up to the sign of each pair
    (u_j, v_j) (and any rotation within a repeated singular value): compare U diag(S) Vh, not
    U itself, with another library. A matrix holding NaN or inf raises, as PyTorch's.
    Computed by one-sided Jacobi rotations (cpp/ops/decomposition/svd.cpp); the gradient is
    in this module's docstring (inf / NaN when singular values repeat and U or Vh is used).

    Shapes, k = min(m, n): A (*, m, n) -> U (*, m, m), S (*, k), Vh (*, n, n) with
    ``full_matrices=True`` (the columns past k complete an orthonormal basis; they get no
    gradient), U (*, m, k), Vh (*, k, n) without.

    >>> import minidl as md
    >>> A = md.tensor([[3., 0.], [4., 5.]])
    >>> U, S, Vh = md.linalg.svd(A)
    >>> S
    tensor([6.7082, 2.2361])
    >>> md.allclose(U @ md.diag(S) @ Vh, A, atol=1e-5), md.allclose(U.T @ U, md.eye(2), atol=1e-6)
    (True, True)
    """
    _check_matrices(A, "linalg.svd", "linalg_svd_cpu", "linalg_svd")
    if not isinstance(full_matrices, bool):
        raise TypeError(f"linalg_svd(): argument 'full_matrices' must be bool, not {type(full_matrices).__name__}")
    _no_driver(driver)
    u, s, vh = _svd_arrays(A, True, full_matrices)
    outs = linalg_svd(_wrap(u), _wrap(s), _wrap(vh))
    if needs_grad(A):
        node = SvdBackward(edges(A), (u, s, vh, full_matrices))
        for i, o in enumerate(outs):
            o._node, o._out_idx, o._rg = node, i, True
    return outs


def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values of each matrix in ``A``, descending: the S of :func:`svd`.

    Backward: gA = U diag(gS) Vh (so U and Vh are computed too when ``A`` requires grad,
    as in PyTorch); at a repeated singular value PyTorch's gradient is NaN and so is minidl's.

    Shapes: (*, m, n) -> (*, min(m, n)).

    >>> import minidl as md
    >>> md.linalg.svdvals(md.tensor([[2., 0.], [0., -3.]]))
    tensor([3.0000, 2.0000])
    """
    _check_matrices(A, "linalg.svd", "linalg_svd_cpu", "linalg_svdvals")
    _no_driver(driver)
    if not needs_grad(A):
        return _wrap(_svd_arrays(A, False, False)[1])
    u, s, vh = _svd_arrays(A, True, False)
    out = _wrap(s)
    out._node, out._rg = SvdvalsBackward(edges(A), (u, s, vh)), True
    return out


def _copyltu(M: Tensor) -> Tensor:
    """The symmetric matrix with M's lower triangle."""
    return tril(M) + _mT(tril(M, -1))


# --8<-- [start:qr_backward]
def qr_backward(gQ, gR, Q: Tensor, R: Tensor) -> Tensor:
    """gA from the gradients of Q (m, k) and R (k, n), k = min(m, n) (either may be None)."""
    m, n = Q.shape[-2], R.shape[-1]
    if gQ is None:
        gQ = _wrap(A.zeros(tuple(Q.shape), Q._data.dtype))
    if gR is None:
        gR = _wrap(A.zeros(tuple(R.shape), R._data.dtype))
    if m >= n:
        M = matmul(R, _mT(gR)) - matmul(_mT(gQ), Q)
        B = gQ + matmul(Q, _copyltu(M))
        return _wrap(_C.solve_upper_transposed(R._data, A.contiguous(B._data)))  # B R^-T
    # m < n: A = [X | Y], R = [U | V] with X = Q U (a square QR) and Y = Q V
    Rx, Ry, gRx, gRy = narrow(R, -1, 0, m), narrow(R, -1, m, n - m), narrow(gR, -1, 0, m), narrow(gR, -1, m, n - m)
    Y = matmul(Q, Ry)
    gX = qr_backward(gQ + matmul(Y, _mT(gRy)), gRx, Q, Rx)
    gY = matmul(Q, gRy)
    return cat([gX, gY], -1)
# --8<-- [end:qr_backward]


class QrBackward(Node):
    """Outputs (Q, R) -> gA. PyTorch's limits: mode 'r' (no Q) and mode 'complete' with
    m > n raise when the backward runs."""
    __slots__ = ()
    n_outputs = 2

    def apply(self, grads):
        q, r, mode = self.get_saved()
        if mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please "
                               "use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
        if mode == "complete" and q.shape[-2] > r.shape[-1]:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        gQ, gR = (None if g is None else _wrap(g) for g in grads)
        return (qr_backward(gQ, gR, _wrap(q), _wrap(r))._data,)


_QR_MODES = ("reduced", "complete", "r")


def qr(A: Tensor, mode: str = "reduced") -> linalg_qr:
    """The QR decomposition A = Q R of each matrix in ``A``: Q with orthonormal columns, R
    upper triangular.

    By Householder reflections with LAPACK's sign convention (R's diagonal is
    -sign(a) ||column|| at each step), so Q and R equal PyTorch's up to rounding when A has
    full column rank. ``mode``: 'reduced' (Q (*, m, k), R (*, k, n), k = min(m, n)),
    'complete' (Q (*, m, m), R (*, m, n)) or 'r' (R (*, k, n) only; Q is an empty tensor).
    Gradients as PyTorch: not for mode 'r', nor for 'complete' with m > n (both raise in the
    backward); the formula is in this module's docstring.

    >>> import minidl as md
    >>> Q, R = md.linalg.qr(md.tensor([[3., 1.], [4., 2.]]))
    >>> Q
    tensor([[-0.6000, -0.8000],
            [-0.8000,  0.6000]])
    >>> R
    tensor([[-5.0000, -2.2000],
            [ 0.0000,  0.4000]])
    """
    _check_matrices(A, "linalg.qr", "geqrf_cpu", "linalg_qr")
    if mode not in _QR_MODES:
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', "
                           "or 'complete'")
    q, r = _C.qr(A._data, mode != "r", mode == "complete")
    outs = linalg_qr(_wrap(q) if q is not None else empty(0, dtype=A.dtype), _wrap(r))
    if needs_grad(A):
        node = QrBackward(edges(A), (q, r, mode))
        for i, o in enumerate(outs):
            o._node, o._out_idx, o._rg = node, i, True
    return outs
