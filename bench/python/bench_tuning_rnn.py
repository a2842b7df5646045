"""The RNN time loop's thread split by measurement (issue 18 item 1, cpp/ops/rnn/rnn_tune.cpp):
what each split costs per shape on this CPU, which one the tuner picks, and what the first-use
measurement costs.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_tuning_rnn.py [--threads 2]
        [--repeat 9] [--steps 3]

1. Per shape (seq 64, input 256; forward + backward through autograd): ms with the ``rows``
   split forced, with ``units`` forced, with the tuner's choice (its picks forward / backward,
   r = rows, u = units), and PyTorch's; run in turns (ABAB), medians. "tuned/best" = the tuned
   time over the faster forced split's (1.00: the tuner matched the winner), "tuned/torch" the
   ratio to PyTorch (< 1: minidl faster). "fixed" is the split the fixed rule takes.
2. First-use cost: an LSTM (H 256, batch 32) forward + backward in fresh processes with an empty
   cache, measurement on minus off (first step), in turns, and the classes measured.
With one thread there is nothing to choose: the tuner measures nothing there.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_header, paired_timeit, print_table  # noqa: E402
from bench_rnn import INPUT, SEQ, step_fn  # noqa: E402
from bench_tuning import first_use_rows  # noqa: E402

import minidl as md  # noqa: E402
from minidl import _C, tuning  # noqa: E402

CASES = [("LSTM", 256, 32), ("LSTM", 512, 32), ("LSTM", 256, 8), ("LSTM", 512, 12), ("GRU", 256, 32),
         ("GRU", 512, 8)]

LSTM_STEP = """
import json, sys, time
import numpy as np
import minidl as md
from minidl import _C
md.set_num_threads(int(sys.argv[1]))
model = md.nn.LSTM(256, 256)
x = md.tensor(np.random.default_rng(0).standard_normal((64, 32, 256)).astype(np.float32), requires_grad=True)
t0 = time.perf_counter()
y, _ = model(x)
y.sum().backward()
print(json.dumps({"s": time.perf_counter() - t0, "classes": _C.rnn_split_measurements()}))
"""


def shape_rows(threads, repeat, rng):
    import torch
    rows = []
    for nt in threads:
        md.set_num_threads(nt)
        torch.set_num_threads(nt)
        for kind, hidden, batch in CASES:
            xa = rng.standard_normal((SEQ, batch, INPUT)).astype(np.float32)
            ga = rng.standard_normal((SEQ, batch, hidden)).astype(np.float32)
            tm = getattr(torch.nn, kind)(INPUT, hidden)
            mm = getattr(md.nn, kind)(INPUT, hidden)
            mm.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
            md_step = step_fn(mm, md.tensor(xa, requires_grad=True), md.tensor(ga), list(mm.parameters()))

            def forced(split):
                def run():
                    _C.rnn_force_split(split)
                    md_step()
                return run

            _C.rnn_split_clear_choices()
            tuning.set_enabled(True)
            forced("auto")()                      # first use: the tuner measures forward and backward
            chosen = {c.split()[1]: v[0] for c, v in _C.rnn_split_choices().items()}
            picks = "/".join(chosen.get(p, "-") for p in ("forward", "backward"))
            t_rows, t_units, t_tuned, t_torch = paired_timeit(
                [forced("rows"), forced("units"), forced("auto"),
                 step_fn(tm, torch.tensor(xa, requires_grad=True), torch.tensor(ga), list(tm.parameters()))],
                repeat=repeat)
            _C.rnn_force_split("auto")
            rows.append([f"{kind} H={hidden} B={batch}", nt, _C.rnn_split_fixed(batch, nt), t_rows * 1e3,
                         t_units * 1e3, picks, t_tuned * 1e3, t_torch * 1e3, t_tuned / min(t_rows, t_units),
                         t_tuned / t_torch])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    print(machine_header(args.threads))
    rng = np.random.default_rng(0)
    print(f"\n1. Each split forced vs the tuner's choice vs PyTorch (seq {SEQ}, input {INPUT}, forward + backward, ms)")
    print_table(["shape", "threads", "fixed", "rows", "units", "picks f/b", "tuned", "torch", "tuned/best",
                 "tuned/torch"], shape_rows(args.threads, args.repeat, rng))
    print("\n2. First-use cost: LSTM H=256 B=32 forward + backward, first step in a fresh process, s")
    print_table(["threads", "fixed rule", "measuring", "cost", "classes measured"],
                first_use_rows(args.threads, args.steps, LSTM_STEP))


if __name__ == "__main__":
    main()
