"""Gradient clipping and the in-place updates training loops run on every parameter, minidl vs
PyTorch (same machine, same run, same threads): ``clip_grad_norm_`` with norm 2 (the default,
what training loops call), 1, 3 and inf, ``clip_grad_value_``, a model average
``ema.lerp_(p, 0.001)`` and a hand-written SGD step ``p.add_(p.grad, alpha=-lr)`` (both without
autograd), over 10.5M float32 values in 20 tensors (the shapes of bench_optim.py's model).

    PYTHONPATH=python python3 bench/python/bench_clip_grad.py [--threads 1 2] [--repeat 9]

max_norm is large, so the timed work is the norm itself (the rescale is a second pass that
both libraries make only when it clips). What it shows: the norm's one pass per gradient
(nn/utils/__init__.py ``_sum_of_powers``; norm 2 is the dot product d . d). Through the
general |g|^p with p = 2, as before, minidl took 62 ms against PyTorch's 6.3 (1 thread, Xeon
family 6 model 167). The updates are one fused pass each (elementwise.cpp ``scaled_update``);
as compositions they took 35 ms (lerp_) and 24 ms (add_ with alpha) there.
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

SHAPES = [(512, 2048), (2048,), (2048, 512), (512,)] * 5


def cases(lib):
    rng = np.random.default_rng(0)
    params = []
    for shape in SHAPES:
        p = lib.nn.Parameter(lib.zeros(*shape))
        p.grad = lib.tensor(rng.standard_normal(shape).astype(np.float32))
        params.append(p)
    out = {f"clip_grad_norm_ norm {p}": (lambda p=p: lib.nn.utils.clip_grad_norm_(params, 1e9, norm_type=p))
           for p in (2.0, 1.0, 3.0, float("inf"))}
    out["clip_grad_value_ 1e9"] = lambda: lib.nn.utils.clip_grad_value_(params, 1e9)
    averages = [lib.zeros(*s) for s in SHAPES]

    def ema():
        with lib.no_grad():
            for a, p in zip(averages, params):
                a.lerp_(p, 0.001)

    def sgd():
        with lib.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-1e-9)
    out["ema.lerp_(p, 0.001)"] = ema
    out["p.add_(p.grad, alpha=-lr)"] = sgd
    return out


def main(argv=None):
    p = compare_parser(__doc__, repeat=9)
    args = p.parse_args(argv)
    n = sum(int(np.prod(s)) for s in SHAPES)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, width=30,
                       note=f"{n / 1e6:.1f}M float32 gradients in {len(SHAPES)} tensors")


if __name__ == "__main__":
    main()
