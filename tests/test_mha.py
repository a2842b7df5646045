"""nn.MultiheadAttention: parity with PyTorch (outputs, attention weights, gradients of the
inputs and of every parameter) for batch_first both ways, key_padding_mask and attn_mask
(bool and float, 2-D and 3-D, combined), need_weights both ways, average_attn_weights,
kdim/vdim, no bias, unbatched input, the is_causal hint; state_dict round trip; dropout;
bad input."""
import numpy as np
import pytest

import minidl as md

from conftest import require
torch = require("torch")


def _pair(E, H, **kw):
    t = torch.nn.MultiheadAttention(E, H, **kw)
    m = md.nn.MultiheadAttention(E, H, **kw)
    m.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return m, t


def _check(rng, m, t, qshape, kshape, vshape, masks=None, atol=2e-5, **kw):
    masks = masks or {}
    arrays = [rng.standard_normal(s).astype(np.float32) for s in (qshape, kshape, vshape)]
    mi = [md.tensor(a, requires_grad=True) for a in arrays]
    ti = [torch.tensor(a, requires_grad=True) for a in arrays]
    mo, mw = m(*mi, **{k: md.tensor(v) for k, v in masks.items()}, **kw)
    to, tw = t(*ti, **{k: torch.tensor(v) for k, v in masks.items()}, **kw)
    g = rng.standard_normal(to.shape).astype(np.float32)
    mo.backward(md.tensor(g))
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(mo.detach().numpy(), to.detach().numpy(), rtol=1e-4, atol=atol)
    if tw is None:
        assert mw is None
    else:
        np.testing.assert_allclose(mw.detach().numpy(), tw.detach().numpy(), rtol=1e-4, atol=atol)
    for a, b in zip(mi, ti):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=atol)
    tp = dict(t.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-4, atol=5e-5, err_msg=name)


def _masks(rng, N, H, L, S, which):
    out = {}
    if "kpm" in which:
        kpm = rng.random((N, S)) < 0.3
        kpm[:, 0] = False
        out["key_padding_mask"] = kpm if "kpm" in which.split("+") else None
    if "kpmf" in which:
        out["key_padding_mask"] = rng.standard_normal((N, S)).astype(np.float32)
    if "am2" in which:
        am = rng.random((L, S)) < 0.3
        am[:, 0] = False
        out["attn_mask"] = am
    if "am3f" in which:
        out["attn_mask"] = rng.standard_normal((N * H, L, S)).astype(np.float32)
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # torch, mixed mask types
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("which", ["", "kpm", "am2", "kpm+am2", "kpmf+am3f", "kpm+am3f"])
def test_mha_matches_torch(rng, batch_first, need_weights, which):
    E, H, N, L, S = 16, 4, 3, 7, 9
    m, t = _pair(E, H, batch_first=batch_first)
    q = (N, L, E) if batch_first else (L, N, E)
    kv = (N, S, E) if batch_first else (S, N, E)
    _check(rng, m, t, q, kv, kv, _masks(rng, N, H, L, S, which), need_weights=need_weights)


def test_mha_kdim_vdim_no_bias_per_head_weights(rng):
    m, t = _pair(12, 3, kdim=5, vdim=7, bias=False, batch_first=True)
    assert m.in_proj_weight is None and tuple(m.k_proj_weight.shape) == (12, 5)
    assert sorted(m.state_dict()) == sorted(t.state_dict())
    _check(rng, m, t, (2, 6, 12), (2, 8, 5), (2, 8, 7), average_attn_weights=False)
    _check(rng, m, t, (2, 6, 12), (2, 8, 5), (2, 8, 7), need_weights=False)


def test_mha_unbatched_and_self_attention(rng):
    m, t = _pair(8, 2)
    _check(rng, m, t, (5, 8), (6, 8), (6, 8), _masks(rng, 1, 2, 5, 6, "am2"))
    kpm = np.array([False, False, True, False, True, False])
    _check(rng, m, t, (5, 8), (6, 8), (6, 8), {"key_padding_mask": kpm}, need_weights=False)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("which", ["", "kpm+am2"])
