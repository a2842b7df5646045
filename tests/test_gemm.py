"""GEMM kernels (_C.mm / _C.addmm / _C.bmm) against NumPy float64 results.

Covers every available kernel set (_C.available_isas()), 1 and 2 threads, all transpose
combinations (transposed NumPy views are passed straight to the kernel), odd sizes around the
micro-tile edges, K = 0, strided (non-contiguous) inputs and batch broadcasting.
"""
import numpy as np
import pytest

from minidl import _C as C

ISAS = list(C.available_isas())
SIZES = [1, 7, 33, 65, 127, 257]


@pytest.fixture(params=[(isa, nt) for isa in ISAS for nt in (1, 2)],
                ids=lambda p: f"{p[0]}-{p[1]}t")
def backend(request):
    """Sets the kernel set and thread count for a test and restores both afterwards."""
    isa, nt = request.param
    old_isa = C.isa_name()
    C.set_isa(isa)
    C.set_num_threads(nt)
    yield isa, nt
    C.set_isa(old_isa)
    C.set_num_threads(1)


def ref_mm(a, b):
    return np.matmul(a.astype(np.float64), b.astype(np.float64))


def assert_close(got, want, K, dtype=np.float32):
    # float32 accumulation of K products of ~N(0, 1) values: the worst-case bound grows like
    # K * eps (the typical error like sqrt(K) * eps)
    eps = np.finfo(dtype).eps
    tol = 8 * eps * max(K, 1)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def operands(rng, M, K, N, ta, tb, dtype=np.float32):
    """op(A) (M x K) and op(B) (K x N); a transposed operand is a .T view of a stored array."""
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    return (a.T if ta else a), (b.T if tb else b)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_mm_transposes_odd_sizes(backend, ta, tb):
    rng = np.random.default_rng(1)
    # N = 200 and 256 with a row-major A: read in place by the AVX-512 set (up to 16 vectors),
    # packed by AVX2 and for a transposed A; K = 1100: several K blocks
    for M, K, N in [(1, 1, 1), (7, 33, 65), (33, 7, 1), (1, 257, 127), (127, 65, 257),
                    (65, 127, 33), (257, 1, 7), (13, 300, 70), (37, 1100, 200), (130, 40, 256)]:
        a, b = operands(rng, M, K, N, ta, tb)
        assert_close(C.mm(a, b), ref_mm(a, b), K)


@pytest.mark.parametrize("M", SIZES)
def test_mm_all_sizes(backend, M):
    rng = np.random.default_rng(M)
    for K in SIZES:
        for N in SIZES:
            a, b = operands(rng, M, K, N, False, False)
            assert_close(C.mm(a, b), ref_mm(a, b), K)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_mm_and_bias_around_the_tile_edges(backend, ta, tb):
    """M and N one below, at and one above multiples of the micro-tiles' rows (6) and columns
    (AVX-512 64, AVX2 16; also 8 and 48), K around a vector and a K block; every M and every N
    meet several partners. The Linear layer's bias row (addmm) on the same shapes goes through
    the fused stores of full and ragged tiles."""
    rng = np.random.default_rng(21)
    sizes = [1, 5, 6, 7, 8, 9, 15, 17, 47, 48, 49, 63, 64, 65, 95, 97, 127, 129]
    ks = [1, 3, 16, 255, 257]
    for i, M in enumerate(sizes):
        for j, N in enumerate(sizes):
            if (i + j) % 3:  # a third of the pairs: every M and every N, in under a second per backend
                continue
            K = ks[(i * len(sizes) + j) % len(ks)]
            a, b = operands(rng, M, K, N, ta, tb)
            assert_close(C.mm(a, b), ref_mm(a, b), K)
            if not ta:
                bias = rng.standard_normal(N).astype(np.float32)
                assert_close(C.addmm(bias, a, b), ref_mm(a, b) + bias, K)


def test_mm_large_blocks(backend):
    # crosses the KC / MC / NC block edges and the thread split
    rng = np.random.default_rng(2)
    for (M, K, N), ta, tb in [((300, 600, 2100), False, False), ((520, 260, 97), True, False),
                              ((61, 530, 300), False, True), ((250, 257, 250), True, True)]:
        a, b = operands(rng, M, K, N, ta, tb)
        assert_close(C.mm(a, b), ref_mm(a, b), K)


