"""Pooling (max, average, adaptive average; 1d and 2d) vs PyTorch: values, indices, input
gradients; float64 gradcheck; scalar vs SIMD kernel sets; bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F
from conftest import assert_close, require

torch = require("torch")
TF = torch.nn.functional


def _pair(rng, shape, dtype=np.float32):
    x = rng.standard_normal(shape).astype(dtype)
    return md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _fwd_bwd(rng, fm, ft, shape, atol=1e-5):
    xm, xt = _pair(rng, shape)
    ym, yt = fm(xm), ft(xt)
    assert_close(ym, yt, atol=atol)
    w = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (ym * md.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    assert_close(xm.grad, xt.grad, atol=atol)


# --- pooling ------------------------------------------------------------------------------------
MAX_CASES = [  # shape, kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((1, 2, 7, 9), 3, 2, 1, 1, False),
    ((1, 2, 7, 9), 3, 2, 1, 1, True),
    ((3, 1, 11, 6), (3, 2), (2, 1), (1, 0), 1, True),
    ((2, 2, 10, 13), 3, 1, 1, 2, False),
    ((1, 4, 33, 35), 2, 2, 0, 1, True),
    ((2, 3, 56, 56), 3, 2, 1, 1, False),
    ((1, 1, 5, 40), (1, 3), (1, 2), (0, 1), (1, 1), True),
    ((2, 3, 9, 9), 2, 3, 1, (2, 1), False),
]


@pytest.mark.parametrize("shape,k,s,p,d,ceil", MAX_CASES)
def test_max_pool2d(rng, shape, k, s, p, d, ceil):
    _fwd_bwd(rng, lambda x: F.max_pool2d(x, k, s, p, d, ceil), lambda x: TF.max_pool2d(x, k, s, p, d, ceil), shape)


@pytest.mark.parametrize("shape,k,s,p,d,ceil", MAX_CASES[:5])
def test_max_pool2d_indices_and_module(rng, shape, k, s, p, d, ceil):
    xm, xt = _pair(rng, shape)
    ym, im = nn.MaxPool2d(k, s, p, d, return_indices=True, ceil_mode=ceil)(xm)
    yt, it = torch.nn.MaxPool2d(k, s, p, d, return_indices=True, ceil_mode=ceil)(xt)
    assert_close(ym, yt)
    assert im.dtype == md.int64
    np.testing.assert_array_equal(im.numpy(), it.numpy())


def test_max_pool2d_ties_go_to_first(rng):
    x = np.zeros((1, 1, 4, 6), np.float32)
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = 5.0  # a tie inside one 3x3 window
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.max_pool2d(xm, 3, 1).sum().backward()
    TF.max_pool2d(xt, 3, 1).sum().backward()
    assert_close(xm.grad, xt.grad)  # ones and zeros: all ties (incl. the zeros) as torch
    _, im = F.max_pool2d(md.tensor(x), 2, 2, return_indices=True)
    _, it = TF.max_pool2d(torch.tensor(x), 2, 2, return_indices=True)
    np.testing.assert_array_equal(im.numpy(), it.numpy())


def test_max_pool2d_unbatched_and_nan(rng):
    _fwd_bwd(rng, lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), (3, 6, 7))
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    x[0, 0, 0, 1] = np.nan
    assert np.isnan(F.max_pool2d(md.tensor(x), 2).numpy()[0, 0, 0, 0])


AVG_CASES = [  # shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    ((2, 3, 8, 8), 2, None, 0, False, True, None),
    ((1, 2, 7, 9), 3, 2, 1, False, True, None),
    ((1, 2, 7, 9), 3, 2, 1, True, False, None),
    ((1, 2, 7, 9), 3, 2, 1, True, True, None),
    ((3, 2, 11, 6), (3, 2), (2, 1), (1, 1), True, False, None),
    ((2, 2, 10, 13), 3, 1, 1, False, True, 5),
    ((1, 1, 5, 6), 2, 3, 1, True, True, None),
]


@pytest.mark.parametrize("shape,k,s,p,ceil,cip,div", AVG_CASES)
def test_avg_pool2d(rng, shape, k, s, p, ceil, cip, div):
    _fwd_bwd(rng, lambda x: nn.AvgPool2d(k, s, p, ceil, cip, div)(x),
             lambda x: torch.nn.AvgPool2d(k, s, p, ceil, cip, div)(x), shape)


@pytest.mark.parametrize("shape,out", [((2, 3, 7, 9), (3, 4)), ((1, 2, 5, 5), 1), ((2, 2, 10, 7), (1, 1)),
                                       ((1, 3, 6, 6), (4, 5)), ((1, 1, 3, 4), (5, 6)), ((3, 5, 6), (2, None))])
def test_adaptive_avg_pool2d(rng, shape, out):
    _fwd_bwd(rng, lambda x: nn.AdaptiveAvgPool2d(out)(x), lambda x: torch.nn.AdaptiveAvgPool2d(out)(x), shape)


def test_pool1d(rng):
    _fwd_bwd(rng, lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True),
             lambda x: TF.max_pool1d(x, 3, 2, 1, ceil_mode=True), (2, 3, 11))
    _fwd_bwd(rng, lambda x: F.avg_pool1d(x, 3, 2, 1), lambda x: TF.avg_pool1d(x, 3, 2, 1), (2, 3, 11))


# --- gradcheck (float64) ------------------------------------------------------------------------
def _gc(fn, *shapes):
    rng = np.random.default_rng(7)
    inputs = [md.tensor(rng.standard_normal(s), dtype=md.float64, requires_grad=True) for s in shapes]
    assert md.autograd.gradcheck(fn, tuple(inputs))


def test_gradcheck_pools():
    _gc(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (1, 2, 5, 6))
    _gc(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (1, 2, 5, 6))
    _gc(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), (1, 2, 5, 7))



# --- scalar vs SIMD -----------------------------------------------------------------------------
@pytest.mark.parametrize("isa", [i for i in md.backend.available() if i != "scalar"])
def test_simd_matches_scalar(rng, isa):
    x = md.tensor(rng.standard_normal((3, 5, 33, 37)).astype(np.float32))

    def run():
        out = []
        for args in [(2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 1, False), (2, 1, 0, 1, False),
                     (3, 2, 0, 2, False)]:
            y, i = F.max_pool2d(x, *args, return_indices=True)
            out += [y.numpy(), i.numpy()]
        return out

    with md.backend.using("scalar"):
        ref = run()
    with md.backend.using(isa):
        got = run()
    for i, (a, b) in enumerate(zip(got, ref)):
        if a.dtype == np.int64:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=str(i))


# --- bad input ----------------------------------------------------------------------------------
def test_bad_inputs():
    x = md.randn(2, 3, 4, 4)
    with pytest.raises(RuntimeError, match="3D or 4D"):
        F.max_pool2d(md.randn(4, 4), 2)
    with pytest.raises(RuntimeError, match="stride should be greater than zero"):
        F.max_pool2d(x, 2, 0)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.max_pool2d(x, 5)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.avg_pool2d(md.randn(1, 1, 2, 2), 3, 1, 0)
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        F.max_pool2d(x, 2, 1, 2)
    with pytest.raises(RuntimeError, match="kernel size should be greater than zero"):
        F.avg_pool2d(x, 0)


# --- issue 14 item 6: windows that lie entirely in the padding -----------------------------------
def _some_window_misses(n, k, p, s, d, out):
    """Brute force: does any output window have all its taps i s - p + t d outside [0, n)?"""
    return any(all(not 0 <= i * s - p + t * d < n for t in range(k)) for i in range(out))


def _out_size(n, k, p, s, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1
    out = (num + (s - 1 if ceil else 0)) // s + 1
    return out - 1 if ceil and (out - 1) * s >= n + p else out


def test_max_pool2d_rejects_the_issue_geometry():
    """issue 14 item 6: input (3, 6, 1), kernel (3, 2), stride (2, 3), padding (1, 1), dilation
    (1, 2), ceil_mode: the W window's taps -1 and 1 miss the single column; minidl returned -inf
    with out-of-range indices and failed in backward (PyTorch writes out of bounds)."""
    x = md.randn(3, 6, 1, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"max_pool2d: output 0 along W .* entirely in the padding: its taps -1, 1 "
                                           r"\(kernel_size 2, stride 3, padding 1, dilation 2, ceil_mode\)"):
        F.max_pool2d(x, (3, 2), (2, 3), (1, 1), (1, 2), ceil_mode=True)
    with pytest.raises(RuntimeError, match=r"max_pool1d: output 0 along L .* entirely in the padding"):
        F.max_pool1d(md.randn(2, 1), 2, 3, 1, 2)
    with pytest.raises(RuntimeError, match="entirely in the padding"):
        nn.MaxPool2d((3, 2), (2, 3), (1, 1), (1, 2), ceil_mode=True)(x)


def test_max_and_avg_pool_geometries_sweep_against_torch():
    """issue 14 item 6: over 400 random small geometries (ceil_mode on and off), minidl raises
    exactly where some max-pool window misses the input (checked by brute force), and
    otherwise matches PyTorch's values, indices and input gradient. Avg pooling (no dilation,
    padding <= kernel / 2) never has such a window and always matches."""
    r = np.random.default_rng(14)
    rejected = checked = 0
    for _ in range(400):
        h, w = (int(v) for v in r.integers(1, 8, 2))
        k = tuple(int(v) for v in r.integers(1, 5, 2))
        s = tuple(int(v) for v in r.integers(1, 4, 2))
        p = tuple(int(r.integers(0, kk // 2 + 1)) for kk in k)
        d = tuple(int(v) for v in r.integers(1, 4, 2))
        ceil = bool(r.integers(0, 2))
        outs = [_out_size(n, kk, pp, ss, dd, ceil) for n, kk, pp, ss, dd in zip((h, w), k, p, s, d)]
        if min(outs) < 1:
            continue  # "Output size is too small" in both libraries
        x = r.standard_normal((2, h, w)).astype(np.float32)
        xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        geometry = (k, s, p, d, ceil)
        if any(_some_window_misses(n, kk, pp, ss, dd, o) for n, kk, pp, ss, dd, o in zip((h, w), k, p, s, d, outs)):
            with pytest.raises(RuntimeError, match="entirely in the padding"):
                F.max_pool2d(xm, k, s, p, d, ceil)
            rejected += 1  # (PyTorch is not run here: it writes out of bounds)
            continue
        ym, im = F.max_pool2d(xm, k, s, p, d, ceil, return_indices=True)
        yt, it = TF.max_pool2d(xt, k, s, p, d, ceil, return_indices=True)
        assert_close(ym, yt, atol=0)
        np.testing.assert_array_equal(im.numpy(), it.numpy(), err_msg=str(geometry))
        ym.sum().backward()
        yt.sum().backward()
        assert_close(xm.grad, xt.grad, atol=0)
        assert_close(F.avg_pool2d(xm, k, s, p, ceil), TF.avg_pool2d(xt, k, s, p, ceil), atol=1e-6)
        checked += 1
    assert rejected >= 10 and checked >= 100, (rejected, checked)


# --- issue 14 item 7 (pooling half): int arguments checked before C++ ---------------------------
_HUGE = [2 ** 63, 2 ** 31, -(2 ** 63), 10 ** 30]


@pytest.mark.parametrize("value", _HUGE)
@pytest.mark.parametrize("call,op,name", [
    (lambda x, v: F.max_pool2d(x, v), "max_pool2d", "kernel_size"),
    (lambda x, v: F.max_pool2d(x, 2, stride=v), "max_pool2d", "stride"),
    (lambda x, v: F.max_pool2d(x, 2, stride=(1, v)), "max_pool2d", "stride"),
    (lambda x, v: F.max_pool2d(x, 2, padding=v), "max_pool2d", "padding"),
    (lambda x, v: F.max_pool2d(x, 2, dilation=v), "max_pool2d", "dilation"),
    (lambda x, v: F.max_pool1d(x[0], v), "max_pool1d", "kernel_size"),
    (lambda x, v: F.max_pool1d(x[0], 2, stride=v), "max_pool1d", "stride"),
    (lambda x, v: F.avg_pool2d(x, v), "avg_pool2d", "kernel_size"),
    (lambda x, v: F.avg_pool2d(x, 2, stride=v), "avg_pool2d", "stride"),
    (lambda x, v: F.avg_pool2d(x, 2, padding=v), "avg_pool2d", "padding"),
    (lambda x, v: F.avg_pool2d(x, 2, divisor_override=v), "avg_pool2d", "divisor_override"),
    (lambda x, v: F.avg_pool1d(x[0], 2, stride=v), "avg_pool1d", "stride"),
    (lambda x, v: F.adaptive_avg_pool2d(x, v), "adaptive_avg_pool2d", "output_size"),
    (lambda x, v: F.adaptive_avg_pool2d(x, (1, v)), "adaptive_avg_pool2d", "output_size"),
    (lambda x, v: nn.MaxPool2d(2, v)(x), "max_pool2d", "stride"),
])
def test_huge_int_arguments_name_argument_value_and_limit(call, op, name, value):
    """issue 14 item 7: an int argument beyond int64 (or beyond 2**31) used to reach the C++
    binding, whose TypeError printed the whole input array."""
    x = md.randn(1, 2, 6, 6)
    with pytest.raises(RuntimeError) as caught:
        call(x, value)
    message = str(caught.value)
    assert message.startswith(f"{op}: {name} must be a ") and "int below 2**31" in message
    assert str(value) in message
    assert "array" not in message and "incompatible function arguments" not in message and len(message) < 200


@pytest.mark.parametrize("value", [1.5, "2", True, None])
def test_non_int_pool_arguments_raise_type_error(value):
    """issue 14 item 7: a float stride was truncated silently (int(1.5) = 1); PyTorch refuses."""
    with pytest.raises(TypeError, match=r"max_pool2d: stride must be an int or a tuple of ints, got"):
        F.max_pool2d(md.randn(1, 2, 6, 6), 2, stride=(1, value))
