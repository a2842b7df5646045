"""Batch size: why scale the learning rate with the batch size?

Because for the same number of epochs a batch 16x larger takes 16x fewer optimizer steps: each
step's gradient is less noisy, but not 16x larger, so with the same learning rate the model
simply travels 16x less far and is left undertrained. The linear scaling rule (Goyal et al.,
2017; ``md.optim.lr_scheduler.scale_lr``) multiplies the lr by the batch ratio, so one large
step moves the weights about as far as the 16 small steps it replaces; a short warm-up (lr
ramped from the small-batch lr to the scaled one) keeps the first, large steps from
diverging. LAMB (You et al., 2020) gets there another way: its per-layer trust ratio makes
every step move each weight tensor by lr times its own norm, whatever the gradient's scale.

Setup: the digits MLP 64-128-10 (ReLU) on scikit-learn's 8x8 digits, 1536 training images
(48 batches of 32 = 3 batches of 512, so exactly 16x fewer steps) and 261 test images,
standardized pixels, cross-entropy; every run starts from the same initial weights and trains
the same number of epochs. SGD momentum 0.9 with lr 0.02 at batch 32; at batch 512 (a) the
same lr 0.02, (b) the scaled lr 0.32 with a 2-epoch (6-step) linear warm-up from 0.02, (c)
LAMB lr 0.07 with the same warm-up.

Measured (12 epochs, mean over seeds 0-3): batch 32 reaches 97.4% test accuracy (train loss
0.018); batch 512 with the same lr falls behind, 88.9% (train loss 0.50, still falling); the
scaled lr recovers 96.6% (train loss 0.010) and LAMB 95.9%, in 36 steps instead of 576. In the
quick version (8 epochs, one seed) the same-lr gap is wider (about 80% vs 97%). LAMB here
uses a constant lr after the warm-up; trained much longer (16 epochs) at lr 0.07 its loss
starts to bounce, which is why LAMB is normally paired with a decaying schedule.
"""
from __future__ import annotations

import time

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.optim.lr_scheduler import scale_lr
from minidl.utils.data import DataLoader, TensorDataset

from . import bar, print_table, pyplot, save_figure

SMALL, LARGE = 32, 512
N_TRAIN = 1536  # 48 batches of 32 = 3 batches of 512: exactly 16x fewer steps per epoch


def digits_split(seed: int):
    """1536 training / 261 test digits (random split by ``seed``), pixels standardized with the
    training set's statistics (constant pixels: std 1), flattened to 64 features."""
    images, labels = md.datasets.load_digits(as_numpy=True)
    x = md.tensor(images.reshape(len(images), -1))
    y = md.tensor(labels)
    md.manual_seed(seed)
    order = md.randperm(len(x))
    tr, te = order[:N_TRAIN], order[N_TRAIN:]
    x_train, x_test = x[tr], x[te]
    mean, std = x_train.mean(dim=0), x_train.std(dim=0)
    std = md.where(std > 1e-6, std, md.ones_like(std))
    return (x_train - mean) / std, y[tr], (x_test - mean) / std, y[te]


def build_model():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def _evaluate(model, x, y):
    model.eval()
    with md.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(dim=1) == y).float().mean().item()
    model.train()
    return loss, acc


