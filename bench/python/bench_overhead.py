"""Per-op Python overhead of minidl vs PyTorch on tiny tensors (where overhead is everything).

    PYTHONPATH=python python3 bench/python/bench_overhead.py [--iters 20000] [--repeat 7] [--threads 1]

Each row times a loop of ``--iters`` identical calls on tiny float32 tensors (8 elements, or
8x8 for matmul), median of ``--repeat`` loops after 2 warm-up loops, and reports
microseconds per call for minidl and PyTorch and the ratio minidl / PyTorch (< 1: minidl is
cheaper). Both libraries run the same thread count (``set_num_threads``).

Rows:
  add fwd          c = a + b                      (no tensor requires grad)
  add fwd+bwd      (a + b).sum().backward()       (a, b leaves with requires_grad=True;
                                                   .grad accumulates, identically in both)
  mul fwd+bwd      (a * b).sum().backward()       (mul saves a and b: their versions are
                                                   recorded and checked, graph/version.py)
  add_ in place    a.add_(b)                      (bumps a's version counter)
  setitem          a[2:6] = 1
  mul / relu / matmul 8x8 / sum / a[3] / a[2:6]   forward only, for context
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minidl as md  # noqa: E402
from _common import machine_header, print_table, timeit  # noqa: E402


def cases(lib):
    """name -> (setup() -> state, body(state)) for one library (md or torch)."""
    rng = np.random.default_rng(0)
    a8 = rng.standard_normal(8).astype(np.float32)
    b8 = rng.standard_normal(8).astype(np.float32)
    m8 = rng.standard_normal((8, 8)).astype(np.float32)
    relu = torch.relu if lib is torch else md.relu

    def leaves(rg):
        return lib.tensor(a8, requires_grad=rg), lib.tensor(b8, requires_grad=rg)

    def fwd_bwd(s):
        a, b = s
        (a + b).sum().backward()

    def mul_fwd_bwd(s):  # mul saves both inputs: records and checks their versions
        a, b = s
        (a * b).sum().backward()

    def setitem(s):
        s[0][2:6] = 1.0

    return {
        "add fwd": (lambda: leaves(False), lambda s: s[0] + s[1]),
        "add fwd+bwd": (lambda: leaves(True), fwd_bwd),
        "mul fwd": (lambda: leaves(False), lambda s: s[0] * s[1]),
        "mul fwd+bwd": (lambda: leaves(True), mul_fwd_bwd),
        "add_ in place": (lambda: leaves(False), lambda s: s[0].add_(s[1])),
        "setitem a[2:6] = 1": (lambda: leaves(False), setitem),
        "relu fwd": (lambda: leaves(False), lambda s: relu(s[0])),
        "matmul 8x8 fwd": (lambda: (lib.tensor(m8), lib.tensor(m8)), lambda s: s[0] @ s[1]),
        "sum fwd": (lambda: leaves(False), lambda s: s[0].sum()),
        "index a[3]": (lambda: leaves(False), lambda s: s[0][3]),
        "slice a[2:6]": (lambda: leaves(False), lambda s: s[0][2:6]),
    }


def per_call_us(setup, body, iters, repeat):
    state = setup()

    def loop():
        for _ in range(iters):
            body(state)
    return timeit(loop, repeat=repeat, warmup=2) / iters * 1e6


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    print(machine_header(args.threads))
    torch.set_num_threads(args.threads)
    md.set_num_threads(args.threads)

    ours, theirs = cases(md), cases(torch)
    rows = []
    for name in ours:
        t_md = per_call_us(*ours[name], args.iters, args.repeat)
        t_pt = per_call_us(*theirs[name], args.iters, args.repeat)
        rows.append([name, t_md, t_pt, t_md / t_pt])
    print(f"tiny-op overhead, us per call (median of {args.repeat} x {args.iters} calls), "
          f"threads: minidl {md.get_num_threads()} / torch {torch.get_num_threads()}, "
          f"minidl kernels: {md.backend.name}, torch {torch.__version__}")
    print_table(["op", "minidl us", "torch us", "minidl/torch"], rows)
    return rows


if __name__ == "__main__":
    main()
