"""md.linalg.svd / svdvals / qr, the singular-value matrix norms (2, -2, 'nuc') and
nn.init.orthogonal_: reconstruction and orthonormality on random shapes, values and
gradients against PyTorch, float64 gradcheck, PyTorch's errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import require

import minidl as md

torch = require("torch")

SHAPES = [(1, 1), (4, 4), (7, 3), (3, 7), (6, 1), (1, 5), (2, 5, 3), (3, 2, 4, 4), (33, 17)]


def rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def tol(dtype):
    return 2e-5 if dtype == np.float32 else 1e-11


def eye_err(x):
    """max |X^T X - I| over the batch."""
    xtx = np.swapaxes(x, -1, -2) @ x
    return np.abs(xtx - np.eye(x.shape[-1])).max() if x.size else 0.0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("full", [False, True])
def test_svd_reconstructs_and_is_orthonormal(shape, dtype, full):
    a = rand(shape, dtype)
    U, S, Vh = md.linalg.svd(md.from_numpy(a), full_matrices=full)
    u, s, vh = U.numpy(), S.numpy(), Vh.numpy()
    m, n = shape[-2:]
    k = min(m, n)
    assert u.shape == shape[:-2] + ((m, m) if full else (m, k))
    assert vh.shape == shape[:-2] + ((n, n) if full else (k, n))
    assert u.dtype == dtype and s.dtype == dtype and vh.dtype == dtype
    scale = max(1.0, np.abs(a).max())
    np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, atol=10 * tol(dtype) * scale)
    assert eye_err(u) < 10 * tol(dtype) and eye_err(np.swapaxes(vh, -1, -2)) < 10 * tol(dtype)
    assert (np.diff(s, axis=-1) <= 0).all() and (s >= 0).all()
    np.testing.assert_allclose(s, torch.linalg.svdvals(torch.from_numpy(a)).numpy(), rtol=tol(dtype), atol=tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_svd_rank_deficient_and_zero(dtype):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((6, 2)) @ rng.standard_normal((2, 5))).astype(dtype)  # rank 2
    U, S, Vh = md.linalg.svd(md.from_numpy(a))
    u, s, vh = U.numpy(), S.numpy(), Vh.numpy()
    np.testing.assert_allclose((u[:, :5] * s) @ vh, a, atol=1e-5 if dtype == np.float32 else 1e-12)
    assert eye_err(u) < 1e-5 and eye_err(vh.T) < 1e-5
    assert s[2:].max() < 1e-5 * s[0]
    U, S, Vh = md.linalg.svd(md.zeros(3, 4, dtype=md.float64))  # all singular values 0: any basis
    assert (S.numpy() == 0).all() and eye_err(U.numpy()) < 1e-15 and eye_err(Vh.numpy().T) < 1e-15


def test_svd_non_contiguous_input_and_empty():
    a = rand((5, 8))
    got = md.linalg.svdvals(md.from_numpy(a).T)  # a transposed view
    np.testing.assert_allclose(got.numpy(), np.linalg.svd(a.T, compute_uv=False), rtol=1e-12)
    U, S, Vh = md.linalg.svd(md.zeros(0, 3))
    assert tuple(U.shape) == (0, 0) and tuple(S.shape) == (0,) and tuple(Vh.shape) == (3, 3)
    assert tuple(md.linalg.svdvals(md.zeros(2, 0, 3)).shape) == (2, 0)


def test_svd_is_a_named_tuple_with_pytorch_fields():
    out = md.linalg.svd(md.eye(2))
    assert out._fields == ("U", "S", "Vh") and out.S is out[1]
    q = md.linalg.qr(md.eye(2))
    assert q._fields == ("Q", "R") and q.R is q[1]


@pytest.mark.parametrize("shape", [(3, 9, 6), (6, 9), (1, 1), (33, 17), (70, 70), (2, 5, 300)])
def test_svd_kernel_sets_agree_with_the_scalar_reference(shape):
    """float32 Jacobi steps run in SIMD lanes (svd_simd.cpp) on each kernel set: the same
    singular values and U S Vh as the scalar reference (whose dots sum in double) within
    float32 rounding; QR has no SIMD table: the same bits."""
    a = md.from_numpy(rand(shape, np.float32))
    with md.backend.using("scalar"):
        U0, S0, V0 = (t.numpy() for t in md.linalg.svd(a, full_matrices=False))
        q0 = [t.numpy() for t in md.linalg.qr(a)]
    for kernel_set in md.backend.available():
        with md.backend.using(kernel_set):
            U, S, V = (t.numpy() for t in md.linalg.svd(a, full_matrices=False))
            q = [t.numpy() for t in md.linalg.qr(a)]
        scale = float(S0.max()) if S0.size else 1.0
        np.testing.assert_allclose(S, S0, atol=3e-6 * scale, err_msg=kernel_set)
        np.testing.assert_allclose((U * S[..., None, :]) @ V, (U0 * S0[..., None, :]) @ V0, atol=3e-6 * scale)
        assert eye_err(U) < 3e-5 and eye_err(np.swapaxes(V, -1, -2)) < 3e-5
        for g, w in zip(q, q0):
            np.testing.assert_array_equal(g, w)


def test_svd_two_threads_equal_one_thread():
    """A batch split across threads gives the same bits as on one thread."""
    a = md.from_numpy(rand((5, 40, 30), np.float32))
    before = md.get_num_threads()
    try:
        md.set_num_threads(1)
        one = [t.numpy() for t in md.linalg.svd(a)]
        md.set_num_threads(2)
        two = [t.numpy() for t in md.linalg.svd(a)]
    finally:
        md.set_num_threads(before)
    for g, w in zip(two, one):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("shape", SHAPES + [(0, 3), (3, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_matches_pytorch(shape, dtype, mode):
    """Same sign convention as LAPACK: Q and R equal PyTorch's for full-rank A."""
    a = rand(shape, dtype)
    Q, R = md.linalg.qr(md.from_numpy(a), mode=mode)
    tQ, tR = torch.linalg.qr(torch.from_numpy(a), mode=mode)
    assert tuple(Q.shape) == tuple(tQ.shape) and tuple(R.shape) == tuple(tR.shape)
    assert R.dtype == (md.float32 if dtype == np.float32 else md.float64)
    np.testing.assert_allclose(R.numpy(), tR.numpy(), rtol=10 * tol(dtype), atol=10 * tol(dtype))
    if mode != "r":
        np.testing.assert_allclose(Q.numpy(), tQ.numpy(), rtol=10 * tol(dtype), atol=10 * tol(dtype))
        np.testing.assert_allclose(Q.numpy() @ R.numpy(), a, atol=10 * tol(dtype))
        assert eye_err(Q.numpy()) < 10 * tol(dtype)
        assert (np.tril(R.numpy(), -1) == 0).all()


