"""Schedules: how do the common learning-rate schedules shape training?

Every schedule in ``md.optim.lr_scheduler`` is run for 100 steps on one dummy parameter
(SGD, base lr 0.1, momentum 0.9) and its learning-rate curve recorded: the lr each
``optimizer.step()`` would use at step 0..99. What the curves show:

* step decays (StepLR, MultiStepLR) hold the lr then cut it by a factor at fixed steps;
  ExponentialLR decays smoothly by the same factor every step;
* warm-up (LinearLR from 1/10 of the lr) ramps up over the first steps, so a freshly
  initialised network (and Adam's or momentum's statistics) is not hit by the full lr at once;
* cosine annealing (CosineAnnealingLR, WarmupCosineLR, SequentialLR of warm-up then cosine)
  spends most steps at a high lr and lands gently at (near) zero;
* the 1cycle policy (OneCycleLR; cos, linear and three-phase) starts at max_lr / 25, peaks at
  max_lr at pct_start of the run (here 0.3 -> step 29) and anneals to max_lr / 25 / 1e4, while
  SGD's momentum moves the opposite way (0.95 -> 0.85 -> 0.95);
* ReduceLROnPlateau reacts to the metric instead of the step count: fed a synthetic loss that
  plateaus at step 30 (and again at a lower level from step 70), it cuts the lr by 10x once
  more than ``patience`` (10) steps pass without improvement (steps 41, 81 and 92: it keeps
  cutting while the loss stays flat).

WarmupCosineLR follows its formula literally: lr = base * s / warmup is 0 at step 0 (that
first step does not move the weights); LinearLR's warm-up starts at start_factor * base.

The table also shows the linear scaling rule ``scale_lr`` (Goyal et al., 2017): a batch 16x
larger (32 -> 512) takes 16x fewer steps per epoch, so its lr is made 16x larger.
"""
from __future__ import annotations

import math

import minidl as md
import minidl.optim.lr_scheduler as S
from minidl.optim.lr_scheduler import scale_lr

from . import bar, log_scale_if_wide, print_table, pyplot, save_figure

STEPS = 100
BASE_LR = 0.1


def _optimizer():
    w = md.nn.Parameter(md.zeros(1))
    return w, md.optim.SGD([w], lr=BASE_LR, momentum=0.9)


def plateau_loss(step: int) -> float:
    """A synthetic validation loss: falls until step 30, flat until 50, falls a little until
    70, then flat again (so ReduceLROnPlateau has two plateaus to react to)."""
    if step < 30:
        return 1.0 / (1.0 + 0.1 * step)
    if step < 50:
        return 0.25
    if step < 70:
        return 0.25 - 0.004 * (step - 50)
    return 0.17


# --8<-- [start:schedules]
def _schedules():
    """name -> (description, factory(optimizer) -> scheduler)."""
    return {
        "StepLR": ("step_size=30, gamma=0.5", lambda o: S.StepLR(o, step_size=30, gamma=0.5)),
        "MultiStepLR": ("milestones=[50,75], gamma=0.1", lambda o: S.MultiStepLR(o, milestones=[50, 75], gamma=0.1)),
        "ExponentialLR": ("gamma=0.97", lambda o: S.ExponentialLR(o, gamma=0.97)),
        "LinearLR warm-up": ("0.1 -> 1 over 20 steps",
                             lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=20)),
        "CosineAnnealingLR": ("T_max=100, eta_min=0", lambda o: S.CosineAnnealingLR(o, T_max=STEPS)),
        "OneCycleLR cos": ("max_lr=1, pct_start=0.3",
                           lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=STEPS, pct_start=0.3)),
        "OneCycleLR linear": ("max_lr=1, anneal linear",
                              lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=STEPS, pct_start=0.3,
                                                     anneal_strategy="linear")),
        "OneCycleLR 3-phase": ("max_lr=1, linear, three_phase",
                               lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=STEPS, pct_start=0.3,
                                                      anneal_strategy="linear", three_phase=True)),
        "SequentialLR": ("LinearLR 10 steps, then cosine 90",
                         lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=10),
                                                      S.CosineAnnealingLR(o, T_max=STEPS - 10)], milestones=[10])),
        "WarmupCosineLR": ("warmup 10, total 100, min_lr 1e-3",
                           lambda o: S.WarmupCosineLR(o, warmup_steps=10, total_steps=STEPS, min_lr=1e-3)),
        "ReduceLROnPlateau": ("factor=0.1, patience=10 on plateau_loss",
                              lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.1, patience=10)),
    }
