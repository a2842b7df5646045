"""examples/train_ddp.py (issue 19 item 4): the char-GPT trained data-parallel, as one process
(in this process) and as 2 ranks started by mpiexec and by ``python -m minidl.distributed.run``
(each launch with a time limit: tests/_mpi_launch.py)."""
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


@pytest.mark.slow  # 7-13 s on 2 busy cores (pytest --durations): an MPI launch of 2 ranks
@pytest.mark.parametrize("launcher", ["mpiexec", "minidl.distributed.run"])
def test_two_ranks_share_each_epoch_and_rank_0_alone_speaks_and_saves(launcher, tmp_path):
    """``mpiexec -n 2 python examples/train_ddp.py`` and ``python -m minidl.distributed.run --nproc 2
    ...``: the global batch is 2 x the per-rank batch, the lr scaled to it, each rank takes half of
    each epoch's windows, and rank 0 alone prints its results and writes the checkpoint."""
    import sys

    import minidl as md
    from _mpi_launch import launch, mpiexec
    from conftest import EXAMPLES
    ckpt = tmp_path / "gpt.mdl"
    args = [str(EXAMPLES / "train_ddp.py"), *TINY, "--epochs", "1", "--batch-size", "16", "--checkpoint", str(ckpt)]
    command = ([mpiexec(), "-n", "2", sys.executable] if launcher == "mpiexec"
               else [sys.executable, "-m", "minidl.distributed.run", "--nproc", "2"]) + args
    mpiexec()  # skips (naming the extra) without MPI
    proc, _ = launch(command, timeout=240)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:]
    assert "world size 2: global batch 32 = 2 x 16 per rank; lr 0.003 at batch 32 -> 0.003" in out
    windows = (40000 - 1) // 32
    assert f"{windows // 2 // 16} steps per epoch" in out  # half the windows each, whole batches
    assert out.count("validation loss") == 1 and out.count("checkpoint:") == 1
    state = md.load(str(ckpt))
    assert state["epoch"] == 1 and not any(k.startswith("module.") for k in state["model"])
