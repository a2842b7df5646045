"""Low-precision GEMM (cpp/ops/gemm/gemm_lowp.cpp, cpp/ops/gemm/gemm_lowp_simd.cpp).

Accuracy: bfloat16/float16 inputs are exact in float32 and so is the product of two of them,
so the only error is float32 accumulation. The classic bound for any summation order,
|fl(sum x_k) - sum x_k| <= gamma_n * sum |x_k| with gamma_n = n u / (1 - n u), u = 2^-24,
gives the tolerance against a float64 reference: |C - C64| <= gamma_(K+1) * (|A| @ |B|).

Exact agreement (identical math):
  * the vdpbf16ps kernel equals a float32 emulation of its summation order bit for bit
    (per k pair: acc += a[k+1] b[k+1], then acc += a[k] b[k]; one kc block, K <= 1024);
    on an AMX CPU it serves the products with M < 16, N < 16 or K < 32, the AMX tiles the rest
    (their rounding inside a tile row is not documented bit for bit: held to the float64 bound);
  * the portable path (float16 everywhere, bfloat16 on the avx2/scalar sets) equals sgemm on the
    widened operands bit for bit, on every kernel set;
  * a 16-bit result is the float32 accumulator rounded to nearest even (on an AMX CPU, for
    bfloat16 and K <= 1024, or K <= 4096 with K < 2 M, rounded at the kernel's store without a
    float32 C in memory).
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import _C

import ml_dtypes  # noqa: E402  (a run-time dependency of minidl)
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)

SHAPES = [(1, 1, 1), (7, 5, 3), (13, 33, 17), (12, 32, 64), (25, 70, 1025), (200, 65, 130), (3, 1100, 40)]


def _operands(rng, M, N, K, dt, ta, tb):
    a = rng.standard_normal((M, K)).astype(dt)
    b = rng.standard_normal((K, N)).astype(dt)
    aa = np.ascontiguousarray(a.T).T if ta else a   # a transposed view: the packing handles it
    bb = np.ascontiguousarray(b.T).T if tb else b
    return a, b, aa, bb


def _bound(a, b):
    K = a.shape[1]
    u = 2.0 ** -24
    gamma = (K + 1) * u / (1 - (K + 1) * u)
    return gamma * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bf16", "f16"])
@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_against_float64(kernel_set, rng, dt, ta, tb):
    for M, N, K in SHAPES:
        a, b, aa, bb = _operands(rng, M, N, K, dt, ta, tb)
        c = _C.mm(aa, bb, True)
        assert c.dtype == np.float32 and c.shape == (M, N)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        err = np.abs(c - ref)
        assert (err <= _bound(a, b)).all(), (M, N, K, float(err.max()))


def _emulate_dpbf16(a, b):
    """float32 emulation of vdpbf16ps' order over one kc block (products are exact)."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    if a.shape[1] % 2:
        a = np.pad(a, ((0, 0), (0, 1)))
        b = np.pad(b, ((0, 1), (0, 0)))
    acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(0, a.shape[1], 2):
        acc = acc + a[:, k + 1:k + 2] * b[k + 1]
        acc = acc + a[:, k:k + 1] * b[k]
    return acc


def test_dpbf16_kernel_matches_its_emulation_bitwise(rng):
    path = _C.gemm_lowp_path("bfloat16")
    if path not in ("avx512_bf16", "amx_bf16"):
        # this CPU has no AVX512-BF16: the portable path must then be chosen for bfloat16
        assert path == "convert_f32"
        return
    # the vdpbf16ps kernel forced (gemm_lowp_mm), also where AMX or the tuner would take over
    for M, N, K in [(13, 40, 17), (50, 70, 300), (12, 32, 1024), (1, 3, 1), (50, 15, 300), (40, 40, 31)]:
        for ta, tb in [(0, 0), (1, 1)]:
            a, b, aa, bb = _operands(rng, M, N, K, BF16, ta, tb)
            np.testing.assert_array_equal(_C.gemm_lowp_mm(aa, bb, "avx512_bf16"), _emulate_dpbf16(a, b))


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bf16", "f16"])
def test_portable_path_equals_sgemm_on_widened_inputs(kernel_set, rng, dt):
    if dt == BF16 and _C.gemm_lowp_path("bfloat16") in ("avx512_bf16", "amx_bf16"):
        assert kernel_set == "avx512"
        return  # covered by the emulation test above
    assert _C.gemm_lowp_path(dt.name) == "convert_f32"
    for M, N, K in SHAPES:
        a, b, aa, bb = _operands(rng, M, N, K, dt, 1, 0)
        np.testing.assert_array_equal(_C.mm(aa, bb, True), _C.mm(a.astype(np.float32), b.astype(np.float32)))


