"""svdvals and qr, minidl vs PyTorch (issue 15).

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_linalg.py [--repeat 7]

md.linalg.svdvals and md.linalg.qr (mode 'reduced') of float32 matrices at 64 x 64,
256 x 256 and a batch of 128 matrices of 32 x 32, and svdvals + backward at 64 x 64. PyTorch
calls LAPACK (divide-and-conquer SVD after a bidiagonal reduction, blocked Householder QR);
minidl runs one-sided Jacobi sweeps and unblocked Householder reflections
(cpp/ops/decomposition/). Jacobi costs about 10 sweeps x 3 k^2 len flops against LAPACK's
~4 n^3, without LAPACK's cache blocking, so it is expected to lose on large matrices. Each
thread count runs in its own child process; inside, the two libraries are timed in turns
(paired_timeit); the table gives medians in ms and minidl / PyTorch (< 1: minidl faster).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_header, cpu_model, paired_timeit, print_table, run_child  # noqa: E402

SHAPES = {"64x64": (64, 64), "256x256": (256, 256), "128 x (32x32)": (128, 32, 32)}


def child(threads: int, repeat: int) -> list:
    import torch
    import minidl as md
    torch.set_num_threads(threads)
    md.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for name, shape in SHAPES.items():
        a = rng.standard_normal(shape).astype(np.float32)
        am, at = md.tensor(a), torch.tensor(a)
        t_md, t_torch = paired_timeit([lambda: md.linalg.svdvals(am), lambda: torch.linalg.svdvals(at)], repeat)
        rows.append([f"svdvals {name}", threads, t_md * 1e3, t_torch * 1e3])
        t_md, t_torch = paired_timeit([lambda: md.linalg.qr(am), lambda: torch.linalg.qr(at)], repeat)
        rows.append([f"qr {name}", threads, t_md * 1e3, t_torch * 1e3])
    a = rng.standard_normal((64, 64)).astype(np.float32)
    am, at = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    t_md, t_torch = paired_timeit([lambda: md.linalg.svdvals(am).sum().backward(),
                                   lambda: torch.linalg.svdvals(at).sum().backward()], repeat)
    rows.append(["svdvals 64x64 fwd+bwd", threads, t_md * 1e3, t_torch * 1e3])
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat)))
        return
    print(machine_header(args.threads))
    os.environ.setdefault("OMP_PROC_BIND", "close")
    rows = []
    for threads in args.threads:
        out = run_child([sys.executable, __file__, "--child", str(threads), "--repeat", str(args.repeat)],
                        capture_output=True, text=True, check=True)
        rows += [r + [r[2] / r[3]] for r in json.loads(out.stdout.strip().splitlines()[-1])]
    print(f"CPU: {cpu_model()}; float32; medians of {args.repeat} paired runs")
    print_table(["case", "threads", "minidl ms", "torch ms", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
