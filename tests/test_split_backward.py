"""ops/join.py SplitBackward: the pieces of split, chunk and unbind share one backward node,
which places their gradients into one gradient of the input (PyTorch's SplitBackward0 /
UnbindBackward0), and passes on without a copy the array the consumer already wrote them into
(nanoGPT's q, k, v split off one projection, then the fused attention)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import require

import minidl as md
from minidl.ops import join

torch = require("torch")


def _pair(rng, shape, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    return md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


SPLITS = [
    ("split", lambda lib, x: lib.split(x, 2, dim=1)),
    ("split_sizes", lambda lib, x: lib.split(x, [1, 3, 1], dim=1)),
    ("chunk", lambda lib, x: lib.chunk(x, 3, dim=-1)),
    ("unbind", lambda lib, x: lib.unbind(x, 0)),
    ("method_split", lambda lib, x: x.split(3, -1)),
    ("method_unbind", lambda lib, x: x.unbind(2)),
]


@pytest.mark.parametrize("name,op", SPLITS, ids=[s[0] for s in SPLITS])
@pytest.mark.parametrize("used", ["all", "first_only", "one_twice"])
def test_gradients_match_torch(rng, name, op, used):
    x, tx = _pair(rng, (3, 5, 4))
    pieces, tpieces = op(md, x * 1.0), op(torch, tx * 1.0)     # a non-leaf input, as in a model
    assert len(pieces) == len(tpieces)
    ws = [rng.standard_normal(tuple(p.shape)).astype(np.float32) for p in pieces]
    pick = {"all": range(len(pieces)), "first_only": [0], "one_twice": [0, 0, len(pieces) - 1]}[used]
    sum(((pieces[i] * md.tensor(ws[i])).sum() for i in pick), md.tensor(0.0)).backward()
    sum(((tpieces[i] * torch.tensor(ws[i])).sum() for i in pick), torch.tensor(0.0)).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,op", SPLITS, ids=[s[0] for s in SPLITS])
def test_gradcheck_float64(rng, name, op):
    x = md.tensor(rng.standard_normal((3, 5, 4)), requires_grad=True)
    w = md.tensor(rng.standard_normal((3, 5, 4)))

    def f(x):
        pieces = op(md, x * w)
        return sum(((p * (i + 1)) ** 2).sum() for i, p in enumerate(pieces))
    assert md.autograd.gradcheck(f, (x,))


@pytest.mark.parametrize("name,op", SPLITS, ids=[s[0] for s in SPLITS])
def test_double_backward_matches_torch(rng, name, op):
    x, tx = _pair(rng, (3, 5, 4), np.float64)

    def second(lib, x):
        pieces = op(lib, x * x)
        y = sum((p.sin() * (i + 1)).sum() for i, p in enumerate(pieces))
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        return g, gg
    g, gg = second(md, x)
    tg, tgg = second(torch, tx)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-10)


def test_hooks_and_retain_grad_on_pieces(rng):
    x, tx = _pair(rng, (4, 6))
    seen = []
    a, b = (x * 2).chunk(2, dim=1)
    ta, tb = (tx * 2).chunk(2, dim=1)
    a.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 3)
    ta.register_hook(lambda g: g * 3)
    b.retain_grad()
    tb.retain_grad()
    ((a * a).sum() + b.sum()).backward()
    ((ta * ta).sum() + tb.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy())
    np.testing.assert_allclose(seen[0], 2 * a.detach().numpy(), rtol=1e-6)


def test_a_piece_written_in_place_writes_through_the_input(rng):
    # PyTorch refuses in-place writes to the outputs of a multi-output view op; minidl writes
    # them through the input, as for any indexed view: the same as x[:, :2] = x[:, :2] * 3
    x, tx = _pair(rng, (3, 5))
    h = x * 1.0
    a, b = h.split([2, 3], dim=1)
    a.mul_(3)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    (h * md.tensor(w)).sum().backward()
    th = tx * 1.0
    th2 = torch.cat([th[:, :2] * 3, th[:, 2:]], dim=1)
    (th2 * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(h.detach().numpy(), th2.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.detach().numpy(), th2[:, 2:].detach().numpy(), rtol=1e-6)


def test_pieces_are_views_without_grad(rng):
    x = md.tensor(rng.standard_normal((4, 6)).astype(np.float32))
    a, b = x.split(3, dim=1)
    assert a.grad_fn is None and np.shares_memory(a.numpy(), x.numpy())
    assert [tuple(p.shape) for p in md.unbind(md.zeros(0, 2), 0)] == []


def _nanogpt_attention(lib, qkv, heads, split):
    B, T, E3 = qkv.shape
    E = E3 // 3
    if split == "unbind":  # timm's layout: (3, B, H, T, hs), then unbind
        q, k, v = qkv.view(B, T, 3, heads, E // heads).permute(2, 0, 3, 1, 4).unbind(0)
    else:
        q, k, v = qkv.split(E, dim=2) if split == "split" else qkv.chunk(3, dim=2)
        q, k, v = (t.view(B, T, heads, E // heads).transpose(1, 2) for t in (q, k, v))
    return lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


@pytest.mark.parametrize("split", ["split", "chunk", "unbind"])
def test_nanogpt_attention_matches_torch(rng, split, monkeypatch):
    x, tx = _pair(rng, (2, 9, 36))                             # E = 12: 3 heads of 4
    w = rng.standard_normal((2, 3, 9, 4)).astype(np.float32)
    passed_on = []
    gathered = join._gathered
    monkeypatch.setattr(join, "_gathered", lambda *a: passed_on.append(gathered(*a)) or passed_on[-1])
    (_nanogpt_attention(md, x * 1.0, 3, split) * md.tensor(w)).sum().backward()
    # the fused attention wrote dq, dk, dv into one array: the split passed it on uncopied
    assert len(passed_on) == 1 and passed_on[0] is not None
    (_nanogpt_attention(torch, tx * 1.0, 3, split) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_gradients_already_in_one_array_are_passed_on_whole(rng):
    whole = rng.standard_normal((2, 3, 12)).astype(np.float32)
    split = [(slice(None), slice(None), slice(i, i + 4)) for i in (0, 4, 8)]
    got = join._gathered([whole[k] for k in split], (2, 3, 12), np.float32, split, 2, False)
    assert got is not None and np.shares_memory(got, whole)
    np.testing.assert_array_equal(got, whole)
    stacked = [(i,) for i in range(3)]                         # unbind of a (3, 2, 4) input
    as_pieces = whole.reshape(2, 3, 3, 4).transpose(2, 0, 1, 3)   # (3, 2, 3, 4) windows
    got = join._gathered([as_pieces[i] for i in range(3)], (3, 2, 3, 4), np.float32, stacked, 0, True)
    assert got is not None and np.shares_memory(got, whole)
    np.testing.assert_array_equal(got, as_pieces)
    # separate arrays, a window out of place, a wrong dtype: no pass-through
    apart = [np.ascontiguousarray(whole[k]) for k in split]
    assert join._gathered(apart, (2, 3, 12), np.float32, split, 2, False) is None
    swapped = [whole[split[1]], whole[split[0]], whole[split[2]]]
    assert join._gathered(swapped, (2, 3, 12), np.float32, split, 2, False) is None
    assert join._gathered([whole[k] for k in split], (2, 3, 12), np.float64, split, 2, False) is None
    # two pieces of an unbind from two different arrays: any two addresses give a "stride", so
    # only the shared base tells that they are not one array (the result would not keep the
    # second alive)
    one, two = np.ones((4, 5), np.float32)[:, :3], np.ones((4, 5), np.float32)[:, :3]
    assert join._gathered([one, two], (2, 4, 3), np.float32, [(0,), (1,)], 0, True) is None
