"""LSTM and GRU forward + backward, minidl vs PyTorch (same machine, same run, same threads),
plus a NumPy reference forward (x @ W_ih^T once, then per step h @ W_hh^T and the gates).

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_rnn.py [--repeat 5] [--threads 1 2]
        [--clock wall|cpu] [--kinds LSTM GRU]

--clock cpu times with the process CPU time (all threads summed) instead of the wall clock:
with one thread on a machine shared with other jobs it is the steadier measure of the work done.

Shapes from issue 5: input 256, hidden 256 and 512, seq 64, batch 32, 1 and 2 layers.
Prints median ms per step and ratios minidl / PyTorch (< 1: minidl faster), and the load
average (the numbers are only comparable on a quiet machine).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_header, blas_idle, paired_timeit, print_table, timeit  # noqa: E402

import minidl as md  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

SEQ, BATCH, INPUT = 64, 32, 256
CASES = [(kind, hidden, layers) for kind in ("LSTM", "GRU") for hidden in (256, 512) for layers in (1, 2)]


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def numpy_forward(kind, weights, x):
    """Reference forward in NumPy: weights = [(W_ih, W_hh, b_ih, b_hh) per layer]."""
    for w_ih, w_hh, b_ih, b_hh in weights:
        T, B, _ = x.shape
        H = w_hh.shape[1]
        xw = (x.reshape(T * B, -1) @ w_ih.T + b_ih).reshape(T, B, -1)
        h = np.zeros((B, H), np.float32)
        c = np.zeros((B, H), np.float32)
        ys = np.empty((T, B, H), np.float32)
        for t in range(T):
            hw = h @ w_hh.T + b_hh
            if kind == "LSTM":
                pre = xw[t] + hw
                i, f, g, o = _sigmoid(pre[:, :H]), _sigmoid(pre[:, H:2 * H]), np.tanh(pre[:, 2 * H:3 * H]), \
                    _sigmoid(pre[:, 3 * H:])
                c = f * c + i * g
                h = o * np.tanh(c)
            else:
                r = _sigmoid(xw[t, :, :H] + hw[:, :H])
                z = _sigmoid(xw[t, :, H:2 * H] + hw[:, H:2 * H])
                n = np.tanh(xw[t, :, 2 * H:] + r * hw[:, 2 * H:])
                h = (1 - z) * n + z * h
            ys[t] = h
        x = ys
    return x


def cpu_timeit(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Median process CPU time of fn() in seconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        samples.append(time.process_time() - t0)
    return statistics.median(samples)


def step_fn(module, x, g, params):
    def step():
        for p in params:
            p.grad = None
        x.grad = None
        out, _ = module(x)
        out.backward(g)
    return step


def paired_steps(kind: str, hidden: int, layers: int = 1, seed: int = 0):
    """(minidl step, torch step): forward + backward of ``kind`` (LSTM or GRU) on one random
    (SEQ, BATCH, INPUT) input, the same weights in both (torch's initialisation copied into
    minidl); run_all.py times these in one process."""
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal((SEQ, BATCH, INPUT)).astype(np.float32)
    ga = rng.standard_normal((SEQ, BATCH, hidden)).astype(np.float32)
    tm = getattr(torch.nn, kind)(INPUT, hidden, num_layers=layers)
    mm = getattr(md.nn, kind)(INPUT, hidden, num_layers=layers)
    mm.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    return tuple(step_fn(m, lib.tensor(xa, requires_grad=True), lib.tensor(ga), list(m.parameters()))
                 for lib, m in ((md, mm), (torch, tm)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--kinds", nargs="+", choices=["LSTM", "GRU"], default=["LSTM", "GRU"])
    args = ap.parse_args()
    print(machine_header(args.threads))
    timeit_ = cpu_timeit if args.clock == "cpu" else timeit
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rng = np.random.default_rng(0)
    rows = []
    for threads in args.threads:
        md.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        for kind, hidden, layers in [c for c in CASES if c[0] in args.kinds]:
            xa = rng.standard_normal((SEQ, BATCH, INPUT)).astype(np.float32)
            ga = rng.standard_normal((SEQ, BATCH, hidden)).astype(np.float32)
            mm = getattr(md.nn, kind)(INPUT, hidden, num_layers=layers)
            xm, gm = md.tensor(xa, requires_grad=True), md.tensor(ga)
            pm = list(mm.parameters())
            md_step = step_fn(mm, xm, gm, pm)

            def md_fwd():
                with md.no_grad():
                    mm(xm)
            t_th = f_th = float("nan")
            if torch is None:
                t_md = timeit_(md_step, repeat=args.repeat, warmup=1)
                f_md = timeit_(md_fwd, repeat=args.repeat, warmup=1)
            else:
                tm = getattr(torch.nn, kind)(INPUT, hidden, num_layers=layers)
                xt, gt = torch.tensor(xa, requires_grad=True), torch.tensor(ga)

                def th_fwd():
                    with torch.no_grad():
                        tm(xt)
                # minidl and torch in turns, call by call (see paired_timeit)
                t_md, t_th = paired_timeit([md_step, step_fn(tm, xt, gt, list(tm.parameters()))], args.repeat,
                                           clock=clock)
                f_md, f_th = paired_timeit([md_fwd, th_fwd], args.repeat, clock=clock)
            weights = [tuple(getattr(mm, f"{n}_l{k}").detach().numpy() for n in ("weight_ih", "weight_hh", "bias_ih",
                                                                                   "bias_hh")) for k in range(layers)]
            f_np = timeit_(lambda: numpy_forward(kind, weights, xa), repeat=max(3, args.repeat // 2), warmup=1)
            blas_idle()  # before the next case times minidl
            rows.append([f"{kind} H={hidden} L={layers}", threads, t_md * 1e3, t_th * 1e3, t_md / t_th,
                         f_md * 1e3, f_th * 1e3, f_np * 1e3, f_md / f_th])
    print(f"seq {SEQ}, batch {BATCH}, input {INPUT}; median of {args.repeat}, minidl and torch timed in turns "
          f"({args.clock} clock); "
          f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '')}; loadavg {os.getloadavg()}")
    print_table(["model", "thr", "md f+b ms", "torch f+b ms", "f+b ratio", "md fwd ms", "torch fwd ms",
                 "numpy fwd ms", "fwd ratio"], rows)


if __name__ == "__main__":
    main()
