"""einsum at attention shapes and tril of a large matrix, minidl vs PyTorch (issue 15).

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_einsum.py [--repeat 9]

einsum("bhqd,bhkd->bhqk") (the scores Q K^T) and einsum("bhqk,bhkd->bhqd") (weights @ V) at
b = 8, h = 8, q = k = 256, d = 64, forward alone and forward + backward; tril of a 2048 x 2048
float32 matrix (forward). Each thread count runs in its own child process (so each library
sets its thread pool once); in a child the two libraries are timed in turns (paired_timeit)
and the table gives medians in ms and the ratio minidl / PyTorch (< 1: minidl faster).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_header, cpu_model, paired_timeit, print_table, run_child  # noqa: E402

B, H, L, D, N_TRIL = 8, 8, 256, 64, 2048
EQUATIONS = {"bhqd,bhkd->bhqk": ((B, H, L, D), (B, H, L, D)), "bhqk,bhkd->bhqd": ((B, H, L, L), (B, H, L, D))}


def child(threads: int, repeat: int) -> list:
    import torch
    import minidl as md
    torch.set_num_threads(threads)
    md.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for eq, shapes in EQUATIONS.items():
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        mo = [md.tensor(a, requires_grad=True) for a in arrays]
        to = [torch.tensor(a, requires_grad=True) for a in arrays]
        with md.no_grad(), torch.no_grad():
            t_md, t_torch = paired_timeit([lambda: md.einsum(eq, *mo), lambda: torch.einsum(eq, *to)], repeat)
        rows.append([f"einsum {eq} fwd", threads, t_md * 1e3, t_torch * 1e3])
        g_md, g_torch = md.tensor(np.ones(md.einsum(eq, *mo).shape, np.float32)), torch.ones(torch.einsum(eq, *to).shape)

        def step_md():
            md.einsum(eq, *mo).backward(g_md)

        def step_torch():
            torch.einsum(eq, *to).backward(g_torch)
        t_md, t_torch = paired_timeit([step_md, step_torch], repeat)
        rows.append([f"einsum {eq} fwd+bwd", threads, t_md * 1e3, t_torch * 1e3])
    a = rng.standard_normal((N_TRIL, N_TRIL)).astype(np.float32)
    am, at = md.tensor(a), torch.tensor(a)
    t_md, t_torch = paired_timeit([lambda: md.tril(am), lambda: torch.tril(at)], repeat)
    rows.append([f"tril {N_TRIL}x{N_TRIL}", threads, t_md * 1e3, t_torch * 1e3])
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat)))
        return
    print(machine_header(args.threads))
    os.environ.setdefault("OMP_PROC_BIND", "close")
    rows = []
    for threads in args.threads:
        out = run_child([sys.executable, __file__, "--child", str(threads), "--repeat", str(args.repeat)],
                        capture_output=True, text=True, check=True)
        rows += [r + [r[2] / r[3]] for r in json.loads(out.stdout.strip().splitlines()[-1])]
    print(f"CPU: {cpu_model()}; b={B} h={H} q=k={L} d={D}; medians of {args.repeat} paired runs")
    print_table(["case", "threads", "minidl ms", "torch ms", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
