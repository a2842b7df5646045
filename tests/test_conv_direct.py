"""The direct float32 convolution path (cpp/ops/conv/conv_direct.cpp, used on the SIMD kernel
sets for everything but depthwise): against the textbook reference loops at the shapes that hit
its edges -- output channels that are not a multiple of the 8-row weight block, tap counts that
are not a multiple of the weight-gradient tiles, channel counts that are not whole vectors or
8 x 8 transpose blocks, output grids that end in a partial vector, rows of whole vectors stored
straight into y, strides (phase-split buffer; the input gradient as stride-1 phases: odd sizes,
phases no tap reaches, strides above the kernel, the scalar interleave), dilation, padding larger
than the kernel, groups, batch 1, 1x1 kernels -- plus threads."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import minidl as md
from minidl import _C

SIMD_SETS = [k for k in md.backend.available() if k != "scalar"]

# (N, C, H, W, K, kernel, stride, padding, dilation, groups)
DIRECT_CASES = [
    (2, 16, 12, 12, 16, 3, 1, 1, 1, 1),             # ResNet-like, exact 8-row blocks
    (1, 5, 7, 9, 13, 3, 1, 1, 1, 1),                # batch 1, K = 13 (8 + 5), odd sizes
    (3, 3, 11, 5, 20, 3, 1, 1, 1, 1),               # taps 27: not a multiple of the tile
    (2, 6, 13, 11, 9, 3, 2, 1, 1, 1),               # stride 2, odd input: phases of unequal use
    (2, 4, 14, 13, 7, 3, 3, 2, 1, 1),               # stride 3
    (2, 4, 12, 15, 6, 3, (2, 1), (1, 0), 1, 1),     # asymmetric stride and padding
    (2, 5, 12, 12, 8, 3, 1, 2, 2, 1),               # dilation 2 (same size)
    (2, 4, 10, 13, 5, (3, 2), 1, (1, 3), (1, 3), 1),  # dilation (1, 3), non-square kernel
    (2, 4, 9, 9, 6, 3, 1, 3, 1, 1),                 # padding 3 > kernel - 1: dx as one phase (stride 1)
    (2, 6, 10, 10, 9, 3, 1, 1, 1, 3),               # groups 3, Kg = 3
    (2, 8, 9, 9, 16, 3, 2, 1, 1, 2),                # groups 2, stride 2
    (2, 8, 9, 11, 12, 1, 1, 0, 1, 1),               # 1x1
    (2, 16, 16, 16, 32, 1, 2, 0, 1, 1),             # 1x1 stride 2 (projection shortcut)
    (2, 3, 20, 20, 8, 7, 2, 3, 1, 1),               # 7x7 stride 2 stem
    (2, 3, 5, 5, 4, 5, 1, 0, 1, 1),                 # kernel == input
    (1, 2, 1, 37, 3, (1, 5), 1, (0, 2), 1, 1),      # Conv1d-like (H == 1)
    (5, 8, 8, 8, 24, 3, 1, 1, 1, 1),                # several images per thread; 3 (+ 2) a forward call
    (2, 4, 6, 6, 72, 3, 1, 1, 1, 1),                # 72 channels: 4 + 1 vectors of the dW tile (AVX-512)
    (1, 64, 5, 5, 64, 3, 1, 1, 1, 1),               # 576 taps: 3 tap blocks of the forward (256, 256, 64)
    # the input gradient of strided convolutions by phases (conv_direct_phases.cpp):
    (2, 5, 11, 9, 7, 3, 2, 0, 1, 1),                # stride 2, padding 0, odd H and W, 5 dx channels
    (2, 4, 10, 9, 6, 3, 2, 2, 1, 1),                # stride 2, padding 2
    (2, 4, 13, 12, 5, 3, 2, 1, 2, 1),               # stride 2, dilation 2: every tap in one phase, 3 zero phases
    (2, 3, 33, 33, 8, 3, 2, 1, 1, 1),               # rows of 33: a vector pair + 1 (interleave tail)
    (2, 8, 15, 15, 16, 1, 2, 0, 1, 1),              # 1x1 stride 2, odd: dy read in place
    (2, 8, 13, 13, 16, 1, 2, 0, 1, 1),              # 1x1 stride 2, 7x7 dy: the padded copy (49 not whole vectors)
    (2, 3, 8, 8, 5, 2, 2, 0, 1, 1),                 # 2x2 stride 2 (a ConvTranspose2d upsampling): one tap a phase
    (2, 3, 11, 11, 4, 2, 3, 0, 1, 1),               # stride 3 > kernel: phases no tap reaches
    (1, 3, 9, 10, 4, (3, 2), (2, 3), (1, 2), 1, 1),  # stride (2, 3): the scalar interleave
    (2, 4, 12, 11, 20, 3, 2, 1, 1, 2),              # groups 2, Cg 2 of 8 kernel rows, Kg 10
    # the dW run tile (three adjacent taps share broadcasts): one vector of channels, rows that
    # end in a partial step (Q = 10), taps 54 (AVX2: 4 run tiles of 12 + one tile of 6)
    (2, 6, 9, 10, 8, 3, 1, 1, 1, 1),
    # two vectors of channels (AVX-512), taps 63: run tiles of 9 over 54, the tile above the rest
    (2, 7, 11, 13, 24, 3, 1, 1, 1, 1),
    # rows of whole vectors (Q = 16 on the W + 1 wide grid): the forward stores the columns q < Q
    # straight into y; again over 2 tap blocks of the forward (288 taps, 64 channels: 256 + 32)
    (2, 5, 9, 16, 16, 3, 1, 1, 1, 1),
    (1, 32, 3, 16, 64, 3, 1, 1, 1, 1),
]


def _pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _check(rng, case):
    N, C, H, W, K, k, s, p, d, g = case
    kh, kw = _pairs(k)
    s, p, d = _pairs(s), _pairs(p), _pairs(d)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // g, kh, kw)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    y_ref = _C.conv2d_forward(x, w, b, s, p, d, g, reference=True)
    gy = rng.standard_normal(y_ref.shape).astype(np.float32)
    ref = _C.conv2d_backward(gy, x, w, s, p, d, g, True, True, True, reference=True)
    y = _C.conv2d_forward(x, w, b, s, p, d, g)
    got = _C.conv2d_backward(gy, x, w, s, p, d, g, True, True, True)
    np.testing.assert_allclose(y, y_ref, atol=1e-4, rtol=1e-4)
    for name, a, r in zip(("dx", "dw", "db"), got, ref):
        np.testing.assert_allclose(a, r, atol=1e-3, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("kernel_set", SIMD_SETS)
@pytest.mark.parametrize("case", DIRECT_CASES, ids=lambda c: "-".join(map(str, c)))
def test_direct_matches_reference(rng, kernel_set, case):
    with md.backend.using(kernel_set):
        _check(rng, case)


# (N, C, side, K, stride): stride 2; 8x8 stride 1, whose forward runs 3 images a kernel call
# (7 images: chunks of 3, 3, 1 handed out to the threads)
THREAD_CASES = [(9, 16, 10, 24, 2), (7, 16, 8, 16, 1)]


@pytest.mark.parametrize("case", THREAD_CASES, ids=lambda c: "-".join(map(str, c)))
def test_direct_threads_agree(rng, case):
    # images are independent in the forward and input-gradient passes: the same bits at 1
    # and 2 threads; the weight gradient adds partial sums per range of images (another order)
    N, C, side, K, s = case
    x = rng.standard_normal((N, C, side, side)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((N, K, side // s, side // s)).astype(np.float32)
    prev = md.get_num_threads()
    out = []
    try:
        for nt in (1, 2):
            md.set_num_threads(nt)
            out.append((_C.conv2d_forward(x, w, None, (s, s), (1, 1), (1, 1), 1),)
                       + tuple(_C.conv2d_backward(gy, x, w, (s, s), (1, 1), (1, 1), 1, True, True, False)[:2]))
    finally:
        md.set_num_threads(prev)
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_allclose(out[0][2], out[1][2], atol=1e-4, rtol=1e-5)


def test_direct_matches_im2col_path():
    """In a subprocess (MINIDL_CONV_DIRECT is read once per process): the direct path must agree
    with the im2col + GEMM path (MINIDL_CONV_DIRECT=0) on a ResNet-sized layer."""
    code = (
        "import numpy as np, minidl as md; from minidl import _C\n"
        "r = np.random.default_rng(1)\n"
        "x = r.standard_normal((6, 16, 16, 16)).astype(np.float32)\n"
        "w = r.standard_normal((32, 16, 3, 3)).astype(np.float32)\n"
        "gy = r.standard_normal((6, 32, 16, 16)).astype(np.float32)\n"
        "y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)\n"
        "gx, gw, _ = _C.conv2d_backward(gy, x, w, (1, 1), (1, 1), (1, 1), 1, True, True, False)\n"
        "np.savez(__import__('sys').argv[1], y=y, gx=gx, gw=gw)\n")
    import tempfile
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in (("direct", {}), ("gemm", {"MINIDL_CONV_DIRECT": "0"})):
            path = os.path.join(tmp, name + ".npz")
            r = subprocess.run([sys.executable, "-c", code, path], env=dict(os.environ, **env),
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr[-2000:]
            with np.load(path) as f:
                out[name] = {k: f[k] for k in f.files}
    for k in ("y", "gx", "gw"):
        np.testing.assert_allclose(out["direct"][k], out["gemm"][k], atol=2e-3, rtol=1e-4, err_msg=k)
