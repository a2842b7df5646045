"""F.embedding_bag on a 100k x 64 table, 4096 bags of ~20 indices (10..30), modes sum / mean /
max, forward and forward + backward, minidl vs PyTorch (issue 15's EmbeddingBag kernel).

    PYTHONPATH=python python3 bench/python/bench_embedding_bag.py [--repeat 11] [--threads 1 2]

Both libraries run the same thread count, timed in alternating turns (``paired_timeit``);
medians in ms and the ratio minidl / PyTorch (< 1: minidl is faster). The backward of both
writes a dense (100k, 64) weight gradient (25.6 MB of zeros plus the used rows), which is most
of its time.
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

ROWS, DIM, BAGS = 100_000, 64, 4096


def cases(lib, mode):
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 31, BAGS)
    offsets = lib.tensor(np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64))
    indices = lib.tensor(rng.integers(0, ROWS, int(lengths.sum())).astype(np.int64))
    weight = lib.tensor(rng.standard_normal((ROWS, DIM)).astype(np.float32), requires_grad=True)
    F = lib.nn.functional

    def fwd():
        with lib.no_grad():
            F.embedding_bag(indices, weight, offsets, mode=mode)

    def fwd_bwd():
        weight.grad = None
        F.embedding_bag(indices, weight, offsets, mode=mode).sum().backward()
    return {f"{mode} fwd": fwd, f"{mode} fwd+bwd": fwd_bwd}


def main(argv=None):
    p = compare_parser(__doc__, repeat=11)
    p.add_argument("--modes", nargs="+", default=["sum", "mean", "max"])
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, variants=args.modes, width=16,
                       note=f"embedding_bag: table {ROWS} x {DIM}, {BAGS} bags of 10..30 indices")


if __name__ == "__main__":
    main()