def test_amx_tiles_at_their_edges(rng):
    """The AMX kernel (gemm_amx_simd.cpp) on shapes around its 16-row, 32 x 32 block and 32-k
    tile edges, its kc = 1024 block, the 256-k chunks of its tile loop (C blocks kept in float32
    between chunks; 257 and 544 end in a part chunk, 33 and 290 rows in a 16-row block) and its
    256-row A block (290), every transpose, alpha/beta through addmm, against the float64 bound;
    1 and 2 threads give the same bits. Untransposed A with whole 16-row tiles and whole 32-k steps
    up to 256 k is read in place, not packed (48 x 160, 32 x 96), at larger k too where N <= 64 and
    the row stride spreads a tile's rows over the L1 sets (48 x 288, 32 x 576; not 32 x 1024), and
    a last column panel of at most 16 runs one column of tiles (N = 16, 40)."""
    if _C.gemm_lowp_path("bfloat16") != "amx_bf16":
        pytest.skip("this CPU (or the active kernel set) has no AMX-BF16")
    for M, N, K in [(16, 16, 32), (17, 33, 33), (31, 16, 63), (33, 47, 64), (64, 32, 1025), (257, 70, 40),
                    (33, 40, 257), (290, 64, 544), (48, 16, 160), (32, 40, 96),
                    (48, 64, 288), (32, 40, 576), (32, 64, 1024)]:
        for ta, tb in [(0, 0), (0, 1), (1, 0), (1, 1)]:
            a, b, aa, bb = _operands(rng, M, N, K, BF16, ta, tb)
            got = _C.gemm_lowp_mm(aa, bb, "amx_bf16")      # forced: whatever the tuner would pick
            err = np.abs(got - a.astype(np.float64) @ b.astype(np.float64))
            assert (err <= _bound(a, b)).all(), (M, N, K, ta, tb, float(err.max()))
            with md.backend.using("scalar"):   # the reference path: widened to float32, sgemm
                ref = _C.mm(aa, bb, True)
            assert (np.abs(got - ref) <= 2 * _bound(a, b)).all(), (M, N, K, ta, tb)
    a, b, _, bt = _operands(rng, 40, 37, 96, BF16, 0, 1)
    bias = rng.standard_normal(37).astype(BF16)
    ref = bias.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    assert (np.abs(_C.addmm(bias, a, bt, True) - ref) <= _bound(a, b) + 1e-6).all()
    a, b, _, _ = _operands(rng, 300, 700, 200, BF16, 0, 0)
    threads = md.get_num_threads()
    try:
        md.set_num_threads(1)
        c1 = _C.gemm_lowp_mm(a, b, "amx_bf16")
        md.set_num_threads(2)
        np.testing.assert_array_equal(_C.gemm_lowp_mm(a, b, "amx_bf16"), c1)
    finally:
        md.set_num_threads(threads)


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bf16", "f16"])
def test_16bit_output_is_rounded_accumulator(rng, dt):
    a, b, _, _ = _operands(rng, 30, 50, 70, dt, 0, 0)
    c32 = _C.mm(a, b, True)
    c16 = _C.mm(a, b)
    assert c16.dtype == dt
    np.testing.assert_array_equal(c16.view(np.uint16), c32.astype(dt).view(np.uint16))


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bf16", "f16"])
def test_addmm_and_bmm(rng, dt):
    a, b, _, bt = _operands(rng, 9, 37, 21, dt, 0, 1)
    bias = rng.standard_normal(37).astype(dt)
    got = _C.addmm(bias, a, bt, True)
    ref = bias.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    assert (np.abs(got - ref) <= _bound(a, b) + 1e-6).all()
    # batched, with a broadcast batch-1 operand and transposed views
    x = rng.standard_normal((5, 11, 19)).astype(dt)
    w = rng.standard_normal((1, 23, 19)).astype(dt)
    got = _C.bmm(x, np.swapaxes(w, 1, 2), True)
    ref = x.astype(np.float64) @ np.swapaxes(w, 1, 2).astype(np.float64)
    assert got.shape == (5, 11, 23)
    assert np.abs(got - ref).max() <= 20 * 2.0 ** -24 * np.abs(ref).max() + 1e-6


def _bits(x):
    return x.view(np.uint16)


