"""nn.TransformerEncoderLayer / DecoderLayer / Encoder / Decoder / Transformer against PyTorch
(same weights and inputs -> same outputs and gradients of inputs and every weight, dropout 0),
in both norm orders and with relu, gelu and a callable activation, with every mask kind; the
Transformer model twins of md.models (GPT, BertClassifier, Seq2SeqTransformer) against the
same files built on torch.nn; positional encodings; bad input."""
from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import pytest

import minidl as md

from conftest import assert_close, require
torch = require("torch")
# torch warns about mixing boolean and float masks (tested on purpose) and nested-tensor paths
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


E, H, FF = 16, 4, 24  # d_model, heads, feed-forward width (small: these tests run on 2 cores)


def copy_weights(m, t):
    """Load torch module t's state_dict into minidl module m (keys must be identical)."""
    sd = t.state_dict()
    assert list(m.state_dict()) == list(sd)
    m.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in sd.items()})


def same_inputs(rng, *shapes):
    """(minidl leaves, torch leaves) with equal random values."""
    ms, ts = [], []
    for s in shapes:
        a = rng.standard_normal(s).astype(np.float32)
        ms.append(md.tensor(a, requires_grad=True))
        ts.append(torch.tensor(a, requires_grad=True))
    return ms, ts


def check_backward(m, t, out_m, out_t, ins_m, ins_t, rng, rtol=2e-4, atol=2e-5):
    """Same output; after backward of the same random upstream gradient, the same gradient
    for every input and every parameter."""
    assert_close(out_m, out_t, rtol=rtol, atol=atol)
    g = rng.standard_normal(tuple(out_t.shape)).astype(np.float32)
    out_m.backward(md.tensor(g))
    out_t.backward(torch.tensor(g))
    for a, b in zip(ins_m, ins_t):
        assert_close(a.grad, b.grad, rtol=rtol, atol=atol)
    tp = dict(t.named_parameters())
    mp = dict(m.named_parameters())
    assert list(mp) == list(tp)
    for k in tp:
        assert tp[k].grad is not None, k
        assert_close(mp[k].grad, tp[k].grad, rtol=rtol, atol=atol * 5)


def both(cls_name, *args, **kw):
    torch.manual_seed(0)
    t = getattr(torch.nn, cls_name)(*args, **kw)
    m = getattr(md.nn, cls_name)(*args, **kw)
    copy_weights(m, t)
    return m, t


def masks(rng, L, S, N, batch_first):
    """A float additive attn mask (L, S), a boolean one, and a key padding mask (N, S) with
    the last keys of batch row 1 padded (each as (minidl, torch))."""
    fm = np.where(rng.random((L, S)) < 0.3, -np.inf, rng.standard_normal((L, S))).astype(np.float32)
    fm[:, 0] = 0.0  # no fully masked row (PyTorch gives NaN there)
    bm = rng.random((L, S)) < 0.3
    bm[:, 0] = False
    kpm = np.zeros((N, S), dtype=bool)
    kpm[1, S - 2:] = True
    conv = lambda a: (md.tensor(a), torch.tensor(a))  # noqa: E731
    return conv(fm), conv(bm), conv(kpm)


def seq(N, S, batch_first):
    return (N, S, E) if batch_first else (S, N, E)


# ----------------------------------------------------------------------------- layers
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer(rng, norm_first, activation, batch_first):
    m, t = both("TransformerEncoderLayer", E, H, FF, 0.0, activation, batch_first=batch_first,
                norm_first=norm_first)
    N, S = 3, 5
    (xm,), (xt,) = same_inputs(rng, seq(N, S, batch_first))
    (fm, ft), _, (km, kt) = masks(rng, S, S, N, batch_first)
    ym = m(xm, src_mask=fm, src_key_padding_mask=km)
    yt = t(xt, src_mask=ft, src_key_padding_mask=kt)
    check_backward(m, t, ym, yt, [xm], [xt], rng)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer(rng, norm_first, activation):
    m, t = both("TransformerDecoderLayer", E, H, FF, 0.0, activation, batch_first=True, norm_first=norm_first)
    N, T, S = 2, 4, 6
    (xm, mm), (xt, mt) = same_inputs(rng, (N, T, E), (N, S, E))
    causal_m = md.nn.Transformer.generate_square_subsequent_mask(T)
    causal_t = torch.nn.Transformer.generate_square_subsequent_mask(T)
    _, (bm, bt), (km, kt) = masks(rng, T, S, N, True)
    ym = m(xm, mm, tgt_mask=causal_m, memory_mask=bm, memory_key_padding_mask=km)
    yt = t(xt, mt, tgt_mask=causal_t, memory_mask=bt, memory_key_padding_mask=kt)
    check_backward(m, t, ym, yt, [xm, mm], [xt, mt], rng)


