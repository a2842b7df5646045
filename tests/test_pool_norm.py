"""Pooling and batch norm vs PyTorch: values, input/weight/bias gradients, running
statistics, eval mode; float64 gradcheck; scalar vs SIMD kernel sets; bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F
from conftest import assert_close

torch = pytest.importorskip("torch")
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


# --- batch norm ---------------------------------------------------------------------------------
def _copy_state(t_mod, m_mod):
    m_mod.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in t_mod.state_dict().items()})


def _bn_steps(rng, m_mod, t_mod, shape, steps=3):
    for p in t_mod.parameters():  # non-trivial affine parameters
        with torch.no_grad():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    _copy_state(t_mod, m_mod)
    for _ in range(steps):
        xm, xt = _pair(rng, shape)
        xm = (xm * 3.0 + 2.0).detach().requires_grad_()
        xt = (xt * 3.0 + 2.0).detach().requires_grad_()
        ym, yt = m_mod(xm), t_mod(xt)
        assert_close(ym, yt, atol=1e-4)
        w = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        m_mod.zero_grad()
        t_mod.zero_grad()
        (ym * md.tensor(w)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
        assert_close(xm.grad, xt.grad, atol=1e-4)
        tp = dict(t_mod.named_parameters())
        for name, p in m_mod.named_parameters():
            assert_close(p.grad, tp[name].grad, atol=1e-3)
    ts = t_mod.state_dict()
    for k, v in m_mod.state_dict().items():
        assert_close(v, ts[k], atol=1e-5)


@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (4, 3, 5, 7)), ("BatchNorm2d", (2, 16, 8, 8)),
                                       ("BatchNorm1d", (6, 5)), ("BatchNorm1d", (4, 3, 9)),
                                       ("BatchNorm2d", (1, 2, 3, 3))])
@pytest.mark.parametrize("kw", [{}, {"affine": False}, {"momentum": None}, {"track_running_stats": False},
                                {"momentum": 0.3, "eps": 1e-3}])
def test_batchnorm_train_then_eval(rng, cls, shape, kw):
    m_mod, t_mod = getattr(nn, cls)(shape[1], **kw), getattr(torch.nn, cls)(shape[1], **kw)
    _bn_steps(rng, m_mod, t_mod, shape)
    m_mod.eval()
    t_mod.eval()
    _bn_steps(rng, m_mod, t_mod, shape, steps=1)


def test_batchnorm_state_dict_and_init():
    bn = nn.BatchNorm2d(4)
    sd = bn.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert sd["num_batches_tracked"].dtype == md.int64 and sd["num_batches_tracked"].shape == ()
    np.testing.assert_array_equal(bn.weight.detach().numpy(), 1)
    np.testing.assert_array_equal(bn.bias.detach().numpy(), 0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1)
    bn(md.randn(3, 4, 2, 2))
    bn(md.randn(3, 4, 2, 2))
    assert int(bn.num_batches_tracked.item()) == 2
    assert list(nn.BatchNorm1d(3, affine=False, track_running_stats=False).state_dict()) == []


def test_functional_batch_norm(rng):
    xm, xt = _pair(rng, (5, 3, 4))
    rm, rv = md.zeros(3), md.ones(3)
    trm, trv = torch.zeros(3), torch.ones(3)
    wm, wt = _pair(rng, (3,))
    ym = F.batch_norm(xm, rm, rv, wm, None, training=True, momentum=0.2)
    yt = TF.batch_norm(xt, trm, trv, wt, None, training=True, momentum=0.2)
    assert_close(ym, yt)
    assert_close(rm, trm)
    assert_close(rv, trv)
    ym = F.batch_norm(xm, rm, rv)  # eval: running stats, affine map only in the backward
    yt = TF.batch_norm(xt, trm, trv)
    assert_close(ym, yt)
    ym.sum().backward()
    yt.sum().backward()
    assert_close(xm.grad, xt.grad)


# --- gradcheck (float64) ------------------------------------------------------------------------
def _gc(fn, *shapes):
    rng = np.random.default_rng(7)
    inputs = [md.tensor(rng.standard_normal(s), dtype=md.float64, requires_grad=True) for s in shapes]
    assert md.autograd.gradcheck(fn, tuple(inputs))


def test_gradcheck_pools():
    _gc(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (1, 2, 5, 6))
    _gc(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (1, 2, 5, 6))
    _gc(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), (1, 2, 5, 7))


def test_gradcheck_batch_norm():
    _gc(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (3, 2, 2, 3), (2,), (2,))
    _gc(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (4, 3), (3,), (3,))
    rm, rv = md.tensor([0.1, -0.2], dtype=md.float64), md.tensor([0.5, 2.0], dtype=md.float64)
    _gc(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), (3, 2, 4), (2,), (2,))


# --- scalar vs SIMD -----------------------------------------------------------------------------
@pytest.mark.parametrize("isa", [i for i in md.backend.available() if i != "scalar"])
def test_simd_matches_scalar(rng, isa):
    x = md.tensor(rng.standard_normal((3, 5, 33, 37)).astype(np.float32))
    g = md.tensor(rng.standard_normal((3, 5, 33, 37)).astype(np.float32))

    def run():
        out = []
        for args in [(2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 1, False), (2, 1, 0, 1, False),
                     (3, 2, 0, 2, False)]:
            y, i = F.max_pool2d(x, *args, return_indices=True)
            out += [y.numpy(), i.numpy()]
        xr = x.detach().requires_grad_()
        y = F.batch_norm(xr, None, None, None, None, training=True)
        (y * g).sum().backward()
        out += [y.detach().numpy(), xr.grad.numpy()]
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
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size \[1, 4\]"):
        nn.BatchNorm1d(4)(md.randn(1, 4))
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        F.batch_norm(x, md.zeros(4), md.ones(4))
    with pytest.raises(RuntimeError, match=r"expected input with 4 channels.*\[2, 3, 4, 4\]"):
        nn.BatchNorm2d(4)(x)
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(md.randn(2, 3, 4))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(x)
