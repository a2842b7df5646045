"""GPT-2 checkpoints (issue 17 item 2): a small GPT-2 made by ``transformers`` from a config
(the real weights cannot be downloaded here), saved with ``save_pretrained`` and loaded by
``md.models.GPT.from_pretrained``, gives PyTorch's logits and greedy tokens; minidl's
``save_pretrained`` loads back into ``transformers``; bad checkpoints and bad input raise errors
that name the problem."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import require, edit_config

import minidl as md

torch = require("torch")
transformers = require("transformers")

SMALL = dict(n_embd=64, n_layer=2, n_head=4, vocab_size=101, n_positions=32, bos_token_id=None, eos_token_id=None)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _hf_gpt2(folder, seed=0, lm_head=True, **config):
    """A seeded transformers GPT-2 saved into ``folder``. initializer_range 0.3 (GPT-2 uses
    0.02) makes the logits far from uniform, so greedy generation does not settle on one token."""
    torch.manual_seed(seed)
    config = transformers.GPT2Config(**{**SMALL, "initializer_range": 0.3, **config})
    cls = transformers.GPT2LMHeadModel if lm_head else transformers.GPT2Model
    model = cls(config).eval()
    model.save_pretrained(folder)
    return model


def _logits(model, ids):
    with torch.no_grad():
        out = model(torch.tensor(ids))
    return (out.logits if hasattr(out, "logits") else out.last_hidden_state).numpy()


IDS = np.random.default_rng(0).integers(0, SMALL["vocab_size"], (3, 32))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(folder, transformers model) of the default small GPT-2."""
    folder = tmp_path_factory.mktemp("gpt2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return folder, _hf_gpt2(folder)


@pytest.mark.parametrize("config", [{}, {"resid_pdrop": 0.3, "embd_pdrop": 0.2, "attn_pdrop": 0.1},
                                    {"activation_function": "gelu", "n_inner": 40, "layer_norm_epsilon": 1e-3},
                                    {"activation_function": "relu", "n_layer": 1}],
                         ids=["gelu_new", "dropout", "gelu-inner-eps", "relu"])
def test_logits_equal_transformers(tmp_path, config):
    theirs = _hf_gpt2(tmp_path, **config)
    mine = md.models.GPT.from_pretrained(tmp_path)
    assert not mine.training  # eval mode, as transformers' from_pretrained
    got = mine(md.tensor(IDS)).detach().numpy()
    np.testing.assert_allclose(got, _logits(theirs, IDS), atol=1e-4, rtol=0)
    assert mine.blocks.layers[0].norm1.eps == theirs.config.layer_norm_epsilon


def test_gpt2model_keys_without_prefix_and_old_buffers(tmp_path, saved):
    """GPT2Model saves wte.weight ... without "transformer."; old checkpoints carry the
    attn.bias / attn.masked_bias mask buffers, which are ignored."""
    folder, theirs = saved
    tensors = {k.removeprefix("transformer."): v for k, v in md.load_safetensors(folder / "model.safetensors").items()}
    tensors["h.0.attn.bias"] = md.ones(1, 1, 32, 32)
    tensors["h.0.attn.masked_bias"] = md.tensor(-1e4)
    tensors["lm_head.weight"] = tensors["wte.weight"]  # an explicit copy of the tied weight is accepted
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    md.save_safetensors(tensors, tmp_path / "model.safetensors")
    mine = md.models.GPT.from_pretrained(tmp_path)
    np.testing.assert_allclose(mine(md.tensor(IDS)).detach().numpy(), _logits(theirs, IDS), atol=1e-4, rtol=0)


def test_bfloat16_checkpoint_loads_widened_to_float32(tmp_path):
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(transformers.GPT2Config(**SMALL)).to(torch.bfloat16).save_pretrained(tmp_path)
    mine = md.models.GPT.from_pretrained(tmp_path)
    assert mine.tok_emb.weight.dtype == md.float32
    want = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, dtype=torch.float32).eval()
    np.testing.assert_allclose(mine(md.tensor(IDS)).detach().numpy(), _logits(want, IDS), atol=1e-4, rtol=0)


