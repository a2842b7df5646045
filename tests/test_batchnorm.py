"""Batch norm vs PyTorch: values, input/weight/bias gradients, running statistics, eval
mode; float64 gradcheck; scalar vs SIMD kernel sets; bad input."""
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
        xr = x.detach().requires_grad_()
        y = F.batch_norm(xr, None, None, None, None, training=True)
        (y * g).sum().backward()
        return [y.detach().numpy(), xr.grad.numpy()]

    with md.backend.using("scalar"):
        ref = run()
    with md.backend.using(isa):
        got = run()
    for i, (a, b) in enumerate(zip(got, ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=str(i))


# --- issue 18: neighbouring channels in blocks (batchnorm.cpp channel_block) ---------------------
# Short runs (S = 3, 7, 64 values) put many channels in a block, C = 37 leaves a ragged last one;
# every channel must get the bits it gets alone (a one-channel tensor is one block of one).
@pytest.mark.parametrize("shape", [(5, 37, 64), (3, 37, 7), (4, 37, 3), (6, 37)])
@pytest.mark.parametrize("relu", [False, True])
def test_channel_blocks_equal_one_channel_at_a_time(rng, kernel_set, shape, relu):
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    C = shape[1]
    w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)

    def run(xs, gs, ws, bs):
        xr, wr, br = (md.tensor(a, requires_grad=True) for a in (xs, ws, bs))
        rm, rv = md.zeros(xs.shape[1]), md.ones(xs.shape[1])
        y = F.batch_norm(xr, rm, rv, wr, br, training=True)
        out = md.relu(y) if relu else y
        (out * md.tensor(gs)).sum().backward()
        return [y.detach().numpy(), xr.grad.numpy(), wr.grad.numpy(), br.grad.numpy(), rm.numpy(), rv.numpy()]

    whole = run(x, g, w, b)
    alone = [run(np.ascontiguousarray(x[:, c:c + 1]), np.ascontiguousarray(g[:, c:c + 1]), w[c:c + 1], b[c:c + 1])
             for c in range(C)]
    for i, name in enumerate(["y", "dx", "dweight", "dbias", "running_mean", "running_var"]):
        per_channel = np.concatenate([a[i] for a in alone], axis=1 if i < 2 else 0)
        np.testing.assert_array_equal(whole[i], per_channel, err_msg=name)


# --- issue 14 item 3: the statistics LayerNorm shares (ops/reduce/row_stats*.h) ------------------
@pytest.mark.parametrize("shape", [(8, 3, 7), (4, 3, 5, 5), (2, 3, 33, 3), (16, 3)])
@pytest.mark.parametrize("value", [1000.3, -77.7, 0.1])
def test_constant_channel_normalizes_to_exactly_zero(kernel_set, shape, value):
    """issue 14 item 3: a channel of 1000.3 in runs of 7 values gave 0.0193 (PyTorch: 0.0078);
    the shifted two-pass mean is the value itself."""
    y = F.batch_norm(md.full(shape, value), None, None, training=True)
    assert np.array_equal(y.numpy(), np.zeros(shape, np.float32))


@pytest.mark.parametrize("shape", [(8, 3, 7), (4, 3, 5, 5), (2, 4, 33, 17)])
@pytest.mark.parametrize("mean,spread", [(1000.0, 1e-2), (1.0e4, 1.0), (300.0, 1e-3)])
def test_large_mean_tiny_spread_error_at_most_torchs(kernel_set, shape, mean, spread):
    """issue 14 item 3 (BatchNorm half): error against a float64 reference at most PyTorch's."""
    for seed in range(3):
        x = (mean + spread * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)
        axes = (0,) + tuple(range(2, len(shape)))
        x64 = x.astype(np.float64)
        m = x64.mean(axes, keepdims=True)
        ref = (x64 - m) / np.sqrt(((x64 - m) ** 2).mean(axes, keepdims=True) + 1e-5)
        err_md = np.abs(F.batch_norm(md.tensor(x), None, None, training=True).numpy() - ref).max()
        err_torch = np.abs(TF.batch_norm(torch.tensor(x), None, None, training=True).numpy() - ref).max()
        assert err_md <= err_torch, (seed, err_md, err_torch)


