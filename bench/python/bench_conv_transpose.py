"""ConvTranspose2d(64, 32, 4, stride=2, padding=1) on 32 x 64 x 16 x 16, forward and
forward + backward, minidl vs PyTorch (issue 15's benchmark).

    PYTHONPATH=python python3 bench/python/bench_conv_transpose.py [--repeat 9] [--threads 1 2]

Both libraries run the same thread count, timed in alternating turns (``paired_timeit``); medians in ms and the ratio minidl / PyTorch (< 1: minidl is faster). minidl's
transposed convolution is the convolution's input-gradient kernel (nn/conv_transpose.py).
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
    lib.manual_seed(0)
    layer = lib.nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
    x = lib.tensor(np.random.default_rng(0).standard_normal((32, 64, 16, 16)).astype(np.float32))
    xg = lib.tensor(x.detach().numpy(), requires_grad=True)

    def fwd():
        with lib.no_grad():
            layer(x)

    def fwd_bwd():
        layer(xg).sum().backward()
    return {"ConvTranspose2d 64->32 4x4 s2, 32x64x16x16 fwd": fwd, "same, fwd+bwd": fwd_bwd}


def main(argv=None):
    p = compare_parser(__doc__, repeat=9)
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, width=48)


if __name__ == "__main__":
    main()
