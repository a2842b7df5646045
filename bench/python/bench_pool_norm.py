"""Pooling and batch norm, forward + backward, minidl vs PyTorch (same machine, same run).

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_pool_norm.py [--repeat 11]

Prints median ms per forward+backward step and the ratio minidl / PyTorch (< 1: minidl faster)
for 1 and 2 threads: MaxPool2d k2 s2 and k3 s2 p1, BatchNorm2d (training) and BatchNorm2d
followed by ReLU at ResNet-20 shapes, LayerNorm at the GPT block's shape (and d = 1024).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_header, print_table, timeit  # noqa: E402

import minidl as md  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

CASES = [
    ("MaxPool2d k2 s2", (32, 64, 32, 32), lambda lib: lib.nn.MaxPool2d(2, 2)),
    ("MaxPool2d k3 s2 p1", (32, 64, 56, 56), lambda lib: lib.nn.MaxPool2d(3, 2, 1)),
    ("BatchNorm2d train", (64, 16, 32, 32), lambda lib: lib.nn.BatchNorm2d(16)),
    ("BatchNorm2d train", (64, 32, 16, 16), lambda lib: lib.nn.BatchNorm2d(32)),
    ("BatchNorm2d train", (64, 64, 8, 8), lambda lib: lib.nn.BatchNorm2d(64)),
    # ResNet's bn -> relu: minidl runs the pair's backward as one kernel (docs/concepts/batchnorm.md)
    ("BatchNorm2d+ReLU train", (64, 16, 32, 32), lambda lib: lib.nn.Sequential(lib.nn.BatchNorm2d(16), lib.nn.ReLU())),
    ("BatchNorm2d+ReLU train", (64, 32, 16, 16), lambda lib: lib.nn.Sequential(lib.nn.BatchNorm2d(32), lib.nn.ReLU())),
    ("BatchNorm2d+ReLU train", (64, 64, 8, 8), lambda lib: lib.nn.Sequential(lib.nn.BatchNorm2d(64), lib.nn.ReLU())),
    # the GPT block's LayerNorms (batch 16 x seq 256 rows of d_model 256) and a wider one
    ("LayerNorm", (16, 256, 256), lambda lib: lib.nn.LayerNorm(256)),
    ("LayerNorm", (16, 256, 1024), lambda lib: lib.nn.LayerNorm(1024)),
]


def step_fn(lib, module, x, g):
    def step():
        x.grad = None
        y = module(x)
        y.backward(g)
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=11)
    args = ap.parse_args()
    print(machine_header())
    rng = np.random.default_rng(0)
    rows = []
    for threads in (1, 2):
        md.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        for name, shape, make in CASES:
            xn = rng.standard_normal(shape).astype(np.float32)
            m_mod = make(md)
            xm = md.tensor(xn, requires_grad=True)
            gm = md.tensor(rng.standard_normal(tuple(m_mod(xm).shape)).astype(np.float32))
            t_md = timeit(step_fn(md, m_mod, xm, gm), repeat=args.repeat, warmup=3)
            t_th = float("nan")
            if torch is not None:
                t_mod = make(torch)
                xt = torch.tensor(xn, requires_grad=True)
                gt = torch.tensor(gm.numpy())
                t_th = timeit(step_fn(torch, t_mod, xt, gt), repeat=args.repeat, warmup=3)
            rows.append([name, "x".join(map(str, shape)), threads, t_md * 1e3, t_th * 1e3, t_md / t_th])
    print(f"forward+backward, median of {args.repeat}, ms (OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', 'unset')}, "
          f"kernel set {md.backend.name})")
    print_table(["op", "shape", "threads", "minidl ms", "torch ms", "ratio"], rows)


if __name__ == "__main__":
    main()
