"""Softmax, log-softmax and logsumexp over a dim that is not the last one, and cross-entropy
on (N, C, H, W) logits: minidl vs PyTorch, timed in turns (paired_timeit), forward alone and
forward + backward. 1 thread is timed in CPU time of the calling thread (time.thread_time:
on a shared 2-core VM other tenants' load does not count); 2 threads in wall time
(indicative only).

    OMP_PROC_BIND=close PYTHONPATH=python python bench/python/bench_softmax.py [--repeat 31] [--threads 1 2]

The (32, 64, 32, 32) rows are NCHW feature maps, softmax over the channels (inner = H W =
1024); (16, 21, 64, 64) is a segmentation map of 21 classes (Pascal VOC); the dim -1 row
is the contiguous-row case for comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from _common import machine_header, paired_timeit, print_table, run_child  # noqa: E402

# (label, op, shape, dim)
CASES = [
    ("softmax", "softmax", (1024, 1024), 0),
    ("softmax", "softmax", (32, 64, 32, 32), 1),
    ("log_softmax", "log_softmax", (32, 64, 32, 32), 1),
    ("softmax", "softmax", (1024, 1024), -1),
    ("logsumexp", "logsumexp", (1024, 1024), 1),
    ("logsumexp", "logsumexp", (1024, 1024), 0),
    ("cross_entropy", "cross_entropy", (16, 21, 64, 64), 1),
]


def worker(threads: int, repeat: int) -> list:
    import torch
    import torch.nn.functional as TF

    import minidl as md
    import minidl.nn.functional as F
    md.set_num_threads(threads)
    torch.set_num_threads(threads)
    clock = time.thread_time if threads == 1 else time.perf_counter
    rng = np.random.default_rng(0)
    rows = []
    for label, op, shape, dim in CASES:
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        if op == "cross_entropy":
            t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
            mt, tt = md.tensor(t), torch.tensor(t)
            f_md, f_t = (lambda: F.cross_entropy(mx, mt)), (lambda: TF.cross_entropy(tx, tt))
            g = None
        else:
            f_md = {"softmax": lambda: F.softmax(mx, dim), "log_softmax": lambda: F.log_softmax(mx, dim),
                    "logsumexp": lambda: md.logsumexp(mx, dim)}[op]
            f_t = {"softmax": lambda: TF.softmax(tx, dim), "log_softmax": lambda: TF.log_softmax(tx, dim),
                   "logsumexp": lambda: torch.logsumexp(tx, dim)}[op]
            g = rng.standard_normal(f_t().shape).astype(np.float32)
        gm, gt = (md.tensor(g), torch.tensor(g)) if g is not None else (None, None)
        np.testing.assert_allclose(f_md().detach().numpy(), f_t().detach().numpy(), rtol=1e-4, atol=1e-5)

        def fb_md():
            mx.grad = None
            f_md().backward(gm)

        def fb_t():
            tx.grad = None
            f_t().backward(gt)
        with md.no_grad(), torch.no_grad():
            t_md, t_t = paired_timeit([f_md, f_t], repeat=repeat, warmup=2, clock=clock)
        tb_md, tb_t = paired_timeit([fb_md, fb_t], repeat=repeat, warmup=2, clock=clock)
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-5)
        rows.append([threads, label, "x".join(map(str, shape)), dim, t_md * 1e3, t_t * 1e3, t_md / t_t,
                     tb_md * 1e3, tb_t * 1e3, tb_md / tb_t])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=31)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeat)))
        return
    print(machine_header(args.threads))
    rows = []
    # one process per thread count (a one-thread OpenMP pool pins the process: _common.run_child)
    for threads in args.threads:
        res = run_child([sys.executable, __file__, "--worker", str(threads), "--repeat", str(args.repeat)],
                        capture_output=True, text=True, check=True)
        rows += json.loads(res.stdout.strip().splitlines()[-1])
    print(f"median of {args.repeat} paired runs (ms; 1 thread: CPU time, 2 threads: wall time)")
    print_table(["threads", "op", "shape", "dim", "fwd minidl", "fwd torch", "fwd ratio",
                 "fwd+bwd minidl", "fwd+bwd torch", "fwd+bwd ratio"], rows)


if __name__ == "__main__":
    main()
