"""F.interpolate, minidl vs PyTorch: bilinear 32x64x64x64 -> 128x128 (issue 15's benchmark),
nearest x2 on the same tensor, bicubic 8x64x64x64 -> 128x128; forward and forward + backward.

    PYTHONPATH=python python3 bench/python/bench_interpolate.py [--repeat 9] [--threads 1 2]

Both libraries run the same thread count, timed in alternating turns (``paired_timeit``);
medians in ms and the ratio minidl / PyTorch (< 1: minidl is faster). The backward is fed the
same fixed gradient in both (no .sum() in the timing). minidl's float32 kernel is separable
(cpp/ops/interpolate/interpolate_simd.cpp): a gather along W per input row, then FMAs of
whole rows along H.
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

# name -> (input shape, interpolate keyword arguments)
CASES = {
    "bilinear 32x64x64x64 -> 128x128": ((32, 64, 64, 64), dict(size=(128, 128), mode="bilinear")),
    "nearest x2 32x64x64x64": ((32, 64, 64, 64), dict(scale_factor=2, mode="nearest")),
    "bicubic 8x64x64x64 -> 128x128": ((8, 64, 64, 64), dict(size=(128, 128), mode="bicubic")),
}


def cases(lib):
    rng = np.random.default_rng(0)
    out = {}
    for name, (shape, kwargs) in CASES.items():
        x = rng.standard_normal(shape).astype(np.float32)
        out_shape = shape[:2] + kwargs["size"] if "size" in kwargs else shape[:2] + tuple(2 * n for n in shape[2:])
        g = lib.tensor(rng.standard_normal(out_shape).astype(np.float32))
        xt, xg = lib.tensor(x), lib.tensor(x, requires_grad=True)

        def fwd(xt=xt, kwargs=kwargs):
            with lib.no_grad():
                lib.nn.functional.interpolate(xt, **kwargs)

        def fwd_bwd(xg=xg, g=g, kwargs=kwargs):
            xg.grad = None
            lib.nn.functional.interpolate(xg, **kwargs).backward(g)
        out[name + " fwd"] = fwd
        out[name + " fwd+bwd"] = fwd_bwd
    return out


def main(argv=None):
    p = compare_parser(__doc__, repeat=9)
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, width=42)


if __name__ == "__main__":
    main()
