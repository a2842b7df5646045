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