@pytest.mark.parametrize("ta,tb", [(False, True), (False, False), (True, True)])
def test_narrow_shapes(backend, ta, tb):
    # M = 1..33 x N = 1..17: A @ B^T with N <= 16 or 8 M < K takes the dot-product kernel
    # (cpp/ops/gemm/gemm_dot_kernel.h: 4-row tiles, a K tail of K % 16), the rest and the other
    # layouts the micro-kernel's ragged edges, A read in place (N <= 128 here); K = 1 (below one
    # vector: never the dot kernel), 17, 300.
    rng = np.random.default_rng(11)
    for K in (1, 17, 300):
        for M in range(1, 34):
            for N in range(1, 18):
                a, b = operands(rng, M, K, N, ta, tb)
                assert_close(C.mm(a, b), ref_mm(a, b), K)
    for M, K, N in [(128, 512, 10), (10, 512, 128), (3, 40, 200)]:  # addmm: beta = 1
        a, b = operands(rng, M, K, N, ta, tb)
        bias = rng.standard_normal(N).astype(np.float32)
        assert_close(C.addmm(bias, a, b), ref_mm(a, b) + bias, K)


def test_k_zero(backend):
    a = np.zeros((5, 0), np.float32)
    b = np.zeros((0, 7), np.float32)
    np.testing.assert_array_equal(C.mm(a, b), np.zeros((5, 7), np.float32))
    bias = np.arange(7, dtype=np.float32)
    np.testing.assert_array_equal(C.addmm(bias, a, b), np.broadcast_to(bias, (5, 7)))
    empty = C.mm(np.zeros((0, 3), np.float32), np.zeros((3, 4), np.float32))
    assert empty.shape == (0, 4)


def test_non_contiguous(backend):
    rng = np.random.default_rng(3)
    big_a = rng.standard_normal((80, 90)).astype(np.float32)
    big_b = rng.standard_normal((100, 70)).astype(np.float32)
    cases = [
        (big_a[::2, 1:60], big_b[3:62, ::3]),    # step along rows / along columns (copied)
        (big_a[5:40, 7:77], big_b[10:80, 5:55]),  # sub-blocks: leading dims > widths
        (big_a[1:70:3, 2:50].T, big_b[4:27, ::2]),  # transposed view of a strided slice
        (big_a[3:50, 10:60], big_b[10:60, 2:69:2]),  # column step: copied to contiguous
    ]
    for a, b in cases:
        assert_close(C.mm(a, b), ref_mm(a, b), a.shape[1])


@pytest.mark.parametrize("tb", [False, True])
def test_addmm(backend, tb):
    rng = np.random.default_rng(4)
    for M, K, N in [(1, 1, 1), (7, 33, 65), (127, 257, 33), (64, 300, 600)]:
        a, b = operands(rng, M, K, N, False, tb)
        bias = rng.standard_normal(N).astype(np.float32)
        assert_close(C.addmm(bias, a, b), ref_mm(a, b) + bias, K)
        bias2 = rng.standard_normal((M, N)).astype(np.float32)
        assert_close(C.addmm(bias2, a, b), ref_mm(a, b) + bias2, K)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_addmm_bias_row_fused(backend, dtype):
    """A bias row (N,) or (1, N) is added by the GEMM's stores (sgemm_bias / dgemm_bias), a full
    (M, N) bias is copied into C first and the GEMM accumulates onto it: the same additions in
    the same order, so the two agree bit for bit. The shapes take each path: the one-row GEMV,
    the dot-product kernel (A @ B^T with N <= half the tile width or 8 M < K), the blocked path with A read in
    place (N <= 128, 256 for a row-major A with AVX-512) and packed, two K blocks (K = 1100), ragged micro-tiles, and on 2 threads
    a split along N (the bias offset by the thread's first column) or along M."""
    rng = np.random.default_rng(12)
    for M, K, N in [(1, 40, 70), (5, 300, 9), (4, 200, 64), (37, 29, 53), (130, 1100, 45),
                    (70, 65, 300), (300, 40, 20)]:
        for tb in (False, True):
            a, b = operands(rng, M, K, N, False, tb, dtype)
            bias = rng.standard_normal(N).astype(dtype)
            full = np.ascontiguousarray(np.broadcast_to(bias, (M, N)))
            got = C.addmm(bias, a, b)
            np.testing.assert_array_equal(got, C.addmm(full, a, b), err_msg=f"{M}x{K}x{N} tb={tb}")
            np.testing.assert_array_equal(C.addmm(bias[None, :], a, b), got)
            np.testing.assert_array_equal(C.addmm(np.repeat(bias, 2)[::2], a, b), got)  # strided bias
            assert_close(got, ref_mm(a, b) + bias, K, dtype)


