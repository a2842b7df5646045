"""Training step FP32 vs BF16 autocast: minidl vs PyTorch doing the same, time and peak memory.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_amp.py [--threads 1 2]
        [--steps 30] [--batch 256] [--models cnn mlp gpt]

Models (same architecture in both libraries, float32 master weights, Adam):
  cnn  the digits CNN: conv3x3(1->32)-relu-pool-conv3x3(32->64)-relu-pool-linear(256->128)-relu-linear(10)
  mlp  a Linear-heavy MLP on the digits: 64-1024-1024-1024-10 (where the BF16 GEMM matters)
  gpt  examples/train_char_gpt.py's model (md.models.GPT: vocab 103, block 64, d_model 128,
       4 layers, 4 heads) on 32 random token sequences (--batch applies to cnn and mlp only)
One step = forward under autocast (or not), cross-entropy, backward, optimizer step, on
the real 8x8 digits (a fixed batch) or the fixed token batch. Each (library, model, precision) runs in a fresh
subprocess: time = median over --steps steps after 5 warm-up steps. Memory, in another
subprocess run with glibc told to mmap every block >= 64 KiB and give it back on free
(MALLOC_MMAP_THRESHOLD_=65536, MALLOC_TRIM_THRESHOLD_=0, so the RSS follows the live
buffers instead of malloc's cache): the growth of the peak RSS (VmHWM, reset through
/proc/self/clear_refs) over one step after the warm-up -- activations, gradients and
temporaries, the same measure for both libraries; for minidl also tracemalloc's peak of
the NumPy buffers one step allocates.
Target (issue 7): BF16 autocast steps faster than FP32 and no slower than torch's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import machine_header, run_child, unpin  # noqa: E402


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


GPT = dict(vocab=103, block=64, d_model=128, heads=4, layers=4, batch=32)


def _model(lib, kind):
    nn = lib.nn
    if kind == "gpt":
        import minidl as md
        models = md.models if lib is md else md.models.build(lib.nn)
        return models.GPT(GPT["vocab"], GPT["block"], d_model=GPT["d_model"], nhead=GPT["heads"],
                          num_layers=GPT["layers"])
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64 * 2 * 2, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def child(libname, kind, prec, threads, steps, batch, mode):
    import numpy as np
    from sklearn.datasets import load_digits
    d = load_digits()
    unpin()  # scikit-learn's OpenMP runtime pinned this thread to one core under OMP_PROC_BIND
    x = (np.asarray(d.images, np.float32) / 16.0).reshape(-1, 1, 8, 8)[:batch]
    y = np.asarray(d.target, np.int64)[:batch]
    if kind == "gpt":  # next-token targets of a fixed random token batch
        tok = np.random.default_rng(0).integers(0, GPT["vocab"], (GPT["batch"], GPT["block"] + 1))
        x, y = tok[:, :-1], tok[:, 1:].reshape(-1)
    if libname == "torch":
        import torch as lib
        xt, yt = lib.from_numpy(x), lib.from_numpy(y)
    else:
        import minidl as lib
        xt, yt = lib.tensor(x), lib.tensor(y)
    lib.set_num_threads(threads)
    if mode == "mem":  # minidl raises the mmap threshold at import (a speed choice): undo it here
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 65536)   # M_MMAP_THRESHOLD
        libc.mallopt(-1, 0)       # M_TRIM_THRESHOLD
    lib.manual_seed(0)
    model = _model(lib, kind)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    F = lib.nn.functional
    on = prec == "bf16"

    def step():
        with lib.autocast("cpu", dtype=lib.bfloat16, enabled=on):
            out = model(xt)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]) if kind == "gpt" else out, yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for _ in range(5):
        step()
    if mode == "time":
        ts = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            ts.append(time.perf_counter() - t0)
        print(json.dumps({"ms": 1e3 * statistics.median(ts)}))
        return
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
        f.write("5")
    base = _rss_kib("VmRSS:")
    step()
    rss_peak = _rss_kib("VmHWM:") - base
    traced = float("nan")
    if libname == "minidl":
        import tracemalloc
        tracemalloc.start()
        step()
        traced = tracemalloc.get_traced_memory()[1] / 1024
        tracemalloc.stop()
    print(json.dumps({"rss_kib": rss_peak, "traced_kib": traced}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--models", nargs="+", default=["cnn", "mlp", "gpt"], choices=["cnn", "mlp", "gpt"])
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        lib, kind, prec, nt, mode = args.child
        child(lib, kind, prec, int(nt), args.steps, args.batch, mode)
        return
    print(machine_header(args.threads))
    from _common import print_table
    print(f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '')}  batch={args.batch}  loadavg={os.getloadavg()}")
    rows = []
    for nt in args.threads:
        for kind in args.models:
            res = {}
            for lib in ("minidl", "torch"):
                for prec in ("fp32", "bf16"):
                    res[lib, prec] = {}
                    for mode, extra in (("time", {}), ("mem", {"MALLOC_MMAP_THRESHOLD_": "65536",
                                                               "MALLOC_TRIM_THRESHOLD_": "0"})):
                        out = run_child([sys.executable, __file__, "--steps", str(args.steps), "--batch",
                                              str(args.batch), "--child", lib, kind, prec, str(nt), mode],
                                             capture_output=True, text=True,
                                             env=dict(os.environ, OMP_NUM_THREADS=str(nt), **extra))
                        if out.returncode != 0:
                            raise SystemExit(out.stderr)
                        res[lib, prec].update(json.loads(out.stdout.strip().splitlines()[-1]))
            m32, mbf, t32, tbf = res["minidl", "fp32"], res["minidl", "bf16"], res["torch", "fp32"], res["torch", "bf16"]
            rows.append([nt, kind, m32["ms"], mbf["ms"], t32["ms"], tbf["ms"], m32["ms"] / mbf["ms"],
                         t32["ms"] / tbf["ms"], mbf["ms"] / tbf["ms"], m32["rss_kib"], mbf["rss_kib"],
                         t32["rss_kib"], tbf["rss_kib"], m32["traced_kib"], mbf["traced_kib"]])
    print_table(["thr", "model", "md fp32 ms", "md bf16 ms", "torch fp32 ms", "torch bf16 ms", "md fp32/bf16",
                 "torch fp32/bf16", "md bf16/torch bf16", "md fp32 RSS+ KiB", "md bf16 RSS+ KiB",
                 "torch fp32 RSS+ KiB", "torch bf16 RSS+ KiB", "md fp32 traced KiB", "md bf16 traced KiB"], rows)
    print(f"loadavg after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
