"""GPT incremental decoding: the cached forward equals the full forward, cached generation
equals full recomputation token for token, top-k/top-p filtering equals a NumPy reference, and
bad input raises errors that name the problem."""
import numpy as np
import pytest
import torch

import minidl as md
from minidl.models.gpt import _filter_logits

V, BLOCK = 37, 20


def _gpt(seed=0, lib=md, **kw):
    lib.manual_seed(seed)
    cls = md.models.GPT if lib is md else md.models.build(torch.nn).GPT
    kw = {"d_model": 24, "nhead": 3, "num_layers": 2, **kw}
    return cls(V, BLOCK, **kw).eval()


@pytest.mark.parametrize("lib", [md, torch], ids=["minidl", "torch"])
@pytest.mark.parametrize("n,p,t", [(1, 1, 1), (2, 5, 1), (3, 4, 3), (1, 0, 7), (2, 13, 7)])
def test_cached_logits_equal_full_forward(lib, n, p, t):
    m = _gpt(lib=lib)
    rng = np.random.default_rng(p * 10 + t)
    ids = lib.tensor(rng.integers(0, V, (n, p + t)))
    with lib.no_grad():
        full = m(ids)
        past = None
        if p:
            head, past = m.forward_with_cache(ids[:, :p])
            assert (head - full[:, :p]).abs().max().item() < 1e-5
        new, present = m.forward_with_cache(ids[:, p:], past)
    assert tuple(new.shape) == (n, t, V)
    assert (new - full[:, p:]).abs().max().item() < 1e-5
    assert len(present) == 2 and all(tuple(k.shape) == (n, 3, p + t, 8) == tuple(v.shape) for k, v in present)


def test_cached_logits_match_torch_twin():
    m, tm = _gpt(), _gpt(lib=torch)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    ids = np.random.default_rng(1).integers(0, V, (2, 9))
    a, pa = m.forward_with_cache(md.tensor(ids[:, :6]))
    b, pb = tm.forward_with_cache(torch.tensor(ids[:, :6]))
    a, pa = m.forward_with_cache(md.tensor(ids[:, 6:]), pa)
    b, pb = tm.forward_with_cache(torch.tensor(ids[:, 6:]), pb)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(pa[1][1].detach().numpy(), pb[1][1].detach().numpy(), atol=1e-5)


def test_cached_forward_gradients():
    """Gradients flow into the cache and the weights as through the full forward."""
    m = _gpt(num_layers=1)
    ids = md.tensor(np.random.default_rng(2).integers(0, V, (2, 6)))
    m(ids).sum().backward()
    full_grad = m.blocks.layers[0].self_attn.in_proj_weight.grad.clone()
    m.zero_grad()
    _, past = m.forward_with_cache(ids[:, :4])
    out, _ = m.forward_with_cache(ids[:, 4:], past)
    (m.forward_with_cache(ids[:, :4])[0].sum() + out.sum()).backward()
    np.testing.assert_allclose(m.blocks.layers[0].self_attn.in_proj_weight.grad.numpy(), full_grad.numpy(),
                               rtol=1e-4, atol=1e-6)


def test_cached_forward_gradcheck():
    m = _gpt(num_layers=1, d_model=6, nhead=2).double()
    rng = np.random.default_rng(3)
    k = md.tensor(rng.standard_normal((1, 2, 3, 3)), dtype=md.float64, requires_grad=True)
    v = md.tensor(rng.standard_normal((1, 2, 3, 3)), dtype=md.float64, requires_grad=True)
    ids = md.tensor([[4, 9]])
    assert md.autograd.gradcheck(lambda k, v: m.forward_with_cache(ids, [(k, v)])[0], (k, v))


@pytest.mark.filterwarnings("ignore:generate. the prompt has 25 tokens")  # the crop is intended here
@pytest.mark.parametrize("prompt_len", [1, 4, 11, 25])
@pytest.mark.parametrize("n", [1, 3])
def test_cached_generation_equals_recomputation(prompt_len, n):
    """Greedy and seeded sampling; 25 > block_size crops the prompt, and every length crosses
    block_size (the window slides)."""
    m = _gpt()
    prompt = md.tensor(np.random.default_rng(prompt_len).integers(0, V, (n, prompt_len)))
    new = BLOCK + 3 - min(prompt_len, BLOCK)
    greedy = m.generate(prompt, new, temperature=0)
    assert np.array_equal(greedy.numpy(), m.generate(prompt, new, temperature=0, use_cache=False).numpy())
    for kw in ({}, {"temperature": 0.8, "top_k": 5}, {"top_p": 0.9}, {"temperature": 1.3, "top_k": 10, "top_p": 0.7}):
        a = m.generate(prompt, new, rng=np.random.default_rng(7), **kw)
        b = m.generate(prompt, new, use_cache=False, rng=np.random.default_rng(7), **kw)
        assert tuple(a.shape) == (n, prompt_len + new)
        assert np.array_equal(a.numpy(), b.numpy()), kw
        assert np.array_equal(a[:, :prompt_len].numpy(), prompt.numpy())


