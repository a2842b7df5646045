"""The float32 GEMMs of the GPT block's training step, each alone: minidl vs PyTorch.

    PYTHONPATH=python python3 bench/python/bench_gemm_gpt.py [--threads 1 2] [--repeat 11]
        [--cpu-time]

bench_gpt.py's block (d_model 256, 4 heads, feed-forward 1024) on 16 x 256 = 4096 tokens has
four Linear layers, W (out x in): the packed q/k/v in_proj 768 x 256, out_proj 256 x 256, the
feed-forward W1 1024 x 256 and W2 256 x 1024. Each gives three products, timed with the public
API of both libraries on the same data: the forward y = x W^T + b (``F.linear``: one addmm), the
input gradient dX = dY W (``mm``, both operands row-major) and the weight gradient
dW = dY^T X (``mm`` of a transposed view, K = 4096 tokens). Medians of --repeat runs in
alternating turns (``paired_timeit``), ms, and the ratio minidl / PyTorch (< 1: minidl is
faster). --cpu-time times CPU work (``time.process_time``; on 2 threads the sum of both),
which other jobs on a shared machine inflate less than wall time.

Measured (Intel Xeon family 6 model 167, KVM, 2 vCPUs, AVX-512; --threads 1 --cpu-time; load
average 3-3.5 from other jobs): minidl / PyTorch of two runs each, before -> after the
fused addmm bias, the prefetch of a misaligned C row's middle line and A read in place up to 8
micro-panels (commits of issue 18's GEMM part):

    product     forward (addmm)           dX = dY W                 dW = dY^T X
    in_proj     0.68, 1.10 -> 0.95, 0.94  1.00, 1.00 -> 0.93, 0.97  0.90, 0.91 -> 0.89, 0.89
    out_proj    0.88, 0.96 -> 0.91, 0.87  0.88, 1.01 -> 0.98, 0.98  0.95, 0.95 -> 0.93, 0.96
    W1          0.88, 0.97 -> 0.82, 0.81  0.93, 1.01 -> 0.91, 0.89  0.89, 0.92 -> 0.91, 0.89
    W2          0.96, 0.99 -> 0.88, 0.87  0.88, 0.90 -> 0.95, 0.91  1.02, 1.02 -> 1.03, 1.01

All twelve together (sums of the medians) 0.935 -> 0.914. On 2 threads the machine's load
(4-5 on 2 vCPUs) left wall times meaningless in these runs.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_PROC_BIND", "close")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minidl as md  # noqa: E402
from _common import compare_with_torch  # noqa: E402

TOKENS = 16 * 256
LINEARS = {"in_proj": (768, 256), "out_proj": (256, 256), "W1": (1024, 256), "W2": (256, 1024)}  # (out, in)


def cases(lib):
    """{name: product} for one library: the three products of each Linear on the same data."""
    rng = np.random.default_rng(0)
    out = {}
    for name, (n_out, n_in) in LINEARS.items():
        x, w, b, g = (lib.tensor(rng.standard_normal(s, dtype=np.float32))
                      for s in ((TOKENS, n_in), (n_out, n_in), (n_out,), (TOKENS, n_out)))
        out[f"{name} fwd x W^T + b  {TOKENS}x{n_in} @ ({n_out}x{n_in})^T"] = \
            lambda x=x, w=w, b=b: lib.nn.functional.linear(x, w, b)
        out[f"{name} dX = dY W  {TOKENS}x{n_out} @ {n_out}x{n_in}"] = lambda g=g, w=w: lib.mm(g, w)
        out[f"{name} dW = dY^T X  ({TOKENS}x{n_out})^T @ {TOKENS}x{n_in}"] = lambda g=g, x=x: lib.mm(g.t(), x)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=11)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--cpu-time", action="store_true", help="time CPU work (time.process_time), not wall time")
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, width=56,
                       note=f"clock: {'CPU time' if args.cpu_time else 'wall'}",
                       clock=time.process_time if args.cpu_time else time.perf_counter)


if __name__ == "__main__":
    main()
