"""The Winograd F(4x4, 3x3) float32 convolution (cpp/ops/conv/conv_winograd.cpp, the SIMD
transforms in conv_winograd_simd.cpp), a candidate of the path tuner for 3x3 stride-1
convolutions: forward, input gradient and weight gradient against the float64 reference loops on every kernel set
(the scalar set runs the reference transforms and the products on sgemm_batched), at the shapes
that hit its edges -- outputs that end in a partial 4 x 4 tile, padding 0 and 2 (the input
gradient then pads 2 and 0), rows of one pixel, channels that are not whole vectors, more output
channels than one product tile takes, blocks of several images with a partial last block and
product tiles with leftover rows, batch 1 -- plus threads, a transposed convolution's bias, and
its place among the tuner's candidates.

Accuracy: Winograd's transforms scale values up (B^T by up to 25 per 6 x 6 tile entry, A^T by up
to 8 per dimension), so its rounding error is several times the direct sum's. The bound asserted
here, max |error| <= 2e-5 * max |reference|, is about 3x the largest measured (6.4e-6 relative,
64 channels, 8x8, normal data; the direct kernel 1.1e-6 on the same data).
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import _C, tuning

KERNEL_SETS = md.backend.available()
RELATIVE_BOUND = 2e-5

# (N, C, H, W, K, padding)
CASES = [
    (2, 16, 12, 12, 16, 1),        # ResNet-like: whole tiles, one vector of channels
    (1, 5, 7, 9, 13, 1),           # batch 1, odd sizes: partial tiles, 5 / 13 channels
    (2, 3, 11, 5, 20, 0),          # padding 0 (the input gradient pads 2), non-square
    (3, 17, 9, 10, 33, 2),         # padding 2 (the input gradient pads 0), 17 / 33 channels
    (2, 4, 1, 7, 3, 1),            # one row of pixels
    (2, 4, 2, 2, 3, 1),            # a 2x2 image: one tile, mostly padding
    (2, 8, 6, 7, 72, (1, 0)),      # asymmetric padding; 72 output channels: 4 + 1 vectors (AVX-512)
    (20, 24, 8, 8, 40, 1),         # 20 images of 4 tiles: blocks of several images, a partial block
    (1, 64, 8, 8, 64, 1),          # 64 channels, 8x8 (the largest error measured)
    (2, 20, 5, 18, 24, 1),         # 16 x 16 transpose blocks (AVX-512) cut short in rows and columns
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


pytestmark = pytest.mark.usefixtures("conv_choices_kept")  # conftest.py: choices and switch restored


def _winograd(x, w, b, gy, pad, start=None):
    """(y, dx, dw) on the forced Winograd path"""
    _C.conv2d_force_path("winograd")
    try:
        y = _C.conv2d_forward(x, w, b, (1, 1), pad, (1, 1), 1)
        dx = _C.conv2d_backward_input(gy, w, x.shape, (1, 1), pad, (1, 1), 1, start=start)
        dw = _C.conv2d_backward(gy, x, w, (1, 1), pad, (1, 1), 1, False, True, False)[1]
    finally:
        _C.conv2d_force_path("auto")
    return y, dx, dw


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_winograd_matches_the_float64_reference(rng, kernel_set, case):
    N, C, H, W, K, pad = case
    pad = _pair(pad)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y_ref = _C.conv2d_forward(x64, w64, b.astype(np.float64), (1, 1), pad, (1, 1), 1, reference=True)
    gy = rng.standard_normal(y_ref.shape)
    dx_ref, dw_ref, _ = _C.conv2d_backward(gy, x64, w64, (1, 1), pad, (1, 1), 1, True, True, False, reference=True)
    with md.backend.using(kernel_set):
        got = _winograd(x, w, b, gy.astype(np.float32), pad)
    for name, a, r in zip(("y", "dx", "dw"), got, (y_ref, dx_ref, dw_ref)):
        assert a.shape == r.shape, name
        assert np.abs(a - r).max() <= RELATIVE_BOUND * np.abs(r).max(), name


def test_transposed_convolution_bias_is_the_input_gradients_start(rng):
    """``start`` (a ConvTranspose2d's bias) becomes the bias of dX's Winograd convolution."""
    x = rng.standard_normal((2, 6, 9, 9)).astype(np.float32)
    w = rng.standard_normal((8, 6, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
    start = rng.standard_normal(6).astype(np.float32)
    with_start = _winograd(x, w, None, gy, (1, 1), start=start)[1]
    without = _winograd(x, w, None, gy, (1, 1))[1]
    np.testing.assert_allclose(with_start, without + start[None, :, None, None], atol=1e-5, rtol=1e-6)


def test_threads_agree(rng):
    """Images are independent (whole blocks of images per thread): y and dx agree bit for bit at 1
    and 2 threads; dw adds one partial sum per range of images, up to 4 per thread (another
    order, within the file's bound), and repeats bit for bit at 2 threads."""
    x = rng.standard_normal((9, 16, 8, 8)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((9, 16, 8, 8)).astype(np.float32)
    prev = md.get_num_threads()
    out = []
    try:
        for nt in (1, 2):
            md.set_num_threads(nt)
            out.append(_winograd(x, w, None, gy, (1, 1)))
    finally:
        md.set_num_threads(prev)
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    assert np.abs(out[0][2] - out[1][2]).max() <= RELATIVE_BOUND * np.abs(out[0][2]).max()
    md.set_num_threads(2)
    try:
        np.testing.assert_array_equal(_winograd(x, w, None, gy, (1, 1))[2], out[1][2])
    finally:
        md.set_num_threads(prev)


def test_forced_winograd_where_it_does_not_apply_runs_direct(rng):
    """Stride 2, a 1x1 kernel, dilation 2: no Winograd F(4x4, 3x3); forcing it runs the direct path
    (forward shown; the backward passes take the same branch)."""
    x = rng.standard_normal((2, 8, 10, 10)).astype(np.float32)
    for kernel, stride, pad, dil in [(3, 2, 1, 1), (1, 1, 0, 1), (3, 1, 2, 2)]:
        w = rng.standard_normal((8, 8, kernel, kernel)).astype(np.float32)
        geometry = ((stride, stride), (pad, pad), (dil, dil), 1)
        _C.conv2d_force_path("direct")
        direct = _C.conv2d_forward(x, w, None, *geometry)
        _C.conv2d_force_path("winograd")
        np.testing.assert_array_equal(_C.conv2d_forward(x, w, None, *geometry), direct)


def test_winograd_is_a_measured_candidate_of_3x3_stride_1(rng):
    """With measurement on, a 3x3 stride-1 class is measured among direct, im2col and winograd, and
    the result is the forced winner's; the choice can be stored and read back by name."""
    tuning.set_enabled(True)
    _C.conv2d_clear_choices()
    x = rng.standard_normal((8, 16, 16, 16)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    before = _C.conv2d_measurements()
    y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    assert _C.conv2d_measurements() == before + 1
    (cls, path), = _C.conv2d_choices().items()
    assert cls.startswith("forward N8 C16 H16 W16 K16 R3 S3 stride1,1") and path in ("direct", "im2col", "winograd")
    _C.conv2d_force_path(path)
    np.testing.assert_array_equal(y, _C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1))
    assert _C.conv2d_set_choice(cls, "winograd") and _C.conv2d_choices() == {cls: "winograd"}
    _C.conv2d_force_path("winograd")
    forced = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    _C.conv2d_force_path("auto")
    np.testing.assert_array_equal(_C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1), forced)


def test_unknown_path_name_is_a_value_error():
    with pytest.raises(ValueError, match="winograd"):
        _C.conv2d_force_path("winograd4")