@pytest.mark.parametrize("tb", [False, True])
def test_row_vector_gemv(backend, tb):
    """M = 1 (one token through a Linear layer) takes the GEMV path of the SIMD sets: K and N
    around the vector width and its 4-row / 4-vector blocks, strided rows, a bias (beta = 1)."""
    rng = np.random.default_rng(11)
    for K, N in [(1, 1), (15, 17), (16, 64), (17, 65), (33, 129), (256, 1024), (1000, 3), (3, 1000), (257, 63)]:
        a, b = operands(rng, 1, K, N, False, tb)
        assert_close(C.mm(a, b), ref_mm(a, b), K)
        bias = rng.standard_normal(N).astype(np.float32)
        assert_close(C.addmm(bias, a, b), ref_mm(a, b) + bias, K)
        big = rng.standard_normal((N, K + 5) if tb else (K, N + 5)).astype(np.float32)
        strided = big[:, :K].T if tb else big[:, :N]  # leading dimension > width
        row = rng.standard_normal((3, K)).astype(np.float32)[1:2]
        assert_close(C.mm(row, strided), ref_mm(row, strided), K)


@pytest.mark.parametrize("tb", [False, True])
def test_column_vector_gemv(backend, tb):
    """N = 1 (a matrix times a vector, torch.mv) with a row-major A takes the GEMV of the
    transposed product: M and K around the vector width and its 4-row groups, A with a leading
    dimension > K, a bias (beta = 1), a long K of same-signed terms summed in blocks, and the
    shapes it must leave alone (a transposed A, a strided column)."""
    rng = np.random.default_rng(13)
    for M, K in [(2, 1), (3, 15), (4, 16), (5, 17), (33, 129), (512, 8192), (1000, 3), (7, 1000)]:
        a, b = operands(rng, M, K, 1, False, tb)
        assert_close(C.mm(a, b), ref_mm(a, b), K)
        bias = rng.standard_normal(1).astype(np.float32)
        assert_close(C.addmm(bias, a, b), ref_mm(a, b) + bias, K)
        wide = rng.standard_normal((M, K + 5)).astype(np.float32)[:, :K]   # lda > K
        assert_close(C.mm(wide, b), ref_mm(wide, b), K)
        at, _ = operands(rng, M, K, 1, True, tb)                             # transposed A
        assert_close(C.mm(at, b), ref_mm(at, b), K)
        col = rng.standard_normal((K, 3)).astype(np.float32)[:, 1:2]         # a strided column
        assert_close(C.mm(a, col), ref_mm(a, col), K)
    x = rng.random(1_000_003).astype(np.float32)
    rows = np.stack([x, 2 * x, x[::-1].copy()])                              # 3 rows: x . x, 2 x . x, ...
    got = C.mm(rows, (x[None, :].T if tb else x[:, None]))
    exact = rows.astype(np.float64) @ x.astype(np.float64)
    np.testing.assert_allclose(got[:, 0], exact, rtol=1e-5)


@pytest.mark.parametrize("tb", [False, True])
def test_row_vector_gemv_sums_long_k_in_blocks(backend, tb):
    """A long K of same-signed terms (x @ x over 10^6 positive squares): summed in kc blocks as
    the blocked path does, not in one register lane (that lost 4e-4 relative, failing the
    scalar-vs-SIMD dot test); N = 1, a narrow N and a 4-row group, both layouts of B."""
    rng = np.random.default_rng(12)
    K = 1_000_003
    x = rng.random(K).astype(np.float32)
    for N in (1, 3, 4):
        b = np.tile(x[:, None], (1, N)) if not tb else np.ascontiguousarray(np.tile(x[None, :], (N, 1)))
        got = C.mm(x[None, :], b.T if tb else b)
        exact = float(np.dot(x.astype(np.float64), x.astype(np.float64)))
        np.testing.assert_allclose(got, np.full((1, N), exact), rtol=1e-5)