def test_decoder_layer_tgt_padding_and_bool_masks(rng):
    m, t = both("TransformerDecoderLayer", E, H, FF, 0.0, batch_first=False)
    N, T, S = 3, 5, 4
    (xm, mm), (xt, mt) = same_inputs(rng, (T, N, E), (S, N, E))
    _, (bm, bt), (km, kt) = masks(rng, T, T, N, False)
    ym = m(xm, mm, tgt_mask=bm, tgt_key_padding_mask=km)
    yt = t(xt, mt, tgt_mask=bt, tgt_key_padding_mask=kt)
    check_backward(m, t, ym, yt, [xm, mm], [xt, mt], rng)


def test_callable_activation_and_no_bias(rng):
    act = lambda x: x.tanh()  # noqa: E731  (a method both libraries have)
    m, t = both("TransformerEncoderLayer", E, H, FF, 0.0, act, batch_first=True, norm_first=True, bias=False)
    assert not any(k.endswith("bias") for k in m.state_dict())
    (xm,), (xt,) = same_inputs(rng, (2, 3, E))
    check_backward(m, t, m(xm), t(xt), [xm], [xt], rng)


def test_unbatched_input(rng):
    m, t = both("TransformerEncoderLayer", E, H, FF, 0.0)
    (xm,), (xt,) = same_inputs(rng, (5, E))
    kpm = np.array([False, False, False, True, True])
    ym, yt = m(xm, src_key_padding_mask=md.tensor(kpm)), t(xt, src_key_padding_mask=torch.tensor(kpm))
    check_backward(m, t, ym, yt, [xm], [xt], rng)


# ----------------------------------------------------------------------------- stacks
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_with_final_norm_and_causal_mask(rng, norm_first):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, H, **kw), 2, torch.nn.LayerNorm(E),
                                    enable_nested_tensor=False)
    m = md.nn.TransformerEncoder(md.nn.TransformerEncoderLayer(E, H, **kw), 2, md.nn.LayerNorm(E))
    copy_weights(m, t)
    assert "layers.1.self_attn.in_proj_weight" in m.state_dict() and "norm.weight" in m.state_dict()
    (xm,), (xt,) = same_inputs(rng, (2, 6, E))
    cm, ct = md.nn.Transformer.generate_square_subsequent_mask(6), torch.nn.Transformer.generate_square_subsequent_mask(6)
    _, _, (km, kt) = masks(rng, 6, 6, 2, True)
    ym, yt = m(xm, mask=cm, src_key_padding_mask=km), t(xt, mask=ct, src_key_padding_mask=kt)
    check_backward(m, t, ym, yt, [xm], [xt], rng)


def test_is_causal_without_mask_equals_causal_mask(rng):
    torch.manual_seed(0)
    layer = md.nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True)
    enc = md.nn.TransformerEncoder(layer, 2)
    x = md.tensor(rng.standard_normal((2, 5, E)).astype(np.float32))
    a = enc(x, mask=md.nn.Transformer.generate_square_subsequent_mask(5))
    assert_close(enc(x, is_causal=True), a)
    # changing a later token does not change earlier outputs
    x2 = x.clone()
    x2[:, 3] = x2[:, 3] + 1.0
    b = enc(x2, is_causal=True)
    assert_close(b[:, :3], a[:, :3])
    assert float((b[:, 3:] - a[:, 3:]).abs().max()) > 1e-3


