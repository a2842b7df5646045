"""md.autocast: the per-op dtype policy against PyTorch's CPU autocast, values close to it,
master weights, nesting, threads, no_grad, bad input.

Tolerances: inside autocast both libraries round the GEMM inputs to the 16-bit format and
accumulate in float32; they differ only in the float32 summation order (relative ~1e-6), which
can move a result across a rounding boundary of the 16-bit output: one unit in the last place,
2^-8 relative for bfloat16 (8 significant bits), 2^-11 for float16. Single ops are compared at
that one-ulp tolerance; a two-layer model (3 roundings in a chain, forward and backward) at
4 ulps of the largest magnitude.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import minidl as md
from conftest import require, to_numpy

torch = require("torch")
F = md.nn.functional
TF = torch.nn.functional

DTYPES = [(md.bfloat16, torch.bfloat16, 2.0 ** -8), (md.float16, torch.float16, 2.0 ** -11)]
IDS = ["bf16", "fp16"]


def _t(a):
    return torch.from_numpy(np.array(a))


def _dname(d):
    return str(d).split(".")[-1]


@pytest.mark.parametrize("mdt,tdt,ulp", DTYPES, ids=IDS)
def test_op_dtypes_match_torch(rng, mdt, tdt, ulp):
    x = rng.standard_normal((4, 8)).astype(np.float32)
    w = rng.standard_normal((6, 8)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    img = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    kw = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    seq = rng.standard_normal((2, 3, 9)).astype(np.float32)
    kw1 = rng.standard_normal((5, 3, 3)).astype(np.float32)
    tgt = np.array([0, 1, 2, 3])
    w *= 0.3
    x64 = rng.standard_normal((3, 3))

    def ops(lib, Fn, T):
        y = Fn.linear(T(x), T(w), T(b))
        return {
            "linear": y,
            "matmul": T(x) @ T(x).T,
            "bmm": lib.bmm(T(x)[None], T(x).T[None]),
            "conv2d": Fn.conv2d(T(img), T(kw)),
            "conv1d": Fn.conv1d(T(seq), T(kw1)),
            "softmax": Fn.softmax(y, 1),
            "log_softmax": Fn.log_softmax(y, 1),
            "relu": Fn.relu(y),
            "gelu": Fn.gelu(y),
            "sum": y.sum(),
            "mean": y.mean(),
            "add_f32": y + T(x)[:, :6],
            "cross_entropy": Fn.cross_entropy(y, T(tgt)),
            "mse_loss": Fn.mse_loss(y, T(x)[:, :6]),
            "matmul_f64": T(x64) @ T(x64),
        }
    with md.autocast("cpu", dtype=mdt):
        got = ops(md, F, md.tensor)
    with torch.autocast("cpu", dtype=tdt):
        exp = ops(torch, TF, _t)
    for k in exp:
        assert _dname(got[k].dtype) == _dname(exp[k].dtype), (k, got[k].dtype, exp[k].dtype)
        e = to_numpy(exp[k]).astype(np.float64)
        g = to_numpy(got[k]).astype(np.float64)
        if k in ("sum", "mean", "cross_entropy", "mse_loss", "softmax", "log_softmax"):
            # reductions: the error scale is one 16-bit ulp of the largest input, not of the
            # result (log_softmax = y - logsumexp(y) cancels; torch rounds differently inside)
            np.testing.assert_allclose(g, e, rtol=0, atol=2 * ulp * np.abs(to_numpy(got["linear"])).max(), err_msg=k)
        else:  # one 16-bit ulp of the result
            np.testing.assert_allclose(g, e, rtol=ulp, atol=1e-6, err_msg=k)


def test_outside_autocast_nothing_changes(rng):
    x = md.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    with md.autocast("cpu"):
        pass
    assert (x @ x.T).dtype is md.float32
    assert not md.is_autocast_enabled()


@pytest.mark.parametrize("mdt,tdt,ulp", DTYPES, ids=IDS)
def test_mlp_forward_backward_close_to_torch(rng, mdt, tdt, ulp):
    md.manual_seed(0)
    m = md.nn.Sequential(md.nn.Linear(20, 32), md.nn.ReLU(), md.nn.Linear(32, 5))
    t = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))
    for (_, pm), (_, pt) in zip(m.named_parameters(), t.named_parameters()):
        pt.data.copy_(_t(pm.detach().numpy()))
    x = rng.standard_normal((16, 20)).astype(np.float32)
    y = rng.integers(0, 5, 16)
    with md.autocast("cpu", dtype=mdt):
        out = m(md.tensor(x))
        loss = F.cross_entropy(out, md.tensor(y))
    with torch.autocast("cpu", dtype=tdt):
        tout = t(_t(x))
        tloss = TF.cross_entropy(tout, _t(y))
    assert out.dtype is mdt and loss.dtype is md.float32
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=4 * ulp)
    for (name, pm), (_, pt) in zip(m.named_parameters(), t.named_parameters()):
        assert pm.dtype is md.float32 and pm.grad.dtype is md.float32, name  # master weights
        g, e = pm.grad.numpy(), pt.grad.numpy()
        np.testing.assert_allclose(g, e, rtol=0, atol=4 * ulp * np.abs(e).max(), err_msg=name)


def test_nested_decorator_no_grad_and_threads(rng):
    x = md.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    with md.autocast("cpu", dtype=md.bfloat16):
        assert (x @ x.T).dtype is md.bfloat16
        with md.amp.autocast("cpu", dtype=md.float16):
            assert (x @ x.T).dtype is md.float16
            assert md.get_autocast_dtype("cpu") is md.float16
            with md.autocast("cpu", enabled=False):
                assert (x @ x.T).dtype is md.float32
                assert not md.is_autocast_enabled("cpu")
            assert (x @ x.T).dtype is md.float16
        assert (x @ x.T).dtype is md.bfloat16
        seen = []
        th = threading.Thread(target=lambda: seen.append((x @ x.T).dtype))
        th.start()
        th.join()
        assert seen == [md.float32]  # the state is per thread
        with md.no_grad():
            w = md.randn(4, 4, requires_grad=True)
            y = x @ w
            assert y.dtype is md.bfloat16 and not y.requires_grad
    assert (x @ x.T).dtype is md.float32

    @md.autocast("cpu", dtype=md.float16)
    def f(a):
        return a @ a.T
    assert f(x).dtype is md.float16
    assert (x @ x.T).dtype is md.float32


def test_float64_is_not_autocast(rng):
    x = md.tensor(rng.standard_normal((3, 3)))
    with md.autocast("cpu"):
        assert (x @ x).dtype is md.float64


def test_gradients_flow_through_casts_in_float32(rng):
    w = md.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    x = md.tensor(rng.standard_normal((2, 4)).astype(np.float32))
    with md.autocast("cpu", dtype=md.bfloat16):
        y = (x @ w).float().sum()
    y.backward()
    assert w.grad.dtype is md.float32
    # d/dw sum(x @ w) = x^T @ ones, computed from the bf16-rounded x
    xb = x.bfloat16().float().numpy()
    np.testing.assert_allclose(w.grad.numpy(), xb.T @ np.ones((2, 3), np.float32), rtol=2.0 ** -8)


@pytest.mark.parametrize("mdt,tdt,ulp", DTYPES, ids=IDS)
def test_mixed_dtype_residual_gets_gradient_in_each_inputs_dtype(rng, mdt, tdt, ulp):
    # a 16-bit Linear output added to a float32 residual (every pre-norm Transformer block under
    # autocast): the sum is float32, and the gradient going back into the Linear must be 16-bit
    # again, as in PyTorch, or the Linear's backward would mix dtypes
    md.manual_seed(0)
    lin = md.nn.Linear(8, 8)
    tlin = torch.nn.Linear(8, 8)
    tlin.load_state_dict({k: _t(v.numpy()) for k, v in lin.state_dict().items()})
    x = rng.standard_normal((4, 8)).astype(np.float32)
    xm, xt = md.tensor(x, requires_grad=True), _t(x).requires_grad_(True)
    with md.autocast("cpu", dtype=mdt):
        h = lin(xm)
        ym = h + xm
    with torch.autocast("cpu", dtype=tdt):
        yt = tlin(xt) + xt
    assert h.dtype is mdt and ym.dtype is md.float32 and yt.dtype == torch.float32
    h.retain_grad()
    (ym * ym).sum().backward()
    (yt * yt).sum().backward()
    assert h.grad.dtype is mdt and xm.grad.dtype is md.float32 and lin.weight.grad.dtype is md.float32
    for g, e in ((xm.grad, xt.grad), (lin.weight.grad, tlin.weight.grad), (lin.bias.grad, tlin.bias.grad)):
        e = e.numpy()
        np.testing.assert_allclose(g.numpy(), e, rtol=0, atol=4 * ulp * np.abs(e).max())


def test_transformer_block_trains_under_autocast(rng):
    layer = md.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu", batch_first=True,
                                          norm_first=True)
    x = md.tensor(rng.standard_normal((2, 6, 16)).astype(np.float32))
    with md.autocast("cpu", dtype=md.bfloat16):
        y = layer(x, is_causal=True, src_mask=md.nn.Transformer.generate_square_subsequent_mask(6))
    y.float().square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.dtype is md.float32, name
        assert np.isfinite(p.grad.numpy()).all() and np.abs(p.grad.numpy()).max() > 0, name


@pytest.mark.parametrize("mdt,tdt,ulp", DTYPES, ids=IDS)
def test_gpt_block_forward_backward_close_to_torch(rng, mdt, tdt, ulp):
    """bench_gpt.py's block (pre-norm, causal, GELU) in miniature under autocast: the output and
    the gradients of x and of every parameter (float32 master weights) within 4 ulps of the
    largest magnitude of PyTorch's autocast ones. The packed q/k/v projection, the attention on
    16-bit q, k, v and the 16-bit bias-gradient sums all run on this path."""
    torch.manual_seed(0)
    kw = dict(dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    t = torch.nn.TransformerEncoderLayer(32, 4, 64, **kw)
    m = md.nn.TransformerEncoderLayer(32, 4, 64, **kw)
    m.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()})
    x = rng.standard_normal((2, 16, 32)).astype(np.float32)
    g = rng.standard_normal((2, 16, 32)).astype(np.float32)
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with md.autocast("cpu", dtype=mdt):
        y = m(mx, src_mask=md.nn.Transformer.generate_square_subsequent_mask(16), is_causal=True)
    with torch.autocast("cpu", dtype=tdt):
        ty = t(tx, src_mask=torch.nn.Transformer.generate_square_subsequent_mask(16), is_causal=True)
    assert y.dtype is md.float32 and ty.dtype == torch.float32   # the residual stream stays float32
    y.backward(md.tensor(g))
    ty.backward(torch.tensor(g))
    pairs = [("y", to_numpy(y.detach()), ty.detach().numpy()), ("x", mx.grad.numpy(), tx.grad.numpy())]
    tp = dict(t.named_parameters())
    for name, p in m.named_parameters():
        assert p.dtype is md.float32 and p.grad.dtype is md.float32, name
        pairs.append((name, p.grad.numpy(), tp[name].grad.numpy()))
    for name, got, exp in pairs:
        np.testing.assert_allclose(got, exp, rtol=0, atol=4 * ulp * np.abs(exp).max(), err_msg=name)


def test_bad_input():
    with pytest.raises(ValueError, match="bfloat16 or md.float16"):
        md.autocast("cpu", dtype=md.float32)
    with pytest.raises(ValueError, match="bfloat16 or md.float16"):
        md.autocast("cpu", dtype=md.int64)
    with pytest.raises(ValueError, match="'tpu' is not supported"):
        md.autocast("tpu")
    with pytest.warns(UserWarning, match="CUDA is not available. Disabling"):
        with md.autocast("cuda"):  # as on a CPU-only PyTorch: the block runs without autocast
            assert (md.ones(2, 2) @ md.ones(2, 2)).dtype == md.float32
    with pytest.raises(TypeError, match="device_type"):
        md.autocast(3)
    with pytest.raises(TypeError, match="enabled must be a bool"):
        md.autocast("cpu", enabled="yes")
    with pytest.raises(ValueError, match="only"):
        md.is_autocast_enabled("tpu")
    assert not md.is_autocast_enabled()
