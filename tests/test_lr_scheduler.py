"""LR schedulers: 100-step trajectories equal to PyTorch's (every parameter group, and the
momentum OneCycleLR cycles), WarmupCosineLR against API.md's formula, scale_lr, state_dict
resume, errors."""
import copy
import math

import numpy as np
import pytest

import minidl as md
from minidl.optim import lr_scheduler as mls

from conftest import require
torch = require("torch")
tls = torch.optim.lr_scheduler

STEPS = 100


def optimizers(kind="SGD"):
    """The same two-group optimizer in both libraries (no gradients: only lrs move)."""
    mp = [md.nn.Parameter(md.zeros(3)), md.nn.Parameter(md.zeros(2))]
    tp = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))]
    if kind == "SGD":
        make = lambda lib, ps: lib.optim.SGD([dict(params=[ps[0]]), dict(params=[ps[1]], lr=0.05)], lr=0.1,
                                             momentum=0.9)
    else:
        make = lambda lib, ps: lib.optim.Adam([dict(params=[ps[0]]), dict(params=[ps[1]], lr=0.05)], lr=0.1)
    return make(md, mp), make(torch, tp)


def group_values(opt, key):
    return [g[key] for g in opt.param_groups]


def assert_close(a, b, what):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=1e-12,
                               atol=1e-15, err_msg=what)


CASES = {
    "LambdaLR": lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e),
    "LambdaLR-per-group": lambda L, o: L.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: 0.5 ** (e // 10)]),
    "StepLR": lambda L, o: L.StepLR(o, step_size=7),
    "StepLR-gamma": lambda L, o: L.StepLR(o, step_size=30, gamma=0.5),
    "MultiStepLR": lambda L, o: L.MultiStepLR(o, milestones=[10, 30, 30, 80], gamma=0.3),
    "ExponentialLR": lambda L, o: L.ExponentialLR(o, gamma=0.97),
    "LinearLR": lambda L, o: L.LinearLR(o),
    "LinearLR-long": lambda L, o: L.LinearLR(o, start_factor=0.01, end_factor=0.5, total_iters=60),
    "Cosine": lambda L, o: L.CosineAnnealingLR(o, T_max=100),
    "Cosine-restarting": lambda L, o: L.CosineAnnealingLR(o, T_max=13, eta_min=1e-3),
    "OneCycle-cos": lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=STEPS),
    "OneCycle-linear": lambda L, o: L.OneCycleLR(o, max_lr=[1.0, 0.3], total_steps=STEPS, anneal_strategy="linear",
                                                 pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
    "OneCycle-three-phase": lambda L, o: L.OneCycleLR(o, max_lr=0.5, epochs=10, steps_per_epoch=10,
                                                      three_phase=True, base_momentum=0.8, max_momentum=0.9),
    "OneCycle-no-momentum": lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=STEPS, cycle_momentum=False),
    "SequentialLR": lambda L, o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=10),
                                                    L.CosineAnnealingLR(o, T_max=90)], milestones=[10]),
    "SequentialLR-3": lambda L, o: L.SequentialLR(o, [L.ExponentialLR(o, gamma=0.9), L.StepLR(o, 5),
                                                      L.LinearLR(o, 0.5, total_iters=4)], milestones=[20, 50]),
}


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
@pytest.mark.parametrize("name", list(CASES))
def test_trajectory_matches_torch(name, kind):
    mo, to = optimizers(kind)
    ms, ts = CASES[name](mls, mo), CASES[name](tls, to)
    momentum_key = "momentum" if kind == "SGD" else "betas"
    assert_close(ms.get_last_lr(), ts.get_last_lr(), "after construction")
    assert getattr(ms, "base_lrs", None) == getattr(ts, "base_lrs", None) and ms.last_epoch == ts.last_epoch
    for step in range(STEPS):
        mo.step()
        to.step()
        ms.step()
        ts.step()
        assert_close(ms.get_last_lr(), ts.get_last_lr(), f"{name} step {step}")
        assert_close(group_values(mo, "lr"), group_values(to, "lr"), f"{name} step {step}")
        assert_close(group_values(mo, momentum_key), group_values(to, momentum_key), f"{name} momentum {step}")
    assert group_values(mo, "initial_lr") == group_values(to, "initial_lr")


@pytest.mark.parametrize("cfg", [dict(), dict(mode="max", factor=0.5, patience=3),
                                 dict(threshold=0.1, threshold_mode="abs", cooldown=2, patience=2),
                                 dict(mode="max", threshold_mode="abs", min_lr=[0.01, 0.02], patience=0),
                                 dict(factor=0.2, patience=1, min_lr=1e-3, eps=1e-2)])
