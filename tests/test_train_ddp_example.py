"""examples/train_ddp.py (issue 19 item 4): the char-GPT trained data-parallel. As one process
here; the multi-process runs are in the tests of md.distributed's launcher."""
import math

import pytest

from conftest import load_example

TINY = ["--train-chars", "40000", "--block", "32", "--layers", "1", "--d-model", "64", "--heads", "2",
        "--sample-chars", "5", "--no-progress"]


@pytest.mark.slow  # 4 s on 2 busy cores (pytest --durations)
def test_one_process_learns_prints_the_global_batch_and_writes_a_checkpoint(tmp_path, capsys):
    import minidl as md
    ckpt = tmp_path / "gpt.mdl"
    res = load_example("train_ddp").main(TINY + ["--epochs", "2", "--batch-size", "16", "--checkpoint", str(ckpt)])
    out = capsys.readouterr().out
    assert res["world_size"] == 1 and res["global_batch"] == 16
    assert res["lr"] == pytest.approx(3e-3 * 16 / 32)  # the linear rule from batch 32
    assert "global batch 16 = 1 x 16 per rank; lr 0.003 at batch 32 -> 0.0015 (linear scaling rule)" in out
    windows = (40000 - 1) // 32
    assert res["steps"] == 2 * (windows // 16)  # drop_last: whole batches only
    # 156 steps: well below the loss of a model that knows nothing, ln(vocab) (measured 2.96 vs 4.63)
    assert res["val_loss"] < 0.75 * math.log(res["vocab"])
    state = md.load(str(ckpt))
    assert state["epoch"] == 2 and set(state) == {"model", "optimizer", "scheduler", "epoch"}
    assert not any(k.startswith("module.") for k in state["model"])  # the plain model's keys, not DDP's


def test_a_share_smaller_than_one_batch_is_refused():
    with pytest.raises(ValueError, match="smaller than one batch of 64"):
        load_example("train_ddp").main(TINY + ["--train-chars", "1000", "--batch-size", "64"])
