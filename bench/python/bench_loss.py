"""Cross-entropy forward+backward at batch 4096 x 1000 classes: minidl (log-softmax fused into
the loss kernel) vs PyTorch, 1 and 2 threads.

    OMP_PROC_BIND=close python bench/python/bench_loss.py
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import minidl as md  # noqa: E402
import minidl.nn.functional as F  # noqa: E402
from _common import machine_header, print_table, timeit  # noqa: E402


def main():
    import torch
    import torch.nn.functional as TF
    print(machine_header())

    N, C = 4096, 1000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C)).astype(np.float32)
    t = rng.integers(0, C, N)
    rows = []
    for threads in (1, 2):
        md.set_num_threads(threads)
        torch.set_num_threads(threads)
        for smoothing in (0.0, 0.1):
            mx = md.tensor(x, requires_grad=True)
            mt = md.tensor(t)
            tx = torch.tensor(x, requires_grad=True)
            tt = torch.tensor(t)

            def run_md():
                mx.grad = None
                F.cross_entropy(mx, mt, label_smoothing=smoothing).backward()

            def run_torch():
                tx.grad = None
                TF.cross_entropy(tx, tt, label_smoothing=smoothing).backward()

            a = timeit(run_md, repeat=15, warmup=3)
            b = timeit(run_torch, repeat=15, warmup=3)
            rows.append([threads, smoothing, f"{a * 1e3:.2f}", f"{b * 1e3:.2f}", f"{a / b:.2f}"])
    print(f"cross-entropy forward+backward, {N} x {C} float32 (median ms)")
    print_table(["threads", "label_smoothing", "minidl ms", "torch ms", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
