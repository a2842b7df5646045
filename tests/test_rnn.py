"""nn.RNN / nn.LSTM / nn.GRU vs PyTorch: outputs, final states and the gradients of the input,
the initial states and every weight, over layers, directions, batch_first, initial states,
sequence length 1 and unbatched input; float64 gradcheck; scalar vs SIMD kernels; bad input;
dropout between layers."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
from conftest import assert_close, require

torch = require("torch")

KINDS = {
    "rnn_tanh": (lambda **k: nn.RNN(**k), lambda **k: torch.nn.RNN(**k), {}),
    "rnn_relu": (lambda **k: nn.RNN(nonlinearity="relu", **k), lambda **k: torch.nn.RNN(nonlinearity="relu", **k), {}),
    "lstm": (lambda **k: nn.LSTM(**k), lambda **k: torch.nn.LSTM(**k), {}),
    "gru": (lambda **k: nn.GRU(**k), lambda **k: torch.nn.GRU(**k), {}),
}


def _make(kind, dtype=np.float32, **kw):
    """The same module in minidl and torch, torch's weights copied into minidl via state_dict."""
    mk_m, mk_t, _ = KINDS[kind]
    tm = mk_t(**kw)
    if dtype == np.float64:
        tm = tm.double()
    mm = mk_m(**kw)
    if dtype == np.float64:
        mm = mm.double()
    mm.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    return mm, tm


def _states(rng, kind, shape, dtype):
    n = 2 if kind == "lstm" else 1
    arrs = [rng.standard_normal(shape).astype(dtype) for _ in range(n)]
    m = [md.tensor(a, requires_grad=True) for a in arrs]
    t = [torch.tensor(a, requires_grad=True) for a in arrs]
    if kind == "lstm":
        return m, t, tuple(m), tuple(t)
    return m, t, m[0], t[0]


def _check(rng, kind, T=4, B=3, I=5, H=6, layers=1, bidir=False, batch_first=False, with_h0=False,
           unbatched=False, bias=True, dtype=np.float32, atol=2e-5):
    mm, tm = _make(kind, dtype, input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidir,
                   batch_first=batch_first, bias=bias)
    shape = (T, I) if unbatched else ((B, T, I) if batch_first else (T, B, I))
    xa = rng.standard_normal(shape).astype(dtype)
    xm, xt = md.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    D = 2 if bidir else 1
    hshape = (layers * D, H) if unbatched else (layers * D, B, H)
    sm, st, hxm, hxt = _states(rng, kind, hshape, dtype) if with_h0 else ([], [], None, None)
    om, hm = mm(xm, hxm)
    ot, ht = tm(xt, hxt)
    assert_close(om, ot, atol=atol)
    hm_list = list(hm) if kind == "lstm" else [hm]
    ht_list = list(ht) if kind == "lstm" else [ht]
    for a, b in zip(hm_list, ht_list):
        assert_close(a, b, atol=atol)
    # a loss that weighs every output and every final state differently
    wo = rng.standard_normal(tuple(ot.shape)).astype(dtype)
    ws = [rng.standard_normal(tuple(h.shape)).astype(dtype) for h in ht_list]
    lm = (om * md.tensor(wo)).sum()
    lt = (ot * torch.tensor(wo)).sum()
    for a, b, w in zip(hm_list, ht_list, ws):
        lm = lm + (a * md.tensor(w)).sum()
        lt = lt + (b * torch.tensor(w)).sum()
    lm.backward()
    lt.backward()
    assert_close(xm.grad, xt.grad, atol=atol)
    for a, b in zip(sm, st):
        assert_close(a.grad, b.grad, atol=atol)
    pm = dict(mm.named_parameters())
    for name, p in tm.named_parameters():
        assert_close(pm[name].grad, p.grad, atol=atol * 4, rtol=1e-4)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("layers,bidir", [(1, False), (1, True), (2, False), (2, True)])
def test_parity_layers_directions(rng, kind, layers, bidir):
    _check(rng, kind, layers=layers, bidir=bidir, with_h0=True)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_parity_batch_first_no_h0(rng, kind, batch_first):
    _check(rng, kind, layers=2, bidir=True, batch_first=batch_first, with_h0=False)


@pytest.mark.parametrize("kind", list(KINDS))
def test_parity_seq_len_1_and_no_bias(rng, kind):
    _check(rng, kind, T=1, with_h0=True, bias=False, bidir=True)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("with_h0", [False, True])
