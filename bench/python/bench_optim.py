"""One optimizer step (SGD with momentum, Adam, AdamW, LAMB) over a model of 10M float32
parameters in 20 tensors, minidl against PyTorch's fastest CPU paths (foreach=True, and
fused=True where torch has it), at 1 and 2 threads.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_optim.py [--threads 1,2] [--repeat 9]

Each round runs a 256 MB `_C.copy_`, the minidl step and each torch step once, so load from
other processes hits all alike; rows give the median and the best (min) over rounds. On a
shared, CPU-throttled machine the step times come in multiples of the scheduler's slice, so
"best" is the closest to the machine's real speed. "vs foreach"/"vs fused" = time ratio
minidl / torch (< 1: minidl faster); GB/s = bytes the update must move / time; "roofline" =
that rate over the copy's rate (read + write) with the same statistic ("of copy", the
roofline asked for), and over an in-place stream a += b ("of stream": 256 MB arrays, torch's
parallel add_), whose pattern (each written line was just read) is the optimizer's. On the
machine this was written on a copy moved ~40 GB/s and the stream ~60, so "of copy" exceeds
1: memcpy there is not the bandwidth ceiling. Bytes per element: SGD-momentum reads p, g, buf and writes p, buf (20 B); Adam and
AdamW read p, g, m, v and write p, m, v (28 B); LAMB needs the same 28 B at least, but the
trust ratio ||w||/||u|| is known only after a whole pass over a tensor, so it makes two passes
(moments + norms, then the update: 40 B moved). The LAMB roofline column counts the 28 B
minimum; "LAMB (2-pass bytes)" shows the same time against the 40 B it actually moves.
PyTorch has no LAMB.
"""
import argparse
import contextlib
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
from _common import machine_header, print_table  # noqa: E402

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


def paired_steps(name: str, seed: int = 0):
    """(minidl step, torch step) of optimizer ``name`` over the 10M parameters of SHAPES with
    fixed gradients; torch runs its fastest CPU path (fused=True, else foreach=True).
    run_all.py times these in one process."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) * 1e-2 for s in SHAPES]
    ps = [md.nn.Parameter(md.tensor(a.copy())) for a in init]
    for p, g in zip(ps, grads):
        p.grad = md.tensor(g)
    tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    for p, g in zip(tps, grads):
        p.grad = torch.from_numpy(g)
    for path in ("fused", "foreach"):
        try:
            topt = torch_optimizer(name, tps, **{path: True})
            topt.step()
            break
        except (RuntimeError, ValueError, TypeError):   # no such kernel on this build
            continue
    else:
        raise RuntimeError(f"torch has neither a fused nor a foreach {name} on this build")
    return md_optimizer(name, ps).step, topt.step


def interleaved(fns, repeat):
    """Runs every fn of `fns` once per round, `repeat` rounds (after 2 warm-up rounds), so load
    from other processes hits all of them alike. Returns {name: (median s, min s)}."""
    for _ in range(2):
        for fn in fns.values():
            fn()
    samples = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[k].append(time.perf_counter() - t0)
    return {k: (statistics.median(v), min(v)) for k, v in samples.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    print(machine_header(args.threads))
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) * 1e-2 for s in SHAPES]
    src = np.ones(64 << 20, np.float32)   # 256 MB
    dst = np.empty_like(src)
    copy_bytes = 2 * src.nbytes
    # in-place stream a += b (read a, b; write a): the access pattern of an optimizer update
    # (every written line was just read), which this memory system serves faster than a copy
    sa, sb = np.ones(64 << 20, np.float32), np.ones(64 << 20, np.float32)
    if torch is not None:
        ta, tb = torch.from_numpy(sa), torch.from_numpy(sb)
        stream = lambda: ta.add_(tb)
    else:
        stream = lambda: np.add(sa, sb, out=sa)
    stream_bytes = 3 * sa.nbytes
    print(f"minidl kernels: {md.backend.name}; {len(SHAPES)} tensors, {N_PARAMS / 1e6:.1f}M float32 parameters; "
          f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND')}; torch {torch.__version__ if torch else 'absent'}; "
          f"{args.repeat} rounds")
    rows = []
    nan = float("nan")
    for nt in [int(t) for t in args.threads.split(",")]:
        md.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        copies = []
        for name in ["SGD-momentum", "Adam", "AdamW", "LAMB"]:
            fns = {"copy": lambda: _C.copy_(dst, src), "stream": stream}
            ps = [md.nn.Parameter(md.tensor(a.copy())) for a in init]
            for p, g in zip(ps, grads):
                p.grad = md.tensor(g)
            fns["minidl"] = md_optimizer(name, ps).step
            if torch is not None and name != "LAMB":
                for path in ("foreach", "fused"):
                    tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
                    for p, g in zip(tps, grads):
                        p.grad = torch.from_numpy(g)
                    try:
                        topt = torch_optimizer(name, tps, **{path: True})
                        topt.step()
                    except (RuntimeError, ValueError, TypeError) as e:   # no such kernel on this build
                        print(f"torch {name} {path}=True unavailable: {e}")
                        continue
                    fns[path] = topt.step
            with (torch.no_grad() if torch is not None else contextlib.nullcontext()):
                r = interleaved(fns, args.repeat)
            fns.clear()
            copies.append((r["copy"], r["stream"]))
            for stat, k in (("median", 0), ("best", 1)):
                t_md, t_copy, t_stream = r["minidl"][k], r["copy"][k], r["stream"][k]
                tf, tu = r.get("foreach", (nan, nan))[k], r.get("fused", (nan, nan))[k]
                rows.append([nt, name, stat, t_md * 1e3, tf * 1e3, tu * 1e3, t_md / tf, t_md / tu,
                             BYTES[name] * N_PARAMS / t_md / 1e9,
                             (BYTES[name] * N_PARAMS / t_md) / (copy_bytes / t_copy),
                             (BYTES[name] * N_PARAMS / t_md) / (stream_bytes / t_stream)])
                if name == "LAMB":
                    rows.append([nt, "LAMB (2-pass bytes)", stat, t_md * 1e3, nan, nan, nan, nan,
                                 LAMB_2PASS_BYTES * N_PARAMS / t_md / 1e9,
                                 (LAMB_2PASS_BYTES * N_PARAMS / t_md) / (copy_bytes / t_copy),
                                 (LAMB_2PASS_BYTES * N_PARAMS / t_md) / (stream_bytes / t_stream)])
        med = statistics.median(c[0][0] for c in copies)
        best = min(c[0][1] for c in copies)
        smed = statistics.median(c[1][0] for c in copies)
        sbest = min(c[1][1] for c in copies)
        print(f"threads={nt}: copy (256 MB _C.copy_, read+write) median {copy_bytes / med / 1e9:.1f} GB/s, "
              f"best {copy_bytes / best / 1e9:.1f} GB/s; stream a += b (256 MB each, 3 x 256 MB moved) "
              f"median {stream_bytes / smed / 1e9:.1f} GB/s, best {stream_bytes / sbest / 1e9:.1f} GB/s")
    print_table(["threads", "optimizer", "stat", "minidl ms", "torch foreach ms", "torch fused ms", "vs foreach",
                 "vs fused", "minidl GB/s", "of copy", "of stream"], rows)


if __name__ == "__main__":
    main()
