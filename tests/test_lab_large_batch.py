"""The large-batch lab (issue 19): global batches 64 .. 8192 made of ranks x per-rank batch x
accumulation steps; fixed-lr SGD vs the linear rule with warm-up vs LAMB. Quick mode (8 epochs,
batches 64, 1024 and 8192, seed 0) and the facts its numbers must show with a wide margin."""
import os

import pytest

from conftest import run_lab

from minidl import labs
from minidl.labs import large_batch


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return run_lab("large-batch", tmp_path_factory.mktemp("large-batch"))


def test_registered_with_a_question():
    assert labs.list_labs()["large-batch"].endswith("?")


def test_split_global_batch_makes_up_the_global_batch():
    for world in (1, 2, 3, 4):
        for global_batch in (64, 96, 1024, 8192, 12 * 777):
            if global_batch % world:
                continue
            per_rank, accumulation = large_batch.split_global_batch(global_batch, world)
            assert world * per_rank * accumulation == global_batch
            assert per_rank <= large_batch.MAX_MICRO_BATCH
            # the fewest accumulation steps: every smaller count leaves a remainder or exceeds the cap
            share = global_batch // world
            assert all(share % a or share // a > large_batch.MAX_MICRO_BATCH for a in range(1, accumulation))
    assert large_batch.split_global_batch(8192, 2) == (512, 8)


@pytest.mark.parametrize("args,match", [((100, 3), "not divisible by the world size 3"),
                                        ((0, 1), "global_batch must be a positive integer"),
                                        ((64, 0), "world_size must be a positive integer"),
                                        ((64, 1, -1), "max_micro_batch must be a positive integer")])
def test_split_global_batch_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        large_batch.split_global_batch(*args)


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown method 'adam'"):
        large_batch.learning_rate("adam", 64)


def test_accumulation_gives_the_same_training_as_one_big_batch():
    """Two micro-batches of 512 with the loss halved are one batch of 1024: the same weights,
    so the same accuracy and training loss after 13 steps (float32 sums in another order)."""
    data = large_batch.shifted_digits(0)
    one = large_batch.train(data, 1024, "linear", epochs=1, seed=0, max_micro_batch=1024)
    four = large_batch.train(data, 1024, "linear", epochs=1, seed=0, max_micro_batch=256)
    assert (one["accumulation"], four["accumulation"]) == (1, 4)
    assert one["steps"] == four["steps"] == 13824 // 1024
    assert four["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
    assert four["test_acc"] == pytest.approx(one["test_acc"], abs=1 / 261 + 1e-9)


@pytest.mark.slow  # the quick lab run they share: 4-7 s on 2 busy cores (pytest --durations)
def test_every_run_sees_the_same_number_of_examples(quick):
    res, _ = quick
    assert res["batches"] == [64, 1024, 8192] and res["epochs"] == 8 and res["n_train"] == 13824
    for method, by_batch in res["runs"].items():
        for b, r in by_batch.items():
            assert r["steps"] == 8 * 13824 // b, (method, b)
            assert r["world_size"] * r["per_rank_batch"] * r["accumulation"] == b
    assert res["runs"]["linear"][1024]["lr"] == pytest.approx(0.05 * 1024 / 64)
    assert res["runs"]["lamb"][8192]["lr"] == pytest.approx(0.003 * (8192 / 64) ** 0.5)


@pytest.mark.slow  # the quick lab run they share: 4-7 s on 2 busy cores (pytest --durations)
def test_fixed_lr_falls_behind_and_the_recipes_help(quick):
    res, printed = quick
    r = res["runs"]
    # plain SGD at batch 8192 (13 steps) is far behind batch 64 (measured 64% vs 95%)
    assert r["sgd"][8192]["test_acc"] < r["sgd"][64]["test_acc"] - 0.10
    # the linear rule recovers batch 1024 (measured 95.0% vs 90.4%) ...
    assert r["linear"][1024]["test_acc"] > r["sgd"][1024]["test_acc"] + 0.02
    # ... and gets to 90% in far fewer steps than batch 64 (measured 28 vs 144)
    assert r["linear"][1024]["steps_to_target"] is not None
    assert r["linear"][1024]["steps_to_target"] < r["sgd"][64]["steps_to_target"] / 2
    # LAMB's trust ratio beats the fixed lr at batch 8192 (measured 73.6% vs 64.0%)
    assert r["lamb"][8192]["test_acc"] > r["sgd"][8192]["test_acc"] + 0.03
    assert "conclusion: Within 2 points of batch 64's" in printed
    assert res["conclusion"] in printed
    assert os.path.getsize(res["png"]) > 1000 and res["png"].endswith("large-batch.png")


_TWO_RANK_RUN = ("import json; from minidl.labs import large_batch, mpi_launch; "
                 "r = large_batch.run(quick=True, batches=[1024, 8192], epochs=2, plot=False, progress=False); "
                 "keys = ['test_acc', 'train_loss', 'per_rank_batch', 'accumulation', 'world_size']; "
                 "mpi_launch()[0] == 0 and print('RESULT', json.dumps("
                 "{m: {b: [v[k] for k in keys] for b, v in r['runs'][m].items()} for m in r['runs']}))")


@pytest.mark.slow  # 7 s on 2 busy cores (pytest --durations): an MPI launch and a one-process twin
def test_two_ranks_spread_the_global_batch_and_train_as_one_process():
    """mpiexec -n 2: each rank computes its half of every global batch (8192 = 2 x 512 x 8, with
    no_sync on 7 of the 8 micro-batches), rank 0 alone prints, and the training is the one
    process's: the same examples in the same order, the gradient summed in another order."""
    import json
    import sys

    from _mpi_launch import launch, mpiexec
    proc, _ = launch([mpiexec(), "-n", "2", sys.executable, "-c", _TWO_RANK_RUN], timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.stdout.count("conclusion:") == 1 and proc.stdout.count("RESULT") == 1  # rank 1 is silent
    two = json.loads(proc.stdout.split("RESULT", 1)[1])
    one = large_batch.run(quick=True, batches=[1024, 8192], epochs=2, plot=False, progress=False)["runs"]
    for method in ("sgd", "lamb", "linear"):
        for b in (1024, 8192):
            acc, loss, per_rank, accumulation, world = two[method][str(b)]
            assert (world, per_rank, accumulation) == ((2, 512, 1) if b == 1024 else (2, 512, 8))
            if method != "linear" or b != 8192:  # lr 6.4 diverges: its digits are chaos
                assert acc == pytest.approx(one[method][b]["test_acc"], abs=1.5 / 261), (method, b)
                assert loss == pytest.approx(one[method][b]["train_loss"], rel=1e-2), (method, b)
