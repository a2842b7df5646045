"""Bandwidth of minidl's float32 elementwise add and activations (forward and backward)
against a plain copy of the same size, NumPy and PyTorch, on 16M elements.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_elementwise.py [--n N] [--threads 1,2]

GB/s counts the bytes an op must move: every input read once and the output written once
(add: 12 B/element, activation forward 8 B, backward 12 B, copy 8 B). "of copy" is that
rate over minidl's own parallel copy (`_C.copy_`, memcpy per thread) at the same thread
count, timed alternately with the op (median of the per-pair ratios, so load from other
processes hits both sides): the acceptance bar is >= 0.70. Ratios "vs numpy"/"vs torch" are time
ratios minidl / other (< 1: minidl faster). NumPy is single-threaded; its sigmoid and the
backward formulas are composite expressions (several passes), as a NumPy user writes them.

Every op returns a fresh 64 MB array. glibc would mmap each one and the kernel would fault
its 16K pages in again on every call (~30 ms, more than the op itself), for minidl, NumPy and
PyTorch alike, so by default the benchmark calls mallopt(M_MMAP_MAX, 0): big blocks then come
from the heap and are reused, as a caching allocator would give. --raw-malloc skips that.
"""
import argparse
import ctypes
import statistics
import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.join(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

import numpy as np  # noqa: E402

from _common import machine_header, print_table, timeit  # noqa: E402

ACTS = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh"]  # members of _C.Activation


def numpy_ops():
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    return {
        "add": lambda a, b: np.add(a, b),
        "relu": lambda x: np.maximum(x, np.float32(0)),
        "leaky_relu": lambda x: np.where(x > 0, x, np.float32(0.01) * x),
        "sigmoid": sigmoid,
        "tanh": np.tanh,
        "relu_bwd": lambda g, x: g * (x > 0),
        "leaky_relu_bwd": lambda g, x: g * np.where(x > 0, np.float32(1), np.float32(0.01)),
        "sigmoid_bwd": lambda g, y: g * y * (np.float32(1) - y),
        "tanh_bwd": lambda g, y: g * (np.float32(1) - y * y),
    }


def torch_ops(torch):
    F = torch.nn.functional
    aten = torch.ops.aten
    return {
        "add": lambda a, b: torch.add(a, b),
        "relu": torch.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "relu_bwd": lambda g, x: aten.threshold_backward(g, x, 0),
        "leaky_relu_bwd": lambda g, x: aten.leaky_relu_backward(g, x, 0.01, False),
        "sigmoid_bwd": lambda g, y: aten.sigmoid_backward(g, y),
        "tanh_bwd": lambda g, y: aten.tanh_backward(g, y),
        "gelu_bwd": lambda g, x: aten.gelu_backward(g, x),
        "gelu_tanh_bwd": lambda g, x: aten.gelu_backward(g, x, approximate="tanh"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16 * 1024 * 1024)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--raw-malloc", action="store_true", help="leave glibc's mmap threshold alone")
    ap.add_argument("--isa", default=None, help="minidl kernel set (avx512, avx2, scalar)")
    args = ap.parse_args()

    if not args.raw_malloc:
        libc = ctypes.CDLL("libc.so.6")
        M_MMAP_MAX, M_TRIM_THRESHOLD = -4, -1
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)

    from minidl import _C

    if args.isa:
        _C.set_isa(args.isa)
    print(machine_header(args.threads))  # after set_isa: the header names the kernel set in use
    try:
        import torch
    except ImportError:
        torch = None

    n = args.n
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    dst = np.empty_like(x)
    npo = numpy_ops()
    tho = torch_ops(torch) if torch is not None else {}
    tx, tb, tg = (torch.from_numpy(v) for v in (x, b, g)) if torch is not None else (None,) * 3
    saved_y = {a: _C.activation(getattr(_C.Activation, a), x, 0.01) for a in ACTS}  # sigmoid/tanh bwd take y

    def t(fn):
        return timeit(fn, repeat=args.repeat, warmup=2)

    def paired(fn, copy_fn):
        """Median op time and median (op / copy) time ratio, the two timed alternately so a
        neighbour's burst on this shared machine hits both sides of each ratio."""
        fn(), copy_fn()
        ops, ratios = [], []
        for _ in range(args.repeat):
            c = timeit(copy_fn, repeat=1, warmup=0)
            o = timeit(fn, repeat=1, warmup=0)
            ops.append(o)
            ratios.append(o / c)
        return statistics.median(ops), statistics.median(ratios)

    print(f"n = {n} float32 ({n * 4 / 2**20:.0f} MiB per array), kernel set {_C.isa_name()}, "
          f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND')}, malloc {'raw' if args.raw_malloc else 'M_MMAP_MAX=0'}, "
          f"torch {torch.__version__ if torch else 'absent'}, median of {args.repeat}")
    headers = ["op", "thr", "minidl ms", "GB/s", "of copy", "numpy ms", "vs numpy", "torch ms", "vs torch"]
    rows = []
    for nt in [int(s) for s in args.threads.split(",")]:
        _C.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        copy_s = t(lambda: _C.copy_(dst, x))
        copy_bw = 8 * n / copy_s / 1e9
        np_copy = t(lambda: np.copyto(dst, x))
        rows.append(["copy (_C.copy_)", nt, copy_s * 1e3, copy_bw, 1.0, np_copy * 1e3, copy_s / np_copy,
                     t(lambda: tx.clone()) * 1e3 if torch is not None else "-", "-"])

        cases = [("add", 12, lambda: _C.binary(_C.BinaryOp.add, x, b), (x, b), (tx, tb))]
        for a in ACTS:
            i = getattr(_C.Activation, a)
            cases.append((a, 8, (lambda i=i: _C.activation(i, x, 0.01)), (x,), (tx,)))
        for a in ACTS:
            i = getattr(_C.Activation, a)
            uses_y = _C.activation_backward_uses_output(i)
            s = saved_y[a] if uses_y else x
            ts = torch.from_numpy(s) if torch is not None else None
            cases.append((a + "_bwd", 12, (lambda i=i, s=s: _C.activation_backward(i, g, s, 0.01)), (g, s), (tg, ts)))

        for name, bytes_per, fn, np_args, th_args in cases:
            ms, ratio = paired(fn, lambda: _C.copy_(dst, x))
            bw = bytes_per * n / ms / 1e9
            row = [name, nt, ms * 1e3, bw, (bytes_per / 8) / ratio]
            if name in npo and nt == 1:
                f = npo[name]
                s_np = t(lambda: f(*np_args))
                row += [s_np * 1e3, ms / s_np]
            else:
                row += ["-", "-"]
            if name in tho:
                f = tho[name]
                s_th = t(lambda: f(*th_args))
                row += [s_th * 1e3, ms / s_th]
            else:
                row += ["-", "-"]
            rows.append(row)
    print_table(headers, rows)


if __name__ == "__main__":
    main()
