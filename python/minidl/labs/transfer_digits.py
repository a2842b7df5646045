"""Transfer learning on 8x8 digits: how do you transfer a network to a new task with little data?

The second part of the transfer question (lab ``transfer-digits``; the first, lab
``transfer``, fine-tunes a really pretrained language model): what transfer gives when the
source task is small and narrow.

A small CNN (the digits CNN of ``examples/train_digits_cnn.py``: three Conv-BatchNorm-ReLU
stages and a linear head) is pretrained on the real 8x8 digits 0-4 (all their training
images). The new task is digits 5-9 with only 20 labelled examples per class and a new
5-way head. Four ways to learn it, each scored on every held-out 5-9 digit (the ~800 that
were not among the 100 training examples) and averaged over several few-shot draws:

* from scratch: the same CNN, randomly initialised, trained on the 100 examples;
* frozen backbone: ``freeze`` the pretrained stages (and ``set_bn_eval`` so their BatchNorm
  keeps its running statistics), train only the new head -- a linear probe of the features;
* full fine-tune: everything trains, the backbone with a lower learning rate than the head
  (``param_groups_by_depth``: lr halves per stage going down);
* progressive unfreezing: ``ProgressiveUnfreezer`` releases the head first, then one more
  stage every few epochs (ULMFiT), with the same per-depth learning rates.

What the numbers show on these 8x8 digits (an honest negative result): transfer does *not*
beat training from scratch here. With 20 examples per class the small CNN trained from
scratch already reaches ~0.97-0.98 on the held-out 5-9 digits, which leaves no room for a
clear gain; full fine-tuning and progressive unfreezing land within about a point of it
(sometimes above, sometimes below), and the frozen backbone is consistently ~2 points
*worse*: the last stage's features, trained to tell 0-4 apart, are too specific to 0-4 for a
linear head to separate 5-9 as well as features learnt on 5-9 themselves. With fewer
examples (``run(shots=2)``) fine-tuning pulls ahead of scratch, while the frozen backbone
still trails. The textbook answer (pretrain, then freeze or fine-tune with lower
backbone lr / gradual unfreezing) pays off when the new task is hard for its data and the
source task is broad; a 5-class 8x8 source and an easy target show its limits.
"""
from __future__ import annotations

import numpy as np

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.nn.utils import ProgressiveUnfreezer, freeze, param_groups_by_depth

from . import bar, print_table, pyplot, save_figure

METHODS = ("from scratch", "frozen backbone", "full fine-tune", "progressive unfreeze")


# --8<-- [start:model]
def _model(num_classes):
    class DigitsCNN(nn.Module):
        def __init__(self):
            super().__init__()

            def block(cin, cout, pool):
                layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
                return nn.Sequential(*(layers + [nn.MaxPool2d(2)] if pool else layers))
            self.stage1 = block(1, 32, False)     # 8x8
            self.stage2 = block(32, 32, True)     # 8x8 -> 4x4
            self.stage3 = block(32, 64, True)     # 4x4 -> 2x2
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 2 * 2, num_classes))

        def forward(self, x):
            return self.head(self.stage3(self.stage2(self.stage1(x))))

        def stages(self):
            """From the head down (the order ProgressiveUnfreezer and param_groups_by_depth want)."""
            return [self.head, self.stage3, self.stage2, self.stage1]

    return DigitsCNN()
# --8<-- [end:model]


def _accuracy(model, x, y):
    model.eval()
    with md.no_grad():
        acc = (model(x).argmax(dim=1) == y).float().mean().item()
    model.train()
    return acc


