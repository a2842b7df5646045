"""gather / scatter_add / index_select of 1M rows x 64 float32 along dim 0: minidl vs PyTorch,
1 and 2 threads, timed in turns (ABAB) in one process (issue 15's benchmark).

    gather:       out = x.gather(0, idx)            idx (1M, 64) random rows
    scatter_add:  out = zeros.scatter_add(0, idx, x)
    index_select: out = x.index_select(0, rows)     rows (1M,) a random permutation

    OMP_PROC_BIND=close python bench/python/bench_indexing.py [--rows 1000000]

Measured (Intel(R) Xeon(R) Processor, 2 vCPUs shared with other sessions, OMP_PROC_BIND=close;
minidl/torch ratio of medians, three runs of the script; < 1 means minidl is faster):

    op            1 thread            2 threads
    gather        1.14 / 0.90 / 0.69  0.95 / 0.83 / 0.73
    scatter_add   0.68 / 0.67 / 0.86  0.66 / 0.93 / 0.62
    index_select  0.59 / 0.57 / 0.60  0.51 / 0.51 / 1.00

Absolute times swing by up to 2x between runs on this machine (index_select at 2 threads:
45 ms in two runs, 135 ms for both libraries in the third); gather is bound by one cache miss
per element (random rows), so it follows the machine's memory latency, as torch's does.

Memory: the int64 index of gather / scatter_add is 512 MB at 1M rows; the arrays are shared
between the two libraries (from_numpy), about 1.5 GB in all.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import minidl as md  # noqa: E402
from _common import machine_header, cpu_model, paired_timeit, print_table  # noqa: E402


def main():
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(machine_header())
    n, width = args.rows, 64
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, width)).astype(np.float32)
    idx = rng.integers(0, n, size=(n, width))
    rows = rng.permutation(n)
    zeros = np.zeros((n, width), np.float32)
    mx, midx, mrows, mzeros = (md.from_numpy(a) for a in (x, idx, rows, zeros))
    tx, tidx, trows, tzeros = (torch.from_numpy(a) for a in (x, idx, rows, zeros))
    assert torch.equal(torch.from_numpy(md.gather(mx, 0, midx).numpy()), torch.gather(tx, 0, tidx))
    assert torch.equal(torch.from_numpy(md.index_select(mx, 0, mrows).numpy()), torch.index_select(tx, 0, trows))

    ops = {
        "gather": (lambda: md.gather(mx, 0, midx), lambda: torch.gather(tx, 0, tidx)),
        "scatter_add": (lambda: md.scatter_add(mzeros, 0, midx, mx), lambda: torch.scatter_add(tzeros, 0, tidx, tx)),
        "index_select": (lambda: md.index_select(mx, 0, mrows), lambda: torch.index_select(tx, 0, trows)),
    }
    table = []
    for threads in (1, 2):
        md.set_num_threads(threads)
        torch.set_num_threads(threads)
        for name, (run_md, run_torch) in ops.items():
            a, b = paired_timeit([run_md, run_torch], repeat=args.repeat, warmup=1)
            table.append([name, threads, f"{a * 1e3:.1f}", f"{b * 1e3:.1f}", f"{a / b:.2f}"])
    print(f"CPU: {cpu_model()}; {n} rows x {width} float32, dim 0; median of {args.repeat} interleaved runs")
    print_table(["op", "threads", "minidl ms", "torch ms", "minidl/torch"], table)


if __name__ == "__main__":
    main()
