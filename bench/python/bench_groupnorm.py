"""GroupNorm(8, 64) on 32x64x32x32, forward and forward + backward, minidl vs PyTorch
(issue 15's benchmark), and RMSNorm over 4096 x 1024 rows.

    PYTHONPATH=python python3 bench/python/bench_groupnorm.py [--repeat 9] [--threads 1 2]

Both libraries run the same thread count, timed in alternating turns (``paired_timeit``); medians in ms and the
ratio minidl / PyTorch (< 1: minidl is faster). minidl's GroupNorm is the LayerNorm kernel
over (N G, C/G H W) rows plus a per-channel multiply-add (nn/groupnorm.py).
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
from _common import cpu_model, paired_timeit  # noqa: E402


def cases(lib):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64, 32, 32)).astype(np.float32)
    r = rng.standard_normal((4096, 1024)).astype(np.float32)
    gn = lib.nn.GroupNorm(8, 64)
    rms = lib.nn.RMSNorm(1024)

    def gn_fwd():
        with lib.no_grad():
            gn(lib.tensor(x))

    xt = lib.tensor(x, requires_grad=True)

    def gn_fwd_bwd():
        gn(xt).sum().backward()

    rt = lib.tensor(r, requires_grad=True)

    def rms_fwd_bwd():
        rms(rt).sum().backward()
    return {"GroupNorm(8,64) 32x64x32x32 fwd": gn_fwd, "GroupNorm fwd+bwd": gn_fwd_bwd,
            "RMSNorm(1024) 4096 rows fwd+bwd": rms_fwd_bwd}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    print(f"CPU: {cpu_model()}; minidl kernels: {md.backend.name}; torch {torch.__version__}")
    mcases, tcases = cases(md), cases(torch)
    print(f"{'case':34s} {'threads':>7s} {'minidl ms':>10s} {'torch ms':>9s} {'ratio':>6s}")
    for n in args.threads:
        md.set_num_threads(n)
        torch.set_num_threads(n)
        for name in mcases:
            m, t = (v * 1e3 for v in paired_timeit([mcases[name], tcases[name]], repeat=args.repeat))
            print(f"{name:34s} {n:7d} {m:10.2f} {t:9.2f} {m / t:6.2f}")


if __name__ == "__main__":
    main()
