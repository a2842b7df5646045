"""The cost of a double backward (issue 16 item 5): a Hessian-vector product on a 3-layer MLP
(256-512-512-10, batch 128, tanh, cross-entropy) against one gradient, minidl and PyTorch in
the same run, at 1 and 2 threads.

    PYTHONPATH=python python3 bench/python/bench_double_backward.py [--repeat 11] [--threads 1 2]

"grad" = forward + backward of the loss (``autograd.grad``); "hvp" = forward + backward with
create_graph=True + the backward of (gradient . v) (``autograd.grad`` twice: H v by the
vhp formula, what ``md.autograd.functional.hvp`` does). The ratio hvp / grad is the price of
the second derivative (about 3 in theory: two more passes); "vs torch" = minidl / PyTorch
(< 1: minidl faster). The two libraries run in turns (``paired_timeit``, ABAB..).
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.join(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

import numpy as np  # noqa: E402

from _common import machine_header, cpu_model, paired_timeit, print_table  # noqa: E402

SIZES = (256, 512, 512, 10)
BATCH = 128


def make(lib, arrays):
    """loss(params), params and v for library ``lib`` (minidl or torch) from the same arrays."""
    x, y, weights, vs = arrays
    F = lib.nn.functional
    X, Y = lib.tensor(x), lib.tensor(y)
    params = [lib.tensor(a, requires_grad=True) for a in weights]
    V = [lib.tensor(a) for a in vs]

    def loss():
        h = X
        for i in range(0, len(params), 2):
            h = F.linear(h, params[i], params[i + 1])
            if i + 2 < len(params):
                h = h.tanh()
        return F.cross_entropy(h, Y)

    def grad():
        return lib.autograd.grad(loss(), params)

    def hvp():
        gs = lib.autograd.grad(loss(), params, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(gs, V))
        return lib.autograd.grad(dot, params)

    return grad, hvp


def arrays(rng):
    weights, vs = [], []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        weights += [(rng.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32), np.zeros(b, np.float32)]
    vs = [rng.standard_normal(w.shape).astype(np.float32) for w in weights]
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return x, y, weights, vs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    print(machine_header(args.threads))
    import torch
    import minidl as md

    print(f"CPU: {cpu_model()}; MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32")
    data = arrays(np.random.default_rng(0))
    md_grad, md_hvp = make(md, data)
    t_grad, t_hvp = make(torch, data)
    # the same numbers first: the Hessian-vector products agree
    diff = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(md_hvp(), t_hvp()))
    print(f"max |hvp minidl - hvp torch| = {diff:.2e}")
    rows = []
    for n in args.threads:
        torch.set_num_threads(n)
        md.set_num_threads(n)
        mg, tg, mh, th = paired_timeit([md_grad, t_grad, md_hvp, t_hvp], repeat=args.repeat)
        rows.append([n, mg * 1e3, tg * 1e3, mh * 1e3, th * 1e3, mh / mg, th / tg, mh / th])
    print_table(["threads", "minidl grad ms", "torch grad ms", "minidl hvp ms", "torch hvp ms", "minidl hvp/grad",
                 "torch hvp/grad", "hvp vs torch"], rows)


if __name__ == "__main__":
    main()
