"""One optimizer step (SGD with momentum, Adam, AdamW, LAMB) over a model of 10M float32
parameters in 20 tensors, minidl against PyTorch's fastest CPU paths (foreach=True, and
fused=True where torch has it), at 1 and 2 threads.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_optim.py [--threads 1,2] [--repeat 9]

Columns: ms per step (median), "vs foreach"/"vs fused" = time ratio minidl / torch (< 1:
minidl faster), GB/s = bytes the update must move / time, "roofline" = that rate over the
copy bandwidth of the same run (a 256 MB `_C.copy_` at the same thread count, timed in
alternation with each step so load from other processes hits both; median of the per-pair
ratios). Bytes per element: SGD-momentum reads p, g, buf and writes p, buf (20 B); Adam and
AdamW read p, g, m, v and write p, m, v (28 B); LAMB needs the same 28 B at least, but the
trust ratio ||w||/||u|| is known only after a whole pass over a tensor, so it makes two passes
(moments + norms, then the update: 40 B moved). The LAMB roofline column counts the 28 B
minimum; "LAMB (2-pass bytes)" shows the same time against the 40 B it actually moves.
PyTorch has no LAMB.
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import numpy as np  # noqa: E402

import minidl as md  # noqa: E402
from minidl import _C  # noqa: E402
from _common import print_table  # noqa: E402

try:
    import torch
except ImportError:   # the minidl columns still print
    torch = None

# 20 tensors, 10M parameters: ten 950K "weight matrices" and ten 50K "small layers"
SHAPES = [(950, 1000)] * 10 + [(50, 1000)] * 10
N_PARAMS = sum(a * b for a, b in SHAPES)
BYTES = {"SGD-momentum": 20, "Adam": 28, "AdamW": 28, "LAMB": 28}
LAMB_2PASS_BYTES = 40


def md_optimizer(name, params):
    if name == "SGD-momentum":
        return md.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == "LAMB":
        return md.optim.LAMB(params, lr=1e-3, weight_decay=0.01)
    return getattr(md.optim, name)(params, lr=1e-3)


def torch_optimizer(name, params, **kw):
    if name == "SGD-momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, **kw)
    return getattr(torch.optim, name)(params, lr=1e-3, **kw)


def paired(step, copy, repeat):
    """Median step time, and the median over pairs of (copy time / step time)."""
    for _ in range(2):
        step()
        copy()
    ts, ratios = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        copy()
        t1 = time.perf_counter()
        step()
        t2 = time.perf_counter()
        ts.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    return statistics.median(ts), statistics.median(ratios)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) * 1e-2 for s in SHAPES]
    src = np.ones(64 << 20, np.float32)   # 256 MB
    dst = np.empty_like(src)
    copy_bytes = 2 * src.nbytes
    print(f"minidl kernels: {md.backend.name}; {len(SHAPES)} tensors, {N_PARAMS / 1e6:.1f}M float32 parameters; "
          f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND')}; torch {torch.__version__ if torch else 'absent'}")
    rows = []
    for nt in [int(t) for t in args.threads.split(",")]:
        md.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        copy = lambda: _C.copy_(dst, src)
        # copy bandwidth alone, for the table's header line
        tc = statistics.median([(lambda t0: (copy(), time.perf_counter() - t0)[1])(time.perf_counter())
                                for _ in range(5)])
        copy_gbs = copy_bytes / tc / 1e9
        for name in ["SGD-momentum", "Adam", "AdamW", "LAMB"]:
            ps = [md.nn.Parameter(md.tensor(a.copy())) for a in init]
            for p, g in zip(ps, grads):
                p.grad = md.tensor(g)
            opt = md_optimizer(name, ps)
            t_md, copy_over_step = paired(opt.step, copy, args.repeat)
            del opt, ps
            t_torch = {}
            if torch is not None and name != "LAMB":
                for path in ("foreach", "fused"):
                    tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
                    for p, g in zip(tps, grads):
                        p.grad = torch.from_numpy(g)
                    try:
                        topt = torch_optimizer(name, tps, **{path: True})
                        topt.step()
                    except (RuntimeError, ValueError, TypeError) as e:   # no fused kernel on this build
                        print(f"torch {name} {path}=True unavailable: {e}")
                        continue
                    with torch.no_grad():
                        t_torch[path], _ = paired(topt.step, copy, args.repeat)
                    del topt, tps
            gbs = BYTES[name] * N_PARAMS / t_md / 1e9
            # roofline fraction = (bytes/t_step) / (copy_bytes/t_copy), from the paired ratio
            roof = BYTES[name] * N_PARAMS / copy_bytes * copy_over_step
            nan = float("nan")
            rows.append([nt, name, t_md * 1e3, t_torch.get("foreach", nan) * 1e3, t_torch.get("fused", nan) * 1e3,
                         t_md / t_torch["foreach"] if "foreach" in t_torch else nan,
                         t_md / t_torch["fused"] if "fused" in t_torch else nan, gbs, roof])
            if name == "LAMB":
                rows.append([nt, "LAMB (2-pass bytes)", t_md * 1e3, nan, nan, nan, nan,
                             LAMB_2PASS_BYTES * N_PARAMS / t_md / 1e9,
                             LAMB_2PASS_BYTES * N_PARAMS / copy_bytes * copy_over_step])
        print(f"threads={nt}: copy bandwidth {copy_gbs:.1f} GB/s (256 MB _C.copy_, read+write)")
    print_table(["threads", "optimizer", "minidl ms", "torch foreach ms", "torch fused ms", "vs foreach",
                 "vs fused", "minidl GB/s", "roofline"], rows)


if __name__ == "__main__":
    main()