@pytest.mark.parametrize("norm_first", [False, True])
def test_full_transformer(rng, norm_first):
    m, t = both("Transformer", E, H, 2, 2, FF, 0.0, "gelu", batch_first=False, norm_first=norm_first)
    keys = list(m.state_dict())
    for k in ("encoder.layers.1.linear1.weight", "encoder.norm.weight", "decoder.layers.0.multihead_attn.in_proj_weight",
              "decoder.layers.1.norm3.bias", "decoder.norm.bias"):
        assert k in keys
    N, S, T = 2, 6, 4
    (sm, tm), (st, tt) = same_inputs(rng, (S, N, E), (T, N, E))
    _, _, (skm, skt) = masks(rng, S, S, N, False)
    tkm = np.zeros((N, T), dtype=bool)
    tkm[0, -1] = True
    cm, ct = md.nn.Transformer.generate_square_subsequent_mask(T), torch.nn.Transformer.generate_square_subsequent_mask(T)
    kw_m = dict(tgt_mask=cm, src_key_padding_mask=skm, memory_key_padding_mask=skm,
                tgt_key_padding_mask=md.tensor(tkm))
    kw_t = dict(tgt_mask=ct, src_key_padding_mask=skt, memory_key_padding_mask=skt,
                tgt_key_padding_mask=torch.tensor(tkm))
    check_backward(m, t, m(sm, tm, **kw_m), t(st, tt, **kw_t), [sm, tm], [st, tt], rng, rtol=5e-4, atol=5e-5)


def test_square_subsequent_mask_and_xavier_init():
    assert_close(md.nn.Transformer.generate_square_subsequent_mask(5),
                 torch.nn.Transformer.generate_square_subsequent_mask(5))
    md.manual_seed(0)
    m = md.nn.Transformer(32, 4, 1, 1, 64, batch_first=True)
    w = m.encoder.layers[0].linear1.weight.detach().numpy()
    bound = math.sqrt(6.0 / (32 + 64))  # Xavier-uniform on every matrix
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.1 * bound


def test_dropout_only_in_training(rng):
    md.manual_seed(0)
    m = md.nn.TransformerEncoderLayer(E, H, FF, dropout=0.5, batch_first=True)
    x = md.tensor(rng.standard_normal((2, 4, E)).astype(np.float32))
    m.eval()
    assert_close(m(x), m(x))
    m.train()
    assert float((m(x) - m(x)).abs().max()) > 1e-3


def test_composition_on_torch_nn_matches_torch(rng):
    """This very file, executed with nn = torch.nn, is torch.nn.Transformer (the composition
    is checked independently of minidl's kernels)."""
    here = os.path.join(os.path.dirname(md.__file__), "nn", "transformer.py")
    spec = importlib.util.spec_from_file_location("_transformer_on_torch", here)
    mod = importlib.util.module_from_spec(spec)
    mod.nn = torch.nn
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    ref = torch.nn.Transformer(E, H, 1, 2, FF, 0.0, "gelu", batch_first=True, norm_first=True)
    mine = mod.Transformer(E, H, 1, 2, FF, 0.0, "gelu", batch_first=True, norm_first=True)
    mine.load_state_dict(ref.state_dict())
    s, tg = torch.randn(2, 5, E), torch.randn(2, 3, E)
    mask = ref.generate_square_subsequent_mask(3)
    torch.testing.assert_close(mine(s, tg, tgt_mask=mask), ref(s, tg, tgt_mask=mask), rtol=0, atol=0)


