"""The random samplers on 1M float32 elements (md.rand/randn/poisson and Tensor's in-place
distributions) and multinomial over 64 rows of 50k weights, vs PyTorch in the same process,
timed in turns (paired_timeit), 1 and 2 threads.

minidl's samplers draw one sequential xoshiro256** stream (the same numbers on any thread
count), so their times do not change with threads, but for the normal fill's transforms (randn,
normal_, log_normal_), which run on the threads and in SIMD lanes with the same bits on each.

    OMP_PROC_BIND=close python bench/python/bench_random.py
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.dirname(__file__))

import minidl as md  # noqa: E402
from _common import machine_header, cpu_model, paired_timeit, print_table  # noqa: E402

N = 1 << 20


def main():
    import torch  # deferred: the benchmark's reference, an optional dependency
    print(machine_header())

    xm, xt = md.empty(N), torch.empty(N)
    rates = {r: (md.full((N,), r), torch.full((N,), r)) for r in (4.0, 50.0)}
    gm, gt = md.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    logits_m = md.rand(64, 50_000, generator=gm)
    logits_t = torch.from_numpy(logits_m.numpy().copy())
    cases = [
        ("rand 1M", lambda: md.rand(N, generator=gm), lambda: torch.rand(N, generator=gt)),
        ("randn 1M", lambda: md.randn(N, generator=gm), lambda: torch.randn(N, generator=gt)),
        ("poisson rate 4 1M", lambda: md.poisson(rates[4.0][0], gm), lambda: torch.poisson(rates[4.0][1], gt)),
        ("poisson rate 50 1M", lambda: md.poisson(rates[50.0][0], gm), lambda: torch.poisson(rates[50.0][1], gt)),
        ("uniform_ 1M", lambda: xm.uniform_(generator=gm), lambda: xt.uniform_(generator=gt)),
        ("normal_ 1M", lambda: xm.normal_(generator=gm), lambda: xt.normal_(generator=gt)),
        ("bernoulli_(0.5) 1M", lambda: xm.bernoulli_(0.5, generator=gm), lambda: xt.bernoulli_(0.5, generator=gt)),
        ("random_(0, 100) 1M", lambda: xm.random_(0, 100, generator=gm), lambda: xt.random_(0, 100, generator=gt)),
        ("exponential_ 1M", lambda: xm.exponential_(generator=gm), lambda: xt.exponential_(generator=gt)),
        ("geometric_(0.3) 1M", lambda: xm.geometric_(0.3, generator=gm), lambda: xt.geometric_(0.3, generator=gt)),
        ("cauchy_ 1M", lambda: xm.cauchy_(generator=gm), lambda: xt.cauchy_(generator=gt)),
        ("log_normal_ 1M", lambda: xm.log_normal_(generator=gm), lambda: xt.log_normal_(generator=gt)),
        ("multinomial 64x50k, 1", lambda: md.multinomial(logits_m, 1, generator=gm),
         lambda: torch.multinomial(logits_t, 1, generator=gt)),
        ("multinomial 64x50k, 100 repl.", lambda: md.multinomial(logits_m, 100, True, generator=gm),
         lambda: torch.multinomial(logits_t, 100, True, generator=gt)),
    ]
    rows = []
    for threads in (1, 2):
        md.set_num_threads(threads)
        torch.set_num_threads(threads)
        for name, run_md, run_torch in cases:
            a, b = paired_timeit([run_md, run_torch], repeat=7, warmup=1)
            rows.append([threads, name, f"{a * 1e3:.2f}", f"{b * 1e3:.2f}", f"{a / b:.2f}"])
    print(f"CPU: {cpu_model()}; median of 7 paired runs (ms); torch {torch.__version__}")
    print_table(["threads", "op", "minidl ms", "torch ms", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
