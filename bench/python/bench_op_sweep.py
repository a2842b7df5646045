"""Many everyday tensor ops, minidl vs PyTorch, each forward and forward + backward, sorted by
the ratio: where a PyTorch program would find minidl slow (same machine, same run, same threads).

    PYTHONPATH=python python3 bench/python/bench_op_sweep.py [--threads 1] [--repeat 7]
        [--min-ratio 0] [--only NAME ...] [--list]

The operands are a (1024, 1024) float32 matrix, a (32, 64, 32, 32) image batch or (64, 8, 128,
64) attention heads; "fwd+bwd" backpropagates the sum of the output (float outputs only).
Medians of --repeat runs of each library's call, the two libraries in alternating turns (paired_timeit).
Rows with ratio >= --min-ratio are printed (0: all). The specialised benchmarks time each op
more carefully; this one looks for the ops that are far off: an op at several times PyTorch's
time is a slow path (a scalar loop, a strided walk, a general formula where PyTorch has a
special case), and each such row found so far got its own fix and benchmark (the README's
performance section lists them).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)

import minidl as md  # noqa: E402
import torch  # noqa: E402

from _common import machine_header, paired_timeit, print_table  # noqa: E402

RNG = np.random.default_rng(0)
MAT = RNG.standard_normal((1024, 1024)).astype(np.float32)
OTHER = RNG.standard_normal((1024, 1024)).astype(np.float32)
ROW = RNG.standard_normal(1024).astype(np.float32)
COL = RNG.standard_normal((1024, 1)).astype(np.float32)
IDX = RNG.integers(0, 1024, 4096)
CLASSES = RNG.integers(0, 1024, 1024)
IMAGES = RNG.standard_normal((32, 64, 32, 32)).astype(np.float32)
HEADS = RNG.standard_normal((64, 8, 128, 64)).astype(np.float32)
KERNEL = (np.ones((64, 64, 3, 3)) * 0.01).astype(np.float32)


def _matrix_ops():
    """name -> f(lib, x) on the (1024, 1024) matrix x"""
    return {
        "exp": lambda L, a: L.exp(a), "log": lambda L, a: L.log(a.abs() + 1), "sin": lambda L, a: L.sin(a),
        "cos": lambda L, a: L.cos(a), "tanh": lambda L, a: L.tanh(a), "sigmoid": lambda L, a: L.sigmoid(a),
        "relu": lambda L, a: L.relu(a), "gelu": lambda L, a: L.nn.functional.gelu(a),
        "silu": lambda L, a: L.nn.functional.silu(a), "softplus": lambda L, a: L.nn.functional.softplus(a),
        "erf": lambda L, a: L.erf(a), "sqrt": lambda L, a: L.sqrt(a.abs()), "floor": lambda L, a: L.floor(a),
        "round": lambda L, a: L.round(a), "sign": lambda L, a: L.sign(a), "clamp": lambda L, a: L.clamp(a, -1, 1),
        "x ** 2": lambda L, a: a ** 2, "x ** 1.5": lambda L, a: a.abs() ** 1.5,
        "a + row": lambda L, a: a + L.tensor(ROW), "a * col": lambda L, a: a * L.tensor(COL),
        "a / b": lambda L, a: a / L.tensor(OTHER), "maximum": lambda L, a: L.maximum(a, L.tensor(OTHER)),
        "where": lambda L, a: L.where(a > 0, a, L.tensor(OTHER)), "(a > 0).float()": lambda L, a: (a > 0).float(),
        "sum": lambda L, a: a.sum(), "sum(0)": lambda L, a: a.sum(0), "sum(1)": lambda L, a: a.sum(1),
        "mean(1)": lambda L, a: a.mean(1), "var(1)": lambda L, a: a.var(1), "std(0)": lambda L, a: a.std(0),
        "max(1)": lambda L, a: a.max(1).values, "argmax(1)": lambda L, a: a.argmax(1),
        "logsumexp(1)": lambda L, a: L.logsumexp(a, 1), "norm()": lambda L, a: a.norm(),
        "norm(dim=1)": lambda L, a: a.norm(dim=1), "cumsum(1)": lambda L, a: a.cumsum(1),
        "prod(1)": lambda L, a: (a * 0.01 + 1).prod(1),
        "softmax(1)": lambda L, a: L.softmax(a, 1), "softmax(0)": lambda L, a: L.softmax(a, 0),
        "log_softmax(1)": lambda L, a: L.log_softmax(a, 1),
        "gather": lambda L, a: a.gather(1, L.tensor(IDX.reshape(1024, 4))),
        "index_select": lambda L, a: a.index_select(0, L.tensor(IDX)), "a[idx]": lambda L, a: a[L.tensor(IDX)],
        "masked_fill": lambda L, a: a.masked_fill(a > 0, 0.0), "a[a > 0]": lambda L, a: a[a > 0],
        "cat(0)": lambda L, a: L.cat([a, a], 0), "cat(1)": lambda L, a: L.cat([a, a], 1),
        "stack": lambda L, a: L.stack([a, a]), "t().contiguous()": lambda L, a: a.t().contiguous(),
        "sort(1)": lambda L, a: a.sort(1).values, "topk(10, 1)": lambda L, a: a.topk(10, 1).values,
        "argsort(1)": lambda L, a: a.argsort(1), "tril": lambda L, a: L.tril(a), "flip(0)": lambda L, a: a.flip(0),
        "roll": lambda L, a: a.roll(3, 1), "repeat": lambda L, a: a.repeat(2, 1),
        "mm": lambda L, a: a @ L.tensor(OTHER), "einsum ij,jk": lambda L, a: L.einsum("ij,jk->ik", a, L.tensor(OTHER)),
        "one_hot": lambda L, a: L.nn.functional.one_hot(L.tensor(CLASSES), 1024),
        "cross_entropy": lambda L, a: L.nn.functional.cross_entropy(a, L.tensor(CLASSES)),
        "mse_loss": lambda L, a: L.nn.functional.mse_loss(a, L.tensor(OTHER)),
        "bce_with_logits": lambda L, a: L.nn.functional.binary_cross_entropy_with_logits(a, (L.tensor(OTHER) > 0).float()),
        "layer_norm": lambda L, a: L.nn.functional.layer_norm(a, (1024,)),
        "normalize": lambda L, a: L.nn.functional.normalize(a, dim=1),
        "cosine_similarity": lambda L, a: L.nn.functional.cosine_similarity(a, L.tensor(OTHER)),
        "cdist": lambda L, a: L.cdist(a[:256], L.tensor(OTHER)[:256]), "lerp": lambda L, a: L.lerp(a, L.tensor(OTHER), 0.3),
        "addcmul": lambda L, a: L.addcmul(a, a, L.tensor(OTHER), value=0.5), "randn_like": lambda L, a: L.randn_like(a),
        "multinomial": lambda L, a: L.multinomial(L.softmax(a[:64], 1), 10),
        "nonzero": lambda L, a: (a > 1).nonzero(),
        "x * rsqrt(mean(x ** 2))": lambda L, a: a * L.rsqrt(a.pow(2).mean(-1, keepdim=True) + 1e-6),
    }


def _image_ops():
    return {
        "conv2d 64 -> 64 3x3": lambda L, x: L.nn.functional.conv2d(x, L.tensor(KERNEL), padding=1),
        "max_pool2d": lambda L, x: L.nn.functional.max_pool2d(x, 2),
        "avg_pool2d": lambda L, x: L.nn.functional.avg_pool2d(x, 2),
        "adaptive_avg_pool2d(1)": lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, 1),
        "interpolate bilinear x2": lambda L, x: L.nn.functional.interpolate(x, scale_factor=2, mode="bilinear"),
        "batch_norm": lambda L, x: L.nn.functional.batch_norm(x, None, None, training=True),
        "group_norm": lambda L, x: L.nn.functional.group_norm(x, 8),
        "permute NHWC contiguous": lambda L, x: x.permute(0, 2, 3, 1).contiguous(),
        "softmax(1) of NCHW": lambda L, x: L.softmax(x, 1), "pad": lambda L, x: L.nn.functional.pad(x, (1, 1, 1, 1)),
        "pixel_shuffle": lambda L, x: L.nn.functional.pixel_shuffle(x, 2),
    }


def _head_ops():
    return {
        "q @ k^T": lambda L, q: q @ q.transpose(-1, -2),
        "sdpa": lambda L, q: L.nn.functional.scaled_dot_product_attention(q, q, q),
        "sdpa causal": lambda L, q: L.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True),
    }


def all_ops():
    """name -> (operand, f(lib, x))"""
    ops = {}
    for data, group in ((MAT, _matrix_ops()), (IMAGES, _image_ops()), (HEADS, _head_ops())):
        ops.update({name: (data, f) for name, f in group.items()})
    return ops


def _runner(lib, f, data, backward):
    x = lib.tensor(data, requires_grad=backward)

    def run():
        y = f(lib, x)
        if backward and y.dtype.is_floating_point and y.requires_grad:
            x.grad = None
            y.sum().backward()
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--min-ratio", type=float, default=0.0)
    p.add_argument("--only", nargs="+", default=None)
    p.add_argument("--list", action="store_true")
    args = p.parse_args(argv)
    md.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(machine_header(args.threads))
    ops = all_ops()
    if args.list:
        print("\n".join(ops))
        return
    rows = []
    for name, (data, f) in ops.items():
        if args.only and name not in args.only:
            continue
        for mode in ("fwd", "fwd+bwd"):
            m, t = (v * 1e3 for v in paired_timeit([_runner(md, f, data, mode != "fwd"),
                                                    _runner(torch, f, data, mode != "fwd")], repeat=args.repeat))
            rows.append((m / t, name, mode, m, t))
    rows.sort(key=lambda r: -r[0])
    print(f"medians of {args.repeat} runs; ratio = minidl / PyTorch (< 1: minidl faster); rows with ratio >= "
          f"{args.min_ratio}")
    print_table(["op", "pass", "minidl ms", "torch ms", "ratio"],
                [[n, mode, f"{m:.3f}", f"{t:.3f}", f"{r:.2f}"] for r, n, mode, m, t in rows if r >= args.min_ratio])


if __name__ == "__main__":
    main()