# ----------------------------------------------------------------------------- bad input
def test_bad_input():
    with pytest.raises(ValueError, match=r"d_model \(10\) must be divisible by nhead \(4\)"):
        md.nn.TransformerEncoderLayer(10, 4)
    with pytest.raises(ValueError, match="divisible"):
        md.nn.Transformer(10, 3)
    with pytest.raises(ValueError, match="activation"):
        md.nn.TransformerDecoderLayer(E, H, activation="swish")
    layer = md.nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True)
    x = md.randn(2, 5, E)
    with pytest.raises(ValueError, match=r"src_key_padding_mask must have shape \(2, 5\).*got \(5, 2\)"):
        layer(x, src_key_padding_mask=md.zeros(5, 2, dtype=md.bool))
    with pytest.raises(ValueError, match="src_key_padding_mask"):
        md.nn.TransformerEncoder(layer, 2)(x, src_key_padding_mask=md.zeros(2, 4, dtype=md.bool))
    dec = md.nn.TransformerDecoderLayer(E, H, FF, 0.0, batch_first=True)
    with pytest.raises(ValueError, match="memory_key_padding_mask"):
        dec(md.randn(2, 3, E), x, memory_key_padding_mask=md.zeros(2, 3, dtype=md.bool))
    tr = md.nn.Transformer(E, H, 1, 1, FF, 0.0, batch_first=True)
    with pytest.raises(ValueError, match="batch number"):
        tr(md.randn(2, 5, E), md.randn(3, 4, E))
    with pytest.raises(ValueError, match="d_model"):
        tr(md.randn(2, 5, E + 1), md.randn(2, 4, E + 1))
    with pytest.raises(ValueError, match="num_layers"):
        md.nn.TransformerEncoder(layer, 0)


# ----------------------------------------------------------------------------- models
T = None


def twins():
    global T
    if T is None:
        T = md.models.build(torch.nn)
    return T


def copy_model(m, t):
    sd = t.state_dict()
    assert list(m.state_dict()) == list(sd)
    m.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in sd.items()})


def test_gpt_twin_outputs_and_gradients(rng):
    torch.manual_seed(0)
    t = twins().GPT(40, 16, d_model=E, nhead=H, num_layers=2)
    m = md.models.GPT(40, 16, d_model=E, nhead=H, num_layers=2)
    copy_model(m, t)
    assert m.lm_head.weight is m.tok_emb.weight  # tied
    idx = rng.integers(0, 40, (2, 10))
    ym, yt = m(md.tensor(idx)), t(torch.tensor(idx))
    assert tuple(ym.shape) == (2, 10, 40)
    tgt = rng.integers(0, 40, (2, 10))
    lm = md.nn.functional.cross_entropy(ym.reshape(-1, 40), md.tensor(tgt.reshape(-1)))
    lt = torch.nn.functional.cross_entropy(yt.reshape(-1, 40), torch.tensor(tgt.reshape(-1)))
    assert_close(lm, lt, rtol=1e-4)
    lm.backward()
    lt.backward()
    tp, mp = dict(t.named_parameters()), dict(m.named_parameters())
    assert list(tp) == list(mp)
    for k in tp:
        assert_close(mp[k].grad, tp[k].grad, rtol=5e-4, atol=1e-5)


def test_gpt_is_causal_and_generates(rng):
    md.manual_seed(0)
    m = md.models.GPT(30, 12, d_model=E, nhead=H, num_layers=1)
    idx = md.tensor(rng.integers(0, 30, (2, 8)))
    a = m(idx)
    idx2 = idx.clone()
    idx2[:, 5] = (idx2[:, 5] + 1) % 30
    b = m(idx2)
    assert_close(a[:, :5], b[:, :5])
    out = m.generate(idx, 10, temperature=0.9, top_k=5)  # context grows past block_size 12
    assert tuple(out.shape) == (2, 18) and out.dtype == md.int64
    assert np.array_equal(out[:, :8].numpy(), idx.numpy())
    md.manual_seed(3)
    s1 = m.generate(idx, 4).numpy()
    md.manual_seed(3)
    assert np.array_equal(m.generate(idx, 4).numpy(), s1)
    greedy = m.generate(idx, 3, temperature=0).numpy()
    assert np.array_equal(m.generate(idx, 3, top_k=1).numpy(), greedy)
    with pytest.raises(ValueError, match="block_size"):
        m(md.zeros(1, 13, dtype=md.int64))


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_bert_twin(rng, pooling):
    torch.manual_seed(0)
    kw = dict(max_len=12, d_model=E, nhead=H, num_layers=2, dropout=0.0, pooling=pooling)
    t, m = twins().BertClassifier(30, 3, **kw), md.models.BertClassifier(30, 3, **kw)
    copy_model(m, t)
    idx = rng.integers(1, 30, (3, 8))
    idx[1, 5:] = 0  # padding
    ym, yt = m(md.tensor(idx)), t(torch.tensor(idx))
    assert tuple(ym.shape) == (3, 3)
    assert_close(ym, yt, rtol=2e-4, atol=2e-5)
    # the padding is invisible: cutting it off leaves row 1 unchanged
    assert_close(m(md.tensor(idx[1:2, :5])), ym[1:2], rtol=2e-4, atol=2e-5)


