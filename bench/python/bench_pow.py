"""x ** s for a number s, minidl vs PyTorch (same machine, same run, same threads), on 4M
float32 values.

    PYTHONPATH=python python3 bench/python/bench_pow.py [--threads 1 2] [--repeat 9]

The exponents PyTorch computes without pow (2, 3, 0.5, -0.5, -1, -2) run as products,
sqrt and reciprocals in minidl too (cpp/ops/elementwise/elementwise.cpp
``pow_scalar_special``); 1.5 and 0.75 are the general pow, x ** e its tensor form, 2 ** x the
scalar base. Before, every exponent went through std::pow per element: x ** 2 took 40-75 ms
here against PyTorch's 3-7 (1 thread, Xeon family 6 model 167). The general float32 pow now
runs in double-precision SIMD lanes (core/math_f64.h pow_f64), rounded once to float32.
"""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)

import minidl as md  # noqa: E402
import torch  # noqa: E402

from _common import compare_parser, compare_with_torch  # noqa: E402


def cases(lib):
    x = lib.tensor(np.abs(np.random.default_rng(0).standard_normal((4096, 1024))).astype(np.float32) + 0.1)
    out = {f"x ** {e}": (lambda e=e: x ** e) for e in (2, 3, 0.5, -0.5, -1, -2, 1.5, 0.75)}
    e = x * 0.5  # a tensor of exponents
    out["x ** e (tensor)"] = lambda: x ** e
    out["2 ** x"] = lambda: 2 ** x
    y = x.clone()
    out["y.pow_(2) (in place)"] = lambda: y.pow_(2).pow_(0.5)
    return out


def main(argv=None):
    p = compare_parser(__doc__, repeat=9)
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, width=24)


if __name__ == "__main__":
    main()