# --8<-- [start:train]
def train(data, batch_size, epochs, optimizer="sgd", lr=0.01, momentum=0.9, warmup_epochs=0, seed=0, cosine=False):
    """Train build_model() for ``epochs`` epochs; returns per-epoch curves and final numbers.

    Every run starts from the same initial weights and sees the same data (seeded by ``seed``);
    ``warmup_epochs``: linear warm-up (LinearLR) from lr / 16 to lr over that many epochs."""

    x_train, y_train, x_test, y_test = data
    md.manual_seed(seed)
    model = build_model()
    if optimizer == "sgd":
        opt = md.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    elif optimizer == "lamb":
        opt = md.optim.LAMB(model.parameters(), lr=lr)
    else:
        raise ValueError(optimizer)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)
    steps_per_epoch = len(loader)
    sched = None
    if cosine:
        sched = md.optim.lr_scheduler.WarmupCosineLR(opt, warmup_steps=warmup_epochs * steps_per_epoch,
                                                     total_steps=epochs * steps_per_epoch)
    elif warmup_epochs:
        sched = md.optim.lr_scheduler.LinearLR(opt, start_factor=SMALL / LARGE, end_factor=1.0,
                                               total_iters=warmup_epochs * steps_per_epoch)
    loss0, acc0 = _evaluate(model, x_test, y_test)
    tr0, _ = _evaluate(model, x_train, y_train)
    curve = {"epoch": [0], "step": [0], "train_loss": [tr0], "test_loss": [loss0], "test_acc": [acc0]}
    steps = 0
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            steps += 1
        tr_loss, _ = _evaluate(model, x_train, y_train)
        te_loss, te_acc = _evaluate(model, x_test, y_test)
        for k, v in (("epoch", epoch), ("step", steps), ("train_loss", tr_loss), ("test_loss", te_loss),
                     ("test_acc", te_acc)):
            curve[k].append(v)
    wall = time.perf_counter() - start
    return {"batch_size": batch_size, "optimizer": optimizer, "lr": lr, "warmup_epochs": warmup_epochs,
            "steps": steps, "train_loss": curve["train_loss"][-1], "test_acc": curve["test_acc"][-1],
            "test_loss": curve["test_loss"][-1], "wall_s": wall, "curve": curve}
# --8<-- [end:train]


BASE_LR = 0.02          # SGD, momentum 0.9, batch 32
LAMB_LR = 0.07          # LAMB at batch 512 (after the same warm-up)
WARMUP_EPOCHS = 2       # Goyal et al.: ramp from the small-batch lr to the scaled lr
EPOCHS_FULL, EPOCHS_QUICK = 12, 8
SEEDS_FULL = 4          # the full lab averages seeds seed .. seed+3; quick runs one seed

KEYS = ["small", "large_same_lr", "large_scaled", "large_lamb"]


def _runs(data, epochs, seed, base_lr, lamb_lr, runs_bar):
    scaled = scale_lr(base_lr, LARGE, SMALL)
    settings = {
        "small": dict(batch_size=SMALL, lr=base_lr),
        "large_same_lr": dict(batch_size=LARGE, lr=base_lr),
        "large_scaled": dict(batch_size=LARGE, lr=scaled, warmup_epochs=WARMUP_EPOCHS),
        "large_lamb": dict(batch_size=LARGE, optimizer="lamb", lr=lamb_lr, warmup_epochs=WARMUP_EPOCHS),
    }
    out = {}
    for key, kwargs in settings.items():
        out[key] = train(data, epochs=epochs, seed=seed, **kwargs)
        runs_bar.update()
    return out


def _mean(xs):
    return sum(xs) / len(xs)


