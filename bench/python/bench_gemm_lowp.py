"""BF16 / FP16 GEMM GFLOP/s (float32 accumulation) vs this project's FP32 GEMM, PyTorch's
bf16/fp16 matmul and NumPy's float32 matmul, on 1 and 2 threads.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_gemm_lowp.py [--threads 1 2]
        [--repeat 11]

Shapes M x K x N: 1024^3 and training shapes (a Linear layer's batch x in x out, the
im2col GEMM of a small conv). "W^T" rows multiply by a transposed view (x @ W.T, what Linear
does); the "g^T" row is a Linear layer's weight gradient g^T @ x (4096 rows, 256 -> 1024), whose
first operand is a transposed view. minidl and torch both return a 16-bit result from 16-bit operands. Targets (issue 7):
bf16 >= 1.6x minidl fp32 at 1024^3 and no slower than torch bf16.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_header, print_table, timeit  # noqa: E402

import minidl  # noqa: E402,F401  (registers bfloat16 with the extension)
import minidl._C as C  # noqa: E402
import ml_dtypes  # noqa: E402

try:
    import torch
except ImportError:
    torch = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

BF16 = np.dtype(ml_dtypes.bfloat16)
SHAPES = [(1024, 1024, 1024, False), (64, 256, 256, False), (256, 1024, 1024, False),
          (256, 1024, 1024, True), (4096, 256, 64, False), (4096, 64, 256, True), (1024, 4096, 256, "g^T")]


def gf(M, K, N, t):
    return 2.0 * M * N * K / t / 1e9


def paired_matmuls(n: int = 1024, dtype: str = "float32", seed: int = 0):
    """(minidl, torch) functions computing a @ b for n x n operands of ``dtype`` ("float32" or
    "bfloat16"), through each library's Tensor matmul; run_all.py times these in one process."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    pairs = []
    for lib in (minidl, torch):
        ta, tb = (lib.tensor(v).to(getattr(lib, dtype)) for v in (a, b))
        pairs.append(lambda ta=ta, tb=tb, lib=lib: lib.matmul(ta, tb))
    return tuple(pairs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=11)
    args = ap.parse_args()
    print(machine_header(args.threads))
    rng = np.random.default_rng(0)
    print(f"minidl isa={C.isa_name()} bf16 path={C.gemm_lowp_path('bfloat16')} "
          f"fp16 path={C.gemm_lowp_path('float16')}  OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '')}  "
          f"torch={'-' if torch is None else torch.__version__}  loadavg={os.getloadavg()}")
    rows = []
    for nt in args.threads:
        C.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        for M, K, N, wt in SHAPES:
            gt = wt == "g^T"
            a = rng.standard_normal((K, M), dtype=np.float32).T if gt else rng.standard_normal((M, K), dtype=np.float32)
            wt = wt is True
            b = rng.standard_normal((N, K), dtype=np.float32).T if wt else rng.standard_normal((K, N), dtype=np.float32)
            a16, b16 = a.astype(BF16), b.astype(BF16)
            ah, bh = a.astype(np.float16), b.astype(np.float16)
            if wt:  # keep the transposed-view layout for the 16-bit copies too
                b16, bh = np.ascontiguousarray(b16.T).T, np.ascontiguousarray(bh.T).T
            if gt:
                a16, ah = np.ascontiguousarray(a16.T).T, np.ascontiguousarray(ah.T).T
            r = args.repeat
            t32 = timeit(lambda: C.mm(a, b), repeat=r)
            tbf = timeit(lambda: C.mm(a16, b16), repeat=r)
            tfh = timeit(lambda: C.mm(ah, bh), repeat=r)
            if threadpool_limits is not None:
                with threadpool_limits(limits=nt):
                    tnp = timeit(lambda: a @ b, repeat=r)
            else:
                tnp = timeit(lambda: a @ b, repeat=r)
            if torch is not None:
                ta, tb = torch.from_numpy(np.ascontiguousarray(a.T) if gt else a).bfloat16(), \
                    torch.from_numpy(np.ascontiguousarray(b.T) if wt else b).bfloat16()
                tha, thb = ta.half(), tb.half()
                if wt:
                    tb, thb = tb.T, thb.T
                if gt:
                    ta, tha = ta.T, tha.T
                tpb = timeit(lambda: ta @ tb, repeat=r)
                tph = timeit(lambda: tha @ thb, repeat=max(3, r // 3))
            else:
                tpb = tph = float("nan")
            g = [gf(M, K, N, t) for t in (t32, tbf, tfh, tnp, tpb, tph)]
            rows.append([nt, f"{M}x{K}x{N}" + (" W^T" if wt else " g^T" if gt else ""), *g, g[1] / g[0], g[1] / g[4], g[2] / g[5]])
    print_table(["thr", "MxKxN", "md f32", "md bf16", "md f16", "numpy f32", "torch bf16", "torch f16",
                 "bf16/f32", "bf16/torch", "f16/torch"], rows)
    print(f"loadavg after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