def test_qr_rank_deficient_reconstructs():
    a = np.ones((4, 3))
    Q, R = md.linalg.qr(md.from_numpy(a))
    np.testing.assert_allclose(Q.numpy() @ R.numpy(), a, atol=1e-14)
    assert eye_err(Q.numpy()) < 1e-14


# ---- gradients ----------------------------------------------------------------------------

def _grad_pair(fn_md, fn_torch, a):
    x = md.from_numpy(a.copy()).requires_grad_()
    fn_md(x).backward()
    t = torch.from_numpy(a.copy()).requires_grad_()
    fn_torch(t).backward()
    return x.grad.numpy(), t.grad.numpy()


def _weights(shape, seed):
    return rand(shape, np.float64, seed)


# losses that do not depend on the sign / basis choice of the singular vectors
def _svd_losses(lib, full):
    def uvh_loss(a):
        U, S, Vh = lib.linalg.svd(a, full_matrices=full)
        k = S.shape[-1]
        Uk, Vk = U[..., :, :k], Vh[..., :k, :]
        w = lib.from_numpy(_weights(tuple(Uk.shape[:-1]) + (Vk.shape[-1],), 5))
        return ((Uk @ Vk) * w).sum() + (S * S).sum() + ((Uk * Uk).sum(-2) * S).sum()

    def projector_loss(a):
        U, S, Vh = lib.linalg.svd(a, full_matrices=full)
        k = S.shape[-1]
        P = U[..., :, :k] @ U[..., :, :k].transpose(-2, -1)  # projector on the column space
        w = lib.from_numpy(_weights(tuple(P.shape), 6))
        return (P * w).sum() + (Vh[..., :k, :].transpose(-2, -1) @ Vh[..., :k, :]).sum()
    return uvh_loss, projector_loss


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3), (1, 1), (1, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_svd_gradients_match_pytorch(shape, full):
    a = rand(shape, np.float64, 3)
    for md_loss, torch_loss in zip(_svd_losses(md, full), _svd_losses(torch, full)):
        got, want = _grad_pair(md_loss, torch_loss, a)
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 3, 2), (1, 1)])
def test_svdvals_and_norm_gradients_match_pytorch(shape):
    a = rand(shape, np.float64, 4)
    w = _weights(shape[:-2] + (min(shape[-2:]),), 7)
    cases = [(lambda lib: lambda x: (lib.linalg.svdvals(x) * lib.from_numpy(w)).sum()),
             (lambda lib: lambda x: lib.linalg.matrix_norm(x, 2).sum()),
             (lambda lib: lambda x: lib.linalg.matrix_norm(x, -2).sum()),
             (lambda lib: lambda x: lib.linalg.matrix_norm(x, "nuc").sum())]
    for case in cases:
        got, want = _grad_pair(case(md), case(torch), a)
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape,mode", [((5, 3), "reduced"), ((4, 4), "reduced"), ((3, 5), "reduced"),
                                        ((3, 5), "complete"), ((4, 4), "complete"), ((2, 4, 2), "reduced"),
                                        ((1, 1), "reduced"), ((2, 3, 6), "complete")])
