"""SGEMM GFLOP/s: minidl (_C.mm) vs NumPy (OpenBLAS) vs PyTorch, on 1 and 2 threads.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_gemm.py [--threads 1 2]
        [--repeat 11] [--isa avx512]

Shapes: 256, 512, 1024, 2048 square and M in {32, 128, 512} x K = N = 1024. Thread counts:
minidl via _C.set_num_threads, NumPy's BLAS via threadpoolctl, torch via torch.set_num_threads.
Each cell is the median of --repeat runs after warm-up.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_header, blas_idle, print_table, timeit  # noqa: E402

import minidl._C as C  # noqa: E402

try:
    import torch
except ImportError:  # torch is optional here
    torch = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

SHAPES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048),
          (32, 1024, 1024), (128, 1024, 1024), (512, 1024, 1024)]


def gflops(M, K, N, seconds):
    return 2.0 * M * N * K / seconds / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--isa", default=None, help="minidl kernel set (default: best)")
    args = ap.parse_args()
    if args.isa:
        C.set_isa(args.isa)
    print(machine_header(args.threads))  # after set_isa: the header names the kernel set in use
    rng = np.random.default_rng(0)
    print(f"minidl isa={C.isa_name()}  OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '')}  "
          f"torch={'-' if torch is None else torch.__version__}  numpy={np.__version__}")
    rows = []
    for nt in args.threads:
        C.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        for M, K, N in SHAPES:
            a = rng.standard_normal((M, K), dtype=np.float32)
            b = rng.standard_normal((K, N), dtype=np.float32)
            rep = max(3, args.repeat // 2) if M * N * K >= 2048 ** 3 else args.repeat
            t_md = timeit(lambda: C.mm(a, b), repeat=rep, warmup=2)
            if threadpool_limits is not None:
                with threadpool_limits(limits=nt):
                    t_np = timeit(lambda: a @ b, repeat=rep, warmup=2)
                blas_idle()  # before torch is timed
            else:
                t_np = float("nan")
            if torch is not None:
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                t_pt = timeit(lambda: torch.mm(ta, tb), repeat=rep, warmup=2)
            else:
                t_pt = float("nan")
            g_md, g_np, g_pt = (gflops(M, K, N, t) for t in (t_md, t_np, t_pt))
            rows.append([nt, f"{M}x{K}x{N}", g_md, g_np, g_pt, g_md / g_np, g_md / g_pt])
    print_table(["threads", "MxKxN", "minidl GF/s", "numpy GF/s", "torch GF/s",
                 "minidl/numpy", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
