"""Weak scaling of a data-parallel training step: minidl DDP over MPI vs PyTorch DDP over gloo.

    PYTHONPATH=python python3 bench/python/bench_ddp_scaling.py [--depth 20] [--batch 16]
        [--steps 4] [--repeat 3]

Weak scaling: every process keeps its own batch of ``--batch`` 3x32x32 images, so N processes
train on N x batch images per step. One process (the plain model, no DDP: the baseline a user
would compare with) and two processes (the model wrapped in DistributedDataParallel), each
process on one thread. Per library:

    throughput(N) = N x batch / step time(N),     scaling efficiency = throughput(2) / (2 throughput(1))
                                                                     = step time(1) / step time(2)

minidl: ``mpiexec -n N python this --worker minidl`` (md.distributed over MPI, default 25 MB
buckets). PyTorch: N processes started here with RANK / WORLD_SIZE / MASTER_ADDR /
MASTER_PORT, ``init_process_group("gloo", init_method="env://")``, torch.nn.parallel.DDP.
The model is ResNet-``--depth`` (md.models.resnet, and the same source run on torch.nn),
SGD with momentum, cross-entropy on random labels. The step time is the median over
``--steps`` timed steps on rank 0 after two warm-up steps; the runs alternate minidl, torch,
minidl, torch ``--repeat`` times and the table shows the medians (timings on a shared
machine drift over seconds: interleaving compares the same machine).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.abspath(os.path.join(HERE, "..", "..", "python"))


def _step_fn(lib, model, x, y):
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = lib.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return step


def _time_steps(step, steps, barrier):
    step()
    step()  # warm-up: allocator, first-touch pages, MPI/gloo connections
    times = []
    for _ in range(steps):
        barrier()
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def worker(lib_name: str, depth: int, batch: int, steps: int) -> None:
    """One process of a run: build, wrap in DDP when there are several, time; rank 0 prints the result."""
    import numpy as np
    if lib_name == "torch":
        import torch as lib
        import torch.distributed as dist
        sys.path.insert(0, PYDIR)
        import minidl.models as M  # pure Python model files run on torch.nn
        models = M.build(lib.nn)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1:
            dist.init_process_group("gloo", init_method="env://")
    else:
        import minidl as lib
        import minidl.distributed as dist
        models = lib.models
        dist.init_process_group("mpi")
        world = dist.get_world_size()
    lib.set_num_threads(1)
    rank = dist.get_rank() if world > 1 else 0
    lib.manual_seed(0)
    model = models.resnet(depth)
    if world > 1:
        model = lib.nn.parallel.DistributedDataParallel(model)
    rng = np.random.default_rng(rank)
    x = lib.tensor(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32))
    y = lib.tensor(rng.integers(0, 10, batch).astype(np.int64))
    barrier = dist.barrier if world > 1 else (lambda: None)
    t = _time_steps(_step_fn(lib, model, x, y), steps, barrier)
    if rank == 0:
        print("RESULT " + json.dumps({"lib": lib_name, "world": world, "s": t}), flush=True)
    if world > 1:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _result(text: str) -> float:
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])["s"]
    raise RuntimeError("no RESULT line in the worker's output:\n" + text[-3000:])


def run(lib_name: str, n: int, args) -> float:
    me = [sys.executable, os.path.abspath(__file__), "--worker", lib_name, "--depth", str(args.depth),
          "--batch", str(args.batch), "--steps", str(args.steps)]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (PYDIR, os.environ.get("PYTHONPATH")) if p)}
    if lib_name == "minidl":
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        r = subprocess.run([mpiexec if os.path.exists(mpiexec) else "mpiexec", "-n", str(n), *me], env=env,
                           capture_output=True, text=True, timeout=args.timeout)
        if r.returncode != 0:
            raise RuntimeError(f"minidl run on {n} processes failed:\n{r.stderr[-3000:]}")
        return _result(r.stdout)
    port = str(_free_port())
    procs = [subprocess.Popen(me, env={**env, "RANK": str(r), "WORLD_SIZE": str(n), "MASTER_ADDR": "127.0.0.1",
                                       "MASTER_PORT": port}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for r in range(n)]
    outs = [p.communicate(timeout=args.timeout) for p in procs]
    for p, (_, err) in zip(procs, outs):
        if p.returncode != 0:
            raise RuntimeError(f"torch run on {n} processes failed:\n{err[-3000:]}")
    return _result(outs[0][0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=["minidl", "torch"])
    ap.add_argument("--depth", type=int, default=20, help="ResNet depth (6n + 2: 8, 14, 20, ...)")
    ap.add_argument("--batch", type=int, default=16, help="images per process per step")
    ap.add_argument("--steps", type=int, default=4, help="timed steps per run (median)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per (library, process count), interleaved")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.depth, args.batch, args.steps)
    sys.path.insert(0, HERE)
    from _common import machine_header, print_table
    print(machine_header(1))
    print(f"ResNet-{args.depth}, {args.batch} images of 3x32x32 per process, SGD momentum; 1 thread per process; "
          f"median of {args.repeat} runs x {args.steps} steps")
    times = {(lib, n): [] for lib in ("minidl", "torch") for n in (1, 2)}
    for _ in range(args.repeat):
        for n in (1, 2):
            for lib in ("minidl", "torch"):
                times[(lib, n)].append(run(lib, n, args))
    rows, eff = [], {}
    for lib in ("minidl", "torch"):
        t1, t2 = statistics.median(times[(lib, 1)]), statistics.median(times[(lib, 2)])
        eff[lib] = t1 / t2
        rows.append([lib, f"{t1 * 1e3:.0f}", f"{t2 * 1e3:.0f}", f"{args.batch / t1:.1f}", f"{2 * args.batch / t2:.1f}",
                     f"{eff[lib]:.2f}"])
    print_table(["library", "ms/step 1 proc", "ms/step 2 procs", "img/s 1 proc", "img/s 2 procs",
                 "scaling efficiency"], rows)
    print(f"efficiency minidl / PyTorch DDP: {eff['minidl'] / eff['torch']:.2f} (target: >= 1)")
    for (lib, n), ts in times.items():  # the spread says how much the machine's load moved the medians
        print(f"  runs {lib} {n} proc: " + " ".join(f"{t * 1e3:.0f}" for t in ts) + " ms/step")


if __name__ == "__main__":
    main()
