"""Kernel path choice by measurement (issue 18 item 1): what each 16-bit GEMM path costs on this
CPU, which one the tuner picks, what the first-use measurement costs and what the choice lookup
costs per call.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_tuning.py [--threads 1 2]
        [--repeat 9] [--steps 3]

1. GFLOP/s of every candidate path forced (``_C.gemm_lowp_mm``), PyTorch's bf16 matmul, the
   fixed rule's path and the tuner's choice; "chosen/best" is the chosen path's time over the
   fastest forced one's in this run (1.00 when the tuner picked the winner). Paths and torch
   run in turns (ABAB), medians.
2. First-use cost: a ResNet-20 bf16 autocast training step (batch 64) in fresh processes with
   an empty cache, measurement on minus off (first step), in turns; and the shape classes it
   measured. Target: under 2 s.
3. Per-call cost of the choice (a shared-lock table lookup): a 64^3 bf16 product with the
   choice remembered against the fixed order, loops of 300 calls in turns, minima.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model, paired_timeit, print_table  # noqa: E402

try:
    from _common import machine_header  # noqa: E402  (the shared header, once bench/python has it)
except ImportError:  # this branch's _common predates machine_header (issue 18's bench helper)
    def machine_header(threads=None) -> str:
        """Where the table ran: CPU model, kernel set, 16-bit GEMM fixed path, threads, load."""
        return (f"CPU: {cpu_model()}; minidl kernels: {_C.isa_name()} (bf16 GEMM fixed rule: "
                f"{_C.gemm_lowp_path('bfloat16')}); threads: {threads}; load average: {os.getloadavg()}")

import minidl as md  # noqa: E402
from minidl import _C, tuning  # noqa: E402
import ml_dtypes  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

BF16 = np.dtype(ml_dtypes.bfloat16)
SHAPES = [(1024, 1024, 1024, False), (256, 1024, 1024, True), (64, 256, 256, False), (4096, 64, 256, True)]

# A ResNet-20 training step (batch 64) in a fresh process: its time and how many shape classes
# the counter ``_C.<counter>()`` says were measured; bench_tuning_conv.py times the float32 step.
RESNET_STEP = """
import json, sys, time
import minidl as md
from minidl import _C
md.set_num_threads(int(sys.argv[1]))
md.manual_seed(0)
model = md.models.resnet20()
opt = md.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x, y = md.randn(64, 3, 32, 32), md.randint(0, 10, (64,))
t0 = time.perf_counter()
with md.autocast("cpu", dtype=md.bfloat16, enabled={bf16}):
    loss = md.nn.functional.cross_entropy(model(x), y)
