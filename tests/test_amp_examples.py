"""The training examples accept --amp bf16|fp16 and still learn (short runs on the digits)."""
import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_digits_mlp_with_amp(amp, capsys):
    pytest.importorskip("sklearn")
    acc = _load("train_digits_mlp").main(["--epochs", "10", "--seed", "0", "--amp", amp])
    assert acc >= 0.95
    assert f"amp: {amp}" in capsys.readouterr().out


def test_digits_cnn_with_bf16_amp(tmp_path):
    pytest.importorskip("sklearn")
    acc, reloaded = _load("train_digits_cnn").main(["--epochs", "4", "--amp", "bf16",
                                                    "--checkpoint", str(tmp_path / "cnn.mdl")])
    assert acc >= 0.9 and reloaded == acc


def test_bad_amp_flag():
    with pytest.raises(SystemExit):
        _load("train_digits_mlp").main(["--amp", "fp8"])
