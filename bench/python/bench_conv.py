"""Convolution forward + backward (grads of input, weight and bias) vs PyTorch (oneDNN), same
thread count, at ResNet-style shapes (batch 32).

    OMP_PROC_BIND=close python bench/python/bench_conv.py [--threads 1 2] [--repeat 11] [--rounds 3]
        [--dtype fp32|bf16]

Prints per shape the median ms of minidl and torch, their ratio (minidl / torch, < 1 means
minidl is faster), and the mean ratio. Each (shape, library) is timed in `rounds` separate
rounds, interleaved with the other library, of `repeat` calls each; the table shows the
median over rounds of the per-round median, and "best" the best round. Both libraries run the
op through their Python autograd (minidl: F.conv2d + backward; torch: the same).
float32 convolutions run minidl's direct path (cpp/ops/conv/conv_direct.cpp); with
MINIDL_CONV_DIRECT=0 in the environment they run the im2col + GEMM path instead (A/B).

--dtype bf16: the same step under BF16 autocast (float32 leaves, the convolution in bfloat16:
cpp/ops/conv/conv_lowp.cpp) for minidl and torch, next to minidl's float32 step, plus the two
convolutions of the digits CNN of bench_amp.py (batch 256). Columns: minidl fp32 ms, minidl
bf16 ms, their ratio (> 1: bf16 faster), torch bf16 ms, minidl bf16 / torch bf16, and the path
minidl's bf16 convolution took (bf16_gemm: the bf16 GEMM, AMX or vdpbf16ps; convert_f32: widened to float32).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_header, print_table, timeit  # noqa: E402

import minidl as md  # noqa: E402
import minidl.nn.functional as F  # noqa: E402

# name, (N, C, H, W), K, kernel, stride, padding, groups
SHAPES = [
    ("3->16 3x3 @32", (32, 3, 32, 32), 16, 3, 1, 1, 1),
    ("16->16 3x3 @32", (32, 16, 32, 32), 16, 3, 1, 1, 1),
    ("32->32 3x3 @16", (32, 32, 16, 16), 32, 3, 1, 1, 1),
    ("64->64 3x3 @8", (32, 64, 8, 8), 64, 3, 1, 1, 1),
    ("16->32 3x3 s2 @32", (32, 16, 32, 32), 32, 3, 2, 1, 1),
    ("16->32 1x1 s2 @32", (32, 16, 32, 32), 32, 1, 2, 0, 1),
    ("dw 32 3x3 @16", (32, 32, 16, 16), 32, 3, 1, 1, 32),
]
CNN_SHAPES = [  # the digits CNN of bench_amp.py, batch 256
    ("cnn 1->32 3x3 @8 b256", (256, 1, 8, 8), 32, 3, 1, 1, 1),
    ("cnn 32->64 3x3 @4 b256", (256, 32, 4, 4), 64, 3, 1, 1, 1),
]


def make_md(xs, K, k, s, p, g, rng, bf16=False):
    x = md.tensor(rng.standard_normal(xs).astype(np.float32), requires_grad=True)
    w = md.tensor(rng.standard_normal((K, xs[1] // g, k, k)).astype(np.float32) * 0.1, requires_grad=True)
    b = md.tensor(rng.standard_normal(K).astype(np.float32), requires_grad=True)
    y0 = F.conv2d(x, w, b, s, p, 1, g)
    gy = md.tensor(rng.standard_normal(tuple(y0.shape)).astype(np.float32))

    if bf16:
        gy = gy.to(md.bfloat16)

    def step():
        x.grad = w.grad = b.grad = None
        with md.autocast("cpu", dtype=md.bfloat16, enabled=bf16):
            y = F.conv2d(x, w, b, s, p, 1, g)
        y.backward(gy)
    return step


def make_torch(xs, K, k, s, p, g, rng, bf16=False):
    import torch
    x = torch.tensor(rng.standard_normal(xs).astype(np.float32), requires_grad=True)
    w = torch.tensor(rng.standard_normal((K, xs[1] // g, k, k)).astype(np.float32) * 0.1, requires_grad=True)
    b = torch.tensor(rng.standard_normal(K).astype(np.float32), requires_grad=True)
    y0 = torch.nn.functional.conv2d(x, w, b, s, p, 1, g)
    gy = torch.randn(y0.shape)
    if bf16:
        gy = gy.to(torch.bfloat16)

    def step():
        x.grad = w.grad = b.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = torch.nn.functional.conv2d(x, w, b, s, p, 1, g)
        y.backward(gy)
    return step


def lowp_path(xs, K, k, s, p, g):
    x = md.zeros(*xs).to(md.bfloat16)
    w = md.zeros(K, xs[1] // g, k, k).to(md.bfloat16)
    return md._C.conv2d_lowp_path(x._data, w._data, (s, s), (p, p), (1, 1), g)


def main_bf16(args, torch, rng):
    """minidl fp32 vs minidl bf16 autocast vs torch bf16 autocast, per shape"""
    print(f"minidl kernel set: {md.backend.name}; OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '')}; "
          f"torch {torch.__version__ if torch else '-'}; forward + backward (dx, dw, db) under BF16 autocast; "
          f"loadavg {os.getloadavg()}")
    for nt in args.threads:
        md.set_num_threads(nt)
        if torch:
            torch.set_num_threads(nt)
        rows = []
        for name, xs, K, k, s, p, g in CNN_SHAPES + SHAPES:
            fns = {"md32": make_md(xs, K, k, s, p, g, rng), "md16": make_md(xs, K, k, s, p, g, rng, True)}
            if torch:
                fns["torch16"] = make_torch(xs, K, k, s, p, g, rng, True)
            rounds = {key: [] for key in fns}
            for _ in range(args.rounds):
                for key, fn in fns.items():
                    rounds[key].append(timeit(fn, repeat=args.repeat, warmup=2) * 1e3)
            t = {key: statistics.median(v) for key, v in rounds.items()}
            row = [name, t["md32"], t["md16"], t["md32"] / t["md16"]]
            if torch:
                row += [t["torch16"], t["md16"] / t["torch16"]]
            rows.append(row + [lowp_path(xs, K, k, s, p, g)])
        print(f"\nthreads = {nt}")
        headers = ["shape (batch 32 unless b256)", "md fp32 ms", "md bf16 ms", "md fp32/bf16"]
        if torch:
            headers += ["torch bf16 ms", "md bf16/torch bf16"]
        print_table(headers + ["md bf16 path"], rows)
    print(f"loadavg after: {os.getloadavg()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    print(machine_header(args.threads))
    torch = None
    if not args.no_torch:
        import torch
    rng = np.random.default_rng(0)
    if args.dtype == "bf16":
        return main_bf16(args, torch, rng)
    print(f"minidl kernel set: {md.backend.name}; OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '')}; "
          f"torch {torch.__version__ if torch else '-'}; forward + backward (dx, dw, db), float32")
    for nt in args.threads:
        md.set_num_threads(nt)
        if torch:
            torch.set_num_threads(nt)
        rows, ratios = [], []
        for name, xs, K, k, s, p, g in SHAPES:
            fns = {"md": make_md(xs, K, k, s, p, g, rng)}
            if torch:
                fns["torch"] = make_torch(xs, K, k, s, p, g, rng)
            rounds = {key: [] for key in fns}
            for _ in range(args.rounds):
                for key, fn in fns.items():
                    rounds[key].append(timeit(fn, repeat=args.repeat, warmup=2) * 1e3)
            t_md = statistics.median(rounds["md"])
            row = [name, t_md, min(rounds["md"])]
            if torch:
                t_t = statistics.median(rounds["torch"])
                ratio = t_md / t_t
                ratios.append(ratio)
                row += [t_t, min(rounds["torch"]), ratio]
            rows.append(row)
        print(f"\nthreads = {nt}")
        headers = ["shape (batch 32)", "minidl ms", "best"]
        if torch:
            headers += ["torch ms", "best", "minidl/torch"]
        print_table(headers, rows)
        if ratios:
            print(f"mean ratio minidl/torch: {sum(ratios) / len(ratios):.2f}   max: {max(ratios):.2f}")


if __name__ == "__main__":
    main()
