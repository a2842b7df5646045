"""Does training in 16-bit floats cost accuracy, and why does FP16 need loss scaling when BF16 does not?

The same small CNN on the real 8x8 digits (1437 train / 360 test images), the same
initialisation and batches, trained four ways: float32; BF16 autocast; FP16 autocast without
loss scaling; FP16 autocast with ``md.amp.GradScaler``. Parameters stay float32 in every run
(master weights); autocast runs the convolutions and the Linear layers on 16-bit inputs.

(a) Accuracy, speed, memory. All four reach about the same test accuracy on this net: a
16-bit rounding error (at most 2^-8 relative for BF16, 2^-11 for FP16: round to nearest with 8
and 11 significant bits) is small against the noise of SGD. Speed and peak memory are printed
as measured: on minidl's CPU path a BF16 convolution runs the bf16 GEMM (AMX tiles or
``vdpbf16ps``) only where it has at least 32 output channels and 32 input taps (the second
convolution here), the first computes in float32 inside, and the autocast casts cost time and
memory, so on a net this small the 16-bit runs need not be faster -- the table shows by how much.

(b) Underflow. FP16 has 5 exponent bits: magnitudes below 2^-24 (about 6e-8) round to zero.
Late in training most examples are classified confidently, so dloss/dlogits = (p - y) / N
(mean over a batch of N) is tiny, and it is what enters the FP16 backward pass. Taking the
trained float32 model and the whole training set as one batch, the lab counts the elements
of dloss/dlogits that are non-zero in float32 but round to zero in FP16: those examples'
contributions are lost (measured: over half of them). With the loss multiplied by 2^16
(GradScaler's default initial scale) the same values sit 16 binades higher and only the
very smallest (below 2^-40, examples already right with probability ~1) are still lost,
several times fewer; BF16 has float32's 8 exponent bits and loses none, which is why BF16
training needs no scaler. The relative error of the parameter gradients against float32 is
printed next to the counts: the lost values are the smallest ones, so it stays small here,
and BF16's (8 significant bits against FP16's 11) is the larger one -- BF16 trades
precision for range.
"""
from __future__ import annotations

import statistics
import time
import tracemalloc

import numpy as np

import minidl as md
import minidl.nn.functional as F

from . import bar, print_table, pyplot, save_figure

RUNS = ("fp32", "bf16", "fp16 (no scaler)", "fp16 + GradScaler")


def _model(md):
    nn = md.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))


# --8<-- [start:setting]
def _setting(md, run):
    """(autocast dtype or None, uses a GradScaler)"""
    return {"fp32": (None, False), "bf16": (md.bfloat16, False),
            "fp16 (no scaler)": (md.float16, False), "fp16 + GradScaler": (md.float16, True)}[run]
# --8<-- [end:setting]


# --8<-- [start:grads]
def _grads(md, model, x, y, dtype, scale):
    """Parameter gradients (float32 arrays) of one backward pass, unscaled."""
    F = md.nn.functional
    model.zero_grad()
    with md.autocast("cpu", dtype=dtype or md.bfloat16, enabled=dtype is not None):
        loss = F.cross_entropy(model(x), y)
    (loss * scale).backward()
    return np.concatenate([p.grad.numpy().ravel() / np.float32(scale) for p in model.parameters()])
# --8<-- [end:grads]