def test_qr_gradients_match_pytorch(shape, mode):
    a = rand(shape, np.float64, 8)

    def loss(lib):
        def f(x):
            Q, R = lib.linalg.qr(x, mode=mode)
            return (Q * lib.from_numpy(_weights(tuple(Q.shape), 9))).sum() + (R * lib.from_numpy(
                _weights(tuple(R.shape), 10))).sum()
        return f
    got, want = _grad_pair(loss(md), loss(torch), a)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
    for only in (0, 1):  # a gradient through Q alone and through R alone
        got, want = _grad_pair(lambda x: lib_sum(md, x, mode, only), lambda x: lib_sum(torch, x, mode, only), a)
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


def lib_sum(lib, x, mode, only):
    out = lib.linalg.qr(x, mode=mode)[only]
    return (out * out).sum() + out.sum()


def test_gradcheck_float64():
    gc = md.autograd.gradcheck
    a = md.from_numpy(rand((4, 3), seed=11)).requires_grad_()
    b = md.from_numpy(rand((2, 3, 5), seed=12)).requires_grad_()
    assert gc(lambda x: md.linalg.svdvals(x), (a,))
    assert gc(lambda x: md.linalg.svdvals(x), (b,))
    for full in (False, True):
        assert gc(lambda x: (lambda r: (r.U[..., :, :3] @ r.Vh[..., :3, :], r.S))(md.linalg.svd(x, full)), (a,))
        assert gc(lambda x: (lambda r: (r.U[..., :, :3] @ r.Vh[..., :3, :], r.S))(md.linalg.svd(x, full)), (b,))
    for ord_ in (2, -2, "nuc"):
        assert gc(lambda x: md.linalg.matrix_norm(x, ord_), (b,))
        assert gc(lambda x: md.linalg.matrix_norm(x, ord_, dim=(0, 2)), (b,))
    assert gc(lambda x: tuple(md.linalg.qr(x)), (a,))
    assert gc(lambda x: tuple(md.linalg.qr(x, mode="complete")), (b,))


def test_svd_gradient_with_repeated_singular_values_is_nan_as_pytorch():
    x = md.eye(3, dtype=md.float64).requires_grad_()
    md.linalg.svd(x).U.sum().backward()
    t = torch.eye(3, dtype=torch.float64).requires_grad_()
    torch.linalg.svd(t).U.sum().backward()
    assert np.isnan(x.grad.numpy()).all() == np.isnan(t.grad.numpy()).all()
    assert not np.isfinite(x.grad.numpy()).all()


