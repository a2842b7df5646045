"""Data-parallel training on paper: an alpha-beta cost model of a DDP step, fitted on this
machine, checked against measured multi-process steps, then extrapolated to 8, 64 and 512 workers.

    PYTHONPATH=python python bench/python/ddp_model.py [--repeat 7] [--bucket-cap-mb 25]

The model (the step of examples/train_ddp.py: the char-GPT, 4 layers, d_model 128, per-worker
batch 32 of 64 characters, AdamW), for N workers each computing its own batch:

    step(N)      = compute + max(0, allreduce(N) - overlap)
    allreduce(N) = 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x latency      (ring all-reduce)

* compute: one training step (forward, backward, optimizer) of one worker alone, 1 thread;
* bytes: the gradients all-reduced per step (every parameter, float32);
* latency (alpha) and bandwidth (1 / beta): fitted to MPI all-reduce times of 1 KiB .. 16 MiB
  at 2 processes, t(n) = a + n / bandwidth with a = 2 (N-1) latency = 2 latency (a ring of 2
  sends one message each way per phase); the fit minimizes the relative error;
* overlap: how much of the backward pass is still to run when the first gradient bucket is
  complete (DistributedDataParallel starts that bucket's all-reduce then): measured with
  gradient hooks on the parameters, buckets filled in reverse order of registration up to
  ``--bucket-cap-mb`` as DDP fills them. A model smaller than one bucket has no overlap.

The check: the model's prediction against DDP steps measured with 2 and 3 processes
(``mpiexec -n N``), with the prediction's error (target: within 15%). This machine has 2 cores:
3 processes of 1 thread each share them, so for the check the compute term is the step time
measured with N processes computing at once (no communication), not the 1-process time; the
script says what it measured. Every worker runs 1 thread (OMP_NUM_THREADS=1).

The extrapolation: workers as fast as one core of this machine (the same compute and
overlap), on a stated network, with the efficiency of weak scaling, compute / step(N):
  * 25 Gbit/s Ethernet with RDMA (RoCE): 3.125 GB/s per link, ~5 us per message;
  * 200 Gbit/s InfiniBand (HDR): 25 GB/s per link, ~1 us per message.
Assumptions: one worker per node, the ring at link speed (no contention, no hierarchy), the
same per-worker batch (weak scaling). TCP over Ethernet has ~25-50 us latencies instead.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import machine_header, print_table, run_child  # noqa: E402

SIZES = [1 << k for k in range(10, 25, 2)]   # 1 KiB .. 16 MiB (float32 buffers)
NETWORKS = {"25 Gbit/s Ethernet (RoCE)": (25e9 / 8, 5e-6), "200 Gbit/s InfiniBand": (200e9 / 8, 1e-6)}
WORKERS = [8, 64, 512]
MPIEXEC_TIMEOUT_S = 300


# --- the model ----------------------------------------------------------------------------------

def allreduce_time(n: int, nbytes: float, bandwidth: float, latency: float) -> float:
    """Ring all-reduce of ``nbytes`` over ``n`` workers: 2(n-1)/n x bytes / bandwidth + 2(n-1) x latency."""
    if n <= 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency


def step_time(n: int, compute: float, nbytes: float, bandwidth: float, latency: float, overlap: float) -> float:
    """compute + max(0, allreduce(n) - overlap): the communication the backward pass cannot hide."""
    return compute + max(0.0, allreduce_time(n, nbytes, bandwidth, latency) - overlap)


def fit_alpha_beta(sizes, times):
    """(a, bandwidth) of t = a + n / bandwidth, least squares on the relative error (small
    messages count as much as large ones)."""
    import numpy as np  # deferred: the model functions above need nothing
    n, t = np.asarray(sizes, float), np.asarray(times, float)
    rows = np.stack([1 / t, n / t], axis=1)
    (a, b), *_ = np.linalg.lstsq(rows, np.ones_like(t), rcond=None)
    return float(a), float(1 / b)


# --- what runs in each MPI worker -------------------------------------------------------------

def _example_model(md):
    """The model, batch and optimizer of examples/train_ddp.py with its defaults."""
    md.manual_seed(0)
    model = md.models.GPT(103, 64, d_model=128, nhead=4, num_layers=4)
    x = md.randint(0, 103, (32, 64))
    y = md.randint(0, 103, (32, 64))
    opt = md.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    return model, x, y, opt


def _train_step(md, net, opt, x, y):
    opt.zero_grad()
    md.nn.functional.cross_entropy(net(x).reshape(-1, 103), y.reshape(-1)).backward()
    opt.step()


def _median_step(md, net, opt, x, y, repeat, barrier):
    _train_step(md, net, opt, x, y)  # warm-up: allocations, first-use costs
    times = []
    for _ in range(repeat):
        barrier()  # every process starts the step together, as under DDP
        t0 = time.perf_counter()
        _train_step(md, net, opt, x, y)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def worker(kind: str, repeat: int) -> None:
    from mpi4py import MPI  # deferred: only the MPI workers need it (extra minidl[distributed])
    import minidl as md  # deferred: after OMP_NUM_THREADS is fixed
    comm = MPI.COMM_WORLD
    out = {"world": comm.Get_size()}
    if kind == "allreduce":
        import numpy as np  # deferred: as mpi4py
        out["times"] = {}
        for nbytes in SIZES:
            send = np.ones(nbytes // 4, np.float32)
            recv = np.empty_like(send)
            reps = max(5, min(200, (1 << 24) // nbytes))
            comm.Allreduce(send, recv)
            samples = []
            for _ in range(reps):
                comm.Barrier()
                t0 = time.perf_counter()
                comm.Allreduce(send, recv)
                samples.append(time.perf_counter() - t0)
            out["times"][nbytes] = max(comm.allgather(statistics.median(samples)))
    else:
        model, x, y, opt = _example_model(md)
        net = model
        if kind == "ddp":
            import minidl.distributed as dist  # deferred: the DDP worker only
            dist.init_process_group(backend="mpi")
            net = md.nn.parallel.DistributedDataParallel(model)
        out["step_s"] = max(comm.allgather(_median_step(md, net, opt, x, y, repeat, comm.Barrier)))
    if comm.Get_rank() == 0:
        print("RESULT " + json.dumps(out), flush=True)


def run_mpi(n: int, kind: str, repeat: int) -> dict:
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    cmd = [mpiexec if os.path.exists(mpiexec) else "mpiexec", "-n", str(n), sys.executable,
           os.path.abspath(__file__), "--worker", kind, "--repeat", str(repeat)]
    proc = run_child(cmd, capture_output=True, text=True, timeout=MPIEXEC_TIMEOUT_S,
                     env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


# --- measurements in this process --------------------------------------------------------------

def measure_overlap(md, bucket_cap_mb: float, repeat: int):
    """(backward seconds, seconds of backward left when the first bucket is complete, buckets)."""
    model, x, y, opt = _example_model(md)
    params = [p for p in model.parameters() if p.requires_grad]
    buckets, current, size = [], [], 0
    for p in reversed(params):  # DDP's order: reverse of registration, about the order grads arrive
        current.append(p)
        size += p.numel() * 4
        if size >= bucket_cap_mb * 2 ** 20:
            buckets.append(current)
            current, size = [], 0
    if current:
        buckets.append(current)
    ready = {}
    # a leaf's gradient hook runs when its gradient is complete (the last write wins for a tied
    # weight, used twice): the moment DDP's hook on the gradient accumulator would see it
    handles = [q.register_hook(lambda g, key=id(q): ready.__setitem__(key, time.perf_counter())) for q in params]
    backward, left = [], []
    for i in range(repeat + 1):
        opt.zero_grad()
        loss = md.nn.functional.cross_entropy(model(x).reshape(-1, 103), y.reshape(-1))
        ready.clear()
        t0 = time.perf_counter()
        loss.backward()
        t1 = time.perf_counter()
        if i:  # the first pass is a warm-up
            backward.append(t1 - t0)
            left.append(t1 - max(ready[id(p)] for p in buckets[0]))
    for h in handles:
        h.remove()
    return statistics.median(backward), statistics.median(left), len(buckets)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--repeat", type=int, default=7, help="timed steps per measurement (median; default 7)")
    p.add_argument("--bucket-cap-mb", type=float, default=25.0, help="DDP's bucket size (default 25, as PyTorch)")
    p.add_argument("--worker", choices=["allreduce", "compute", "ddp"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.repeat)

    import minidl as md  # deferred: after OMP_NUM_THREADS is fixed
    md.set_num_threads(1)
    print(machine_header(1))
    model, x, y, opt = _example_model(md)
    nbytes = sum(q.numel() for q in model.parameters()) * 4
    compute = _median_step(md, model, opt, x, y, args.repeat, lambda: None)
    backward, overlap, n_buckets = measure_overlap(md, args.bucket_cap_mb, args.repeat)
    print(f"\nstep of examples/train_ddp.py's model (GPT 4 x 128, batch 32 x 64 characters, AdamW), 1 process, "
          f"1 thread: compute {1e3 * compute:.1f} ms (backward {1e3 * backward:.1f} ms); gradients all-reduced "
          f"per step: {nbytes / 2 ** 20:.2f} MiB in {n_buckets} bucket(s) of <= {args.bucket_cap_mb:g} MiB; "
          f"backward left when the first bucket is complete (the overlap): {1e3 * overlap:.1f} ms")

    ar = run_mpi(2, "allreduce", args.repeat)
    sizes = [int(k) for k in ar["times"]]
    times = [ar["times"][str(k)] if str(k) in ar["times"] else ar["times"][k] for k in sizes]
    a, bandwidth = fit_alpha_beta(sizes, times)
    latency = a / 2
    print(f"\nMPI all-reduce at 2 processes (mpi4py Allreduce, median, max over ranks) and the fit "
          f"t = 2 x latency + bytes / bandwidth: latency {1e6 * latency:.1f} us, bandwidth {bandwidth / 1e9:.2f} GB/s")
    print_table(["bytes", "measured us", "fit us", "error %"],
                [[n, f"{1e6 * t:.1f}", f"{1e6 * (a + n / bandwidth):.1f}", f"{100 * ((a + n / bandwidth) / t - 1):+.1f}"]
                 for n, t in zip(sizes, times)])

    print("\nthe model against measured DDP steps (N processes of 1 thread each on this machine's "
          f"{os.cpu_count()} cores: compute measured with N processes stepping at once, no communication)")
    rows, has_ddp = [], hasattr(md.nn, "parallel") and hasattr(md.nn.parallel, "DistributedDataParallel")
    for n in (2, 3):
        compute_n = run_mpi(n, "compute", args.repeat)["step_s"]
        predicted = step_time(n, compute_n, nbytes, bandwidth, latency, overlap)
        measured = run_mpi(n, "ddp", args.repeat)["step_s"] if has_ddp else float("nan")
        rows.append([n, f"{1e3 * compute_n:.1f}", f"{1e3 * allreduce_time(n, nbytes, bandwidth, latency):.2f}",
                     f"{1e3 * predicted:.1f}", f"{1e3 * measured:.1f}", f"{100 * (predicted / measured - 1):+.1f}"])
    print_table(["processes", "compute ms", "all-reduce ms", "predicted step ms", "measured DDP step ms",
                 "error %"], rows)
    if not has_ddp:
        print("(no md.nn.parallel.DistributedDataParallel in this build: the measured column is empty)")

    print(f"\npredicted on a cluster: workers as fast as this core (compute {1e3 * compute:.1f} ms, overlap "
          f"{1e3 * overlap:.1f} ms), {nbytes / 2 ** 20:.2f} MiB of gradients, one worker per node, ring all-reduce")
    rows = []
    for name, (bw, lat) in NETWORKS.items():
        for n in WORKERS:
            s = step_time(n, compute, nbytes, bw, lat, overlap)
            rows.append([name, f"{bw / 1e9:.3g} GB/s, {1e6 * lat:g} us", n,
                         f"{1e3 * allreduce_time(n, nbytes, bw, lat):.2f}", f"{1e3 * s:.1f}", f"{100 * compute / s:.1f}"])
    print_table(["network", "bandwidth, latency", "workers", "all-reduce ms", "step ms", "scaling efficiency %"], rows)


if __name__ == "__main__":
    main()
