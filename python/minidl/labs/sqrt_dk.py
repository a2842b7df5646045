"""Why does attention divide the scores by sqrt(d_k)?

The question: scaled dot-product attention is softmax(Q K^T / sqrt(d_k)) V. What goes wrong
without the 1/sqrt(d_k)?

The answer, measured: take queries and keys with independent unit-variance entries (what a
LayerNorm-ed input through an initialised projection gives). A score q . k is a sum of d_k
products of variance 1, so its variance is d_k (measured: ~d_k within a few percent, 16 to
1024); dividing by sqrt(d_k) brings it back to 1 at every width. Over S = 64 keys:

- Entropy of the attention row. Scaled, the logits have variance 1 whatever d_k is, so the
  entropy stays at ~3.7 nats (uniform would be ln 64 = 4.16): each query mixes many keys.
  Unscaled, the logits spread as sqrt(d_k): the largest one wins outright, the entropy falls
  (~1.3 nats at d_k = 16, ~0.1 at 1024, mean max probability 0.95): the softmax saturates
  to a one-hot argmax.
- Gradient through the softmax. dL/ds = p * (g - p . g) (the Jacobian diag(p) - p p^T times
  the upstream gradient g). For a one-hot p both terms cancel, so the gradient reaching the
  scores, and through them W_Q and W_K, vanishes. Scaled, the typical (median) row's
  gradient norm is ~0.17 at every d_k. Unscaled it falls from ~0.23 at d_k = 16 to ~1e-4 at
  1024, about 1000x below the scaled one, and about half of the rows have a gradient below
  1e-3. (The mean falls less, ~0.26 to ~0.05: it is carried by the few rows whose two top
  scores happen to be close.)

So without the scale, wider heads start training with attention that is already hard
argmax and barely learns where to look; the scale keeps the initial logits at unit variance
(the same reasoning as Xavier/He initialisation). Vaswani et al. 2017, section 3.2.1, footnote 4.

Plots (``sqrt-dk.png``): variance, entropy and gradient norm against d_k, with and without
the scale. Quick mode uses fewer query rows (same d_k values).
"""
from __future__ import annotations

import math

import numpy as np

import minidl as md
import minidl.nn.functional as F

from . import bar, print_table, pyplot, save_figure

D_KS = (16, 32, 64, 128, 256, 512, 1024)


# --8<-- [start:measure]
def measure(d_k, scaled, n_queries, n_keys, seed):
    """Variance of the scores, mean softmax entropy (nats), mean max probability, and the
    per-row norm of dL/d(scores) for L = sum(softmax(scores) * g), g ~ N(0, 1): its median
    (the typical row), its mean, and the fraction of rows where it is below 1e-3 ("dead")."""

    md.manual_seed(seed)
    q = md.randn(n_queries, d_k)
    k = md.randn(n_keys, d_k)
    scores = (q @ k.T) * (1.0 / math.sqrt(d_k) if scaled else 1.0)
    scores = scores.detach().requires_grad_()
    p = F.softmax(scores, dim=-1)
    g = md.randn(n_queries, n_keys)
    (p * g).sum().backward()
    entropy = -(p * F.log_softmax(scores, dim=-1)).sum(dim=-1).mean().item()
    rows = scores.grad.pow(2).sum(dim=-1).sqrt().numpy()
    return {"var": scores.detach().var().item(), "entropy": entropy,
            "max_prob": p.detach().max(dim=-1)[0].mean().item(),
            "grad_norm": float(np.median(rows)), "grad_norm_mean": float(rows.mean()),
            "dead_rows": float((rows < 1e-3).mean())}
# --8<-- [end:measure]


def run(quick: bool = False, out: str = ".", seed: int = 0, progress: bool = True) -> dict:
    n_queries, n_keys = (256 if quick else 2048), 64
    results = {"d_k": list(D_KS), "n_keys": n_keys, "scaled": {}, "unscaled": {}}
    for mode in bar(("scaled", "unscaled"), desc="scores with and without 1/sqrt(d_k)", unit="mode", enabled=progress):
        rows = [measure(d, mode == "scaled", n_queries, n_keys, seed + i) for i, d in enumerate(D_KS)]
        results[mode] = {key: [r[key] for r in rows] for key in rows[0]}

    s, u = results["scaled"], results["unscaled"]
    print_table(["d_k", "var scaled", "var unscaled", "entropy scaled", "entropy unscaled", "max p unscaled",
                 "median |dL/ds| scaled", "unscaled", "mean |dL/ds| unscaled", "dead rows unscaled"],
                [[d, s["var"][i], u["var"][i], s["entropy"][i], u["entropy"][i], u["max_prob"][i],
                  s["grad_norm"][i], u["grad_norm"][i], u["grad_norm_mean"][i], u["dead_rows"][i]]
                 for i, d in enumerate(D_KS)],
                title=f"random unit-variance Q ({n_queries} rows), K ({n_keys} keys); "
                      f"uniform entropy ln {n_keys} = {math.log(n_keys):.3f}")

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for mode, style in (("scaled", "o-"), ("unscaled", "s--")):
        lab = "q.k / sqrt(d_k)" if mode == "scaled" else "q.k (no scale)"
        axes[0].loglog(D_KS, results[mode]["var"], style, label=lab)
        axes[1].semilogx(D_KS, results[mode]["entropy"], style, label=lab)
        axes[2].loglog(D_KS, results[mode]["grad_norm"], style, label=lab)
    axes[1].axhline(math.log(n_keys), color="grey", lw=0.8, ls=":", label=f"uniform (ln {n_keys})")
    for ax, title, ylabel in zip(axes, ("variance of the scores", "softmax entropy (nats)",
                                        "median norm of dL/d(scores) per row"),
                                 ("Var(score) (log scale)", "entropy of the attention row (nats)",
                                  "||dL/d(scores)|| per row (log scale)")):
        ax.set_xlabel("key/query dimension d_k (log scale)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend()
    results["png"] = save_figure(fig, out, "sqrt-dk")
    return results