def test_qr_backward_errors_as_pytorch():
    a = md.randn(4, 3, dtype=md.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="not computed when mode='r'"):
        md.linalg.qr(a, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
        md.linalg.qr(a, mode="complete").Q.sum().backward()
    assert md.linalg.qr(a, mode="r").Q.shape == (0,)


# ---- norms -------------------------------------------------------------------------------

@pytest.mark.parametrize("ord_", [2, -2, "nuc", "fro", 1, -math.inf])
@pytest.mark.parametrize("shape,dim", [((4, 4), (-2, -1)), ((3, 5), (0, 1)), ((2, 3, 4), (0, 2)),
                                       ((2, 3, 4), (-1, 1)), ((1, 1), (-2, -1)), ((5, 2, 3), (2, 0))])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm_matches_pytorch(ord_, shape, dim, keepdim):
    a = rand(shape, np.float32, 13)
    got = md.linalg.matrix_norm(md.from_numpy(a), ord_, dim, keepdim)
    want = torch.linalg.matrix_norm(torch.from_numpy(a), ord_, dim, keepdim)
    assert tuple(got.shape) == tuple(want.shape) and got.dtype == md.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_linalg_norm_and_norm_choose_as_pytorch():
    a = rand((3, 4), np.float32, 14)
    b = rand((2, 3, 4), np.float32, 15)
    calls = [lambda t, x, y: t.linalg.norm(x), lambda t, x, y: t.linalg.norm(x, 2), lambda t, x, y: t.linalg.norm(x, "nuc"),
             lambda t, x, y: t.linalg.norm(x, -2), lambda t, x, y: t.linalg.norm(x, 3, dim=1),
             lambda t, x, y: t.linalg.norm(y, 2, dim=(0, 2), keepdim=True), lambda t, x, y: t.linalg.norm(y, dim=(1, 2)),
             lambda t, x, y: t.linalg.norm(x[0], 1), lambda t, x, y: t.linalg.norm(y, dtype=t.float64),
             lambda t, x, y: t.norm(x, p="nuc"), lambda t, x, y: x.norm("nuc", keepdim=True),
             lambda t, x, y: t.norm(y, p="nuc", dim=(1, 2)), lambda t, x, y: t.norm(x, p=2, dim=(0, 1))]
    for call in calls:
        got = call(md, md.from_numpy(a), md.from_numpy(b))
        want = call(torch, torch.from_numpy(a), torch.from_numpy(b))
        assert tuple(got.shape) == tuple(want.shape) and str(got.dtype)[-7:] == str(want.dtype)[-7:]
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_empty_matrix_norms_as_pytorch():
    assert md.linalg.matrix_norm(md.zeros(0, 3), 2).item() == 0
    assert md.linalg.matrix_norm(md.zeros(0, 3), "nuc").item() == 0
    with pytest.raises(IndexError, match="non-zero size"):
        md.linalg.matrix_norm(md.zeros(0, 3), -2)


# ---- orthogonal_ -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 1), (3, 2, 4), (6, 2, 2)])
def test_orthogonal_init(shape):
    md.manual_seed(3)
    w = md.nn.init.orthogonal_(md.empty(*shape), gain=2.0)
    assert tuple(w.shape) == shape
    flat = w.numpy().reshape(shape[0], -1) / 2.0
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)
    md.manual_seed(7)  # the draws come from minidl's generator: reproducible
    a = md.nn.init.orthogonal_(md.empty(*shape), generator=None).numpy()
    md.manual_seed(7)
    b = md.nn.init.orthogonal_(md.empty(*shape)).numpy()
    np.testing.assert_array_equal(a, b)