def test_torch_twin_loads_and_saves_the_checkpoint(tmp_path, saved):
    """build(torch.nn).GPT, the same model file on PyTorch, reads and writes the layout too."""
    folder, theirs = saved
    twin = md.models.build(torch.nn).GPT.from_pretrained(folder)
    with torch.no_grad():
        got = twin(torch.tensor(IDS)).numpy()
    np.testing.assert_allclose(got, _logits(theirs, IDS), atol=1e-4, rtol=0)
    twin.save_pretrained(tmp_path)
    again = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    for name, p in theirs.state_dict().items():
        assert torch.equal(p, again.state_dict()[name]), name


def test_save_pretrained_loads_in_transformers(tmp_path, saved):
    folder, theirs = saved
    mine = md.models.GPT.from_pretrained(folder)
    mine.save_pretrained(tmp_path / "back")
    again = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "back").eval()
    ignore = {"transformers_version": None, "_name_or_path": None}
    assert again.config.to_dict() | ignore == theirs.config.to_dict() | ignore  # every config field survives
    np.testing.assert_allclose(_logits(again, IDS), mine(md.tensor(IDS)).detach().numpy(), atol=1e-4, rtol=0)
    for name, p in theirs.state_dict().items():  # the very same weights, bit for bit
        assert torch.equal(p, again.state_dict()[name]), name


