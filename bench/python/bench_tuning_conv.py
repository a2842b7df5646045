"""Float32 convolution path choice by measurement (issue 18 item 1, cpp/ops/conv/conv_tune.cpp):
what each path costs per shape on this CPU, which one the tuner picks, and what the first-use
measurement costs a ResNet-20 step.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_tuning_conv.py [--threads 1 2]
        [--repeat 9] [--steps 3]

1. Per shape of bench_conv.py (batch 32, forward + backward through autograd): ms with the
   ``direct`` path forced, with ``im2col`` forced, with ``winograd`` forced (3x3 stride 1; the
   direct path elsewhere), with the tuner's choice (its three picks: forward / input gradient /
   weight gradient, d = direct, i = im2col, w = winograd, - = one path there, or too small to
   time), and PyTorch's; run in turns (ABAB), medians. "tuned/best" = the tuned time over the
   fastest forced path's (1.00: the tuner matched the winner), "tuned/torch" the ratio to
   PyTorch (< 1: minidl faster).
2. First-use cost: a ResNet-20 float32 training step (batch 64) in fresh processes with an
   empty cache, measurement on minus off (first step), in turns, and the classes measured.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_header, paired_timeit, print_table  # noqa: E402
from bench_conv import SHAPES, make_md, make_torch  # noqa: E402
from bench_tuning import RESNET_STEP, first_use_rows  # noqa: E402

import minidl as md  # noqa: E402
from minidl import _C, tuning  # noqa: E402

def shape_rows(threads, repeat, rng):
    rows = []
    for nt in threads:
        md.set_num_threads(nt)
        import torch
        torch.set_num_threads(nt)
        for name, xs, K, k, s, p, g in SHAPES:
            if g > 1:
                continue  # depthwise has one path (conv_simd.cpp)
            step = make_md(xs, K, k, s, p, g, rng)

            def forced(path):
                def run():
                    _C.conv2d_force_path(path)
                    step()
                return run

            _C.conv2d_clear_choices()
            tuning.set_enabled(True)
            forced("auto")()                       # first use: the tuner measures its three directions
            chosen = {c.split()[0]: v[0] for c, v in _C.conv2d_choices().items()}  # "-": one path, not measured
            picks = "/".join(chosen.get(d, "-") for d in ("forward", "backward_input", "backward_weight"))
            t_direct, t_im2col, t_winograd, t_tuned, t_torch = paired_timeit(
                [forced("direct"), forced("im2col"), forced("winograd"), forced("auto"),
                 make_torch(xs, K, k, s, p, g, rng)], repeat=repeat)
            _C.conv2d_force_path("auto")
            rows.append([name, nt, t_direct * 1e3, t_im2col * 1e3, t_winograd * 1e3, picks, t_tuned * 1e3,
                         t_torch * 1e3, t_tuned / min(t_direct, t_im2col, t_winograd), t_tuned / t_torch])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    print(machine_header(args.threads))
    rng = np.random.default_rng(0)
    print("\n1. Each path forced vs the tuner's choice vs PyTorch (forward + backward, ms)")
    print_table(["shape", "threads", "direct", "im2col", "winograd", "picks f/dx/dw", "tuned", "torch",
                 "tuned/best", "tuned/torch"], shape_rows(args.threads, args.repeat, rng))
    print("\n2. First-use cost: ResNet-20 fp32 training step (batch 64), first step in a fresh process, s")
    print_table(["threads", "fixed rule", "measuring", "cost", "classes measured"],
                first_use_rows(args.threads, args.steps, RESNET_STEP.format(bf16=False, counter="conv2d_measurements")))


if __name__ == "__main__":
    main()