def test_beta_zero_ignores_nan_output(backend):
    # mm allocates its output uninitialized (beta = 0); free a NaN-filled block of the same
    # size first so the allocator likely hands it back (a best-effort probe)
    rng = np.random.default_rng(5)
    for _ in range(3):
        junk = np.full((64, 64), np.nan, np.float32)
        del junk
        a, b = operands(rng, 64, 40, 64, False, False)
        out = C.mm(a, b)
        assert np.isfinite(out).all()
        assert_close(out, ref_mm(a, b), 40)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_bmm(backend, ta, tb):
    rng = np.random.default_rng(6)
    for batch, M, K, N in [(1, 7, 33, 65), (5, 1, 1, 1), (12, 64, 64, 64), (3, 65, 127, 257),
                           (40, 16, 8, 16)]:
        a = rng.standard_normal((batch, K, M) if ta else (batch, M, K)).astype(np.float32)
        b = rng.standard_normal((batch, N, K) if tb else (batch, K, N)).astype(np.float32)
        a = a.transpose(0, 2, 1) if ta else a
        b = b.transpose(0, 2, 1) if tb else b
        assert_close(C.bmm(a, b), ref_mm(a, b), K)


def test_bmm_broadcast_batch(backend):
    rng = np.random.default_rng(7)
    for batch, M, K, N in [(6, 33, 17, 65), (24, 8, 64, 8), (3, 200, 100, 150)]:
        a1 = rng.standard_normal((1, M, K)).astype(np.float32)
        b = rng.standard_normal((batch, K, N)).astype(np.float32)
        assert_close(C.bmm(a1, b), ref_mm(np.broadcast_to(a1, (batch, M, K)), b), K)
        a = rng.standard_normal((batch, M, K)).astype(np.float32)
        b1 = rng.standard_normal((1, K, N)).astype(np.float32)
        assert_close(C.bmm(a, b1), ref_mm(a, np.broadcast_to(b1, (batch, K, N))), K)


def test_bmm_non_contiguous(backend):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((6, 40, 50)).astype(np.float32)[::2, 3:36, ::2]
    b = rng.standard_normal((3, 30, 45)).astype(np.float32)[:, 2:27, 5:40]
    assert_close(C.bmm(a, b), ref_mm(a, b), a.shape[2])


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_float64(backend, ta, tb):
    rng = np.random.default_rng(9)
    for M, K, N in [(1, 1, 1), (7, 33, 65), (65, 9, 130)]:
        a, b = operands(rng, M, K, N, ta, tb, np.float64)
        np.testing.assert_allclose(C.mm(a, b), ref_mm(a, b), rtol=1e-12, atol=1e-12 * K)
    a = rng.standard_normal((4, 9, 5))
    b = rng.standard_normal((1, 5, 11))
    np.testing.assert_allclose(C.bmm(a, b), ref_mm(a, b), rtol=1e-12, atol=1e-11)


def test_isas_agree():
    # every kernel set gives (nearly) the same result as the scalar reference set
    rng = np.random.default_rng(10)
    a, b = operands(rng, 70, 300, 90, False, True)
    old = C.isa_name()
    try:
        outs = {}
        for isa in ISAS:
            C.set_isa(isa)
            outs[isa] = C.mm(a, b)
    finally:
        C.set_isa(old)
    for isa, out in outs.items():
        assert_close(out, outs["scalar"], 300)


@pytest.mark.parametrize("shapes", [((4, 3, 16, 8), (4, 3, 8, 16)), ((2, 16, 8), (8, 5)), ((3, 1, 6, 4), (2, 4, 7))])
def test_matmul_backward_of_a_broadcast_gradient(shapes):
    """(a @ b).sum().backward(): the gradient is a stride-0 array of ones, made contiguous once
    for both products of MatmulBackward; a's and b's gradients are the ones of PyTorch."""
    from conftest import require
    torch = require("torch")
    import minidl as md
    rng = np.random.default_rng(0)
    a_np, b_np = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    a, b = md.tensor(a_np, requires_grad=True), md.tensor(b_np, requires_grad=True)
    (a @ b.transpose(-1, -2).transpose(-1, -2)).sum().backward()
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    (ta @ tb).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)
