"""Bias-variance: why does validation error trace a U as capacity grows, and what fixes it?

Weight decay, dropout and early stopping each attack the right (high-variance) half of the U.

Data: scikit-learn's real diabetes data (442 patients), disease progression predicted from
body-mass index. Models: polynomials of growing degree (Legendre features, so the fit is
well conditioned) trained by minidl (Adam on the MSE) on only 24 patients; validation on the
other 418. Low degrees underfit (high bias: train and validation error both high), high
degrees chase the noise of 24 points (high variance: train error falls to near 0 while
validation error climbs). At the highest degree, weight decay, dropout on the features and
early stopping each pull validation error back down.
"""
from __future__ import annotations


import minidl as md
import minidl.nn.functional as F
from minidl.callbacks import EarlyStopping

from . import print_table, pyplot, save_figure


def _legendre_features(x, degree: int):
    """(N,) x in [-1, 1] -> (N, degree+1) [P_0(x), ..., P_degree(x)] by Bonnet's recursion
    (n+1) P_{n+1} = (2n+1) x P_n - n P_{n-1}."""
    feats = [md.ones_like(x), x]
    for n in range(1, degree):
        feats.append(((2 * n + 1) * x * feats[n] - n * feats[n - 1]) / (n + 1))
    return md.stack(feats[: degree + 1], dim=1)


def _data(seed: int, n_train: int):
    from sklearn.datasets import load_diabetes  # deferred: scikit-learn is optional (examples extra)
    d = load_diabetes()
    x = md.tensor(d.data[:, 2], dtype=md.float32)  # body-mass index
    y = md.tensor(d.target, dtype=md.float32)
    y = (y - y.mean()) / y.std()
    x = 2 * (x - x.min()) / (x.max() - x.min()) - 1
    md.manual_seed(seed)
    order = md.randperm(len(x))
    tr, va = order[:n_train], order[n_train:]
    return x[tr], y[tr], x[va], y[va]


def _fit(degree, data, steps, weight_decay=0.0, dropout=0.0, early_stopping=False, lr=0.05):
    """Train y ~ Phi(x) w with Adam; returns (train MSE, validation MSE, steps used)."""

    xtr, ytr, xva, yva = data
    ptr, pva = _legendre_features(xtr, degree), _legendre_features(xva, degree)
    ttr, tva = ytr, yva
    model = md.nn.Linear(degree + 1, 1, bias=False)
    md.nn.init.zeros_(model.weight)
    opt = md.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay) if weight_decay else \
        md.optim.Adam(model.parameters(), lr=lr)
    early = EarlyStopping(patience=50, restore_best=True) if early_stopping else None
    used = steps
    for step in range(steps):
        pred = model(F.dropout(ptr, dropout, training=True) if dropout else ptr).squeeze(1)
        loss = F.mse_loss(pred, ttr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if early is not None and step % 5 == 0:
            with md.no_grad():
                val = F.mse_loss(model(pva).squeeze(1), tva).item()
            if early(val, model):
                used = step
                break
    with md.no_grad():
        train = F.mse_loss(model(ptr).squeeze(1), ttr).item()
        val = F.mse_loss(model(pva).squeeze(1), tva).item()
    return train, val, used


def run(quick: bool = False, out: str = ".", seed: int = 0) -> dict:
    md.manual_seed(seed)
    n_train = 24
    data = _data(seed, n_train)
    degrees = [0, 1, 2, 4, 8, 12, 16] if quick else [0, 1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    steps = 1500 if quick else 4000
    train_err, val_err = [], []
    for d in degrees:
        tr, va, _ = _fit(d, data, steps)
        train_err.append(tr)
        val_err.append(va)
    print_table(["degree", "train MSE", "validation MSE"], [[d, t, v] for d, t, v in zip(degrees, train_err, val_err)],
                title=f"Polynomial regression on diabetes (BMI -> progression), {n_train} training patients")
    best = min(range(len(val_err)), key=val_err.__getitem__)
    top = degrees[-1]
    reg = {
        "none": _fit(top, data, steps),
        "weight decay 0.1": _fit(top, data, steps, weight_decay=0.1),
        "dropout 0.3": _fit(top, data, steps, dropout=0.3),
        "early stopping": _fit(top, data, steps, early_stopping=True),
    }
    print_table(["degree %d with" % top, "train MSE", "validation MSE", "steps"],
                [[k, v[0], v[1], v[2]] for k, v in reg.items()], title="Regularizing the highest-capacity model")

    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].plot(degrees, train_err, "o-", label="train")
    ax[0].plot(degrees, val_err, "o-", label="validation")
    ax[0].axvline(degrees[best], color="gray", ls=":", label="best capacity")
    ax[0].set_xlabel("polynomial degree (capacity)")
    ax[0].set_ylabel("MSE (standardized target)")
    ax[0].set_yscale("log")
    ax[0].set_title("bias (left) vs variance (right)")
    ax[0].legend()
    names = list(reg)
    ax[1].bar(names, [reg[k][1] for k in names], color=["C3", "C0", "C1", "C2"])
    ax[1].set_ylabel("validation MSE")
    ax[1].set_title(f"degree {top}: regularization")
    ax[1].tick_params(axis="x", rotation=20)
    path = save_figure(fig, out, "bias-variance")
    return {
        "degrees": degrees, "train": train_err, "validation": val_err, "best_degree": degrees[best],
        "regularized": {k: {"train": v[0], "validation": v[1], "steps": v[2]} for k, v in reg.items()},
        "png": path,
    }