def test_amx_one_pass_bfloat16_output(rng):
    """bfloat16 results of mm/addmm come from the AMX kernel's one-pass path (bias added and
    the float32 sum rounded at the store, gemm_bf16_out) for K <= 1024, and for K <= 4096 where
    K < 2 M: for K <= 1024 (one k block on both paths) the same bits as the float32 product plus
    bias, cast; beyond, one rounding of a float32 sum held to the float64 bound; K > 4096, K > 1024
    with K >= 2 M (a weight gradient over many rows), bias shapes other than a row, and the scalar
    set take the two-pass path (the float32 product, cast: the same bits as it); 1 and 2 threads
    give the same bits."""
    if _C.gemm_lowp_path("bfloat16") != "amx_bf16":
        pytest.skip("this CPU (or the active kernel set) has no AMX-BF16")
    for M, N, K in [(16, 16, 32), (17, 33, 33), (31, 16, 63), (33, 47, 64), (64, 70, 1024), (257, 70, 40)]:
        for ta, tb in [(0, 0), (0, 1), (1, 0), (1, 1)]:
            a, b, aa, bb = _operands(rng, M, N, K, BF16, ta, tb)
            np.testing.assert_array_equal(_bits(_C.mm(aa, bb)), _bits(_C.mm(aa, bb, True).astype(BF16)))
            for bias in (rng.standard_normal(N).astype(BF16), rng.standard_normal((1, N)).astype(BF16)):
                got = _C.addmm(bias, aa, bb)
                assert got.dtype == BF16 and got.shape == (M, N)
                np.testing.assert_array_equal(_bits(got), _bits(_C.addmm(bias, aa, bb, True).astype(BF16)))
    for M, N, K in [(600, 50, 1025), (1100, 17, 2049)]:   # one k block here, several in the float32 path
        a, b, _, bt = _operands(rng, M, N, K, BF16, 0, 1)
        bias = rng.standard_normal(N).astype(BF16)
        got = _C.addmm(bias, a, bt).astype(np.float64)
        ref = bias.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
        assert (np.abs(got - ref) <= _bound(a, b) + 2.0 ** -8 * np.abs(got)).all(), (M, N, K)
    a, b, _, _ = _operands(rng, 20, 30, 4097, BF16, 0, 0)     # K past the one-pass limit
    np.testing.assert_array_equal(_bits(_C.mm(a, b)), _bits(_C.mm(a, b, True).astype(BF16)))
    for M, N, K in [(40, 50, 1025), (256, 64, 4096)]:         # K > 1024 and K >= 2 M: two passes
        a, b, aa, _ = _operands(rng, M, N, K, BF16, 1, 0)
        np.testing.assert_array_equal(_bits(_C.mm(aa, b)), _bits(_C.mm(aa, b, True).astype(BF16)))
    a, b, _, _ = _operands(rng, 20, 30, 50, BF16, 0, 0)
    full_bias = rng.standard_normal((20, 30)).astype(BF16)      # not a row: two-pass path
    np.testing.assert_array_equal(_bits(_C.addmm(full_bias, a, b)),
                                  _bits(_C.addmm(full_bias, a, b, True).astype(BF16)))
    a, b, _, bt = _operands(rng, 300, 200, 700, BF16, 0, 1)
    bias = rng.standard_normal(200).astype(BF16)
    with md.backend.using("scalar"):   # the reference path: widened to float32, sgemm, cast
        ref = _C.addmm(bias, a, bt).astype(np.float64)
    got = _C.addmm(bias, a, bt).astype(np.float64)
    assert (np.abs(got - ref) <= 2 * _bound(a, b) + 2.0 ** -8 * (np.abs(got) + np.abs(ref))).all()
    threads = md.get_num_threads()
    try:
        for shape in [(300, 700, 200), (700, 300, 200)]:   # split along N, then along M
            a, b, _, _ = _operands(rng, *shape, BF16, 0, 0)
            md.set_num_threads(1)
            c1 = _C.mm(a, b)
            md.set_num_threads(2)
            np.testing.assert_array_equal(_bits(_C.mm(a, b)), _bits(c1))
    finally:
        md.set_num_threads(threads)


def test_threads_split_gives_same_bits(rng):
    """Each thread computes whole output panels with the same kernel: 1 and 2 threads agree."""
    a, b, _, _ = _operands(rng, 300, 700, 200, BF16, 0, 0)
    md.set_num_threads(1)
    c1 = _C.mm(a, b, True)
    md.set_num_threads(2)
    np.testing.assert_array_equal(_C.mm(a, b, True), c1)


def test_tensor_matmul_and_linear_in_low_precision(rng):
    for dtype in (md.bfloat16, md.float16):
        x = md.tensor(rng.standard_normal((6, 40)).astype(np.float32)).to(dtype)
        w = md.tensor(rng.standard_normal((12, 40)).astype(np.float32)).to(dtype)
        y = x @ w.T
        assert y.dtype is dtype
        ref = x.float().numpy().astype(np.float64) @ w.float().numpy().astype(np.float64).T
        # one rounding to the 16-bit format at the end: relative 2^-8 (bf16) / 2^-11 (f16)
        rel = 2.0 ** -8 if dtype is md.bfloat16 else 2.0 ** -11
        np.testing.assert_allclose(y.float().numpy(), ref, rtol=rel, atol=1e-3)
        out = md.nn.functional.linear(x, w)
        np.testing.assert_array_equal(out.float().numpy(), y.float().numpy())


def test_bad_input():
    a = np.zeros((3, 4), BF16)
    with pytest.raises(TypeError, match="same dtype"):
        _C.mm(a, np.zeros((4, 2), F16))
    with pytest.raises(ValueError, match="cannot be multiplied"):
        _C.mm(a, np.zeros((5, 2), BF16))
    with pytest.raises(TypeError, match="bias dtype"):
        _C.addmm(np.zeros(2, np.float32), a, np.zeros((4, 2), BF16))
    with pytest.raises(ValueError, match="bfloat16 or float16"):
        _C.gemm_lowp_path("int8")
