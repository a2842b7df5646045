"""Convolution on bfloat16 / float16 tensors (cpp/ops/conv/conv_lowp.cpp): what Conv2d and
Conv1d run under BF16 autocast.

Each result is a float32 sum of exact products (a product of two bf16 / fp16 values is exact in
float32) rounded once to 16 bits. So against a float64 reference on the same 16-bit inputs the
error is at most half an ulp of the 16-bit format (2^-9 relative for bf16, 2^-12 for fp16)
plus the float32 accumulation error (<= n 2^-24 sum|products| for n terms), checked as
    |got - ref| <= ulp |ref| + 2^-16 sum|products|
with ulp = one whole 16-bit ulp (2^-8 / 2^-11: room for the rounding of a float32 sum that
itself sits next to a rounding boundary). Against PyTorch's own CPU autocast, both sides round
float32 sums of the same products, summed in different orders: they agree to within one
16-bit ulp of each value (plus a small absolute term for values that cancel to ~0).
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import require, to_numpy

torch = require("torch")
F = md.nn.functional
TF = torch.nn.functional

# (N, C, H, W, K, kernel (R, S), stride, padding, dilation, groups, bias); the first rows take the
# bf16 GEMM path (K/groups >= 32, C/groups*R*S >= 32), the last ones the float32 one
SHAPES = [
    (3, 32, 4, 4, 64, (3, 3), 1, 1, 1, 1, True),      # the digits CNN's second conv (small)
    (2, 8, 19, 17, 32, (3, 3), 1, 1, 1, 1, True),     # 323 positions: tiles of one image
    (1, 6, 11, 13, 32, (3, 2), 2, (1, 2), 2, 1, False),  # batch 1, stride/dilation, asymmetric pad
    (2, 8, 9, 7, 64, (3, 3), (2, 1), 0, 1, 2, True),  # groups 2, odd sizes
    (2, 8, 9, 7, 64, (3, 3), 1, (1, 0), (2, 1), 2, True),  # stride 1: dx as the flipped kernel's forward
    (3, 64, 5, 5, 32, (1, 1), 1, 0, 1, 1, True),      # pointwise
    (2, 1, 8, 8, 32, (3, 3), 1, 1, 1, 1, True),       # the CNN's first conv (C*R*S = 9)
    (2, 6, 7, 7, 6, (3, 3), 1, 1, 1, 6, True),        # depthwise
]


def _ids(shape):
    return "x".join(map(str, shape[:5])) + f"_k{shape[5][0]}{shape[5][1]}_s{shape[6]}_p{shape[7]}_g{shape[9]}"


def _bits(rng, shape, mdt, scale=1.0):
    """random values, rounded to mdt: (minidl 16-bit tensor, float64 numpy copy of it)"""
    t = md.tensor((rng.standard_normal(shape) * scale).astype(np.float32)).to(mdt)
    return t, to_numpy(t.float()).astype(np.float64)


def _reference(x, w, b, gy, args):
    """float64 y, dx, dw, db and the same with |.| inputs (the sum of |products|)"""
    outs = []
    for sign in (False, True):
        tx, tw = (torch.tensor(np.abs(a) if sign else a, requires_grad=True) for a in (x, w))
        tb = torch.tensor(np.abs(b) if sign else b, requires_grad=True) if b is not None else None
        ty = TF.conv2d(tx, tw, tb, *args)
        ty.backward(torch.tensor(np.abs(gy) if sign else gy))
        outs.append([ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(),
                     tb.grad.numpy() if tb is not None else None])
    return outs


def _check(got, ref, mag, ulp, what):
    got = np.asarray(got, np.float64)
    assert got.shape == ref.shape, what
    bad = np.abs(got - ref) > ulp * np.abs(ref) + 2.0 ** -16 * mag
    assert not bad.any(), f"{what}: {bad.sum()} of {bad.size} off, max err {np.abs(got - ref).max():.3g}"


@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
@pytest.mark.parametrize("threads", [1, 2])
def test_lowp_conv_vs_float64(rng, kernel_set, shape, threads):
    N, C, H, W, K, (R, S), stride, padding, dilation, groups, bias = shape
    md.set_num_threads(threads)
    for mdt, ulp in ((md.bfloat16, 2.0 ** -8), (md.float16, 2.0 ** -11)):
        x, x64 = _bits(rng, (N, C, H, W), mdt)
        w, w64 = _bits(rng, (K, C // groups, R, S), mdt, 0.3)
        b, b64 = _bits(rng, (K,), mdt) if bias else (None, None)
        for t in (x, w) + ((b,) if bias else ()):
            t.requires_grad_()
        y = F.conv2d(x, w, b, stride, padding, dilation, groups)
        gy, gy64 = _bits(rng, tuple(y.shape), mdt)
        y.backward(gy)
        (ry, rx, rw, rb), (my, mx, mw, mb) = _reference(x64, w64, b64, gy64, (stride, padding, dilation, groups))
        name = f"{mdt.name} [{kernel_set}, {threads} threads]"
        for t in (y, x.grad, w.grad) + ((b.grad,) if bias else ()):
            assert t.dtype is mdt, name
        _check(to_numpy(y.float()), ry, my, ulp, "y " + name)
        _check(to_numpy(x.grad.float()), rx, mx, ulp, "dx " + name)
        _check(to_numpy(w.grad.float()), rw, mw, ulp, "dw " + name)
        if bias:
            _check(to_numpy(b.grad.float()), rb, mb, ulp, "db " + name)


def test_lowp_conv_path_choice(kernel_set):
    """The bf16 GEMM path where the CPU has a native bf16 GEMM (AMX or AVX512-BF16) and the shape is GEMM-sized; float32
    (widen, compute, round) for float16, depthwise, small channel counts and other kernel sets."""
    def path(shape, dt="bfloat16"):
        N, C, H, W, K, (R, S), stride, padding, dilation, groups, _ = shape
        pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
        x = md.zeros(N, C, H, W).to(md.bfloat16 if dt == "bfloat16" else md.float16)
        w = md.zeros(K, C // groups, R, S).to(x.dtype)
        return md._C.conv2d_lowp_path(x._data, w._data, pair(stride), pair(padding), pair(dilation), groups)
    fast = md._C.gemm_lowp_path("bfloat16") != "convert_f32"
    for shape in SHAPES[:6]:
        assert path(shape) == ("bf16_gemm" if fast else "convert_f32"), shape
        assert path(shape, "float16") == "convert_f32"
    for shape in SHAPES[6:]:
        assert path(shape) == "convert_f32", shape


@pytest.mark.parametrize("conv", ["conv2d", "conv1d"])
def test_autocast_conv_matches_torch(rng, conv):
    """Conv under BF16 autocast with float32 master weights: output bf16, gradients of the
    float32 input / weight / bias float32 (the bf16 gradients the convolution returns, widened by
    the casts' backward), each within one bf16 ulp of PyTorch's."""
    if conv == "conv2d":
        mods = [(md.nn.Conv2d(32, 64, 3, padding=1), torch.nn.Conv2d(32, 64, 3, padding=1)),
                (md.nn.Conv2d(1, 32, 3, padding=1), torch.nn.Conv2d(1, 32, 3, padding=1))]
        xs = [(4, 32, 4, 4), (4, 1, 8, 8)]
    else:
        mods = [(md.nn.Conv1d(16, 48, 5, padding=2, stride=2), torch.nn.Conv1d(16, 48, 5, padding=2, stride=2))]
        xs = [(3, 16, 29)]
    for (m, tm), xshape in zip(mods, xs):
        with torch.no_grad():
            tm.weight.copy_(torch.from_numpy(to_numpy(m.weight)))
            tm.bias.copy_(torch.from_numpy(to_numpy(m.bias)))
        x32 = rng.standard_normal(xshape).astype(np.float32)
        x, tx = md.tensor(x32, requires_grad=True), torch.tensor(x32, requires_grad=True)
        with md.autocast("cpu", dtype=md.bfloat16):
            y = m(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ty = tm(tx)
        assert y.dtype is md.bfloat16 and ty.dtype is torch.bfloat16
        gy32 = rng.standard_normal(tuple(y.shape)).astype(np.float32)
        y.backward(md.tensor(gy32).to(md.bfloat16))
        ty.backward(torch.from_numpy(gy32).to(torch.bfloat16))
        pairs = [(y.float(), ty.float()), (x.grad, tx.grad), (m.weight.grad, tm.weight.grad), (m.bias.grad, tm.bias.grad)]
        for (a, t), what in zip(pairs, ("y", "dx", "dw", "db")):
            assert a.dtype is md.float32, what
            exp = t.detach().numpy()
            np.testing.assert_allclose(to_numpy(a), exp, rtol=2.0 ** -7, atol=2.0 ** -9 * np.abs(exp).max(),
                                       err_msg=f"{conv} {xshape} {what}")


def test_lowp_conv_bad_input():
    x = md.zeros(2, 4, 5, 5).to(md.bfloat16)
    w = md.zeros(8, 4, 3, 3).to(md.bfloat16)
    with pytest.raises(TypeError, match="reference=True"):
        md._C.conv2d_forward(x._data, w._data, None, (1, 1), (0, 0), (1, 1), 1, reference=True)
    with pytest.raises(TypeError, match="bfloat16"):  # weight dtype must match
        md._C.conv2d_forward(x._data, w.to(md.float16)._data, None, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match=r"\[8, 4, 3, 3\]"):
        md._C.conv2d_forward(x._data, w._data, None, (1, 1), (0, 0), (1, 1), 2)
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(x, w.to(md.float16))


# shapes for the AVX-512 channels-last copy of the bf16_gemm path (conv_lowp_simd.cpp): 16 or
# fewer channels two pixels per register (W >= 32), then 16-pixel steps and a pixel tail; odd C;
# more than 32 channels (a 32-channel group, then 3)
CHANNELS_LAST_SHAPES = [
    (1, 16, 3, 35, 32, (3, 3), 1, 1, 1, 1, False),
    (1, 7, 2, 49, 32, (3, 3), 1, 1, 1, 1, True),
    (1, 35, 3, 18, 32, (1, 1), 1, 0, 1, 1, True),
]


# on AMX the bf16 forward with 16 output channels per group and C/groups*R*S <= 256 runs
# transposed (positions x 16 = col @ W^T, conv_lowp.cpp): column rows padded with zeros to a
# multiple of 32 (C*R*S = 144, 108, 72 here), blocks of positions that are not whole 16-row tiles
# (63, 25) or are (1024 in blocks of 256: the AMX kernel reads the column matrix in place), batch
# 1, stride 2, groups; the stride-1 input gradients of 16 input channels are such forwards.
# 32 and 64 output channels per group run transposed at any C*R*S: 288 and 576 here, several k
# chunks, the column matrix read in place (whole 16-row tiles: 64 positions, 2 images of 8 x 8)
# or packed (36 positions), 32 channels per group of two
TRANSPOSED_SHAPES = [
    (1, 16, 7, 9, 16, (3, 3), 1, 1, 1, 1, True),
    (2, 12, 10, 10, 16, (3, 3), 2, 1, 1, 1, True),
    (2, 16, 8, 8, 32, (3, 3), 1, 1, 1, 2, False),
    (1, 16, 32, 32, 16, (3, 3), 1, 1, 1, 1, True),
    (1, 32, 6, 6, 32, (3, 3), 1, 1, 1, 1, True),
    (2, 64, 8, 8, 64, (3, 3), 1, 1, 1, 1, True),
    (1, 64, 8, 8, 64, (3, 3), 1, 1, 1, 2, False),
]


@pytest.mark.parametrize("path", ["bf16_gemm", "convert_f32"])
@pytest.mark.parametrize("shape", SHAPES + CHANNELS_LAST_SHAPES + TRANSPOSED_SHAPES, ids=_ids)
def test_every_bf16_path_forced_vs_float64(rng, shape, path):
    """Each 16-bit path forced (md._C.conv2d_force_path, what the tuner chooses between) on every
    shape, narrow ones included: within the same bound of the float64 reference. A forced path
    that does not apply (bf16_gemm on depthwise, or without a native bf16 GEMM) widens."""
    N, C, H, W, K, (R, S), stride, padding, dilation, groups, bias = shape
    x, x64 = _bits(rng, (N, C, H, W), md.bfloat16)
    w, w64 = _bits(rng, (K, C // groups, R, S), md.bfloat16, 0.3)
    b, b64 = _bits(rng, (K,), md.bfloat16)
    gy, gy64 = _bits(rng, (N, K) + tuple(F.conv2d(x, w, b, stride, padding, dilation, groups).shape[2:]), md.bfloat16)
    depthwise = groups > 1 and groups == C == K
    applies = path == "convert_f32" or (not depthwise and md._C.gemm_lowp_path("bfloat16") != "convert_f32")
    md._C.conv2d_force_path(path)
    try:
        pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
        taken = md._C.conv2d_lowp_path(x._data, w._data, pair(stride), pair(padding), pair(dilation), groups)
        assert taken == (path if applies else "convert_f32")
        for t in (x, w, b):
            t.requires_grad_()
        y = F.conv2d(x, w, b, stride, padding, dilation, groups)
        y.backward(gy)
    finally:
        md._C.conv2d_force_path("auto")
    (ry, rx, rw, rb), (my, mx, mw, mb) = _reference(x64, w64, b64, gy64, (stride, padding, dilation, groups))
    assert y.dtype is md.bfloat16 and w.grad.dtype is md.bfloat16
    for got, ref, mag, what in ((y, ry, my, "y"), (x.grad, rx, mx, "dx"), (w.grad, rw, mw, "dw"),
                                (b.grad, rb, mb, "db")):
        _check(to_numpy(got.float()), ref, mag, 2.0 ** -8, f"{what} [{path}]")


def test_transposed_forward_same_bits_on_one_and_two_threads(rng):
    """The transposed bf16 forward (16 output channels, see TRANSPOSED_SHAPES) and the input
    gradient that runs as one, with the images split between two threads (per-thread column and
    result buffers): the same bits as on one thread."""
    x, _ = _bits(rng, (3, 16, 32, 32), md.bfloat16)
    w, _ = _bits(rng, (16, 16, 3, 3), md.bfloat16, 0.3)
    b, _ = _bits(rng, (16,), md.bfloat16)
    gy, _ = _bits(rng, (3, 16, 32, 32), md.bfloat16)
    threads = md.get_num_threads()
    md._C.conv2d_force_path("bf16_gemm")
    try:
        runs = []
        for n in (1, 2):
            md.set_num_threads(n)
            y = md._C.conv2d_forward(x._data, w._data, b._data, (1, 1), (1, 1), (1, 1), 1)
            dx = md._C.conv2d_backward(gy._data, x._data, w._data, (1, 1), (1, 1), (1, 1), 1, True, False, False)[0]
            runs.append((np.asarray(y).view(np.uint16), np.asarray(dx).view(np.uint16)))
    finally:
        md._C.conv2d_force_path("auto")
        md.set_num_threads(threads)
    for one, two in zip(*runs):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("threads", [1, 2])
def test_widening_chunk_by_chunk_vs_float64(rng, threads):
    """convert_f32 widens a chunk of images at a time (512 KiB of float32 per chunk; here one or
    two 66x66x8 images of 5): every output of every chunk, and dW and db summed over the chunks,
    within the float64 reference's bound."""
    md.set_num_threads(threads)
    x, x64 = _bits(rng, (5, 8, 66, 66), md.bfloat16)
    w, w64 = _bits(rng, (8, 8, 3, 3), md.bfloat16, 0.3)
    b, b64 = _bits(rng, (8,), md.bfloat16)
    gy, gy64 = _bits(rng, (5, 8, 66, 66), md.bfloat16)
    md._C.conv2d_force_path("convert_f32")
    try:
        for t in (x, w, b):
            t.requires_grad_()
        y = F.conv2d(x, w, b, 1, 1)
        y.backward(gy)
    finally:
        md._C.conv2d_force_path("auto")
    (ry, rx, rw, rb), (my, mx, mw, mb) = _reference(x64, w64, b64, gy64, (1, 1, 1, 1))
    for got, ref, mag, what in ((y, ry, my, "y"), (x.grad, rx, mx, "dx"), (w.grad, rw, mw, "dw"),
                                (b.grad, rb, mb, "db")):
        _check(to_numpy(got.float()), ref, mag, 2.0 ** -8, what)
