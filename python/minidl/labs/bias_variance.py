"""Bias-variance: why does validation error trace a U as capacity grows, and what fixes it?

Weight decay, dropout and early stopping each attack the right (high-variance) half of the U.

Data: scikit-learn's real diabetes data (442 patients), disease progression predicted from
body-mass index. Models: polynomials of growing degree (Legendre features, so the fit is
well conditioned) trained by minidl (Adam on the MSE) on only 24 patients; validation on the
other 418. One split of 24 patients is noisy, so the sweep runs on 100 random resamples (8 in
quick mode), side by side in one batched fit, and the tables and the figure show medians.
Low degrees underfit (high bias: train and validation error both high), high degrees chase
the noise of 24 points (high variance: train error keeps falling while validation error
climbs, from 0.70 at degree 1 to ~30 at degree 20 in full mode). At the highest degree, weight decay, dropout on the features and
early stopping each pull validation error back down.
"""
from __future__ import annotations

from statistics import median

import numpy as np

import minidl as md
import minidl.nn.functional as F
from minidl.callbacks import EarlyStopping

from . import bar, print_table, pyplot, save_figure


def _legendre_features(x, degree: int):
    """(..., N) x in [-1, 1] -> (..., N, degree+1) [P_0(x), ..., P_degree(x)] by Bonnet's recursion
    (n+1) P_{n+1} = (2n+1) x P_n - n P_{n-1}."""
    feats = [md.ones_like(x), x]
    for n in range(1, degree):
        feats.append(((2 * n + 1) * x * feats[n] - n * feats[n - 1]) / (n + 1))
    return md.stack(feats[: degree + 1], dim=-1)


def _resamples(seed: int, n_train: int, count: int):
    """``count`` random splits of the 442 patients: (x_train, y_train, x_val, y_val), each (count, n)."""
    from sklearn.datasets import load_diabetes  # deferred: scikit-learn is optional (examples extra)
    d = load_diabetes()
    x = md.tensor(d.data[:, 2], dtype=md.float32)  # body-mass index
    y = md.tensor(d.target, dtype=md.float32)
    y = (y - y.mean()) / y.std()
    x = 2 * (x - x.min()) / (x.max() - x.min()) - 1
    splits = []
    for r in range(count):
        md.manual_seed(seed * 1000 + r)
        splits.append(md.randperm(len(x)))
    order = md.stack(splits)                               # (count, 442)
    tr, va = order[:, :n_train], order[:, n_train:]
    return x[tr], y[tr], x[va], y[va]


# --8<-- [start:polynomials]
class Polynomials(md.nn.Module):
    """One polynomial per resample, fitted side by side: weights (R, degree+1, 1).

    features (R, N, degree+1) -> predictions (R, N). Adam and AdamW update each weight on its
    own, and the loss is a sum of per-resample MSEs, so this is R independent fits in one
    batched matmul per step (100 resamples cost about what one fit costs: Python overhead
    dominates these tiny problems).
    """

    def __init__(self, resamples: int, degree: int):
        super().__init__()
        self.weight = md.nn.Parameter(md.zeros(resamples, degree + 1, 1))

    def forward(self, features):
        return (features @ self.weight).squeeze(2)
# --8<-- [end:polynomials]


def _mse(pred, target):
    """Mean squared error per resample: (R, N), (R, N) -> (R,)."""
    return ((pred - target) ** 2).mean(dim=1)


# --8<-- [start:fit]
def _fit(degree, data, steps, weight_decay=0.0, dropout=0.0, early_stopping=False, lr=0.05):
    """Train y ~ Phi(x) w by Adam on every resample in ``data``; returns (train MSEs, validation
    MSEs, steps used), the MSEs as lists with one entry per resample."""
    xtr, ytr, xva, yva = data
    ptr, pva = _legendre_features(xtr, degree), _legendre_features(xva, degree)
    model = Polynomials(len(xtr), degree)
    opt = md.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay) if weight_decay else \
        md.optim.Adam(model.parameters(), lr=lr)
    early = EarlyStopping(patience=50, restore_best=True) if early_stopping else None
    used = steps
    for step in range(steps):
        pred = model(F.dropout(ptr, dropout, training=True) if dropout else ptr)
        loss = _mse(pred, ytr).sum()       # a sum: each resample's gradient is its own MSE's
        opt.zero_grad()
        loss.backward()
        opt.step()
        if early is not None and step % 5 == 0:
            with md.no_grad():
                val = _mse(model(pva), yva).sum().item()
            if early(val, model):
                used = step
                break
    with md.no_grad():
        return _mse(model(ptr), ytr).tolist(), _mse(model(pva), yva).tolist(), used
# --8<-- [end:fit]


RESAMPLES_QUICK, RESAMPLES_FULL = 8, 100


