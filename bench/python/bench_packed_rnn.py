"""LSTM and GRU on a PackedSequence (variable-length batch), forward + backward, minidl vs
PyTorch: batch 32, lengths spread over [T/4, T] with T = 64, input 64, hidden 256.

    PYTHONPATH=python python3 bench/python/bench_packed_rnn.py [--repeat 7] [--threads 1 2]

Both libraries run the same thread count, timed in alternating turns (``paired_timeit``);
medians in ms and the ratio minidl / PyTorch (< 1: minidl is faster). The padded case (the
same batch as one (T, B, I) tensor, every row T steps) is printed beside it: minidl runs a
packed batch as the padded product with finished rows carried (cpp/ops/rnn/rnn.cpp), so its
packed time should be its padded time plus the packing; PyTorch shrinks each step's product
to the rows still running.
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

T, B, I, H = 64, 32, 64, 256


def cases(lib, kind):
    rng = np.random.default_rng(0)
    lengths = sorted(rng.integers(T // 4, T + 1, size=B).tolist(), reverse=True)
    lengths[0] = T
    x = lib.tensor(rng.standard_normal((T, B, I)).astype(np.float32), requires_grad=True)
    lib.manual_seed(0)
    rnn = getattr(lib.nn, kind)(I, H)
    pack = lib.nn.utils.rnn.pack_padded_sequence

    def packed():
        out, _ = rnn(pack(x, lengths))
        out.data.sum().backward()

    def padded():
        out, _ = rnn(x)
        out.sum().backward()
    return {f"{kind} packed fwd+bwd": packed, f"{kind} padded fwd+bwd": padded}


def main(argv=None):
    p = compare_parser(__doc__, repeat=7)
    args = p.parse_args(argv)
    compare_with_torch(md, torch, cases, args.threads, args.repeat, variants=("LSTM", "GRU"), width=26,
                       note=f"T {T}, B {B}, I {I}, H {H}; lengths uniform in [{T // 4}, {T}]")


if __name__ == "__main__":
    main()