def run(quick: bool = False, out: str = ".", seed: int = 0, progress: bool = True) -> dict:
    images, labels = md.datasets.load_digits()
    n = len(labels)
    md.manual_seed(seed)
    perm = md.randperm(n).numpy()
    tr, te = perm[:1437], perm[1437:]
    x_te, y_te = images[md.tensor(te)], labels[md.tensor(te)]
    epochs, batch = (10 if quick else 30), 64

    results = {}
    epochs_bar = bar(total=len(RUNS) * epochs, desc=f"training in {', '.join(RUNS)}", unit="epoch", enabled=progress)
    for name in RUNS:
        dtype, use_scaler = _setting(md, name)
        md.manual_seed(seed)
        model = _model(md)
        opt = md.optim.Adam(model.parameters(), lr=3e-3)
        scaler = md.amp.GradScaler(init_scale=2.0 ** 16, growth_interval=100) if use_scaler else None
        rng = np.random.default_rng(seed)
        times, losses, skipped, peak = [], [], 0, 0
        for ep in range(epochs):
            order = rng.permutation(tr)
            for i in range(0, len(order) - batch + 1, batch):
                idx = md.tensor(order[i:i + batch])
                xb, yb = images[idx], labels[idx]
                trace = ep == 0 and i == batch  # one step traced for peak memory (tracing slows it)
                if trace:
                    tracemalloc.start()
                t0 = time.perf_counter()
                # --8<-- [start:train-step]
                with md.autocast("cpu", dtype=dtype or md.bfloat16, enabled=dtype is not None):
                    loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad()
                if scaler is None:
                    loss.backward()
                    opt.step()
                else:
                    scaler.scale(loss).backward()
                    before = scaler.get_scale()
                    scaler.step(opt)
                    scaler.update()
                    skipped += scaler.get_scale() < before
                # --8<-- [end:train-step]
                dt = time.perf_counter() - t0
                if trace:
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                else:
                    times.append(dt)
                losses.append(loss.item())
            epochs_bar.update()
        with md.no_grad(), md.autocast("cpu", dtype=dtype or md.bfloat16, enabled=dtype is not None):
            pred = model(x_te).float().numpy().argmax(1)
        results[name] = {"accuracy": float((pred == y_te.numpy()).mean()), "ms_per_step": 1e3 * statistics.median(times),
                         "peak_kib": peak / 1024, "losses": losses, "skipped_steps": skipped,
                         "final_scale": scaler.get_scale() if scaler else None, "model": model}

    epochs_bar.close()
    print_table(["run", "test accuracy", "ms / step (median)", "peak memory of a step (KiB)", "skipped steps",
                 "final scale"],
                [[k, r["accuracy"], r["ms_per_step"], r["peak_kib"], r["skipped_steps"] if k.endswith("Scaler") else "-",
                  r["final_scale"] if r["final_scale"] else "-"] for k, r in results.items()],
                title=f"(a) digits CNN, Adam lr 3e-3, batch {batch}, {epochs} epochs, same seed "
                      f"(float32 master weights in every run)")

    # (b) underflow: gradients of the trained float32 model on one batch
    trained = results["fp32"]["model"]
    idx = md.tensor(tr)  # the whole training set as one batch (mean loss: each sample weighs 1/1437)
    xb, yb = images[idx], labels[idx]
    g32 = _grads(md, trained, xb, yb, None, 1.0)
    # the gradient entering the 16-bit backward pass: dloss/dlogits = (softmax - onehot) / N,
    # computed in float32 by the loss and cast to the autocast dtype by the cast node's backward
    with md.no_grad():
        p = F.softmax(trained(xb), dim=1).numpy().astype(np.float64)
    dlogits = ((p - np.eye(10)[yb.numpy()]) / len(tr)).astype(np.float32)
    nz = dlogits != 0
    under = {}
    for label, dtype, scale in (("fp16, no scaling", md.float16, 1.0), ("fp16, loss x 2^16", md.float16, 2.0 ** 16),
                                ("bf16, no scaling", md.bfloat16, 1.0)):
        g16 = md.tensor(dlogits * np.float32(scale)).to(dtype).float().numpy()
        gp = _grads(md, trained, xb, yb, dtype, scale)
        under[label] = {"lost": int(((g16 == 0) & nz).sum()), "of": int(nz.sum()),
                        "param_grad_rel_error": float(np.linalg.norm(gp - g32) / np.linalg.norm(g32))}
    print()
    print_table(["backward pass", "dloss/dlogits lost (-> 0)", "of", "fraction", "param-grad error vs fp32"],
                [[k, v["lost"], v["of"], v["lost"] / max(1, v["of"]), v["param_grad_rel_error"]]
                 for k, v in under.items()],
                title=f"(b) trained model, one batch of all {len(tr)} training images (mean loss): gradient "
                      "elements that underflow to zero, and ||g - g_fp32|| / ||g_fp32||")

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    colors = {"fp32": "#333333", "bf16": "#2166ac", "fp16 (no scaler)": "#b2182b", "fp16 + GradScaler": "#f4a582"}
    w = 10
    for k, r in results.items():
        ls = r["losses"]
        sm = [sum(ls[max(0, i - w + 1):i + 1]) / len(ls[max(0, i - w + 1):i + 1]) for i in range(len(ls))]
        ax1.plot(sm, color=colors[k], label=f"{k} (acc {r['accuracy']:.3f})")
    ax1.set_yscale("log")
    ax1.set_xlabel("training step")
    ax1.set_ylabel(f"training loss (nats, mean of {w} steps)")
    ax1.set_title("Same net, same batches, four precisions")
    ax1.legend()
    mag = np.log2(np.abs(dlogits[nz]).astype(np.float64))
    ax2.hist(mag, bins=60, color="#777777", label="dloss/dlogits (fp32)")
    ax2.hist(mag + 16, bins=60, color="#f4a582", alpha=0.6, label="x 2^16 (scaled loss)")
    ax2.axvline(-24, color="#b2182b", ls="--", label="fp16 smallest subnormal 2^-24")
    ax2.set_xlabel("log2 |gradient|")
    ax2.set_ylabel("gradient elements per bin (log scale)")
    ax2.set_yscale("log")
    ax2.set_title("Gradients of the trained model: what FP16 cannot hold")
    ax2.legend(fontsize=8, loc="upper left")
    for r in results.values():
        del r["model"]
    results["underflow"] = under
    results["epochs"] = epochs
    results["png"] = save_figure(fig, out, "mixed-precision")
    return results