@pytest.mark.parametrize("kw", [{}, {"activation": "relu", "dim_feedforward": 48, "layer_norm_eps": 1e-4}])
def test_native_gpt_round_trips_through_transformers(tmp_path, kw):
    """A GPT built with minidl's constructor (exact GELU) is written with activation_function
    "gelu" and gives the same logits in transformers and after loading it back."""
    md.manual_seed(3)
    mine = md.models.GPT(53, 24, d_model=32, nhead=2, num_layers=2, **kw).eval()
    mine.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["activation_function"] == kw.get("activation", "gelu")
    assert config["architectures"] == ["GPT2LMHeadModel"] and config["n_inner"] == kw.get("dim_feedforward")
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ids = IDS[:, :24] % 53
    want = mine(md.tensor(ids)).detach().numpy()
    np.testing.assert_allclose(_logits(theirs, ids), want, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(md.models.GPT.from_pretrained(tmp_path)(md.tensor(ids)).detach().numpy(), want)


def test_greedy_generation_equals_transformers(saved):
    folder, theirs = saved
    mine = md.models.GPT.from_pretrained(folder)
    for n, t in ((1, 1), (1, 7), (3, 5)):
        prompt = IDS[:n, :t]
        with torch.no_grad():
            want = theirs.generate(torch.tensor(prompt), max_new_tokens=32 - t, do_sample=False,
                                   attention_mask=torch.ones(n, t, dtype=torch.long), pad_token_id=0)
        got = mine.generate(md.tensor(prompt), 32 - t, temperature=0)
        assert len(set(got.numpy()[:, t:].ravel())) > 3  # not one token repeated: a real comparison
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_cached_generation_equals_recomputation_on_loaded_model(saved):
    mine = md.models.GPT.from_pretrained(saved[0])
    prompt = md.tensor(IDS[:2, :6])
    assert np.array_equal(mine.generate(prompt, 30, temperature=0).numpy(),
                          mine.generate(prompt, 30, temperature=0, use_cache=False).numpy())
    a = mine.generate(prompt, 30, top_k=20, top_p=0.9, rng=np.random.default_rng(1))
    b = mine.generate(prompt, 30, top_k=20, top_p=0.9, use_cache=False, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---------------------------------------------------------------- bad checkpoints, bad input

def _copy(folder, dest):
    shutil.copytree(folder, dest)
    return dest



def test_folder_without_config_or_weights(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        md.models.GPT.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="GPT.from_pretrained: no config.json"):
        md.models.GPT.from_pretrained(tmp_path)
    bin_only = _copy(saved[0], tmp_path / "bin")
    os.rename(bin_only / "model.safetensors", bin_only / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="no model.safetensors .* pytorch_model.bin"):
        md.models.GPT.from_pretrained(bin_only)


def test_unknown_model_type(tmp_path, saved):
    folder = _copy(saved[0], tmp_path / "c")
    edit_config(folder, model_type="bert")
    with pytest.raises(ValueError, match="model_type 'bert'; GPT loads model_type 'gpt2'"):
        md.models.GPT.from_pretrained(folder)


@pytest.mark.parametrize("fields,match", [
    ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx=True"),
    ({"scale_attn_weights": False}, "scale_attn_weights=False"),
    ({"add_cross_attention": True}, "add_cross_attention=True, .*decoder-only"),
    ({"tie_word_embeddings": False}, "tie_word_embeddings=false"),
    ({"activation_function": "quick_gelu"}, "activation_function 'quick_gelu' is not supported"),
    ({"n_head": 5}, "n_embd 64 is not divisible by n_head 5")])
def test_config_gpt_cannot_represent(tmp_path, saved, fields, match):
    folder = _copy(saved[0], tmp_path / "c")
    edit_config(folder, **fields)
    with pytest.raises(ValueError, match=match):
        md.models.GPT.from_pretrained(folder)


def test_shapes_that_disagree_with_the_config(tmp_path, saved):
    folder = _copy(saved[0], tmp_path / "c")
    edit_config(folder, n_inner=128, n_positions=40)
    with pytest.raises(ValueError, match=r"mis-shaped: wpe.weight: checkpoint \(32, 64\), model expects \(40, 64\); "
                                         r"h.0.mlp.c_fc.weight: checkpoint \(64, 256\), model expects \(64, 128\)"):
        md.models.GPT.from_pretrained(folder)
    edit_config(folder, n_inner=None, n_positions=32, n_layer=3)
    with pytest.raises(ValueError, match=r"missing keys: h.2.attn.c_attn.bias, h.2.attn.c_attn.weight"):
        md.models.GPT.from_pretrained(folder)
    edit_config(folder, n_layer=1)
    with pytest.raises(ValueError, match=r"unexpected keys: h.1.attn.c_attn.bias"):
        md.models.GPT.from_pretrained(folder)


def test_untied_lm_head_is_refused(tmp_path, saved):
    folder = _copy(saved[0], tmp_path / "c")
    tensors = md.load_safetensors(folder / "model.safetensors")
    tensors = {k: v.clone() for k, v in tensors.items()}
    tensors["lm_head.weight"] = tensors["transformer.wte.weight"] * 2
    md.save_safetensors(tensors, folder / "model.safetensors")
    with pytest.raises(ValueError, match="lm_head.weight differs from wte.weight"):
        md.models.GPT.from_pretrained(folder)


def test_truncated_safetensors(tmp_path, saved):
    folder = _copy(saved[0], tmp_path / "c")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="model.safetensors is damaged: .*outside the data buffer"):
        md.models.GPT.from_pretrained(folder)


def test_token_ids_outside_the_vocabulary(saved):
    mine = md.models.GPT.from_pretrained(saved[0])
    with pytest.raises(IndexError, match="token id 101 is out of range for vocab_size 101"):
        mine(md.tensor([[3, 101]]))
    with pytest.raises(IndexError, match="token id 500 is out of range for vocab_size 101"):
        mine.generate(md.tensor([[500]]), 3, temperature=0)


def test_prompt_longer_than_the_context(saved):
    """forward refuses (as transformers' GPT-2 fails in its position embedding); generate warns
    and keeps the last n_positions tokens (transformers warns, then fails)."""
    mine = md.models.GPT.from_pretrained(saved[0])
    long = md.tensor(np.concatenate([IDS[:1], IDS[1:2, :8]], axis=1))  # 40 tokens, n_positions 32
    with pytest.raises(ValueError, match="sequence length 40 exceeds block_size 32"):
        mine(long)
    with pytest.warns(UserWarning, match="prompt has 40 tokens, more than block_size 32"):
        out = mine.generate(long, 4, temperature=0)
    cropped = mine.generate(long[:, -32:], 4, temperature=0)
    np.testing.assert_array_equal(out.numpy()[:, -4:], cropped.numpy()[:, -4:])


def test_save_pretrained_refuses_what_gpt2_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="biases in every layer; this GPT was built with bias=False"):
        md.models.GPT(20, 8, d_model=16, nhead=2, num_layers=1, bias=False).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="has no GPT-2 activation_function name"):
        md.models.GPT(20, 8, d_model=16, nhead=2, num_layers=1, activation=md.tanh).save_pretrained(tmp_path)