def run(quick: bool = False, out: str = ".", seed: int = 0, base_lr: float = BASE_LR, lamb_lr: float = LAMB_LR,
        epochs: int | None = None, seeds: int | None = None, plot: bool = True, progress: bool = True) -> dict:
    epochs = epochs or (EPOCHS_QUICK if quick else EPOCHS_FULL)
    n_seeds = seeds or (1 if quick else SEEDS_FULL)
    seed_list = list(range(seed, seed + n_seeds))
    scaled = scale_lr(base_lr, LARGE, SMALL)
    labels = {
        "small": f"batch {SMALL}, SGD lr {base_lr:g}",
        "large_same_lr": f"batch {LARGE}, same lr {base_lr:g}",
        "large_scaled": f"batch {LARGE}, scaled lr {scaled:g} + warm-up",
        "large_lamb": f"batch {LARGE}, LAMB lr {lamb_lr:g} + warm-up",
    }
    per_seed = []
    runs_bar = bar(total=len(seed_list) * len(KEYS), desc=f"training {len(KEYS)} MLPs x {len(seed_list)} seeds",
                   unit="run", enabled=progress)
    for sd in seed_list:
        per_seed.append(_runs(digits_split(sd), epochs, sd, base_lr, lamb_lr, runs_bar))
    runs_bar.close()
    res = {}
    for k in KEYS:
        rs = [p[k] for p in per_seed]
        curve = {c: [_mean(v) for v in zip(*(r["curve"][c] for r in rs))] for c in rs[0]["curve"]}
        res[k] = {"steps": rs[0]["steps"], "train_loss": _mean([r["train_loss"] for r in rs]),
                  "test_acc": _mean([r["test_acc"] for r in rs]), "test_acc_per_seed": [r["test_acc"] for r in rs],
                  "train_loss_per_seed": [r["train_loss"] for r in rs], "wall_s": _mean([r["wall_s"] for r in rs]),
                  "lr": rs[0]["lr"], "optimizer": rs[0]["optimizer"], "batch_size": rs[0]["batch_size"],
                  "curve": curve}
    n_test = len(digits_split(seed)[3])
    seeds_txt = f"seed {seed}" if n_seeds == 1 else f"mean over seeds {seed_list[0]}-{seed_list[-1]}"
    headers = ["run", "steps", "final train loss", "test acc", "wall s"]
    if n_seeds > 1:
        headers.insert(4, "test acc per seed")
    rows = []
    for k in KEYS:
        r = res[k]
        row = [labels[k], r["steps"], r["train_loss"], r["test_acc"], f"{r['wall_s']:.3f}"]
        if n_seeds > 1:
            row.insert(4, " ".join(f"{a:.3f}" for a in r["test_acc_per_seed"]))
        rows.append(row)
    print_table(headers, rows, title=f"Digits MLP 64-128-10, {epochs} epochs for every run, {seeds_txt} "
                                     f"({N_TRAIN} training / {n_test} test images)")
    small, same, sc, lamb = (res[k] for k in KEYS)
    gap = {k: 100 * (small["test_acc"] - res[k]["test_acc"]) for k in KEYS[1:]}
    print(f"batch {LARGE} takes {small['steps'] // sc['steps']}x fewer steps; test-accuracy points behind batch "
          f"{SMALL}: same lr {gap['large_same_lr']:.1f}, scaled lr {gap['large_scaled']:.1f}, "
          f"LAMB {gap['large_lamb']:.1f}")
    out_dict = {"epochs": epochs, "seeds": seed_list, "base_lr": base_lr, "scaled_lr": scaled, "lamb_lr": lamb_lr,
                "warmup_epochs": WARMUP_EPOCHS, "runs": res, "labels": labels,
                "steps_ratio": small["steps"] / sc["steps"]}
    if plot:
        plt = pyplot()
        fig, ax = plt.subplots(1, 3, figsize=(16, 4.2))
        for k, c in zip(KEYS, ["C0", "C3", "C2", "C1"]):
            cv = res[k]["curve"]
            ax[0].plot(cv["epoch"], cv["test_acc"], "o-", ms=3, color=c, label=labels[k])
            ax[1].plot(cv["step"], cv["test_acc"], "o-", ms=3, color=c, label=labels[k])
            ax[2].plot(cv["epoch"], cv["train_loss"], "o-", ms=3, color=c, label=labels[k])
        ax[0].set_xlabel("epoch")
        ax[1].set_xlabel("optimizer step (log scale)")
        ax[1].set_xscale("symlog", linthresh=1)
        ax[2].set_xlabel("epoch")
        ax[2].set_yscale("log")
        for a in ax[:2]:
            a.set_ylabel("test accuracy")
            a.set_ylim(0, 1)
            a.grid(alpha=0.3)
        ax[2].set_ylabel("train loss (cross-entropy, nats; log scale)")
        ax[0].set_title("test accuracy vs epoch (same data seen)")
        ax[1].set_title(f"vs step: batch {LARGE} takes {out_dict['steps_ratio']:.0f}x fewer steps")
        ax[2].set_title("training loss vs epoch")
        for a in ax[:2]:
            a.legend(fontsize=7, loc="lower right")
        ax[2].legend(fontsize=7, loc="upper right")
        fig.suptitle(f"Why scale the learning rate with the batch size? ({seeds_txt})", y=1.02)
        fig.tight_layout()
        out_dict["png"] = save_figure(fig, out, "batch-size")
    return out_dict
