"""GroupNorm(8, 64) on 32x64x32x32, forward and forward + backward, minidl vs PyTorch
(issue 15's benchmark), InstanceNorm2d(64, affine) at the same shape, and RMSNorm(768) over
32 * 128 rows (a GPT-2 small batch of 32 sequences of 128 tokens).

    PYTHONPATH=python python3 bench/python/bench_groupnorm.py [--repeat 9] [--threads 1 2]

Both libraries run the same thread count, timed in alternating turns (``paired_timeit``);
medians in ms and the ratio minidl / PyTorch (< 1: minidl is faster). The backward is
y.backward(dy) with a fixed dy, gradients reset to None before each call, so each step times
the normalization alone. minidl's kernels: cpp/ops/groupnorm/ (GroupNorm, InstanceNorm =
GroupNorm with G = C) and cpp/ops/rmsnorm/.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minidl as md  # noqa: E402
from _common import compare_parser, compare_with_torch  # noqa: E402


def cases(lib):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64, 32, 32)).astype(np.float32)
    gx = rng.standard_normal(x.shape).astype(np.float32)
    r = rng.standard_normal((32 * 128, 768)).astype(np.float32)
    gr = rng.standard_normal(r.shape).astype(np.float32)
    layers = {"GroupNorm(8,64) 32x64x32x32": (lib.nn.GroupNorm(8, 64), x, gx),
              "InstanceNorm2d(64,affine) same": (lib.nn.InstanceNorm2d(64, affine=True), x, gx),
              "RMSNorm(768) 4096 rows": (lib.nn.RMSNorm(768), r, gr)}
    out = {}
    for name, (layer, a, ga) in layers.items():
        xt, dy = lib.tensor(a, requires_grad=True), lib.tensor(ga)
        params = list(layer.parameters())

        def fwd(layer=layer, xt=xt):
            with lib.no_grad():
                layer(xt)

        def fwd_bwd(layer=layer, xt=xt, dy=dy, params=params):
            for t in [xt] + params:
                t.grad = None
            layer(xt).backward(dy)
        out[name + " fwd"] = fwd
        out[name + " fwd+bwd"] = fwd_bwd
    return out


def main(argv=None):
    p = compare_parser(__doc__, repeat=9)
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, width=42)


if __name__ == "__main__":
    main()
