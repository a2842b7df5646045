"""minidl's activation kernels of issue 15 (SiLU ... Threshold, cpp/ops/activation/) forward and
backward on 16M float32 elements against PyTorch's, at 1 and 2 threads.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_activations.py [--n N] [--threads 1,2]

Each row times minidl's kernel call (``_C.activation`` / ``_C.activation_backward``: the
Python layer adds a few microseconds, nothing against ~10 ms) and PyTorch's ATen function for
the same formula, the two run in turns (``paired_timeit``: ABAB.., so a neighbour's load on this
shared machine hits both); "vs torch" = minidl median / torch median (< 1: minidl faster).
GB/s counts the bytes that must move: forward 8 B/element, backward 12 B. Big blocks come from
the heap (mallopt(M_MMAP_MAX, 0)), as in bench_elementwise.py, so page faults are not timed.
"""
import argparse
import ctypes
import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.join(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

import numpy as np  # noqa: E402

from _common import machine_header, paired_timeit, print_table  # noqa: E402
from _common import cpu_model  # noqa: E402

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def cases(torch, tx):
    """kernel name -> (p, q, torch forward, torch backward(g, x))"""
    aten = torch.ops.aten
    log_sigmoid_buffer = aten.log_sigmoid_forward(tx)[1]  # what torch's autograd saves for the backward
    return {
        "silu": (0, 0, torch.nn.functional.silu, aten.silu_backward),
        "mish": (0, 0, torch.nn.functional.mish, aten.mish_backward),
        "elu": (1.0, 1.0, torch.nn.functional.elu, lambda g, x: aten.elu_backward(g, 1.0, 1.0, 1.0, False, x)),
        "selu": (SELU_ALPHA, SELU_SCALE, torch.selu,
                 lambda g, x: aten.elu_backward(g, SELU_ALPHA, SELU_SCALE, 1.0, False, x)),
        "celu": (2.0, 0, lambda x: torch.celu(x, 2.0), lambda g, x: aten.elu_backward(g, 2.0, 1.0, 0.5, False, x)),
        "softplus": (1.0, 20.0, torch.nn.functional.softplus, lambda g, x: aten.softplus_backward(g, x, 1.0, 20.0)),
        "softsign": (0, 0, torch.nn.functional.softsign, None),
        "hardtanh": (-1.0, 1.0, torch.nn.functional.hardtanh, lambda g, x: aten.hardtanh_backward(g, x, -1.0, 1.0)),
        "hardswish": (0, 0, torch.nn.functional.hardswish, aten.hardswish_backward),
        "hardsigmoid": (0, 0, torch.nn.functional.hardsigmoid, aten.hardsigmoid_backward),
        "logsigmoid": (0, 0, torch.nn.functional.logsigmoid,
                       lambda g, x: aten.log_sigmoid_backward(g, x, log_sigmoid_buffer)),
        "softshrink": (0.5, 0, torch.nn.functional.softshrink, lambda g, x: aten.softshrink_backward(g, x, 0.5)),
        "hardshrink": (0.5, 0, torch.nn.functional.hardshrink, lambda g, x: aten.hardshrink_backward(g, x, 0.5)),
        "threshold": (0.1, 2.0, lambda x: torch.threshold(x, 0.1, 2.0),
                      lambda g, x: aten.threshold_backward(g, x, 0.1)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16 * 1024 * 1024)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", default=None, help="comma-separated kernel names")
    args = ap.parse_args()
    print(machine_header(args.threads))
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-4, 0)        # M_MMAP_MAX
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD

    import torch
    from minidl import _C

    n = args.n
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n, dtype=np.float32) * 3).astype(np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    table = cases(torch, tx)
    names = args.only.split(",") if args.only else list(table)
    print(f"CPU: {cpu_model()}; n = {n} float32, kernel set {_C.isa_name()}, torch {torch.__version__}, "
          f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND')}, median of {args.repeat} paired runs")
    rows = []
    for nt in [int(s) for s in args.threads.split(",")]:
        _C.set_num_threads(nt)
        torch.set_num_threads(nt)
        for name in names:
            p, q, t_fwd, t_bwd = table[name]
            code = getattr(_C.Activation, "elu" if name == "selu" else name)
            md_s, th_s = paired_timeit([lambda: _C.activation(code, x, p, q), lambda: t_fwd(tx)],
                                       repeat=args.repeat)
            rows.append([name, nt, md_s * 1e3, 8 * n / md_s / 1e9, th_s * 1e3, md_s / th_s])
            if t_bwd is None:  # softsign: torch differentiates the composite x / (1 + |x|)
                continue
            md_s, th_s = paired_timeit([lambda: _C.activation_backward(code, g, x, p, q), lambda: t_bwd(tg, tx)],
                                       repeat=args.repeat)
            rows.append([name + "_bwd", nt, md_s * 1e3, 12 * n / md_s / 1e9, th_s * 1e3, md_s / th_s])
    print_table(["op", "thr", "minidl ms", "GB/s", "torch ms", "vs torch"], rows)


if __name__ == "__main__":
    main()
