"""What does a KV cache buy in autoregressive generation, and what does it cost?

The question: a GPT generates one token at a time, and the token at position L depends on all L
tokens before it. Without a cache every step runs the whole prefix through the model again;
with one (``GPT.forward_with_cache``) each step runs only the new token, against the keys and
values the earlier steps stored. How do the time and the work per token grow with L?

The answer, measured (full mode, GPT d_model 128, 4 layers, batch 1, one thread of the
project's 2-core Xeon; medians of 7 alternating runs):

    context L              16     64    256    512
    ms/token, cache      0.79   0.86   1.03   1.66
    ms/token, no cache   1.09   1.73   6.04   12.8
    speed-up              1.4    2.0    5.8    7.7
    work ratio             16     64    256    512

- Without the cache the time per token grows about linearly in L (1.1 ms at 16, 12.8 ms at
  512: the whole prefix runs again), so a whole sequence costs O(L^2) time. With it the time
  is almost flat: ~0.8 ms up to L = 128, rising only as the attention over L cached keys
  starts to count.
- The work ratio is exactly L (the full forward computes L positions, each with attention
  over L keys: the masked L x L score matrix is computed whole), but the speed-up is far
  smaller: 1.4x at L = 16, 7.7x at 512. At L = 16 the full forward does 16x the work of the
  cached step (26 vs 1.6 MFLOP) in only 1.4x the time, so most of the cached step's ~0.8 ms
  is not arithmetic but the fixed cost of its ~80 small op calls (Python, dispatch,
  allocation). Generating one sequence at a time is latency-bound: the cache removes the
  work, not the per-call overhead (batching sequences, or fusing the block, would).
- The price: 2 n L E floats per sequence, 2 MiB at L = 512 here (GPT-2 small, n = 12,
  E = 768, at L = 1024: 72 MiB per sequence), and a context capped at block_size (the
  positions are learned: ``generate`` slides the window and then recomputes it every step).

Work per new token at context length L (multiply-adds x 2, E = d_model, F = feed-forward
width, n = layers, V = vocabulary):

    without cache   L (n (4E^2 + 2EF) + VE) + 2 n L^2 E      the prefix again, and L x L attention
    with cache        n (4E^2 + 2EF) + VE   + 2 n L E        one token, attention over L keys

so the cache turns O(L^2) work per token (O(L^3) for a whole sequence) into O(L), at the price
of 2 n L E stored floats per sequence (the keys and values of every layer). The logits are the
same (the lab checks the cached step against the full forward at every L).

Plots (``kv-cache.png``): time per new token, tokens/s and work per token against L, with and
without the cache. Quick mode uses a smaller model and context.
"""
from __future__ import annotations

import time

import numpy as np

import minidl as md

from . import bar, print_table, pyplot, save_figure


# --8<-- [start:work-per-token]
def work_per_token(length, cached, d_model, ff, layers, vocab):
    """FLOPs (2 per multiply-add) of the step that produces the token after ``length`` tokens:
    the formula of the module docstring, counting the logits of every position run."""
    tokens = 1 if cached else length
    dense = tokens * (layers * (4 * d_model ** 2 + 2 * d_model * ff) + vocab * d_model)
    attention = 2 * layers * tokens * length * d_model  # q.k and p.v over `length` keys
    return 2 * (dense + attention)
# --8<-- [end:work-per-token]


def _median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(quick: bool = False, out: str = ".", seed: int = 0, progress: bool = True) -> dict:
    cfg = (dict(vocab=64, d_model=128, layers=2, nhead=4, block=256, repeat=5) if quick else
           dict(vocab=103, d_model=128, layers=4, nhead=4, block=512, repeat=7))
    lengths = [L for L in (16, 32, 64, 128, 256, 512) if L <= cfg["block"]]
    ff = 4 * cfg["d_model"]
    md.manual_seed(seed)
    model = md.models.GPT(cfg["vocab"], cfg["block"], d_model=cfg["d_model"], nhead=cfg["nhead"],
                          num_layers=cfg["layers"]).eval()
    ids = md.tensor(np.random.default_rng(seed).integers(0, cfg["vocab"], (1, cfg["block"])))
    res = {"lengths": lengths, "config": cfg, "cache_ms": [], "full_ms": [], "max_abs_diff": [],
           "cache_flops": [], "full_flops": [], "cache_bytes": []}
    with md.no_grad():
        for L in bar(lengths, desc="time per token at each context length", unit="length", enabled=progress):
            # --8<-- [start:time-per-token]
            prefix, past = ids[:, :L], model.forward_with_cache(ids[:, :L - 1])[1]
            full = model(prefix)[:, -1]
            step = model.forward_with_cache(prefix[:, -1:], past)[0][:, -1]
            res["max_abs_diff"].append((full - step).abs().max().item())
            model(prefix)  # untimed warm-up at this length (allocator, caches)
            # alternate the two so both see the same machine load
            cache_t, full_t = [], []
            for _ in range(cfg["repeat"]):
                cache_t.append(_median_time(lambda: model.forward_with_cache(prefix[:, -1:], past), 1))
                full_t.append(_median_time(lambda: model(prefix), 1))
            res["cache_ms"].append(1e3 * float(np.median(cache_t)))
            res["full_ms"].append(1e3 * float(np.median(full_t)))
            # --8<-- [end:time-per-token]
            for key, cached in (("cache_flops", True), ("full_flops", False)):
                res[key].append(work_per_token(L, cached, cfg["d_model"], ff, cfg["layers"], cfg["vocab"]))
            res["cache_bytes"].append(2 * cfg["layers"] * L * cfg["d_model"] * 4)
    res["speedup"] = [f / c for f, c in zip(res["full_ms"], res["cache_ms"])]
    res["work_ratio"] = [f / c for f, c in zip(res["full_flops"], res["cache_flops"])]

    print_table(["context L", "ms/token cache", "ms/token no cache", "speed-up", "tokens/s cache",
                 "tokens/s no cache", "MFLOP/token cache", "MFLOP/token no cache", "work ratio", "cache KiB",
                 "max |logit diff|"],
                [[L, res["cache_ms"][i], res["full_ms"][i], res["speedup"][i], 1e3 / res["cache_ms"][i],
                  1e3 / res["full_ms"][i], res["cache_flops"][i] / 1e6, res["full_flops"][i] / 1e6,
                  res["work_ratio"][i], res["cache_bytes"][i] / 1024, res["max_abs_diff"][i]]
                 for i, L in enumerate(lengths)],
                title=f"GPT d_model {cfg['d_model']}, {cfg['layers']} layers, vocab {cfg['vocab']}, batch 1, "
                      f"{md.get_num_threads()} thread(s); median of {cfg['repeat']} alternating runs")

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key, flops, label, style in (("cache_ms", "cache_flops", "with KV cache", "o-"),
                                     ("full_ms", "full_flops", "without (recompute prefix)", "s--")):
        axes[0].semilogy(lengths, res[key], style, label=label)
        axes[1].semilogy(lengths, [1e3 / t for t in res[key]], style, label=label)
        axes[2].semilogy(lengths, res[flops], style, label=label)
    for ax, title, ylabel in zip(axes, ("time per new token", "generation speed", "work per new token"),
                                 ("ms per token", "tokens / s", "FLOPs per token")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [str(L) for L in lengths])
        ax.set_xticks([], minor=True)
        ax.set_xlabel("context length L (log scale)")
        ax.set_ylabel(ylabel + " (log scale)")
        ax.set_title(title)
        ax.legend()
    res["png"] = save_figure(fig, out, "kv-cache")
    return res