def _train(model, opt, x, y, epochs, batch, on_epoch=None):
    n = len(y)
    for epoch in range(epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        model.train()
        md.nn.utils.set_bn_eval(model)   # BatchNorm in frozen stages keeps its running statistics
        perm = md.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def run(quick: bool = False, out: str = ".", seed: int = 0, shots: int = 20, progress: bool = True) -> dict:
    images, labels = md.datasets.load_digits()
    md.manual_seed(seed)
    order = md.randperm(len(labels))
    n_train = int(0.8 * len(labels))
    tr, te = order[:n_train], order[n_train:]
    xtr, ytr = images[tr], labels[tr]
    old = ytr < 5
    x_old, y_old = xtr[old], ytr[old]                     # pretraining set: digits 0-4 (training split)
    new_all = labels >= 5
    x_new, y_new = images[new_all], labels[new_all] - 5   # digits 5-9 as classes 0-4


    draws = 2 if quick else 5
    pre_epochs = 5 if quick else 15
    epochs = 20 if quick else 60
    unfreeze_every = epochs // 6
    head_lr, decay = 3e-3, 0.5

    print(f"pretraining on digits 0-4 ({pre_epochs} epochs)...", flush=True)
    md.manual_seed(seed)
    pre = _model(5)
    opt = md.optim.Adam(pre.parameters(), lr=3e-3)
    _train(pre, opt, x_old, y_old, pre_epochs, 64)
    pre_acc = _accuracy(pre, images[te][labels[te] < 5], labels[te][labels[te] < 5])
    pre_state = {k: v.clone() for k, v in pre.state_dict().items()}

    def pretrained():
        m = _model(5)
        m.load_state_dict(pre_state)
        m.head[2].reset_parameters()                      # a new 5-way head for 5-9
        return m

    accs = {m: [] for m in METHODS}
    runs = bar(total=draws * len(METHODS), desc=f"{len(METHODS)} methods x {draws} few-shot draws", unit="run",
               enabled=progress)
    for d in range(draws):
        md.manual_seed(seed * 1000 + d + 1)
        # 20 examples of each new class; the test set is every other 5-9 digit
        ynp = y_new.numpy()
        pick = []
        for c in range(5):
            idx = np.flatnonzero(ynp == c)                # indices only (NumPy as storage)
            pick.extend(idx[md.randperm(len(idx))[:shots].numpy()].tolist())
        rest = np.setdiff1d(np.arange(len(ynp)), pick)
        pick, rest = md.tensor(pick, dtype=md.int64), md.tensor(rest, dtype=md.int64)
        xs, ys, xt, yt = x_new[pick], y_new[pick], x_new[rest], y_new[rest]

        # --8<-- [start:methods]
        for method in METHODS:
            md.manual_seed(seed * 1000 + d + 7)
            if method == "from scratch":
                model = _model(5)
                opt = md.optim.Adam(model.parameters(), lr=head_lr)
                _train(model, opt, xs, ys, epochs, 25)
            elif method == "frozen backbone":
                model = pretrained()
                freeze([model.stage1, model.stage2, model.stage3])
                opt = md.optim.Adam(model.head.parameters(), lr=head_lr)
                _train(model, opt, xs, ys, epochs, 25)
            elif method == "full fine-tune":
                model = pretrained()
                opt = md.optim.Adam(param_groups_by_depth(model.stages(), head_lr, decay))
                _train(model, opt, xs, ys, epochs, 25)
            else:
                model = pretrained()
                unfreezer = ProgressiveUnfreezer(model.stages(), every=unfreeze_every)
                opt = md.optim.Adam(param_groups_by_depth(model.stages(), head_lr, decay))
                _train(model, opt, xs, ys, epochs, 25, on_epoch=unfreezer.step)
            accs[method].append(_accuracy(model, xt, yt))
            runs.update()
        # --8<-- [end:methods]
    runs.close()

    mean = {m: sum(v) / len(v) for m, v in accs.items()}
    std = {m: (sum((a - mean[m]) ** 2 for a in v) / max(1, len(v) - 1)) ** 0.5 for m, v in accs.items()}
    print(f"pretrained on digits 0-4 ({len(y_old)} images, {pre_epochs} epochs): "
          f"held-out 0-4 accuracy {pre_acc:.4f}")
    print_table(["method", "test acc (mean)", "std", "min", "max", "gain vs scratch"],
                [[m, mean[m], std[m], min(accs[m]), max(accs[m]), mean[m] - mean["from scratch"]] for m in METHODS],
                title=f"Digits 5-9 from {shots} examples per class: accuracy on the {len(yt)} held-out 5-9 digits "
                      f"({draws} few-shot draws, {epochs} epochs, Adam, head lr {head_lr:g}, "
                      f"backbone lr x{decay:g} per stage{', unfreeze every %d epochs' % unfreeze_every})")

    png = _plot(out, accs, mean, std, shots, draws)
    return {"accuracy": mean, "std": std, "runs": accs, "pretrain_accuracy": pre_acc, "shots": shots,
            "draws": draws, "epochs": epochs, "test_size": len(yt), "png": png}


def _plot(out, accs, mean, std, shots, draws):
    """Mean +- std and every draw per method, on an axis zoomed to the accuracies: the methods
    differ by a point or two, which a 0-1 axis hides (all four bars looked equal)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    colors = ["#777777", "#4c72b0", "#55a868", "#c44e52"]
    jitter = np.linspace(-0.12, 0.12, draws)
    for i, m in enumerate(METHODS):
        ax.errorbar(i, mean[m], yerr=std[m], fmt="s", ms=9, capsize=6, color=colors[i], zorder=3,
                    label="mean +- std over draws" if i == 0 else None)
        ax.plot(i + 0.3 + jitter, accs[m], "o", ms=4, color=colors[i], alpha=0.6,
                label="one few-shot draw (its own seed)" if i == 0 else None)
        ax.annotate(f"{mean[m]:.3f}", (i, mean[m]), xytext=(-12, 0), textcoords="offset points", ha="right",
                    va="center", fontsize=9)
    ax.axhline(mean["from scratch"], color=colors[0], ls=":", lw=1, label="from-scratch mean")
    values = [a for m in METHODS for a in accs[m]] + [mean[m] + s * k for m, s in std.items() for k in (-1, 1)]
    lo, hi = min(values), max(values)
    pad = max(0.005, 0.15 * (hi - lo))
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlim(-0.6, len(METHODS) - 0.3)
    ax.set_xticks(range(len(METHODS)), METHODS)
    ax.set_ylabel("test accuracy on held-out 5-9 (fraction; axis zoomed)")
    ax.set_xlabel("how the network is trained on the new task")
    ax.set_title(f"Digits 5-9 from {shots} examples/class ({draws} draws): pretrained on 0-4 vs from scratch")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, out, "transfer-digits")
