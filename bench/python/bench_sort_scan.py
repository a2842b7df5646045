"""sort, topk (k = 10 and 1000) over 64 rows of 50k logits and cumsum of 16M floats: minidl vs
PyTorch in the same process, timed in turns (paired_timeit), 1 and 2 threads.

    OMP_PROC_BIND=close python bench/python/bench_sort_scan.py
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import minidl as md  # noqa: E402
from _common import machine_header, cpu_model, paired_timeit, print_table  # noqa: E402


def main():
    import torch  # deferred: the benchmark's reference, an optional dependency
    print(machine_header())

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((64, 50_000)).astype(np.float32)
    flat = rng.standard_normal(16 * 2**20).astype(np.float32)
    lm, lt = md.tensor(logits), torch.tensor(logits)
    fm, ft = md.tensor(flat), torch.tensor(flat)
    cases = [
        ("sort 64x50k dim=-1", lambda: md.sort(lm), lambda: torch.sort(lt)),
        ("topk k=10 64x50k", lambda: md.topk(lm, 10), lambda: torch.topk(lt, 10)),
        ("topk k=1000 64x50k", lambda: md.topk(lm, 1000), lambda: torch.topk(lt, 1000)),
        ("cumsum 16M", lambda: md.cumsum(fm, 0), lambda: torch.cumsum(ft, 0)),
    ]
    rows = []
    for threads in (1, 2):
        md.set_num_threads(threads)
        torch.set_num_threads(threads)
        for name, run_md, run_torch in cases:
            a, b = paired_timeit([run_md, run_torch], repeat=11, warmup=2)
            rows.append([threads, name, f"{a * 1e3:.2f}", f"{b * 1e3:.2f}", f"{a / b:.2f}"])
    print(f"CPU: {cpu_model()}; median of 11 paired runs (ms); torch {torch.__version__}")
    print_table(["threads", "op", "minidl ms", "torch ms", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