def test_mha_self_attention_packed_projection(rng, batch_first, need_weights, which):
    """mha(x, x, x) projects x once with the packed (3E, E) weight, the q, k, v heads being
    views of the (N, L, 3E) product: outputs, weights and the gradients of x (the sum of its
    three uses) and of every parameter match PyTorch's."""
    E, H, N, L = 16, 4, 3, 7
    m, t = _pair(E, H, batch_first=batch_first)
    x = rng.standard_normal((N, L, E) if batch_first else (L, N, E)).astype(np.float32)
    masks = _masks(rng, N, H, L, L, which)
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mo, mw = m(mx, mx, mx, need_weights=need_weights, **{k: md.tensor(v) for k, v in masks.items()})
    to, tw = t(tx, tx, tx, need_weights=need_weights, **{k: torch.tensor(v) for k, v in masks.items()})
    g = rng.standard_normal(to.shape).astype(np.float32)
    (mo * md.tensor(g)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(mo.detach().numpy(), to.detach().numpy(), rtol=1e-4, atol=2e-5)
    if need_weights:
        np.testing.assert_allclose(mw.detach().numpy(), tw.detach().numpy(), rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=5e-5)
    tp = dict(t.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-4, atol=5e-5, err_msg=name)


def test_mha_fused_self_attention_copies_no_head_gradients(rng, monkeypatch):
    """Self-attention on the fused path: the attention backward writes dq, dk and dv straight
    into the windows of one packed (N, L, 3E) gradient, and the output comes out in (N, L, H, d)
    order, so neither splitting nor merging the heads copies (no _C.copy_, no _C.contiguous in
    forward and backward), and the gradients still match PyTorch's."""
    E, H, N, L = 16, 4, 2, 9
    m, t = _pair(E, H, batch_first=True)
    x = rng.standard_normal((N, L, E)).astype(np.float32)
    g = rng.standard_normal((N, L, E)).astype(np.float32)
    mx, mg, mmask = md.tensor(x), md.tensor(g), md.nn.Transformer.generate_square_subsequent_mask(L)
    calls = []
    for name in ("copy_", "contiguous"):
        real = getattr(md._C, name)
        monkeypatch.setattr(md._C, name, lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    mo, _ = m(mx, mx, mx, need_weights=False, attn_mask=mmask, is_causal=True)
    mo.backward(mg)
    assert calls == []
    tx = torch.tensor(x)
    to, _ = t(tx, tx, tx, need_weights=False, attn_mask=torch.nn.Transformer.generate_square_subsequent_mask(L),
              is_causal=True)
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(mo.detach().numpy(), to.detach().numpy(), rtol=1e-4, atol=2e-5)
    tp = dict(t.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-4, atol=5e-5, err_msg=name)


def test_mha_packed_heads_without_value_gradient_and_double_backward(rng):
    """A loss on the attention weights alone gives the value heads no gradient: their window of
    the packed gradient is zero (the value rows of in_proj_weight's gradient are 0, as in
    PyTorch); second derivatives through the packed heads pass gradgradcheck (float64)."""
    m, t = _pair(8, 2, batch_first=True)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    _, mw = m(mx, mx, mx)
    _, tw = t(tx, tx, tx)
    (mw * mw).sum().backward()
    (tw * tw).sum().backward()
    assert not m.in_proj_weight.grad.numpy()[16:].any()
    np.testing.assert_allclose(m.in_proj_weight.grad.numpy(), t.in_proj_weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    md.manual_seed(0)
    m64 = md.nn.MultiheadAttention(6, 2, batch_first=True, dtype=md.float64)
    x64 = md.tensor(rng.standard_normal((1, 4, 6)), requires_grad=True)
    for need_weights in (False, True):
        out = m64(x64, x64, x64, need_weights=need_weights)[0]
        g_graph, = md.autograd.grad((out * out).sum(), x64, create_graph=True)   # the recorded backward
        g_plain, = md.autograd.grad((out * out).sum(), x64)
        np.testing.assert_allclose(g_graph.detach().numpy(), g_plain.numpy(), rtol=1e-12, atol=1e-12)
        assert md.autograd.gradgradcheck(lambda a: m64(a, a, a, need_weights=need_weights)[0], (x64,))


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_causal_hint(rng, need_weights):
    m, t = _pair(8, 2, batch_first=True)
    causal = np.triu(np.ones((6, 6), bool), 1)
    _check(rng, m, t, (2, 6, 8), (2, 6, 8), (2, 6, 8), {"attn_mask": causal}, is_causal=True,
           need_weights=need_weights)


def test_mha_long_sequence_fused_path(rng):
    """Several kernel tiles: L = 150, S = 200 through the fused path with a padding mask."""
    m, t = _pair(32, 4, batch_first=True)
    kpm = rng.random((2, 200)) < 0.2
    _check(rng, m, t, (2, 150, 32), (2, 200, 32), (2, 200, 32), {"key_padding_mask": kpm}, need_weights=False,
           atol=5e-5)


def test_mha_fully_masked_row_like_torch(rng):
    m, t = _pair(8, 2, batch_first=True)
    x = rng.standard_normal((1, 3, 8)).astype(np.float32)
    kpm = np.ones((1, 3), bool)
    mo, _ = m(md.tensor(x), md.tensor(x), md.tensor(x), key_padding_mask=md.tensor(kpm), need_weights=False)
    to, _ = t(torch.tensor(x), torch.tensor(x), torch.tensor(x), key_padding_mask=torch.tensor(kpm),
              need_weights=False)
    np.testing.assert_allclose(mo.detach().numpy(), to.detach().numpy(), atol=1e-6)  # out_proj of zeros = bias
    mo, mw = m(md.tensor(x), md.tensor(x), md.tensor(x), key_padding_mask=md.tensor(kpm))
    assert np.isnan(mo.detach().numpy()).all() and np.isnan(mw.detach().numpy()).all()  # PyTorch's math path: NaN


def test_mha_state_dict_and_init():
    m = md.nn.MultiheadAttention(16, 4)
    t = torch.nn.MultiheadAttention(16, 4)
    assert list(m.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert tuple(m.state_dict()[k].shape) == tuple(v.shape)
    assert np.all(m.in_proj_bias.detach().numpy() == 0) and np.all(m.out_proj.bias.detach().numpy() == 0)
    bound = np.sqrt(6 / (16 + 48))  # xavier_uniform_ on (3E, E)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


def test_mha_dropout_train_vs_eval(rng):
    m = md.nn.MultiheadAttention(16, 4, dropout=0.5, batch_first=True)
    x = md.tensor(rng.standard_normal((2, 10, 16)).astype(np.float32))
    m.eval()
    a, _ = m(x, x, x, need_weights=False)
    b, _ = m(x, x, x)
    a, b = a.detach(), b.detach()
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    m.train()
    md.manual_seed(3)
    c, _ = m(x, x, x, need_weights=False)
    md.manual_seed(3)
    d, _ = m(x, x, x, need_weights=False)
    c, d = c.detach(), d.detach()
    np.testing.assert_array_equal(c.numpy(), d.numpy())
    assert np.abs(c.numpy() - a.numpy()).max() > 1e-3


def test_mha_bad_input():
    with pytest.raises(ValueError, match=r"divisible by num_heads.*embed_dim=10 and num_heads=3"):
        md.nn.MultiheadAttention(10, 3)
    m = md.nn.MultiheadAttention(8, 2, batch_first=True)
    x = md.randn(2, 5, 8)
    with pytest.raises(ValueError, match=r"key_padding_mask shape of \[2, 5\].*\[2, 4\]"):
        m(x, x, x, key_padding_mask=md.tensor(np.ones((2, 4), bool)))
    with pytest.raises(ValueError, match=r"attn_mask of shape \[5, 4\] should be \[5, 5\] or \[4, 5, 5\]"):
        m(x, x, x, attn_mask=md.tensor(np.zeros((5, 4), bool)))
    with pytest.raises(ValueError, match=r"query embedding dimension of 8.*\[2, 5, 6\]"):
        m(md.randn(2, 5, 6), x, x)
    with pytest.raises(ValueError, match=r"key shape \[2, 5, 8\] does not match value shape \[2, 4, 8\]"):
        m(x, x, md.randn(2, 4, 8))
    with pytest.raises(ValueError, match="batch sizes"):
        m(x, md.randn(3, 5, 8), md.randn(3, 5, 8))
    with pytest.raises(ValueError, match="is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(NotImplementedError):
        md.nn.MultiheadAttention(8, 2, add_bias_kv=True)
