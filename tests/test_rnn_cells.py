"""nn.RNNCell / LSTMCell / GRUCell vs PyTorch: one step and a hand-unrolled sequence, values
and gradients of input, states and every weight; unbatched input; no bias; float64 gradcheck;
bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
from conftest import assert_close, require

torch = require("torch")

CELLS = {
    "rnn_tanh": (lambda *a, **k: nn.RNNCell(*a, **k), lambda *a, **k: torch.nn.RNNCell(*a, **k)),
    "rnn_relu": (lambda *a, **k: nn.RNNCell(*a, nonlinearity="relu", **k),
                 lambda *a, **k: torch.nn.RNNCell(*a, nonlinearity="relu", **k)),
    "lstm": (lambda *a, **k: nn.LSTMCell(*a, **k), lambda *a, **k: torch.nn.LSTMCell(*a, **k)),
    "gru": (lambda *a, **k: nn.GRUCell(*a, **k), lambda *a, **k: torch.nn.GRUCell(*a, **k)),
}


def _make(kind, I, H, bias=True, dtype=np.float32):
    mk_m, mk_t = CELLS[kind]
    tm = mk_t(I, H, bias=bias)
    mm = mk_m(I, H, bias=bias)
    if dtype == np.float64:
        tm, mm = tm.double(), mm.double()
    mm.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    return mm, tm


def _tensors(rng, shape, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    return md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_parity(rng, kind, bias, with_state, batched):
    I, H, B, steps = 5, 7, 3, 3
    mm, tm = _make(kind, I, H, bias)
    lead = (B,) if batched else ()
    xs = [_tensors(rng, lead + (I,)) for _ in range(steps)]
    n_state = 2 if kind == "lstm" else 1
    states = [_tensors(rng, lead + (H,)) for _ in range(n_state)] if with_state else []
    sm = (tuple(s[0] for s in states) if kind == "lstm" else states[0][0]) if with_state else None
    st = (tuple(s[1] for s in states) if kind == "lstm" else states[0][1]) if with_state else None
    lm = lt = 0
    for xm, xt in xs:  # a short sequence unrolled by hand: the state feeds the next step
        sm, st = mm(xm, sm), tm(xt, st)
        hm, ht = (sm[0], st[0]) if kind == "lstm" else (sm, st)
        assert_close(hm, ht, atol=2e-6)
        if kind == "lstm":
            assert_close(sm[1], st[1], atol=2e-6)
        w = rng.standard_normal(tuple(ht.shape)).astype(np.float32)
        lm = lm + (hm * md.tensor(w)).sum()
        lt = lt + (ht * torch.tensor(w)).sum()
    if kind == "lstm":  # the final cell state enters the loss too
        w = rng.standard_normal(tuple(st[1].shape)).astype(np.float32)
        lm = lm + (sm[1] * md.tensor(w)).sum()
        lt = lt + (st[1] * torch.tensor(w)).sum()
    lm.backward()
    lt.backward()
    for xm, xt in xs:
        assert_close(xm.grad, xt.grad, atol=1e-5)
    for a, b in states:
        assert_close(a.grad, b.grad, atol=1e-5)
    pm = dict(mm.named_parameters())
    tp = dict(tm.named_parameters())
    assert sorted(pm) == sorted(tp)
    for name, p in tp.items():
        assert_close(pm[name].grad, p.grad, atol=2e-5)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_gradcheck(rng, kind):
    mm, _ = _make(kind, 3, 2, dtype=np.float64)
    x = md.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    n = 2 if kind == "lstm" else 1
    hs = [md.tensor(rng.standard_normal((2, 2)), requires_grad=True) for _ in range(n)]

    def f(x, *rest):
        out = mm(x, tuple(rest[:n]) if kind == "lstm" else rest[0])
        outs = list(out) if kind == "lstm" else [out]
        return sum((o * o * o).sum() for o in outs)

    assert md.autograd.gradcheck(f, (x, *hs, *mm.parameters()), eps=1e-6, atol=1e-5)


def test_cell_init_and_shapes():
    c = nn.LSTMCell(4, 6)
    assert tuple(c.weight_ih.shape) == (24, 4) and tuple(c.weight_hh.shape) == (24, 6)
    assert tuple(nn.GRUCell(4, 6).bias_hh.shape) == (18,)
    bound = 1 / np.sqrt(6)
    for p in c.parameters():
        assert np.abs(p.detach().numpy()).max() <= bound
    h, cs = c(md.zeros(4))
    assert tuple(h.shape) == (6,) and tuple(cs.shape) == (6,)


def test_cell_bad_input():
    c = nn.GRUCell(4, 6)
    with pytest.raises(ValueError, match=r"1D or 2D.*3D"):
        c(md.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"input_size: got 5 expected 4"):
        c(md.zeros(3, 5))
    with pytest.raises(ValueError, match=r"hidden_size: got 5, expected 6"):
        c(md.zeros(3, 4), md.zeros(3, 5))
    with pytest.raises(ValueError, match=r"batch size 3 doesn't match hidden0 batch size 2"):
        c(md.zeros(3, 4), md.zeros(2, 6))
    l = nn.LSTMCell(4, 6)
    with pytest.raises(ValueError, match=r"hidden1 batch size 2"):
        l(md.zeros(3, 4), (md.zeros(3, 6), md.zeros(2, 6)))
    with pytest.raises(TypeError, match="tuple"):
        l(md.zeros(3, 4), md.zeros(3, 6))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