def test_parity_unbatched(rng, kind, with_h0):
    _check(rng, kind, unbatched=True, layers=2, bidir=True, with_h0=with_h0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_parity_wide_hidden_odd_sizes(rng, kind):
    # H not a multiple of the vector width, batch big enough for the threaded cell
    _check(rng, kind, T=7, B=33, I=19, H=37, layers=1, bidir=True, with_h0=True, atol=5e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_parity_large_batch(rng, kind):
    # batch 150: 25 row tiles of the recurrent GEMM, which reads A in place (gemm_packed_simd.cpp)
    _check(rng, kind, T=3, B=150, I=7, H=40, with_h0=True, atol=5e-5)


@pytest.mark.parametrize("kind", list(KINDS))
def test_float64_parity(rng, kind):
    _check(rng, kind, layers=2, bidir=True, with_h0=True, dtype=np.float64, atol=1e-10)


@pytest.mark.parametrize("kind", list(KINDS))
def test_gradcheck(rng, kind):
    mm, _ = _make(kind, np.float64, input_size=3, hidden_size=2, num_layers=2, bidirectional=True)
    x = md.tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    n = 2 if kind == "lstm" else 1
    hs = [md.tensor(rng.standard_normal((4, 2, 2)), requires_grad=True) for _ in range(n)]
    params = list(mm.parameters())

    def f(x, *rest):
        states = rest[:n]
        out, h = mm(x, tuple(states) if kind == "lstm" else states[0])
        hl = list(h) if kind == "lstm" else [h]
        return (out * out).sum() + sum((a * a * a).sum() for a in hl)

    assert md.autograd.gradcheck(f, (x, *hs, *params), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_kernel_sets_agree(rng, kind):
    """Every CPU kernel set (scalar reference, AVX2, AVX-512) gives the same outputs and grads
    (the bias gradients too: the LSTM's vector cell sums them itself, rnn_simd.cpp)."""
    mm, _ = _make(kind, input_size=9, hidden_size=21, num_layers=1, bidirectional=True)
    xa = rng.standard_normal((5, 4, 9)).astype(np.float32)
    results = []
    for name in md.backend.available():
        md.backend.use(name)
        mm.zero_grad()
        x = md.tensor(xa, requires_grad=True)
        out, h = mm(x)
        (out * out).sum().backward()
        results.append((name, out.detach().numpy().copy(), x.grad.numpy().copy(), mm.weight_hh_l0.grad.numpy().copy(),
                        mm.bias_ih_l0.grad.numpy().copy(), mm.bias_hh_l0_reverse.grad.numpy().copy()))
    assert len(results) >= 2  # the scalar reference and at least one SIMD set on x86-64
    ref = results[0]
    for other in results[1:]:
        for a, b in zip(ref[1:], other[1:]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"{ref[0]} vs {other[0]}")


def test_threads_agree(rng):
    # 40 x 512 x 128 multiply-adds per step: enough for the threaded recurrent GEMM
    mm, _ = _make("lstm", input_size=16, hidden_size=128, num_layers=1)
    xa = rng.standard_normal((6, 40, 16)).astype(np.float32)
    outs = []
    for n in (1, 2):
        md.set_num_threads(n)
        mm.zero_grad()
        x = md.tensor(xa, requires_grad=True)
        out, _ = mm(x)
        (out * out).sum().backward()
        outs.append((out.detach().numpy().copy(), x.grad.numpy().copy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parity_two_threads_ragged_units(rng, kind, dtype):
    """The time loop split between 2 threads by hidden units (B = 10: fewer than 8 batch rows
    per thread; H = 330: 6 panels of 64, the last of 10 units, split 3 | 3)."""
    md.set_num_threads(2)
    _check(rng, kind, T=3, B=10, I=8, H=330, bidir=True, with_h0=True, dtype=dtype,
           atol=5e-5 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parity_two_threads_ragged_rows(rng, kind, dtype):
    """The time loop split between 2 threads by batch rows (B = 37: rows 0-17 | 18-36, no
    barrier between the steps); H = 170 keeps >= 1M multiply-adds per step for the RNN."""
    md.set_num_threads(2)
    _check(rng, kind, T=4, B=37, I=8, H=170, bidir=True, with_h0=True, dtype=dtype,
           atol=5e-5 if dtype == np.float32 else 1e-10)


def test_parameter_names_shapes_and_init():
    m = nn.LSTM(5, 8, num_layers=2, bidirectional=True)
    t = torch.nn.LSTM(5, 8, num_layers=2, bidirectional=True)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
    bound = 1 / np.sqrt(8)
    for p in m.parameters():
        a = p.detach().numpy()
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.5 * bound
    g = nn.GRU(5, 8, bias=False)
    assert sorted(dict(g.named_parameters())) == ["weight_hh_l0", "weight_ih_l0"]
    assert tuple(g.weight_ih_l0.shape) == (24, 5)
    # torch weights load into minidl and the other way round
    t.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in m.state_dict().items()})


def test_proj_size_not_implemented():
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(4, 8, proj_size=2)


def test_dropout_between_layers(rng):
    m = nn.LSTM(6, 50, num_layers=2, dropout=0.5)
    x = md.tensor(rng.standard_normal((3, 4, 6)).astype(np.float32))
    m.eval()
    e1, _ = m(x)
    e2, _ = m(x)
    np.testing.assert_array_equal(e1.detach().numpy(), e2.detach().numpy())  # eval: deterministic, no dropout
    m.train()
    t1, _ = m(x)
    t2, _ = m(x)
    assert not np.allclose(t1.detach().numpy(), t2.detach().numpy())  # fresh masks each call
    assert not np.allclose(t1.detach().numpy(), e1.detach().numpy())
    # dropout acts only between layers: a 1-layer model is the same in train and eval mode
    one = nn.GRU(6, 10, num_layers=1, dropout=0.5)
    one.train()
    a, _ = one(x)
    one.eval()
    b, _ = one(x)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy())


def test_dropout_statistics(rng):
    """With dropout p between layers, the second layer's input has ~p of its units zeroed and
    the survivors scaled by 1/(1-p): feed a 2-layer relu RNN whose layer 2 is the identity map."""
    H, p = 64, 0.3
    m = nn.RNN(H, H, num_layers=2, nonlinearity="relu", dropout=p, bias=False)
    with md.no_grad():
        m.weight_ih_l0.copy_(md.tensor(np.eye(H, dtype=np.float32)))
        m.weight_hh_l0.zero_()
        m.weight_ih_l1.copy_(md.tensor(np.eye(H, dtype=np.float32)))
        m.weight_hh_l1.zero_()
    x = md.tensor(np.ones((20, 50, H), dtype=np.float32))
    m.train()
    out, _ = m(x)
    o = out.detach().numpy()
    zero_frac = (o == 0).mean()
    assert abs(zero_frac - p) < 0.02
    np.testing.assert_allclose(o[o != 0], 1 / (1 - p), rtol=1e-6)
    m.eval()
    np.testing.assert_allclose(m(x)[0].detach().numpy(), 1.0)


# --- bad input ----------------------------------------------------------------------------------
def test_bad_input_rank_and_features():
    m = nn.LSTM(5, 4)
    with pytest.raises(ValueError, match=r"2D or 3D.*4D"):
        m(md.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"Expected 5, got 7.*\(3, 2, 7\)"):
        m(md.zeros(3, 2, 7))
    with pytest.raises(TypeError, match="float"):
        m(md.zeros(3, 2, 5, dtype=md.float64))


def test_bad_initial_states():
    m = nn.LSTM(5, 4, num_layers=2)
    x = md.zeros(3, 2, 5)
    with pytest.raises(ValueError, match=r"Expected hidden size \(2, 2, 4\), got \(1, 2, 4\)"):
        m(x, (md.zeros(1, 2, 4), md.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"Expected cell size \(2, 2, 4\), got \(2, 2, 5\)"):
        m(x, (md.zeros(2, 2, 4), md.zeros(2, 2, 5)))
    with pytest.raises(ValueError, match=r"3-D.*2-D"):
        m(x, (md.zeros(2, 4), md.zeros(2, 4)))
    with pytest.raises(TypeError, match="tuple"):
        m(x, md.zeros(2, 2, 4))
    g = nn.GRU(5, 4, bidirectional=True)
    with pytest.raises(ValueError, match=r"Expected hidden size \(2, 2, 4\), got \(2, 3, 4\)"):
        g(x, md.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"unbatched 2-D.*3-D"):
        g(md.zeros(3, 5), md.zeros(2, 1, 4))


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(3, 0)
