"""DataLoader throughput (images/s), minidl vs PyTorch: Fashion-MNIST-sized items (28x28 uint8,
a label), a per-item transform (to float, scale to [0, 1], normalize, add the channel
dimension) written in each library's own tensor ops, batch 64, num_workers 0 and 2.

    PYTHONPATH=python python3 bench/python/bench_dataloader.py [--items 6000] [--repeat 5] [--threads 1 2]

One timed run is a whole epoch (worker start-up included: no persistent_workers, as a
script that doesn't ask for them). The two libraries run their epochs in alternating turns
(``paired_timeit``); medians, and the ratio minidl / PyTorch of the epoch times (< 1: minidl
is faster). ``--threads`` sets the main process's thread count; workers run one thread each
in both libraries.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minidl as md  # noqa: E402
from minidl.utils import data as md_data  # noqa: E402
from _common import machine_header, cpu_model, paired_timeit  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's pixel mean and standard deviation


class FashionLike:
    """N random 28x28 uint8 images with labels; ``lib`` (minidl or torch) does the transform."""

    def __init__(self, lib, n: int):
        rng = np.random.default_rng(0)
        self.lib = lib
        self.images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        self.labels = rng.integers(0, 10, size=n).tolist()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.lib.as_tensor(self.images[i]).float() / 255.0
        return ((x - MEAN) / STD).unsqueeze(0), self.labels[i]


def epoch(loader):
    count = 0
    for x, y in loader:
        count += x.shape[0]
    return count


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=6000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = p.parse_args(argv)
    print(machine_header(args.threads))
    print(f"CPU: {cpu_model()}; minidl kernels: {md.backend.name}; torch {torch.__version__}")
    print(f"{args.items} items of 28x28 uint8 -> normalized float32 (1, 28, 28), batch 64; "
          f"medians of {args.repeat} epochs")
    print(f"{'workers':>7s} {'threads':>7s} {'minidl img/s':>12s} {'torch img/s':>11s} {'ratio':>6s}")
    md_set, torch_set = FashionLike(md, args.items), FashionLike(torch, args.items)
    for threads in args.threads:
        md.set_num_threads(threads)
        torch.set_num_threads(threads)
        for workers in args.workers:
            md_loader = md_data.DataLoader(md_set, batch_size=64, shuffle=True, num_workers=workers)
            torch_loader = torch.utils.data.DataLoader(torch_set, batch_size=64, shuffle=True, num_workers=workers)
            assert epoch(md_loader) == epoch(torch_loader) == args.items
            t_md, t_torch = paired_timeit([lambda: epoch(md_loader), lambda: epoch(torch_loader)],
                                          repeat=args.repeat, warmup=1)
            print(f"{workers:7d} {threads:7d} {args.items / t_md:12.0f} {args.items / t_torch:11.0f} "
                  f"{t_md / t_torch:6.2f}")


if __name__ == "__main__":
    main()
