"""F.unfold (im2col) and F.fold (col2im) on 32 x 64 x 32 x 32, kernel 3, padding 1, forward
and forward + backward, minidl vs PyTorch (issue 15's fold / unfold).

    PYTHONPATH=python python3 bench/python/bench_fold.py [--repeat 7] [--threads 1 2]

Both libraries run the same thread count, timed in alternating turns (``paired_timeit``);
medians in ms and the ratio minidl / PyTorch (< 1: minidl is faster). The column matrix is
(32, 576, 1024) floats, 75 MB: both directions are memory-bound copies.
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

SHAPE, KERNEL, PADDING = (32, 64, 32, 32), 3, 1


def cases(lib):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    cols = lib.nn.functional.unfold(lib.tensor(x), KERNEL, padding=PADDING).detach().numpy()
    xg, cg = lib.tensor(x, requires_grad=True), lib.tensor(cols, requires_grad=True)
    xt, ct = lib.tensor(x), lib.tensor(cols)
    F = lib.nn.functional

    def unfold_fwd():
        F.unfold(xt, KERNEL, padding=PADDING)

    def unfold_fwd_bwd():
        xg.grad = None
        F.unfold(xg, KERNEL, padding=PADDING).sum().backward()

    def fold_fwd():
        F.fold(ct, SHAPE[2:], KERNEL, padding=PADDING)

    def fold_fwd_bwd():
        cg.grad = None
        F.fold(cg, SHAPE[2:], KERNEL, padding=PADDING).sum().backward()
    return {"unfold fwd": unfold_fwd, "unfold fwd+bwd": unfold_fwd_bwd, "fold fwd": fold_fwd,
            "fold fwd+bwd": fold_fwd_bwd}


def main(argv=None):
    p = compare_parser(__doc__, repeat=7)
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, width=16,
                       note=f"input {SHAPE}, kernel {KERNEL}, padding {PADDING}")


if __name__ == "__main__":
    main()