def test_generation_on_torch_build_matches_minidl():
    m, tm = _gpt(), _gpt(lib=torch)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    prompt = np.random.default_rng(4).integers(0, V, (2, 3))
    a = m.generate(md.tensor(prompt), 8, temperature=0)
    b = tm.generate(torch.tensor(prompt), 8, temperature=0)
    assert np.array_equal(a.numpy(), b.numpy())


def _reference_filter(logits, temperature, top_k, top_p):
    """Row by row, written out: temperature, keep the k largest, then the smallest set of most
    probable tokens whose probabilities reach top_p."""
    out = np.full_like(logits, -np.inf)
    for r, row in enumerate(logits / temperature):
        keep = np.argsort(-row, kind="stable")
        if top_k is not None:
            keep = keep[:top_k]
        if top_p is not None and top_p < 1:  # top_p = 1 keeps all, as transformers (no warper)
            probs = np.exp(row[keep] - row[keep].max())
            probs /= probs.sum()
            # most probable first; a token is kept when the mass of the ones before it is < top_p
            before = np.concatenate(([0.0], np.cumsum(probs)[:-1]))
            keep = keep[before < top_p]
        out[r, keep] = row[keep]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_top_k_top_p_filter_against_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((4, 1 + seed * 7)) * 3
    for temperature in (0.5, 1.0, 2.0):
        for top_k in (None, 1, 3, 100):
            for top_p in (None, 0.05, 0.5, 0.9, 1.0):
                got = _filter_logits(logits, temperature, top_k, top_p)
                want = _reference_filter(logits, temperature, top_k, top_p)
                np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=f"{top_k} {top_p}")
                np.testing.assert_allclose(got[~np.isinf(got)], want[~np.isinf(want)])


def test_top_p_keeps_the_nucleus():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    assert np.isinf(_filter_logits(logits, 1.0, None, 0.79)).tolist() == [[False, False, True, True]]
    assert np.isinf(_filter_logits(logits, 1.0, None, 0.81)).tolist() == [[False, False, False, True]]
    assert np.isinf(_filter_logits(logits, 1.0, None, 0.01)).tolist() == [[False, True, True, True]]
    m = _gpt()
    tiny = m.generate(md.tensor([[1, 2]]), 6, top_p=1e-9)  # only the argmax survives: greedy
    assert np.array_equal(tiny.numpy(), m.generate(md.tensor([[1, 2]]), 6, temperature=0).numpy())


def test_bad_input():
    m = _gpt()
    with pytest.raises(IndexError, match="token id 37 .*vocab_size 37"):
        m.generate(md.tensor([[1, 37]]), 2)
    with pytest.raises(IndexError, match="token id -1"):
        m.forward_with_cache(md.tensor([[-1]]))
    with pytest.raises(IndexError, match="token id 40"):
        _gpt(lib=torch).generate(torch.tensor([[40]]), 2)
    with pytest.raises(ValueError, match="top_p must be in \\(0, 1\\]"):
        m.generate(md.tensor([[1]]), 2, top_p=0)
    with pytest.raises(ValueError, match="top_p"):
        m.generate(md.tensor([[1]]), 2, top_p=1.5)
    with pytest.raises(ValueError, match="top_k"):
        m.generate(md.tensor([[1]]), 2, top_k=0)
    with pytest.raises(ValueError, match="temperature"):
        m.generate(md.tensor([[1]]), 2, temperature=-1)
    with pytest.raises(ValueError, match="T >= 1"):
        m.generate(md.zeros(1, 0, dtype=md.int64), 2)
    _, past = m.forward_with_cache(md.tensor(np.zeros((1, 18), dtype=np.int64)))
    with pytest.raises(ValueError, match="18 cached \\+ 3 new tokens exceed block_size 20"):
        m.forward_with_cache(md.tensor([[1, 2, 3]]), past)
    with pytest.raises(ValueError, match="exceed block_size"):
        m.forward_with_cache(md.tensor(np.zeros((1, 21), dtype=np.int64)))
    with pytest.raises(ValueError, match="one \\(keys, values\\) pair per block"):
        m.forward_with_cache(md.tensor([[1]]), past[:1])
    with pytest.raises(ValueError, match="expected both \\(N, nhead, P, head_dim\\)"):
        m.forward_with_cache(md.tensor([[1], [2]]), past)  # cache for N=1, tokens for N=2


def test_non_contiguous_ids_and_cache():
    m = _gpt()
    wide = md.tensor(np.random.default_rng(5).integers(0, V, (2, 18)))
    ids = wide[:, ::2]  # (2, 9), stride 2
    assert not ids.is_contiguous()
    full = m(ids.contiguous())
    _, past = m.forward_with_cache(ids[:, :6])
    strided = [(k.transpose(-1, -2).contiguous().transpose(-1, -2), v.transpose(-1, -2).contiguous().transpose(-1, -2))
               for k, v in past]
    assert not strided[0][0].is_contiguous()
    out, _ = m.forward_with_cache(ids[:, 6:], strided)
    assert (out - full[:, 6:]).abs().max().item() < 1e-5
