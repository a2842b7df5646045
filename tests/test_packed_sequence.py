"""nn.utils.rnn's PackedSequence (pack_padded_sequence, pad_packed_sequence, pack_sequence,
unpack_sequence, unpad_sequence) and RNN / LSTM / GRU given one, vs PyTorch: packed data,
batch sizes, index permutations, outputs, each sequence's own final state, gradients of the
inputs, initial states and weights; float64 gradcheck; scalar vs SIMD kernels; 2 threads;
bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
from conftest import assert_close, require
from minidl.nn.utils import rnn as R

torch = require("torch")
TR = torch.nn.utils.rnn

MAKERS = {
    "rnn_tanh": (nn.RNN, torch.nn.RNN, {}),
    "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, torch.nn.LSTM, {}),
    "gru": (nn.GRU, torch.nn.GRU, {}),
}


def _pair(kind, dtype=np.float32, **kw):
    mk_m, mk_t, extra = MAKERS[kind]
    tm = mk_t(**kw, **extra)
    mm = mk_m(**kw, **extra)
    if dtype == np.float64:
        tm, mm = tm.double(), mm.double()
    mm.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    return mm, tm


def _padded(rng, lengths, I, dtype, batch_first=False):
    T, B = max(lengths), len(lengths)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    return x


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_pad_round_trip_matches_torch(rng, enforce_sorted, batch_first):
    lengths = [5, 3, 3, 1] if enforce_sorted else [2, 5, 1, 3, 4]  # (no tie: see _run)
    x = _padded(rng, lengths, 3, np.float32, batch_first)
    pm = R.pack_padded_sequence(md.tensor(x), lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    pt = TR.pack_padded_sequence(torch.tensor(x), lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    assert_close(pm.data, pt.data)
    assert pm.batch_sizes.tolist() == pt.batch_sizes.tolist()
    for a, b in ((pm.sorted_indices, pt.sorted_indices), (pm.unsorted_indices, pt.unsorted_indices)):
        assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
    um, lm = R.pad_packed_sequence(pm, batch_first=batch_first, padding_value=-2.0, total_length=7)
    ut, lt = TR.pad_packed_sequence(pt, batch_first=batch_first, padding_value=-2.0, total_length=7)
    assert_close(um, ut)
    assert lm.dtype == md.int64 and lm.tolist() == lt.tolist()


def test_pack_sequence_unpack_and_unpad(rng):
    seqs = [rng.standard_normal((n, 2)).astype(np.float32) for n in (2, 4, 1)]
    pm = R.pack_sequence([md.tensor(s) for s in seqs], enforce_sorted=False)
    pt = TR.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    assert_close(pm.data, pt.data)
    back = R.unpack_sequence(pm)
    assert [tuple(b.shape) for b in back] == [s.shape for s in seqs]
    for b, s in zip(back, seqs):
        np.testing.assert_array_equal(b.numpy(), s)
    padded = R.pad_sequence([md.tensor(s) for s in seqs])
    for b, s in zip(R.unpad_sequence(padded, md.tensor([2, 4, 1])), seqs):
        np.testing.assert_array_equal(b.numpy(), s)


def test_packing_is_differentiable(rng):
    x = rng.standard_normal((4, 3, 2)).astype(np.float64)
    w = rng.standard_normal((7, 2))
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pm = R.pack_padded_sequence(xm, [1, 4, 2], enforce_sorted=False)
    pt = TR.pack_padded_sequence(xt, [1, 4, 2], enforce_sorted=False)
    (pm.data * md.tensor(w)).sum().backward()
    (pt.data * torch.tensor(w)).sum().backward()
    assert_close(xm.grad, xt.grad, atol=1e-12)
    assert md.autograd.gradcheck(lambda a: R.pad_packed_sequence(R.pack_padded_sequence(a, [3, 2, 2]))[0] ** 2,
                                 (md.tensor(x, requires_grad=True),))


def _run(kind, rng, lengths, I=4, H=5, layers=1, bidir=False, batch_first=False, with_h0=False,
         enforce_sorted=False, dtype=np.float32, atol=3e-5):
    mm, tm = _pair(kind, dtype, input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidir,
                   batch_first=batch_first)
    x = _padded(rng, lengths, I, dtype, batch_first)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pm = R.pack_padded_sequence(xm, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    pt = TR.pack_padded_sequence(xt, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    D, B = (2 if bidir else 1), len(lengths)
    hm = ht = None
    sm, st = [], []
    if with_h0:
        arrs = [rng.standard_normal((layers * D, B, H)).astype(dtype) for _ in range(2 if kind == "lstm" else 1)]
        sm = [md.tensor(a, requires_grad=True) for a in arrs]
        st = [torch.tensor(a, requires_grad=True) for a in arrs]
        hm, ht = (tuple(sm), tuple(st)) if kind == "lstm" else (sm[0], st[0])
    om, hnm = mm(pm, hm)
    ot, hnt = tm(pt, ht)
    assert isinstance(om, R.PackedSequence)
    assert om.batch_sizes.tolist() == ot.batch_sizes.tolist()
    # Compared padded, in the caller's order: sequences of equal length may be packed in a
    # different order (PyTorch's sort of the lengths is not stable; minidl's is).
    um, _ = R.pad_packed_sequence(om)
    ut, _ = TR.pad_packed_sequence(ot)
    assert_close(um, ut, atol=atol)
    hm_list = list(hnm) if kind == "lstm" else [hnm]
    ht_list = list(hnt) if kind == "lstm" else [hnt]
    for a, b in zip(hm_list, ht_list):
        assert_close(a, b, atol=atol)
    # a loss over the padded output and every final state reaches x, h0 and the weights
    gw = rng.standard_normal(tuple(ut.shape)).astype(dtype)
    lm = (um * md.tensor(gw)).sum() + sum((a * a).sum() for a in hm_list)
    lt = (ut * torch.tensor(gw)).sum() + sum((a * a).sum() for a in ht_list)
    lm.backward()
    lt.backward()
    assert_close(xm.grad, xt.grad, atol=atol * 4)
    for a, b in zip(sm, st):
        assert_close(a.grad, b.grad, atol=atol * 4)
    for (name, p), (_, q) in zip(mm.named_parameters(), tm.named_parameters()):
        assert_close(p.grad, q.grad, atol=atol * 10, rtol=2e-4)


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("layers,bidir", [(1, False), (1, True), (2, True)])
def test_rnn_on_packed_matches_torch(rng, kind, layers, bidir):
    _run(kind, rng, [5, 2, 4, 1, 5], layers=layers, bidir=bidir, with_h0=True)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_rnn_on_packed_sorted_batch_first_no_h0(rng, kind):
    _run(kind, rng, [6, 6, 3, 1], batch_first=True, bidir=True, enforce_sorted=True)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_rnn_on_packed_float64(rng, kind):
    _run(kind, rng, [3, 1, 4], layers=2, bidir=True, with_h0=True, dtype=np.float64, atol=1e-10)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_rnn_on_packed_gradcheck(rng, kind):
    mm, _ = _pair(kind, np.float64, input_size=2, hidden_size=3, bidirectional=True)
    data = md.tensor(rng.standard_normal((6, 2)), requires_grad=True)  # lengths 3, 2, 1
    batch_sizes = md.tensor([3, 2, 1])
    n = 2 if kind == "lstm" else 1
    hs = [md.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True) for _ in range(n)]

    def f(d, *rest):
        out, h = mm(R.PackedSequence(d, batch_sizes), tuple(rest[:n]) if kind == "lstm" else rest[0])
        hl = list(h) if kind == "lstm" else [h]
        return (out.data ** 2).sum() + sum((a ** 3).sum() for a in hl)

    assert md.autograd.gradcheck(f, (data, *hs, *mm.parameters()), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_packed_kernel_sets_agree(rng, kind):
    mm, _ = _pair(kind, input_size=5, hidden_size=19, bidirectional=True)
    x = rng.standard_normal((6, 4, 5)).astype(np.float32)
    results = []
    for name in md.backend.available():
        md.backend.use(name)
        mm.zero_grad()
        xm = md.tensor(x, requires_grad=True)
        out, _ = mm(R.pack_padded_sequence(xm, [6, 2, 5, 3], enforce_sorted=False))
        (out.data ** 2).sum().backward()
        results.append((name, out.data.detach().numpy().copy(), xm.grad.numpy().copy(), mm.weight_hh_l0.grad.numpy().copy()))
    assert len(results) >= 2
    for other in results[1:]:
        for a, b in zip(results[0][1:], other[1:]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"{results[0][0]} vs {other[0]}")


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("B,H", [(10, 330), (37, 170)])
def test_packed_two_threads_units_and_rows(rng, kind, B, H):
    """Both ways the time loop splits between threads (units: B 10; rows: B 37)."""
    md.set_num_threads(2)
    lengths = list(rng.integers(1, 5, size=B))
    _run(kind, rng, lengths, I=6, H=H, bidir=True, with_h0=True, atol=5e-5)


def test_packed_sequence_fields_and_conversions(rng):
    p = R.pack_sequence([md.tensor([[1.0], [2.0]]), md.tensor([[3.0]])])
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert sorted_indices is None and unsorted_indices is None
    assert p.double().data.dtype == md.float64 and not p.is_cuda
    q = R.PackedSequence(data, batch_sizes, md.tensor([1, 0]))
    assert q.unsorted_indices.tolist() == [1, 0]


def test_bad_input():
    x = md.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        R.pack_padded_sequence(x, [1, 3, 2])
    with pytest.raises(RuntimeError, match="greater than 0"):
        R.pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(RuntimeError, match="equal to batch_size"):
        R.pack_padded_sequence(x, [3, 2])
    with pytest.raises(RuntimeError, match="has only 4 steps"):
        R.pack_padded_sequence(x, [5, 2, 1])
    p = R.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length=2"):
        R.pad_packed_sequence(p, total_length=2)
    with pytest.raises(ValueError, match="input_size"):
        nn.GRU(5, 3)(p)
    with pytest.raises(ValueError, match="Expected hidden size"):
        nn.GRU(2, 3)(p, md.zeros(1, 2, 3))
