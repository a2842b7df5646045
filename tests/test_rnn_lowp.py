"""RNN / LSTM / GRU in 16 bits: bfloat16 / float16 modules and inputs (float32 inside, outputs
rounded once) and autocast (LSTM and RNN layers run in the autocast dtype, GRU stays float32,
as PyTorch's CPU autocast does)."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn

from conftest import require
torch = require("torch")

BF16_ULP = 2.0 ** -8
LAYERS = {"lstm": (nn.LSTM, torch.nn.LSTM), "gru": (nn.GRU, torch.nn.GRU), "rnn": (nn.RNN, torch.nn.RNN)}


def _pair(kind, **kw):
    mm, tm = LAYERS[kind][0](**kw), LAYERS[kind][1](**kw)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mm.state_dict().items()})
    return mm, tm


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_autocast_dtypes_and_values_close_to_torch(rng, kind):
    mm, tm = _pair(kind, input_size=8, hidden_size=16, num_layers=2, bidirectional=True)
    x = rng.standard_normal((7, 3, 8)).astype(np.float32)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with md.autocast("cpu", dtype=md.bfloat16):
        ym, hm = mm(xm)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yt, ht = tm(xt)
    assert str(ym.dtype).split(".")[-1] == str(yt.dtype).split(".")[-1]   # lstm/rnn bf16, gru float32
    hm0, ht0 = (hm[0], ht[0]) if kind == "lstm" else (hm, ht)
    assert str(hm0.dtype).split(".")[-1] == str(ht0.dtype).split(".")[-1]
    # torch rounds inside its bf16 kernels, minidl only at the outputs: a few bf16 ulps apart
    assert _rel(ym.float().detach().numpy(), yt.float().detach().numpy()) < 4 * BF16_ULP
    w = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (ym.float() * md.tensor(w)).sum().backward()
    (yt.float() * torch.tensor(w)).sum().backward()
    assert xm.grad.dtype is md.float32                                     # the input was float32
    assert _rel(xm.grad.numpy(), xt.grad.numpy()) < 6 * BF16_ULP
    for name, p in mm.named_parameters():
        assert p.grad.dtype is md.float32, name                            # master weights
        assert _rel(p.grad.numpy(), dict(tm.named_parameters())[name].grad.numpy()) < 6 * BF16_ULP, name


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("dt", ["bfloat16", "float16"])
def test_16bit_module_is_float32_math_on_16bit_values(rng, kind, dt):
    # a 16-bit module == the float32 module on the same (16-bit) weights and inputs, with the
    # outputs and gradients rounded once to the 16-bit dtype (one layer: a stack would also
    # round what passes between its layers, two directions each round their input gradient)
    mdt = getattr(md, dt)
    m16 = LAYERS[kind][0](input_size=5, hidden_size=6).to(mdt)
    m32 = LAYERS[kind][0](input_size=5, hidden_size=6)
    m32.load_state_dict({k: v.float() for k, v in m16.state_dict().items()})
    x16 = md.tensor(rng.standard_normal((4, 3, 5)).astype(np.float32)).to(mdt)
    xa = md.tensor(x16.float().numpy(), requires_grad=True)
    xb = x16.detach().requires_grad_(True)
    y16, _ = m16(xb)
    y32, _ = m32(xa)
    assert y16.dtype is mdt
    np.testing.assert_array_equal(y16.float().detach().numpy(), y32.to(mdt).float().detach().numpy())
    g = rng.standard_normal(tuple(y32.shape)).astype(np.float32)
    y16.backward(md.tensor(g).to(mdt))
    y32.backward(md.tensor(g).to(mdt).float())
    assert xb.grad.dtype is mdt
    np.testing.assert_array_equal(xb.grad.float().numpy(), xa.grad.to(mdt).float().numpy())
    p32 = dict(m32.named_parameters())
    for name, p in m16.named_parameters():
        assert p.grad.dtype is mdt, name
        np.testing.assert_array_equal(p.grad.float().numpy(), p32[name].grad.to(mdt).float().numpy(), err_msg=name)


def test_autocast_state_carried_between_steps(rng):
    # truncated BPTT under autocast: the bf16 (h, c) of one chunk is the next chunk's hx
    lstm = nn.LSTM(4, 6)
    x = md.tensor(rng.standard_normal((3, 2, 4)).astype(np.float32))
    with md.autocast("cpu", dtype=md.bfloat16):
        _, state = lstm(x)
        y, (h, c) = lstm(x, tuple(s.detach() for s in state))
    assert state[0].dtype is md.bfloat16 and y.dtype is md.bfloat16 and c.dtype is md.bfloat16
    with pytest.raises(TypeError, match="input must have the type"):   # outside autocast: refused
        lstm(x, state)


def test_16bit_input_to_float32_module_is_refused():
    with pytest.raises(TypeError, match="input must have the type"):
        nn.LSTM(4, 3)(md.randn(2, 1, 4).bfloat16())