# --8<-- [end:schedules]


# --8<-- [start:lr-curve]
def lr_curve(factory, steps: int = STEPS, metric=None):
    """Learning rates used at steps 0..steps-1 (and SGD momentum, for OneCycleLR)."""
    w, opt = _optimizer()
    sched = factory(opt)
    lrs, moms = [], []
    for s in range(steps):
        lrs.append(float(opt.param_groups[0]["lr"]))
        moms.append(float(opt.param_groups[0]["momentum"]))
        w.grad = md.zeros(1)  # a zero gradient: the lr, not the parameter, is what is recorded
        opt.step()
        if metric is not None:
            sched.step(metric(s))
        elif s < steps - 1:  # the lr after the last step is never used
            sched.step()
    return lrs, moms
# --8<-- [end:lr-curve]


def run(quick: bool = False, out: str = ".", seed: int = 0, progress: bool = True) -> dict:
    md.manual_seed(seed)  # nothing random here; kept for the common lab signature
    curves, momenta, desc = {}, {}, {}
    for name, (d, factory) in bar(_schedules().items(), desc="schedules", unit="schedule", enabled=progress):
        metric = plateau_loss if name == "ReduceLROnPlateau" else None
        curves[name], momenta[name] = lr_curve(factory, STEPS, metric)
        desc[name] = d

    at = [0, 10, 29, 50, 99]
    rows = [[name, desc[name]] + [c[s] for s in at] + [min(c), max(c)] for name, c in curves.items()]
    print_table(["schedule", "settings"] + [f"lr@{s}" for s in at] + ["min", "max"], rows,
                title=f"Learning-rate schedules over {STEPS} steps (SGD, base lr {BASE_LR}; OneCycle max_lr 1.0)")
    scaled = scale_lr(BASE_LR, 512, 32)
    print_table(["rule", "base lr", "base batch", "batch", "scaled lr"],
                [["scale_lr (linear scaling)", BASE_LR, 32, 512, scaled]],
                title="Linear scaling rule (Goyal et al., 2017): lr grows with the batch size")

    plt = pyplot()
    names = list(curves)
    ncol = 4
    nrow = math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 2.8 * nrow), squeeze=False)
    steps = list(range(STEPS))
    for i, ax in enumerate(axes.flat):
        if i == len(names):  # the spare panel: every curve relative to its own maximum
            for name in names:
                ax.plot(steps, [v / max(curves[name]) for v in curves[name]], lw=1, label=name)
            ax.set_title("all schedules, lr / max lr", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.set_ylabel("lr / max lr (ratio)", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=5, ncol=2)
            continue
        if i > len(names):
            ax.axis("off")
            continue
        name = names[i]
        ax.plot(steps, curves[name], color="C0")
        ax.set_title(f"{name}\n{desc[name]}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("lr", fontsize=8, color="C0")
        log_scale_if_wide(ax, curves[name])
        ax.tick_params(labelsize=7)
        if name.startswith("OneCycleLR"):
            ax2 = ax.twinx()
            ax2.plot(steps, momenta[name], color="C1", ls="--", lw=1)
            ax2.set_ylabel("momentum", fontsize=8, color="C1")
            ax2.tick_params(labelsize=7)
        if name == "ReduceLROnPlateau":
            ax2 = ax.twinx()
            ax2.plot(steps, [plateau_loss(s) for s in steps], color="C3", ls=":", lw=1)
            ax2.set_ylabel("validation loss (synthetic)", fontsize=8, color="C3")
            ax2.tick_params(labelsize=7)
    fig.suptitle("How learning-rate schedules shape training (lr per step)", y=1.0)
    fig.tight_layout()
    path = save_figure(fig, out, "schedules")
    reductions = [s for s in range(1, STEPS) if curves["ReduceLROnPlateau"][s] < curves["ReduceLROnPlateau"][s - 1]]
    print(f"ReduceLROnPlateau cut the lr after steps {[s - 1 for s in reductions]} "
          f"(the loss plateaus from step 30 and from step 70)")
    return {"steps": STEPS, "plateau_reductions": [s - 1 for s in reductions], "base_lr": BASE_LR, "curves": curves, "momentum": momenta, "settings": desc,
            "plateau_loss": [plateau_loss(s) for s in steps],
            "scale_lr": {"base_lr": BASE_LR, "base_batch": 32, "batch": 512, "lr": scaled}, "png": path}
