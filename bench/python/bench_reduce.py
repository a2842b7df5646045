"""Column sums (sum over the leading axis of a contiguous (rows, cols) float32 array, the bias
gradient of a Linear layer: db = dY.sum(0)), and a few other reductions: minidl vs PyTorch vs
NumPy in the same process, timed in turns (paired_timeit), 1 and 2 threads.

    OMP_PROC_BIND=close PYTHONPATH=python python bench/python/bench_reduce.py [--repeat 31]

The (4096, n) shapes are the GPT block's bias gradients (batch 16 x seq 256 rows; 256, 768
and 1024 features). Ratios are time ratios (< 1: minidl faster). NumPy is single-threaded.
"cold" rotates over 16 copies of the array, so each call reads it from L3/memory as in a
training step, where dY was written by another op long before; the default reads the same
array every call (warm: L2/L3). For minidl the call is the raw kernel entry of the autograd
node (minidl.ops.array.reduce), as LinearBackward calls it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import minidl as md  # noqa: E402
from minidl.ops import array as A  # noqa: E402
from _common import machine_header, paired_timeit, print_table, run_child  # noqa: E402

# (label, shape, dims, copies): copies > 1 rotates over that many arrays ("cold")
CASES = [
    ("sum dim 0", (4096, 256), 0, 1),
    ("sum dim 0", (4096, 768), 0, 1),
    ("sum dim 0", (4096, 1024), 0, 1),
    ("sum dim 0 cold", (4096, 1024), 0, 16),
    ("sum dim 0", (65536, 16), 0, 1),
    ("sum dim 0", (256, 4096), 0, 1),
    ("sum dims (0, 1)", (16, 256, 256), (0, 1), 1),
    ("amax dim 0", (4096, 1024), 0, 1),
    ("sum dim 1 (rows)", (4096, 1024), 1, 1),
]


def _rotating(arrays, fn):
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % len(arrays)
        return fn(arrays[state["i"]])
    return call


def worker(threads: int, repeat: int) -> list:
    import torch  # deferred: the benchmark's reference, an optional dependency
    md.set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for label, shape, dims, copies in CASES:
        xs = [rng.standard_normal(shape).astype(np.float32) for _ in range(copies)]
        ts = [torch.from_numpy(x) for x in xs]
        dims_t = dims if isinstance(dims, tuple) else (dims,)
        if label.startswith("amax"):
            fns = [_rotating(xs, lambda x: A.reduce(A.R_MAX, x, dims_t)), _rotating(ts, lambda t: t.amax(dims)),
                   _rotating(xs, lambda x: x.max(axis=dims))]
        else:
            fns = [_rotating(xs, lambda x: A.reduce(A.R_SUM, x, dims_t)), _rotating(ts, lambda t: t.sum(dims)),
                   _rotating(xs, lambda x: x.sum(axis=dims))]
        # the same answer before timing
        np.testing.assert_allclose(fns[0](), fns[1]().numpy(), rtol=1e-4, atol=1e-3)
        t_md, t_torch, t_np = paired_timeit(fns, repeat=repeat, warmup=3)
        rows.append([threads, label, "x".join(map(str, shape)), t_md * 1e3, t_torch * 1e3, t_np * 1e3,
                     t_md / t_torch, t_md / t_np])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=31)
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeat)))
        return
    print(machine_header((1, 2)))
    rows = []
    # one process per thread count: under OMP_PROC_BIND=close a one-thread pool pins the
    # process to one core, and a two-thread pool started afterwards would share it (_common.run_child)
    for threads in (1, 2):
        res = run_child([sys.executable, __file__, "--worker", str(threads), "--repeat", str(args.repeat)],
                        capture_output=True, text=True, check=True)
        rows += json.loads(res.stdout.strip().splitlines()[-1])
    print(f"median of {args.repeat} paired runs (ms), kernel set {md.backend.name}")
    print_table(["threads", "op", "shape", "minidl ms", "torch ms", "numpy ms", "vs torch", "vs numpy"], rows)


if __name__ == "__main__":
    main()
