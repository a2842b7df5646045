"""Small and narrow float32 matrix products, minidl (_C.mm / _C.addmm) vs PyTorch (torch.mm /
torch.addmm) on the same operands and memory layouts, at 1 and 2 threads.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_gemm_small.py [--repeat 31]
        [--threads 1 2] [--isa avx2]

The shapes are the 22 products of one Hessian-vector product of the 256-512-512-10 MLP at
batch 128 (bench_double_backward.py), each distinct (layout, M, K, N) once: "N" = a
row-major operand, "T" = a transposed view (x @ W.T, the weight gradient dY^T @ X); then
matrix-vector products (N = 1: ``A @ x``, torch.mv's shape; 0 per hvp), which take the GEMV of
the transposed product (gemm_simd.cpp: 512 x 8192 @ 8192 x 1 went 2.7 -> 0.68 ms, PyTorch 0.69,
1 thread, Xeon family 6 model 167). Each
thread count runs in its own child process (one thread pool per library, see
_common.run_child); in a child each case times a loop of --inner calls per sample, minidl and
PyTorch in turns (paired_timeit), medians of --repeat pairs; ratio = minidl / PyTorch
(< 1: minidl faster).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_header, paired_timeit, print_table, run_child  # noqa: E402

# (op, M, K, N, A transposed, B transposed, calls per hvp)
CASES = [("addmm", 128, 256, 512, False, True, 1), ("addmm", 128, 512, 512, False, True, 1),
         ("addmm", 128, 512, 10, False, True, 1), ("mm", 128, 512, 512, False, True, 1),
         ("mm", 128, 512, 10, False, True, 1), ("mm", 128, 10, 512, False, False, 3),
         ("mm", 128, 512, 512, False, False, 3), ("mm", 10, 128, 512, True, False, 3),
         ("mm", 512, 128, 512, True, False, 3), ("mm", 512, 128, 256, True, False, 2),
         ("mm", 10, 512, 128, False, True, 1), ("mm", 512, 512, 128, False, True, 1),
         ("mm", 512, 256, 128, False, True, 1),
         ("mm", 512, 8192, 1, False, False, 0), ("mm", 1024, 1024, 1, False, True, 0), ("mm", 64, 4096, 1, False, False, 0)]


def operand(rng, rows, cols, transposed):
    """rows x cols float32, as a transposed view of a cols x rows array when `transposed`"""
    if transposed:
        return rng.standard_normal((cols, rows), dtype=np.float32).T
    return rng.standard_normal((rows, cols), dtype=np.float32)


def child(threads: int, repeat: int, inner: int, isa: str | None) -> list:
    import torch
    import minidl._C as C
    if isa:
        C.set_isa(isa)
    torch.set_num_threads(threads)
    C.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for op, M, K, N, ta, tb, calls in CASES:
        a, b = operand(rng, M, K, ta), operand(rng, K, N, tb)
        bias = rng.standard_normal(N, dtype=np.float32)
        at, bt, biast = torch.from_numpy(a.T).T if ta else torch.from_numpy(a), \
            torch.from_numpy(b.T).T if tb else torch.from_numpy(b), torch.from_numpy(bias)
        if op == "mm":
            f_md, f_pt = (lambda: C.mm(a, b)), (lambda: torch.mm(at, bt))
        else:
            f_md, f_pt = (lambda: C.addmm(bias, a, b)), (lambda: torch.addmm(biast, at, bt))
        assert np.allclose(f_md(), f_pt().numpy(), rtol=1e-4, atol=1e-3)

        def loop(f):
            def run():
                for _ in range(inner):
                    f()
            return run
        t_md, t_pt = paired_timeit([loop(f_md), loop(f_pt)], repeat)
        shape = f"{M}x{K}{'T' if ta else 'N'} @ {K}x{N}{'T' if tb else 'N'}"
        rows.append([op, shape, calls, threads, t_md / inner * 1e6, t_pt / inner * 1e6])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=31)
    parser.add_argument("--inner", type=int, default=10)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--isa", default=None, help="minidl kernel set (default: best)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat, args.inner, args.isa)))
        return
    os.environ.setdefault("OMP_PROC_BIND", "close")
    print(machine_header(args.threads))
    rows = []
    for threads in args.threads:
        cmd = [sys.executable, __file__, "--child", str(threads), "--repeat", str(args.repeat),
               "--inner", str(args.inner)] + (["--isa", args.isa] if args.isa else [])
        out = run_child(cmd, capture_output=True, text=True, check=True)
        rows += [r + [r[4] / r[5]] for r in json.loads(out.stdout.strip().splitlines()[-1])]
    print(f"medians of {args.repeat} paired samples of {args.inner} calls each")
    print_table(["op", "MxK @ KxN", "per hvp", "threads", "minidl us", "torch us", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