def run(quick: bool = False, out: str = ".", seed: int = 0, progress: bool = True) -> dict:
    n_train = 24
    resamples = RESAMPLES_QUICK if quick else RESAMPLES_FULL
    data = _resamples(seed, n_train, resamples)
    degrees = [0, 1, 2, 4, 8, 12, 16] if quick else [0, 1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    steps = 1500 if quick else 4000
    top = degrees[-1]
    fits = bar(total=len(degrees) + 2 + resamples, unit="fit", enabled=progress,
               desc=f"fitting degrees {degrees[0]}..{top} on {resamples} resamples of {n_train} patients")
    train_runs, val_runs = [], []
    for d in degrees:
        tr, va, _ = _fit(d, data, steps)
        train_runs.append(tr)
        val_runs.append(va)
        fits.update()
    # the curves are medians over resamples: one split of 24 patients is too noisy to show the U
    # (seed 0, one split: validation MSE 4.07 at degree 6, 1.04 at 8, 8.4 at 12), and a mean is
    # ruled by the one resample in 30 whose polynomial explodes between its training points
    # (degree 4, full mode: median 1.3, worst of the 100 resamples 119)
    train_err, val_err = [median(r) for r in train_runs], [median(r) for r in val_runs]
    print_table(["degree", "train MSE", "validation MSE", "validation MSE (min..max over resamples)"],
                [[d, t, v, f"{min(r):.3f}..{max(r):.3f}"] for d, t, v, r in zip(degrees, train_err, val_err, val_runs)],
                title=f"Polynomial regression on diabetes (BMI -> progression), {n_train} training patients, "
                      f"median over {resamples} random resamples")
    best = min(range(len(val_err)), key=val_err.__getitem__)
    reg_runs = {"none": (train_runs[-1], val_runs[-1], steps)}
    for name, kwargs in (("weight decay 0.1", {"weight_decay": 0.1}), ("dropout 0.3", {"dropout": 0.3})):
        reg_runs[name] = _fit(top, data, steps, **kwargs)
        fits.update()
    # early stopping stops each resample at its own step: one fit per resample
    early = []
    for r in range(resamples):
        early.append(_fit(top, [t[r:r + 1] for t in data], steps, early_stopping=True))
        fits.update()
    fits.close()
    reg_runs["early stopping"] = ([e[0][0] for e in early], [e[1][0] for e in early],
                                  int(median([e[2] for e in early])))
    reg = {k: (median(v[0]), median(v[1]), v[2]) for k, v in reg_runs.items()}
    print_table(["degree %d with" % top, "train MSE", "validation MSE", "steps"],
                [[k, v[0], v[1], v[2]] for k, v in reg.items()] +
                [[f"(best plain: degree {degrees[best]})", train_err[best], val_err[best], steps]],
                title=f"Regularizing the highest-capacity model (median over {resamples} resamples)")
    path = _plot(out, degrees, train_runs, val_runs, best, reg_runs, resamples, n_train)
    return {
        "degrees": degrees, "train": train_err, "validation": val_err, "best_degree": degrees[best],
        "validation_runs": val_runs, "resamples": resamples,
        "regularized": {k: {"train": v[0], "validation": v[1], "steps": v[2]} for k, v in reg.items()},
        "png": path,
    }


def _plot(out, degrees, train_runs, val_runs, best, reg_runs, resamples, n_train):
    """Left: train and validation MSE against degree (median and middle half of the resamples);
    right: validation MSE of the top degree with each regularizer, beside the best plain degree."""
    plt = pyplot()
    np_train, np_val = np.array(train_runs), np.array(val_runs)   # (degrees, resamples)
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.3))
    for runs, color, label in ((np_train, "C0", "train"), (np_val, "C1", "validation")):
        ax[0].plot(degrees, np.median(runs, axis=1), "o-", color=color,
                   label=f"{label} (median of {resamples} resamples)")
        lo, hi = np.percentile(runs, [25, 75], axis=1)
        ax[0].fill_between(degrees, lo, hi, color=color, alpha=0.2, label=f"{label}: middle 50% of resamples")
    ax[0].axvline(degrees[best], color="gray", ls=":", label=f"best capacity (degree {degrees[best]})")
    ax[0].set_xticks(degrees)
    ax[0].set_xlabel("polynomial degree (capacity, number of coefficients - 1)")
    ax[0].set_ylabel("MSE (standardized target, log scale)")
    ax[0].set_yscale("log")
    ax[0].set_title(f"Bias (left) vs variance (right): {n_train} training patients")
    ax[0].legend(fontsize=8)

    top = degrees[-1]
    bars = {f"best plain\n(degree {degrees[best]})": val_runs[best],
            **{f"degree {top}\n{k}" if k == "none" else f"degree {top}\n+ {k}": v[1] for k, v in reg_runs.items()}}
    names = list(bars)
    colors = ["C7", "C3", "C0", "C1", "C2"]
    ax[1].bar(names, [median(bars[k]) for k in names], color=colors, alpha=0.8,
              label=f"median of {resamples} resamples")
    for i, k in enumerate(names):
        ax[1].plot([i] * len(bars[k]), bars[k], "k.", alpha=0.4, ms=4, label="one resample" if i == 0 else None)
    ax[1].set_yscale("log")
    ax[1].set_ylabel("validation MSE (standardized target, log scale)")
    ax[1].set_xlabel(f"model (each trained on {n_train} patients, validated on the others)")
    ax[1].set_title(f"Degree {top} regularized vs the best plain model")
    ax[1].tick_params(axis="x", labelsize=8)
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, "bias-variance")
