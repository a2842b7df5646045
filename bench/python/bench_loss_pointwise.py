"""The elementwise losses forward + backward, minidl vs PyTorch (same machine, same run, same
threads), on 1M float32 values: BCE on logits (multi-label heads, binary masks), BCE on
probabilities, MSE, L1, and BCE on logits with a pos_weight.

    PYTHONPATH=python python3 bench/python/bench_loss_pointwise.py [--threads 1 2] [--repeat 9]

What it shows: the float32 SIMD rows of cpp/ops/loss/loss_simd.cpp. Before them every element
went through the double-precision reference (cpp/ops/loss/loss_pointwise.cpp): BCE on logits
forward + backward took 36.6 ms against PyTorch's 5.0 (1 thread, Xeon family 6 model 167).
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
    F = lib.nn.functional
    rng = np.random.default_rng(0)
    logits = lib.tensor((rng.standard_normal((1024, 1024)) * 3).astype(np.float32), requires_grad=True)
    mask = lib.tensor((rng.random((1024, 1024)) > 0.5).astype(np.float32))
    target = lib.tensor(rng.standard_normal((1024, 1024)).astype(np.float32))
    pos_weight = lib.tensor([3.0])

    def step(loss):
        def run():
            logits.grad = None
            loss().backward()
        return run
    return {
        "bce_with_logits": step(lambda: F.binary_cross_entropy_with_logits(logits, mask)),
        "bce_with_logits pos_weight": step(lambda: F.binary_cross_entropy_with_logits(logits, mask,
                                                                                      pos_weight=pos_weight)),
        "binary_cross_entropy": step(lambda: F.binary_cross_entropy(lib.sigmoid(logits), mask)),
        "mse_loss": step(lambda: F.mse_loss(logits, target)),
        "l1_loss": step(lambda: F.l1_loss(logits, target)),
    }


def main(argv=None):
    p = compare_parser(__doc__, repeat=9)
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, width=30,
                       note="forward + backward, 1024 x 1024 float32, reduction='mean'")


if __name__ == "__main__":
    main()