opt.zero_grad(); loss.backward(); opt.step()
print(json.dumps({{"s": time.perf_counter() - t0, "classes": _C.{counter}()}}))
"""


def gemm_rows(threads, repeat, rng):
    rows = []
    for nt in threads:
        md.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        for M, K, N, wt in SHAPES:
            a = rng.standard_normal((M, K), dtype=np.float32).astype(BF16)
            b = rng.standard_normal((N, K), dtype=np.float32).astype(BF16).T if wt else \
                rng.standard_normal((K, N), dtype=np.float32).astype(BF16)
            paths = tuning.candidates("bfloat16", M, N, K)
            fns = [lambda p=p: _C.gemm_lowp_mm(a, b, p) for p in paths]
            if torch is not None:
                ta = torch.from_numpy(a.astype(np.float32)).bfloat16()
                tb = torch.from_numpy(np.ascontiguousarray(b.T).astype(np.float32)).bfloat16().T if wt else \
                    torch.from_numpy(b.astype(np.float32)).bfloat16()
                fns.append(lambda: ta @ tb)
            times = paired_timeit(fns, repeat=repeat)
            _C.gemm_lowp_clear_choices()
            tuning.set_enabled(True)
            _C.mm(a, b, True)                     # first use: the tuner measures and picks
            chosen = next(iter(_C.gemm_lowp_choices().values()), paths[0])
            by_path = dict(zip(paths, times))
            t_torch = times[-1] if torch is not None else float("nan")
            gflops = [2.0 * M * N * K / by_path[p] / 1e9 for p in paths]
            rows.append([nt, f"{M}x{K}x{N}" + (" W^T" if wt else ""),
                         " ".join(f"{p}={g:.0f}" for p, g in zip(paths, gflops)),
                         f"{2.0 * M * N * K / t_torch / 1e9:.0f}", paths[0], chosen,
                         by_path[chosen] / min(by_path.values()), by_path[chosen] / t_torch])
    return rows


def first_use_rows(threads, steps, script=RESNET_STEP.format(bf16=True, counter="gemm_lowp_measurements")):
    """First step with measurement on and off (MINIDL_CPU_BENCHMARK), each in fresh processes with an
    empty cache, in turns: per thread count the medians, their difference and the classes measured."""
    rows = []
    for nt in threads:
        samples = {"0": [], "1": []}
        classes = 0
        for _ in range(steps):
            for on in ("0", "1"):
                env = dict(os.environ, MINIDL_CPU_BENCHMARK=on, MINIDL_CACHE_DIR=tempfile.mkdtemp(),
                           OMP_NUM_THREADS=str(nt))
                out = subprocess.run([sys.executable, "-c", script, str(nt)], env=env, capture_output=True,
                                     text=True, check=True, timeout=600).stdout
                got = json.loads(out.strip().splitlines()[-1])
                samples[on].append(got["s"])
                classes = max(classes, got["classes"]) if on == "1" else classes
        off, on_ = statistics.median(samples["0"]), statistics.median(samples["1"])
        rows.append([nt, off, on_, on_ - off, classes])
    return rows


def lookup_rows(threads, repeat, rng):
    """Fixed order against a remembered choice equal to it: they differ by the lookup alone.
    Loops of 300 calls in turns, the minimum of each (an overhead hides under load noise in a
    median: on the 2-core test VM medians swung by +-900 ns while minima agreed within 30 ns)."""
    rows = []
    a = rng.standard_normal((64, 64), dtype=np.float32).astype(BF16)
    b = rng.standard_normal((64, 64), dtype=np.float32).astype(BF16)
    for nt in threads:
        md.set_num_threads(nt)
        _C.gemm_lowp_clear_choices()
        tuning.set_enabled(True)
        _C.mm(a, b, True)
        fixed = tuning.candidates("bfloat16", 64, 64, 64)[0]
        for shape_class in _C.gemm_lowp_choices():
            _C.gemm_lowp_set_choice(shape_class, fixed)
        samples = {False: [], True: []}
        for r in range(6 * repeat):
            for on in ((False, True) if r % 2 else (True, False)):
                tuning.set_enabled(on)
                t0 = time.perf_counter()
                for _ in range(300):
                    _C.mm(a, b, True)
                samples[on].append((time.perf_counter() - t0) / 300)
        t_off, t_on = min(samples[False]), min(samples[True])
        rows.append([nt, 1e6 * t_off, 1e6 * t_on, 1e9 * (t_on - t_off)])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--steps", type=int, default=3, help="fresh-process pairs for the first-use cost")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    os.environ["MINIDL_CACHE_DIR"] = tempfile.mkdtemp()      # never the user's cache
    print(machine_header(args.threads))
    print(f"torch: {'-' if torch is None else torch.__version__}")
    print("\n1. 16-bit GEMM paths, GFLOP/s (bf16 operands, float32 result)")
    print_table(["thr", "MxKxN", "forced paths", "torch bf16", "fixed rule", "tuner chose", "chosen/best",
                 "chosen/torch"], gemm_rows(args.threads, args.repeat, rng))
    print("\n2. First-use measurement cost: ResNet-20 bf16 autocast step, batch 64, first step (s)")
    print_table(["thr", "benchmark off", "benchmark on", "tuning cost", "classes measured"],
                first_use_rows(args.threads, args.steps))
    print("\n3. Choice lookup per call: 64^3 bf16 mm (us per call, minimum of loops in turns; ns difference)")
    print_table(["thr", "fixed order", "remembered choice", "lookup ns"], lookup_rows(args.threads, args.repeat, rng))
    print(f"loadavg after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