# --- bad input ----------------------------------------------------------------------------------
def test_bad_inputs():
    x = md.randn(2, 3, 4, 4)
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


# --- issue 18: a 16-bit input (BatchNorm2d after a convolution under BF16 autocast) --------------
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 5, 33, 37), (6, 4), (2, 3, 1)])
def test_16bit_input_equals_float32_on_widened_values(rng, kernel_set, shape, training):
    """bfloat16/float16 x with float32 weight, bias and running statistics (the kernel widens
    one channel at a time, cpp/ops/batchnorm/batchnorm_lowp.cpp): y and dx are the float32
    results on the widened x and dy rounded once, bit for bit; dw, db and the running
    statistics are the float32 ones exactly; the 16-bit input's gradient keeps its dtype."""
    C = shape[1]
    for mdt in (md.bfloat16, md.float16):
        x16 = md.tensor(rng.standard_normal(shape).astype(np.float32) * 3 + 1).to(mdt)
        g16 = md.tensor(rng.standard_normal(shape).astype(np.float32)).to(mdt)
        w0, b0 = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
        runs = []
        for x in (x16, x16.float()):
            xr = x.detach().requires_grad_()
            w, b = md.tensor(w0, requires_grad=True), md.tensor(b0, requires_grad=True)
            rm, rv = md.tensor(rng.standard_normal(C).astype(np.float32) * 0 + 0.5), md.ones(C) * 2
            y = F.batch_norm(xr, rm, rv, w, b, training=training, momentum=0.25)
            y.backward(g16 if x.dtype is mdt else g16.float())
            runs.append((y.detach(), xr.grad, w.grad, b.grad, rm, rv))
        (y, gx, gw, gb, rm, rv), (y32, gx32, gw32, gb32, rm32, rv32) = runs
        assert y.dtype is mdt and gx.dtype is mdt and gw.dtype is md.float32
        np.testing.assert_array_equal(y.numpy(), y32.to(mdt).numpy())
        np.testing.assert_array_equal(gx.numpy(), gx32.to(mdt).numpy())
        for a, e in ((gw, gw32), (gb, gb32), (rm, rm32), (rv, rv32)):
            np.testing.assert_array_equal(a.numpy(), e.numpy())


def test_16bit_input_matches_torch_bf16(rng):
    """BatchNorm2d on a bfloat16 input with float32 parameters, as PyTorch runs it under CPU
    autocast: output and input gradient within 2 bf16 ulps of PyTorch's, dw and db within float32
    summation noise, running statistics equal."""
    m_mod, t_mod = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    x = rng.standard_normal((8, 4, 9, 9)).astype(np.float32) * 2 + 1
    g = rng.standard_normal((8, 4, 9, 9)).astype(np.float32)
    xm = md.tensor(x).to(md.bfloat16).requires_grad_()
    xt = torch.tensor(x).to(torch.bfloat16).requires_grad_()
    ym, yt = m_mod(xm), t_mod(xt)
    assert ym.dtype is md.bfloat16 and yt.dtype == torch.bfloat16
    ym.backward(md.tensor(g).to(md.bfloat16))
    yt.backward(torch.tensor(g).to(torch.bfloat16))
    ulp = 2.0 ** -8
    np.testing.assert_allclose(ym.float().detach().numpy(), yt.float().detach().numpy(), rtol=2 * ulp, atol=2 * ulp)
    np.testing.assert_allclose(xm.grad.float().numpy(), xt.grad.float().numpy(), rtol=2 * ulp, atol=2 * ulp)
    for name in ("weight", "bias"):
        assert_close(getattr(m_mod, name).grad, getattr(t_mod, name).grad, atol=1e-3)
    for name in ("running_mean", "running_var"):
        assert_close(getattr(m_mod, name), getattr(t_mod, name), atol=1e-5)
