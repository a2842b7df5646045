"""The training examples accept --amp bf16|fp16 and still learn (short runs on the digits)."""
import pytest

from conftest import load_example, require


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_digits_mlp_with_amp(amp, capsys):
    require("sklearn")
    acc = load_example("train_digits_mlp").main(["--epochs", "10", "--seed", "0", "--amp", amp])
    assert acc >= 0.95
    assert f"amp: {amp}" in capsys.readouterr().out


def test_digits_cnn_with_bf16_amp(tmp_path):
    require("sklearn")
    acc, reloaded = load_example("train_digits_cnn").main(["--epochs", "4", "--amp", "bf16",
                                                           "--checkpoint", str(tmp_path / "cnn.mdl")])
    assert acc >= 0.9 and reloaded == acc


def test_bad_amp_flag():
    with pytest.raises(SystemExit):
        load_example("train_digits_mlp").main(["--amp", "fp8"])
