"""Training steps on a busy machine: minidl's defaults vs 1 thread vs PyTorch, quiet vs loaded.

    PYTHONPATH=python python3 bench/python/bench_busy_machine.py [--rounds 3]
        [--baseline-python /path/to/another/checkout/python] [--mlp-steps 20] [--resnet-batch 32]

Why: with other processes on the cores, an OpenMP team whose idle threads busy-wait collapses
(issue 14 item 12: ``Linear(512, 512)`` on 256 rows took 25.4 ms with minidl's 2 threads against
7.5 ms with 1; a lab that takes 11 s quiet took 240 s). minidl now starts OpenMP with the passive
wait policy after a short spin (``GOMP_SPINCOUNT=10000``, ~0.1 ms) and a thread count capped by the affinity mask and the cgroup CPU quota
(``python/minidl/_openmp_defaults.py``); this benchmark shows what that buys.

Two steps, each ``zero_grad(); loss = CrossEntropyLoss(model(x), y); loss.backward(); opt.step()``
with SGD(momentum=0.9), written once for both libraries:
  * MLP: 784-512-512-10 with ReLU on a batch of 256 random images (the issue's Linear(512, 512) on
    256 rows), ms per step: median of 5 timings of ``--mlp-steps`` steps;
  * ResNet-20 (``md.models.resnet(20)``, on PyTorch ``md.models.build(torch.nn).resnet(20)``) on a
    batch of ``--resnet-batch`` 3x32x32 images, ms per step: median of 3 single steps.
Configurations: each library at its defaults (no OMP_* variable set, no ``set_num_threads``) and
with ``set_num_threads(1)``; with ``--baseline-python DIR``, also the minidl found in DIR (say, a
checkout of main: the old defaults) at its defaults and with 1 thread. Each configuration runs in
its own subprocess (the OpenMP runtime reads its settings once, when it loads; a PyTorch worker
imports torch before anything of minidl, so torch's runtime starts with torch's own defaults).
The configurations run in turns, ``--rounds`` times (the order reversed every other round), and the
table shows the median over rounds.
"Loaded": one CPU-bound background process per CPU of this process's affinity mask (``while
True``), started by this script and killed at the end, on Ctrl-C too (and each exits by itself
when this script dies). "Quiet" means no load from this script: other users of the machine are
not controlled; the load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.abspath(os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)
from _common import machine_header, cpu_model, print_table, run_child, timeit  # noqa: E402

# A busy loop that exits when its parent (this script) is gone, even after a SIGKILL of the parent.
SPINNER = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(200000): pass\n"


def _affinity_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# ----------------------------------------------------------------------------- the worker
def worker(lib_name: str, threads: str, mlp_steps: int, resnet_batch: int) -> dict:
    """Runs in a subprocess: times one MLP step and one ResNet-20 step; returns a dict."""
    import numpy as np
    if lib_name == "torch":
        import torch as lib  # first: its OpenMP runtime starts with PyTorch's own defaults
        import minidl.models as M  # pure Python model files, built on torch.nn
        models = M.build(lib.nn)
    else:
        import minidl as lib
        models = lib.models
    if threads != "default":
        lib.set_num_threads(int(threads))
    rng = np.random.default_rng(0)
    lib.manual_seed(0)

    def step_fn(model, x, y):
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = lib.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        return step

    nn = lib.nn
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    mlp_step = step_fn(mlp, lib.tensor(rng.standard_normal((256, 784), dtype=np.float32)),
                       lib.tensor(rng.integers(0, 10, 256)))

    def mlp_loop():
        for _ in range(mlp_steps):
            mlp_step()
    mlp_ms = timeit(mlp_loop, repeat=5, warmup=1) / mlp_steps * 1e3

    resnet_step = step_fn(models.resnet(20), lib.tensor(rng.standard_normal((resnet_batch, 3, 32, 32),
                                                                               dtype=np.float32)),
                          lib.tensor(rng.integers(0, 10, resnet_batch)))
    resnet_ms = timeit(resnet_step, repeat=3, warmup=1) * 1e3
    return {"threads": lib.get_num_threads(), "mlp_ms": mlp_ms, "resnet_ms": resnet_ms}


def run_worker(lib_name: str, threads: str, pythonpath: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib_name, "--threads", threads,
           "--mlp-steps", str(args.mlp_steps), "--resnet-batch", str(args.resnet_batch)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}  # the defaults
    env["PYTHONPATH"] = pythonpath
    env["OMP_DISPLAY_ENV"] = "verbose"  # libgomp prints the settings it starts with: the spin count
    res = run_child(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{lib_name} worker ({threads} threads) failed:\n{res.stderr}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    spin = [line.split("=")[1].strip(" '") for line in res.stderr.splitlines() if "GOMP_SPINCOUNT" in line]
    out["idle_spin"] = spin[0] if spin else "?"
    return out


# ----------------------------------------------------------------------------- the load
class BackgroundLoad:
    """``with BackgroundLoad(n):`` n CPU-bound processes run inside the block, and are killed on
    leaving it (an exception or Ctrl-C included)."""

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", SPINNER]) for _ in range(self.n)]
        time.sleep(0.5)  # let them get going
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        self.procs = []
        return False


# ----------------------------------------------------------------------------- the table
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="each configuration runs this many times (median)")
    p.add_argument("--mlp-steps", type=int, default=5, help="MLP steps per timing")
    p.add_argument("--resnet-batch", type=int, default=16, help="ResNet-20 batch size")
    p.add_argument("--baseline-python", help="also run the minidl package found in this folder (e.g. main's)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--timeout", type=float, default=900, help="seconds one worker may take")
    p.add_argument("--worker", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--threads", default="default", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.mlp_steps, args.resnet_batch)))
        return None
    print(machine_header(args.threads))
    # Ctrl-C and SIGTERM both unwind through BackgroundLoad.__exit__
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    configs = [("minidl", "default", PYDIR), ("minidl", "1", PYDIR)]
    if args.baseline_python:
        base = os.path.abspath(args.baseline_python)
        configs += [("minidl baseline", "default", base), ("minidl baseline", "1", base)]
    if not args.no_torch:
        configs += [("torch", "default", PYDIR), ("torch", "1", PYDIR)]
    n_load = _affinity_cpus()
    results = {}  # (config index, load) -> list of worker dicts
    t0 = time.perf_counter()
    loadavg = {}
    for load in ("quiet", "loaded"):
        loadavg[load] = os.getloadavg()[0]
        with BackgroundLoad(n_load if load == "loaded" else 0):
            for r in range(args.rounds):
                order = list(range(len(configs)))
                for i in (order if r % 2 == 0 else order[::-1]):
                    lib, threads, path = configs[i]
                    res = run_worker(lib.split()[0], threads, path, args)
                    results.setdefault((i, load), []).append(res)
                    print(f"  {load:6s} round {r + 1}: {lib} {threads}: {res}", file=sys.stderr, flush=True)

    def med(i, load, key):
        return statistics.median(x[key] for x in results[(i, load)])

    rows = []
    for i, (lib, threads, _) in enumerate(configs):
        first = results[(i, "quiet")][0]
        rows.append([lib, f"{threads} ({first['threads']})", first["idle_spin"],
                     med(i, "quiet", "mlp_ms"), med(i, "loaded", "mlp_ms"),
                     med(i, "loaded", "mlp_ms") / med(i, "quiet", "mlp_ms"),
                     med(i, "quiet", "resnet_ms"), med(i, "loaded", "resnet_ms"),
                     med(i, "loaded", "resnet_ms") / med(i, "quiet", "resnet_ms")])
    print(f"CPU: {cpu_model()}; {n_load} CPUs in the affinity mask; loaded = {n_load} busy-loop processes; "
          f"load average before quiet {loadavg['quiet']:.2f}, before loaded {loadavg['loaded']:.2f}; "
          f"median of {args.rounds} rounds; {time.perf_counter() - t0:.0f} s")
    print(f"MLP 784-512-512-10, batch 256; ResNet-20, batch {args.resnet_batch}x3x32x32; SGD momentum step, ms; "
          "idle spins: libgomp's GOMP_SPINCOUNT (300000: libgomp's default, 10000: minidl's, 0: passive)")
    print_table(["library", "threads (used)", "idle spins", "MLP quiet", "MLP loaded", "x", "ResNet quiet",
                 "ResNet loaded", "x"], rows)
    return rows


if __name__ == "__main__":
    main()