def test_orthogonal_init_leaves_grad_alone_and_checks_dims():
    w = md.nn.Parameter(md.empty(4, 3))
    out = md.nn.init.orthogonal_(w)
    assert out is w and w.grad_fn is None and w.requires_grad
    with pytest.raises(ValueError, match="2 or more dimensions"):
        md.nn.init.orthogonal_(md.empty(3))
    assert md.nn.init.orthogonal_(md.empty(0, 3)).shape == (0, 3)
    h = md.nn.init.orthogonal_(md.empty(4, 6, dtype=md.float64))
    assert h.dtype == md.float64
    low = md.nn.init.orthogonal_(md.empty(4, 6, dtype=md.bfloat16)).float().numpy()  # built in float32
    np.testing.assert_allclose(low @ low.T, np.eye(4), atol=2e-2)


# ---- bad input ---------------------------------------------------------------------------

def test_errors_as_pytorch():
    x = md.ones(2, 2)
    cases = [
        (lambda: md.linalg.svd(md.ones(2)), RuntimeError, "at least 2 dimensions"),
        (lambda: md.linalg.svdvals(md.ones(2)), RuntimeError, "at least 2 dimensions"),
        (lambda: md.linalg.qr(md.ones(2)), RuntimeError, "at least 2 dimensions"),
        (lambda: md.linalg.matrix_norm(md.ones(2), 2), RuntimeError, "at least 2 dimensions"),
        (lambda: md.linalg.matrix_norm(x, 3), RuntimeError, "Order 3 not supported"),
        (lambda: md.linalg.matrix_norm(x, "abc"), RuntimeError, "Order abc not supported"),
        (lambda: md.linalg.matrix_norm(x, "nuc", dim=(0, 0)), RuntimeError, "dims must be different"),
        (lambda: md.linalg.qr(x, mode="x"), RuntimeError, "unrecognized mode 'x'"),
        (lambda: md.linalg.svd(md.ones(2, 2, dtype=md.int64)), RuntimeError, "Got Long"),
        (lambda: md.linalg.qr(md.ones(2, 2, dtype=md.int64)), RuntimeError, "Got Long"),
        (lambda: md.linalg.matrix_norm(md.ones(2, 2, dtype=md.int64), 2), RuntimeError, "Got Long"),
        (lambda: md.linalg.svd(x.half()), NotImplementedError, "not implemented for 'Half'"),
        (lambda: md.linalg.matrix_norm(x.half(), "nuc"), RuntimeError, "Low precision dtypes not supported"),
        (lambda: md.linalg.svd(x, full_matrices=1.5), TypeError, "must be bool"),
        (lambda: md.linalg.svd(x, driver="gesvd"), RuntimeError, "driver="),
        (lambda: md.linalg.svd([[1.0]]), TypeError, "linalg_svd.*must be Tensor"),
        (lambda: md.linalg.svdvals([[1.0]]), TypeError, "linalg_svdvals.*must be Tensor"),
        (lambda: md.linalg.qr(None), TypeError, "linalg_qr.*must be Tensor"),
        (lambda: md.linalg.norm(md.ones(2, 2, 2), "nuc"), RuntimeError, "must be 1D or 2D. Got 3D"),
        (lambda: md.linalg.norm(md.ones(2, 2, 2), dim=(0, 1, 2)), RuntimeError, "must be of length 1 or 2"),
        (lambda: md.norm(md.ones(3, 2, 2), p="nuc"), RuntimeError, "dim must be a 2-tuple"),
    ]
    for call, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            call()


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_input(bad):
    """SVD raises naming the non-finite values (PyTorch's message); QR returns, with NaNs (where
    PyTorch has them for a NaN; LAPACK's scaling leaves some finite entries for an inf)."""
    a = np.array([[bad, 1.0], [1.0, 1.0]], np.float32)
    for fn in (md.linalg.svd, md.linalg.svdvals, lambda x: md.linalg.matrix_norm(x, 2)):
        with pytest.raises(RuntimeError, match="contained non-finite values"):
            fn(md.from_numpy(a))
    Q, R = md.linalg.qr(md.from_numpy(a))
    tQ, tR = torch.linalg.qr(torch.from_numpy(a))
    assert not np.isfinite(Q.numpy()).all() and not np.isfinite(R.numpy()).all()
    if math.isnan(bad):
        np.testing.assert_array_equal(np.isnan(Q.numpy()), np.isnan(tQ.numpy()))