def test_reduce_on_plateau_matches_torch(cfg):
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(5, 1, 20), 1 + 0.05 * rng.standard_normal(80)])
    mo, to = optimizers()
    ms, ts = mls.ReduceLROnPlateau(mo, **cfg), tls.ReduceLROnPlateau(to, **cfg)
    for step, m in enumerate(metrics):
        ms.step(float(m))
        ts.step(float(m))
        assert_close(ms.get_last_lr(), ts.get_last_lr(), f"step {step}")
        assert ms.num_bad_epochs == ts.num_bad_epochs and ms.cooldown_counter == ts.cooldown_counter
    assert ms.get_last_lr() != [0.1, 0.05]   # it did reduce


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_onecycle_past_total_steps_raises():
    for L, o in zip((mls, tls), optimizers()):
        s = L.OneCycleLR(o, max_lr=1.0, total_steps=10)
        for _ in range(10):
            s.step()
        with pytest.raises(ValueError, match="Tried to step 11 times"):
            s.step()


@pytest.mark.parametrize("warmup,total,min_lr", [(10, 100, 0.0), (0, 50, 1e-3), (25, 60, 0.01), (30, 30, 0.0)])
def test_warmup_cosine_formula(warmup, total, min_lr):
    mo, _ = optimizers()
    s = mls.WarmupCosineLR(mo, warmup_steps=warmup, total_steps=total, min_lr=min_lr)
    for step in range(STEPS + 1):
        for base, lr in zip([0.1, 0.05], s.get_last_lr()):
            if step < warmup:
                want = base * step / warmup
            elif step < total:
                want = min_lr + (base - min_lr) * (1 + math.cos(math.pi * (step - warmup) / (total - warmup))) / 2
            else:
                want = min_lr
            assert lr == pytest.approx(want, rel=1e-12, abs=1e-15), (step, lr, want)
        assert s.get_last_lr() == group_values(mo, "lr")
        s.step()


def test_warmup_cosine_bad_arguments():
    mo, _ = optimizers()
    with pytest.raises(ValueError, match="warmup_steps"):
        mls.WarmupCosineLR(mo, warmup_steps=-1, total_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        mls.WarmupCosineLR(mo, warmup_steps=20, total_steps=10)


def test_scale_lr():
    assert mls.scale_lr(0.1, 1024, 256) == pytest.approx(0.4)
    assert mls.scale_lr(3e-4, 32, 256) == pytest.approx(3.75e-5)
    with pytest.raises(ValueError):
        mls.scale_lr(0.1, 0, 256)


RESUMABLE = ["StepLR", "MultiStepLR", "ExponentialLR", "LinearLR-long", "Cosine-restarting", "OneCycle-cos",
             "OneCycle-three-phase", "SequentialLR", "LambdaLR"]


@pytest.mark.parametrize("name", RESUMABLE)
def test_state_dict_resume(name):
    opt, _ = optimizers()
    sched = CASES[name](mls, opt)
    straight = []
    for _ in range(STEPS):
        opt.step()
        sched.step()
        straight.append(sched.get_last_lr())

    opt1, _ = optimizers()
    s1 = CASES[name](mls, opt1)
    for _ in range(50):
        opt1.step()
        s1.step()
    osd, ssd = copy.deepcopy(opt1.state_dict()), copy.deepcopy(s1.state_dict())
    assert "optimizer" not in ssd
    opt2, _ = optimizers()
    s2 = CASES[name](mls, opt2)   # as PyTorch advises: build the scheduler, then load both
    opt2.load_state_dict(osd)
    s2.load_state_dict(ssd)
    resumed = []
    for _ in range(50, STEPS):
        opt2.step()
        s2.step()
        resumed.append(s2.get_last_lr())
    assert resumed == straight[50:]


def test_reduce_on_plateau_state_dict_resume():
    metrics = [3, 2, 2, 2, 2, 1.5, 1.5, 1.5, 1.5, 1.5] * 3
    opt, _ = optimizers()
    s = mls.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for m in metrics[:12]:
        s.step(m)
    opt2, _ = optimizers()
    s2 = mls.ReduceLROnPlateau(opt2, patience=1, cooldown=1)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    s2.load_state_dict(copy.deepcopy(s.state_dict()))
    for m in metrics[12:]:
        s.step(m)
        s2.step(m)
        assert s.get_last_lr() == s2.get_last_lr()


def test_scheduler_sets_initial_lr_and_base_lrs():
    opt, _ = optimizers()
    s = mls.StepLR(opt, step_size=2)
    assert group_values(opt, "initial_lr") == [0.1, 0.05] and s.base_lrs == [0.1, 0.05] and s.last_epoch == 0
    opt2, _ = optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        mls.StepLR(opt2, step_size=2, last_epoch=5)


def test_scheduler_errors():
    opt, _ = optimizers()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        mls.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="You must define either total_steps"):
        mls.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        mls.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        mls.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        mls.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        mls.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="number of milestone"):
        mls.SequentialLR(opt, [mls.StepLR(opt, 2)], milestones=[3])
