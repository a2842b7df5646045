"""Why do residual connections let very deep networks train?

Four CIFAR-style ResNets from ``md.models.resnet`` (three stages, BasicBlocks, BatchNorm,
width 4 to keep them fast) on the real 8x8 digits: plain (no shortcuts) and residual, at
depth 20 and 56, identical layers and initialisation otherwise. Quick mode uses the same
depths (20 and 56) with fewer training steps.

(a) Gradient norms at initialisation. One forward/backward on a batch; for each block the
norm of its two conv weights' gradient. The plain-56 net's per-block gradients are wildly
unbalanced: with BatchNorm they do not vanish towards the input -- they *grow*, by a factor
of several hundred to thousands from the last block to the first (the gradient explosion
of deep BatchNorm nets, Yang et al. 2019; He et al. 2016 likewise note that their plain nets'
degradation is not caused by vanishing gradients). The residual-56 net's stay within about
an order of magnitude, like the 20-layer nets': each shortcut adds an identity path, so the
gradient reaching a block is dominated by a term that does not pass through all the layers
above it.

(b) Training loss. All four trained with the same SGD (momentum 0.9, lr 0.05, batch 64) for
the same number of steps. The plain-56 net barely trains (its loss stays near that of
guessing, ln 10 = 2.3, far above plain-20's): the degradation problem, deeper is worse. The
residual-56 net trains far better than plain-56 and also better than plain-20. What the
numbers do *not* show on this small, easy data set: residual-56 reaching a lower loss than
residual-20 in the same step budget -- the 20-layer residual net converges a little faster
here (both go towards zero loss; the gap shrinks with more steps). Residual connections
remove the degradation of depth; whether depth then helps depends on the task.
"""
from __future__ import annotations

import math

import minidl as md
import minidl.nn.functional as F

from . import bar, print_table, pyplot, save_figure


# --8<-- [start:block-grad-norms]
def block_grad_norms(model):
    """Per block (stage order, input to output): the norm of its conv weights' gradient."""
    norms = []
    for s in range(1, model.num_stages + 1):
        for blk in getattr(model, f"layer{s}"):
            sq = blk.conv1.weight.grad.pow(2).sum() + blk.conv2.weight.grad.pow(2).sum()
            norms.append(sq.sqrt().item())
    return norms
# --8<-- [end:block-grad-norms]


def run(quick: bool = False, out: str = ".", seed: int = 0, progress: bool = True) -> dict:
    images, labels = md.datasets.load_digits()
    n = len(labels)
    depths = (20, 56)
    width, batch, lr = 4, 64, 0.05
    steps = 60 if quick else 400
    nets = [(f"{'residual' if res else 'plain'}-{d}", d, res) for d in depths for res in (False, True)]

    md.manual_seed(seed)
    probe = md.randperm(n)[:128]
    xp, yp = images[probe], labels[probe]

    results = {}
    steps_bar = bar(total=len(nets) * steps, desc=f"training {', '.join(n for n, _, _ in nets)}", unit="step",
                    enabled=progress)
    for name, depth, res in nets:
        # --8<-- [start:plain-vs-residual]
        md.manual_seed(seed)
        model = md.models.resnet(depth, num_classes=10, in_channels=1, width=width, residual=res)
        # (a) gradients at initialisation
        loss = F.cross_entropy(model(xp), yp)
        model.zero_grad()
        loss.backward()
        norms = block_grad_norms(model)
        # --8<-- [end:plain-vs-residual]
        model.zero_grad()
        # (b) training
        opt = md.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        md.manual_seed(seed + 1000)              # the same batches for every net
        perm, p, losses = md.randperm(n), 0, []
        for _ in range(steps):
            if p + batch > n:
                perm, p = md.randperm(n), 0
            idx = perm[p:p + batch]
            p += batch
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            steps_bar.update()
        k = max(1, steps // 5)
        results[name] = {"depth": depth, "residual": res, "grad_norms": norms,
                         "first_over_last": norms[0] / norms[-1],
                         "spread": max(norms) / min(norms),
                         "losses": losses, "final_loss": sum(losses[-k:]) / k}

    steps_bar.close()
    print_table(["net", "blocks", "grad first block", "grad last block", "first/last", "max/min"],
                [[nm, len(r["grad_norms"]), r["grad_norms"][0], r["grad_norms"][-1], r["first_over_last"],
                  r["spread"]] for nm, r in results.items()],
                title="(a) per-block conv-weight gradient norm at initialisation (digits 8x8, width 4, batch 128)")
    print()
    print_table(["net", "loss @ 25%", "loss @ 50%", "final loss (last 20%)"],
                [[nm, sum(r["losses"][steps // 4 - k // 2: steps // 4 + k // 2]) / max(1, 2 * (k // 2)),
                  sum(r["losses"][steps // 2 - k // 2: steps // 2 + k // 2]) / max(1, 2 * (k // 2)), r["final_loss"]]
                 for nm, r in results.items()],
                title=f"(b) training loss, SGD momentum 0.9 lr {lr:g}, batch {batch}, {steps} steps "
                      f"(chance: ln 10 = {math.log(10):.3f})")

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    colors = {"plain-20": "#f4a582", "plain-56": "#b2182b", "residual-20": "#92c5de", "residual-56": "#2166ac"}
    w = max(1, steps // 20)
    for nm, r in results.items():
        ls = r["losses"]
        smooth = [sum(ls[max(0, i - w + 1):i + 1]) / len(ls[max(0, i - w + 1):i + 1]) for i in range(len(ls))]
        ax1.plot(range(1, steps + 1), smooth, color=colors[nm], label=nm)
        ax2.semilogy(range(1, len(r["grad_norms"]) + 1), r["grad_norms"], "o-", ms=3, color=colors[nm], label=nm)
    ax1.set_xlabel("training step")
    ax1.set_ylabel(f"training loss (nats, mean of {w} steps)")
    ax1.set_yscale("log")
    ax1.set_title("Same optimizer, same steps: plain-56 degrades")
    ax1.legend()
    ax2.set_xlabel("block (input -> output)")
    ax2.set_ylabel("||dL/dW|| of the block's convs at init (log scale)")
    ax2.set_title("Per-block gradient norm at initialisation")
    ax2.legend()
    results["png"] = save_figure(fig, out, "resnet")
    results["steps"] = steps
    results["depths"] = depths
    return results
