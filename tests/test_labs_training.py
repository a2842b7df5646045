"""The training labs (schedules, batch-size) run in quick mode and support their conclusions."""
import math
import os

import pytest

from conftest import require, run_lab as _run
require("matplotlib")

from minidl import labs  # noqa: E402


def test_training_labs_registered_with_questions():
    names = labs.list_labs()
    assert {"schedules", "batch-size"} <= set(names)
    assert names["schedules"].endswith("?") and names["batch-size"].endswith("?")


@pytest.fixture(scope="module")
def schedules(tmp_path_factory):
    return _run("schedules", tmp_path_factory.mktemp("schedules"))


def test_schedules_curves_follow_scheduler_semantics(schedules):
    res, printed = schedules
    c = res["curves"]
    n, base = res["steps"], res["base_lr"]
    assert n == 100 and base == 0.1
    assert len(c) >= 11 and all(len(v) == n for v in c.values())
    for name, v in c.items():
        assert all(math.isfinite(x) for x in v), name
        # every lr is positive, except WarmupCosineLR's step 0, which its formula makes 0
        lo = 1 if name == "WarmupCosineLR" else 0
        assert all(x > 0 for x in v[lo:]), name
        assert max(v) <= max(base, 1.0) + 1e-12, name
    # StepLR(step_size=30, gamma=0.5): halves at 30, 60, 90
    s = c["StepLR"]
    assert s[29] == pytest.approx(base) and s[30] == pytest.approx(base / 2)
    assert s[60] == pytest.approx(base / 4) and s[99] == pytest.approx(base / 8)
    # MultiStepLR([50, 75], 0.1)
    m = c["MultiStepLR"]
    assert m[49] == pytest.approx(base) and m[50] == pytest.approx(base / 10) and m[75] == pytest.approx(base / 100)
    # ExponentialLR(0.97)
    assert c["ExponentialLR"][40] == pytest.approx(base * 0.97 ** 40, rel=1e-9)
    # LinearLR warm-up 0.1 -> 1 over 20 steps
    w = c["LinearLR warm-up"]
    assert w[0] == pytest.approx(0.1 * base) and w[10] == pytest.approx(0.55 * base)
    assert w[20] == pytest.approx(base) and w[99] == pytest.approx(base)
    # CosineAnnealingLR(T_max=100): the closed form
    for t in (0, 25, 50, 99):
        assert c["CosineAnnealingLR"][t] == pytest.approx(base * (1 + math.cos(math.pi * t / 100)) / 2, abs=1e-12)
    # OneCycleLR: starts at max_lr / 25, peaks at max_lr at pct_start (step 29), ends at initial / 1e4
    for name in ("OneCycleLR cos", "OneCycleLR linear", "OneCycleLR 3-phase"):
        v = c[name]
        assert v[0] == pytest.approx(1.0 / 25)
        assert max(range(n), key=v.__getitem__) == 29 and v[29] == pytest.approx(1.0)
        assert v[99] == pytest.approx(1.0 / 25 / 1e4)
        mom = res["momentum"][name]
        assert mom[0] == pytest.approx(0.95) and mom[29] == pytest.approx(0.85)  # momentum moves opposite
    assert c["OneCycleLR 3-phase"][58] == pytest.approx(1.0 / 25)  # back to initial_lr after phase 2
    assert c["OneCycleLR linear"][64] == pytest.approx(1.0 + (1 / 25 / 1e4 - 1.0) * 35 / 70)
    # WarmupCosineLR(warmup 10, total 100, min_lr 1e-3): API.md's formula
    wc = c["WarmupCosineLR"]
    for t in (0, 5, 9):
        assert wc[t] == pytest.approx(base * t / 10, abs=1e-15)
    for t in (10, 40, 70, 99):
        assert wc[t] == pytest.approx(1e-3 + (base - 1e-3) * (1 + math.cos(math.pi * (t - 10) / 90)) / 2)
    # SequentialLR: LinearLR 0.1 -> 1 over 10 steps, then a fresh cosine over 90
    sq = c["SequentialLR"]
    assert sq[0] == pytest.approx(0.1 * base) and sq[10] == pytest.approx(base)
    assert sq[55] == pytest.approx(base * (1 + math.cos(math.pi * 45 / 90)) / 2)
    # ReduceLROnPlateau: flat until the plateau outlasts patience, then 10x cuts
    p = c["ReduceLROnPlateau"]
    assert p[:42] == [base] * 42 and p[42] == pytest.approx(base / 10)
    assert res["plateau_reductions"] == [41, 81, 92]
    # the linear scaling rule, batch 32 -> 512
    assert res["scale_lr"]["lr"] == pytest.approx(base * 16)
    assert "scale_lr" in printed and "OneCycleLR" in printed
    assert os.path.getsize(res["png"]) > 1000 and res["png"].endswith("schedules.png")


@pytest.mark.parametrize("seed", [0, 1])
def test_batch_size_linear_scaling_recovers_accuracy(tmp_path, seed):
    require("sklearn")  # the lab trains on the digits
    res, printed = _run("batch-size", tmp_path, seed=seed)
    r = {k: v for k, v in res["runs"].items()}
    small, same, scaled, lamb = r["small"], r["large_same_lr"], r["large_scaled"], r["large_lamb"]
    assert res["steps_ratio"] == 16
    assert small["steps"] == 16 * same["steps"] == 16 * scaled["steps"] == 16 * lamb["steps"]
    # measured over seeds 0-7 (quick, 8 epochs): small 0.950-0.989, same lr 0.785-0.870,
    # scaled 0.931-0.981 (8.4-11.1 points above same lr, at most 2.3 below small),
    # LAMB 0.927-0.969 (at least 9.6 above same lr, at most 2.7 below small)
    assert scaled["test_acc"] >= same["test_acc"] + 0.06
    assert lamb["test_acc"] >= same["test_acc"] + 0.05
    assert scaled["test_acc"] >= small["test_acc"] - 0.04
    assert lamb["test_acc"] >= small["test_acc"] - 0.05
    # the same-lr large batch is left undertrained: training loss 0.89-1.01 vs scaled 0.033-0.052
    assert same["train_loss"] > 5 * scaled["train_loss"]
    assert same["train_loss"] > 5 * small["train_loss"]
    assert all(len(v["curve"]["test_acc"]) == res["epochs"] + 1 for v in r.values())
    assert "16x fewer steps" in printed
    assert os.path.getsize(res["png"]) > 1000 and res["png"].endswith("batch-size.png")