def test_seq2seq_twin_and_greedy_decode(rng):
    torch.manual_seed(0)
    kw = dict(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=2, dropout=0.0, max_len=20)
    t, m = twins().Seq2SeqTransformer(12, 14, **kw), md.models.Seq2SeqTransformer(12, 14, **kw)
    copy_model(m, t)
    assert "pos.pe" not in m.state_dict()
    src, tin = rng.integers(3, 12, (2, 7)), rng.integers(3, 14, (2, 5))
    assert_close(m(md.tensor(src), md.tensor(tin)), t(torch.tensor(src), torch.tensor(tin)), rtol=2e-4, atol=2e-5)
    dm = m.greedy_decode(md.tensor(src), 6, bos_idx=1)
    dt = t.greedy_decode(torch.tensor(src), 6, bos_idx=1)
    assert tuple(dm.shape) == (2, 7) and np.array_equal(dm.numpy(), dt.numpy())


def test_positional_encodings():
    pe = md.models.SinusoidalPositionalEncoding(6, max_len=10)
    out = pe(md.zeros(1, 4, 6)).numpy()[0]
    p, i = 3, 1  # features 2i, 2i+1 at position p
    w = 1.0 / 10000 ** (2 * i / 6)
    assert out[p, 2 * i] == pytest.approx(math.sin(p * w), abs=1e-6)
    assert out[p, 2 * i + 1] == pytest.approx(math.cos(p * w), abs=1e-6)
    seq_first = md.models.SinusoidalPositionalEncoding(6, max_len=10, batch_first=False)(md.zeros(4, 2, 6)).numpy()
    assert np.allclose(seq_first[:, 1], out, atol=1e-7)
    assert list(pe.state_dict()) == []
    lp = md.models.LearnedPositionalEncoding(10, 6)
    x = md.zeros(2, 3, 6, requires_grad=True)
    lp(x).sum().backward()
    g = lp.weight.grad.numpy()
    assert np.all(g[:3] == 2.0) and np.all(g[3:] == 0.0)
    with pytest.raises(ValueError, match="max_len"):
        pe(md.zeros(1, 11, 6))


def test_model_files_use_only_names_both_nn_have():
    """The Transformer model files run on both libraries: every nn.X / nn.init.X they use
    exists in torch.nn and in md.nn."""
    import ast
    here = os.path.dirname(md.models.__file__)
    for stem in ("positional", "gpt", "bert", "seq2seq"):
        tree = ast.parse(open(os.path.join(here, stem + ".py")).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "nn":
                assert hasattr(torch.nn, node.attr) and hasattr(md.nn, node.attr), (stem, node.attr)
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "init" and isinstance(node.value.value, ast.Name)):
                assert hasattr(torch.nn.init, node.attr) and hasattr(md.nn.init, node.attr), (stem, node.attr)


def test_dtype_argument_and_float64(rng):
    m = md.nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True, dtype=md.float64)
    assert all(p.dtype == md.float64 for p in m.parameters())
    x = md.tensor(rng.standard_normal((2, 3, E)))
    assert m(x).dtype == md.float64


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradcheck_float64(rng, norm_first):
    md.manual_seed(0)
    m = md.nn.TransformerDecoderLayer(8, 2, 12, 0.0, "gelu", batch_first=True, norm_first=norm_first,
                                      dtype=md.float64)
    x = md.tensor(rng.standard_normal((1, 3, 8)), requires_grad=True)
    mem = md.tensor(rng.standard_normal((1, 4, 8)), requires_grad=True)
    mask = md.nn.Transformer.generate_square_subsequent_mask(3, dtype=md.float64)
    assert md.autograd.gradcheck(lambda a, b: m(a, b, tgt_mask=mask, tgt_is_causal=True), (x, mem))
