"""Data-parallel training on paper: an alpha-beta cost model of a DDP step, fitted on this
machine, checked against measured multi-process steps, then extrapolated to 8, 64 and 512 workers.

    PYTHONPATH=python python bench/python/ddp_model.py [--repeat 7] [--rounds 3] [--bucket-cap-mb 25]

The model (the step of examples/train_ddp.py: the char-GPT, 4 layers, d_model 128, per-worker
batch 32 of 64 characters, AdamW), for N workers each computing its own batch:

    step(N)      = compute + max(0, allreduce(N) - overlap)
    allreduce(N) = 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x latency      (ring all-reduce)

* compute: one training step (forward, backward, optimizer) of one worker alone, 1 thread;
* bytes: the gradients all-reduced per step (every parameter, float32);
* latency (alpha) and bandwidth (beta): fitted to the times of md.distributed.all_reduce
  (MPI's Allreduce, what DDP runs on each bucket) of 1 KiB .. 16 MiB at 2 processes, where
  the ring model is t(n) = 2 alpha + n / beta (``_allreduce_model.AllReduceModel``); alpha from
  the small messages, beta from the large ones (``fit_where_each_dominates`` says why);
* overlap: how much of the backward pass is still to run when the first gradient bucket is
  complete (DistributedDataParallel starts that bucket's all-reduce then): measured with
  post-accumulate-grad hooks (DDP's own trigger) on the buckets DDP makes (reverse order of
  registration; under the default 25 MiB cap a first bucket of 1 MiB, as PyTorch's). A model
  that fits in one bucket has no overlap.

The check: the model's prediction against DDP steps measured with 2 and 3 processes
(``mpiexec -n N``), with the prediction's error (target: within 15%). This machine has 2 cores:
3 processes of 1 thread each share them, so for the check the compute term is the step time
measured with N processes computing at once (no communication), not the 1-process time; the
script says what it measured. Every worker runs 1 thread (OMP_NUM_THREADS=1).

The extrapolation: workers as fast as one core of this machine (the same compute and
overlap), and workers ``--speedups`` times faster (default 100x, about what a GPU does with
such a step: compute and overlap divided, the gradients and network unchanged, so the
communication matters more), on a stated network, with the efficiency of weak scaling,
compute / step(N):
  * 25 Gbit/s Ethernet with RDMA (RoCE): 3.125 GB/s per link, ~5 us per message;
  * 200 Gbit/s InfiniBand (HDR): 25 GB/s per link, ~1 us per message.
Assumptions: one worker per node, the ring at link speed (no contention, no hierarchy), the
same per-worker batch (weak scaling). TCP over Ethernet has ~25-50 us latencies instead.

Measured on this 2-core Xeon with nothing else running (load average 1.5, 2026-12-06 23:00):
compute 115 ms (backward 73 ms), overlap 36 ms, alpha 5.9 us, beta 3.16 GB/s (fitted on back-to-
back all-reduces of 1 KB to 16 MB); the 1.0-1.4 ms all-reduce hides behind the overlap, and the
model was -3.8% at 2 processes and -2.9% at 3 against the measured DDP steps. On paper a worker
100x faster (1.15 ms of compute) keeps 43%, 33% and 14% at 8, 64 and 512 workers on 25 Gbit/s
Ethernet and 100%, 98% and 55% on InfiniBand: with compute that short the latency terms and the
all-reduce that no longer hides decide.

Earlier, with other jobs on the cores (load average 9-13, 2026-12-06): compute
362 ms (backward 257 ms), 3.11 MiB of gradients in buckets of 1.01 and 2.10 MiB, overlap 129 ms;
alpha 0.7 us, beta 0.83 GB/s; the all-reduce (4-5 ms) hides entirely behind the overlap, so the
model predicts step(N) = compute(N): +6.6% at 2 processes and -4.5% at 3 against the measured
DDP steps (two earlier runs: +0.8% / -7.5% and +2.4% / -19.7%: on a machine this loaded the
3-process check swings). On paper, a worker as fast as this core scales at ~100% to 512
workers on either network; a worker 100x faster (3.6 ms of compute) keeps 86%, 72% and 38% at
8, 64 and 512 workers on 25 Gbit/s Ethernet, and 100% on InfiniBand (its 1.3 ms all-reduce at
512 still hides behind the 1.3 ms overlap).
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

from _allreduce_model import AllReduceModel  # noqa: E402
from _common import machine_header, print_table, run_child  # noqa: E402

SIZES = [1 << k for k in range(10, 25, 2)]   # 1 KiB .. 16 MiB (float32 buffers)
NETWORKS = {"25 Gbit/s Ethernet (RoCE)": AllReduceModel(alpha=5e-6, beta=25e9 / 8),
            "200 Gbit/s InfiniBand": AllReduceModel(alpha=1e-6, beta=200e9 / 8)}
WORKERS = [8, 64, 512]
MPIEXEC_TIMEOUT_S = 300


# --- the model ----------------------------------------------------------------------------------

# --8<-- [start:ddp_step_time]
def step_time(n: int, compute: float, nbytes: float, network: AllReduceModel, overlap: float) -> float:
    """compute + max(0, allreduce(n) - overlap): the communication the backward pass cannot hide."""
    return compute + max(0.0, network.time(nbytes, n) - overlap)
# --8<-- [end:ddp_step_time]


def fit_where_each_dominates(sizes, times, nproc: int = 2, small: int = 4096, large: int = 1 << 20) -> AllReduceModel:
    """The ring model t = 2(N-1) alpha + 2(N-1)/N x n / beta fitted to all-reduce times on
    ``nproc`` ranks, each parameter where it dominates: alpha from the median of the messages
    of at most ``small`` bytes (their bandwidth term subtracted), beta by least squares over the
    messages of at least ``large`` bytes with alpha fixed (a few rounds, each correcting the other).

    Why not ``_allreduce_model.fit_alpha_beta`` (least squares of the relative error over all
    sizes): on this shared 2-core machine (load average 8-13 during the runs) 64-256 KiB moved at
    ~4-5 GB/s but 4-16 MiB at ~0.7-0.8 GB/s (a large copy through shared memory is interrupted
    by the other processes on the cores), and the relative-error fit, led by the many small
    sizes, put the 4 and 16 MiB times 80% off. DDP's buckets are 1-25 MiB, so beta comes from those.
    """
    pairs = sorted(zip(sizes, times))
    if not any(n <= small for n, _ in pairs) or not any(n >= large for n, _ in pairs):
        raise ValueError(f"need messages of <= {small} and >= {large} bytes, got sizes {[n for n, _ in pairs]}")
    steps, share = 2 * (nproc - 1), 2 * (nproc - 1) / nproc
    inverse_beta = 0.0
    for _ in range(5):
        alpha = statistics.median(t - share * n * inverse_beta for n, t in pairs if n <= small) / steps
        big = [(share * n, t - steps * alpha) for n, t in pairs if n >= large]
        inverse_beta = sum(x * t for x, t in big) / sum(x * x for x, _ in big)
    return AllReduceModel(alpha=alpha, beta=1 / inverse_beta)


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


def worker(kind: str, repeat: int, bucket_cap_mb) -> None:
    import minidl as md  # deferred: after OMP_NUM_THREADS is fixed
    import minidl.distributed as dist  # deferred: only the MPI workers need it (extra minidl[distributed])
    dist.init_process_group(backend="mpi")
    world = dist.get_world_size()

    def slowest(seconds: float) -> float:  # the step is as slow as its slowest rank
        t = md.tensor([seconds], dtype=md.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.item()

    out = {"world": world}
    if kind == "allreduce":  # what DDP runs on a bucket: md.distributed.all_reduce of a float32 tensor
        out["times"] = {}
        for nbytes in SIZES:
            buffer = md.ones(nbytes // 4)
            reps = max(5, min(200, (1 << 24) // nbytes))
            dist.all_reduce(buffer)
            samples = []
            for _ in range(reps):
                dist.barrier()
                t0 = time.perf_counter()
                dist.all_reduce(buffer)
                samples.append(time.perf_counter() - t0)
            out["times"][nbytes] = slowest(statistics.median(samples))
    else:
        model, x, y, opt = _example_model(md)
        net = model
        if kind == "ddp":
            net = md.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb)
        out["step_s"] = slowest(_median_step(md, net, opt, x, y, repeat, dist.barrier))
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(out), flush=True)
    dist.destroy_process_group()


def run_mpi(n: int, kind: str, repeat: int, bucket_cap_mb) -> dict:
    from minidl.distributed.run import find_mpiexec  # deferred: after OMP_NUM_THREADS is fixed
    cmd = [find_mpiexec(), "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker", kind,
           "--repeat", str(repeat)] + ([] if bucket_cap_mb is None else ["--bucket-cap-mb", str(bucket_cap_mb)])
    proc = run_child(cmd, capture_output=True, text=True, timeout=MPIEXEC_TIMEOUT_S,
                     env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


# --- measurements in this process --------------------------------------------------------------

def measure_overlap(md, bucket_cap_mb, repeat: int):
    """(backward seconds, seconds of backward left when the first bucket is complete, buckets),
    the buckets as DistributedDataParallel makes them (its ``assign_buckets``: reverse order of
    registration, a first bucket of 1 MiB under the default cap, as PyTorch's)."""
    from minidl.nn.parallel.reducer import FIRST_BUCKET_BYTES, assign_buckets  # deferred: as run_mpi
    model, x, y, opt = _example_model(md)
    params = [p for p in model.parameters() if p.requires_grad]
    cap = int((25.0 if bucket_cap_mb is None else bucket_cap_mb) * 2 ** 20)
    buckets = assign_buckets(params, cap, FIRST_BUCKET_BYTES if bucket_cap_mb is None else cap)
    ready = {}
    # the hook DDP starts a bucket's all-reduce from: it runs once the gradient is in .grad
    handles = [p.register_post_accumulate_grad_hook(lambda q, i=i: ready.__setitem__(i, time.perf_counter()))
               for i, p in enumerate(params)]
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
            left.append(t1 - max(ready[j] for j in buckets[0]))
    for h in handles:
        h.remove()
    return statistics.median(backward), statistics.median(left), [sum(params[j].numel() * 4 for j in b)
                                                                   for b in buckets]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--repeat", type=int, default=7, help="timed steps per measurement (median; default 7)")
    p.add_argument("--rounds", type=int, default=3,
                   help="launches of each multi-process measurement, in turns (median; default 3)")
    p.add_argument("--bucket-cap-mb", type=float, default=None,
                   help="DDP's bucket_cap_mb (default: DDP's, 25 MiB with a first bucket of 1 MiB, as PyTorch)")
    p.add_argument("--speedups", type=float, nargs="+", default=[1.0, 100.0],
                   help="worker speeds to predict for, relative to this core (default 1 100: a GPU-class worker)")
    p.add_argument("--worker", choices=["allreduce", "compute", "ddp"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.repeat, args.bucket_cap_mb)

    import minidl as md  # deferred: after OMP_NUM_THREADS is fixed
    md.set_num_threads(1)
    print(machine_header(1))
    model, x, y, opt = _example_model(md)
    nbytes = sum(q.numel() for q in model.parameters()) * 4
    compute = _median_step(md, model, opt, x, y, args.repeat, lambda: None)
    backward, overlap, bucket_bytes = measure_overlap(md, args.bucket_cap_mb, args.repeat)
    print(f"\nstep of examples/train_ddp.py's model (GPT 4 x 128, batch 32 x 64 characters, AdamW), 1 process, "
          f"1 thread: compute {1e3 * compute:.1f} ms (backward {1e3 * backward:.1f} ms); gradients all-reduced "
          f"per step: {nbytes / 2 ** 20:.2f} MiB in DDP's buckets of "
          f"{', '.join(f'{b / 2 ** 20:.2f}' for b in bucket_bytes)} MiB; "
          f"backward left when the first bucket is complete (the overlap): {1e3 * overlap:.1f} ms")

    ar = run_mpi(2, "allreduce", args.repeat, args.bucket_cap_mb)
    sizes, times = zip(*sorted((int(k), t) for k, t in ar["times"].items()))  # JSON made the keys strings
    here = fit_where_each_dominates(sizes, times, nproc=2)
    print(f"\nall-reduce at 2 processes (md.distributed.all_reduce of float32, median, slowest rank) and the fit "
          f"t = 2 alpha + bytes / beta (alpha from <= 4 KiB, beta from >= 1 MiB): latency alpha "
          f"{1e6 * here.alpha:.1f} us, bandwidth beta {here.beta / 1e9:.2f} GB/s")
    print_table(["bytes", "measured us", "fit us", "error %"],
                [[n, f"{1e6 * t:.1f}", f"{1e6 * here.time(n, 2):.1f}", f"{100 * (here.time(n, 2) / t - 1):+.1f}"]
                 for n, t in zip(sizes, times)])

    print("\nthe model against measured DDP steps (N processes of 1 thread each on this machine's "
          f"{os.cpu_count()} cores: compute measured with N processes stepping at once, no communication; "
          f"median of {args.rounds} launches of each, in turns)")
    rows = []
    samples = {(n, kind): [] for n in (2, 3) for kind in ("compute", "ddp")}
    for r in range(args.rounds):  # launches in turns, the order reversed every other round (drift)
        order = list(samples) if r % 2 == 0 else list(reversed(samples))
        for n, kind in order:
            samples[n, kind].append(run_mpi(n, kind, args.repeat, args.bucket_cap_mb)["step_s"])
    for n in (2, 3):
        compute_n, measured = (statistics.median(samples[n, kind]) for kind in ("compute", "ddp"))
        predicted = step_time(n, compute_n, nbytes, here, overlap)
        rows.append([n, f"{1e3 * compute_n:.1f}", f"{1e3 * here.time(nbytes, n):.2f}",
                     f"{1e3 * predicted:.1f}", f"{1e3 * measured:.1f}", f"{100 * (predicted / measured - 1):+.1f}"])
    print_table(["processes", "compute ms", "all-reduce ms", "predicted step ms", "measured DDP step ms",
                 "error %"], rows)

    print(f"\npredicted on a cluster: {nbytes / 2 ** 20:.2f} MiB of gradients, one worker per node, ring all-reduce "
          f"at link speed; a worker as fast as this core (compute {1e3 * compute:.1f} ms, overlap {1e3 * overlap:.1f} "
          f"ms), or {', '.join(f'{k:g}x' for k in args.speedups if k != 1)} faster (compute and overlap divided, "
          f"the network the same)")
    rows = []
    for speedup in args.speedups:
        for name, network in NETWORKS.items():
            for n in WORKERS:
                c, o = compute / speedup, overlap / speedup
                s = step_time(n, c, nbytes, network, o)
                rows.append([f"{speedup:g}x", name, f"{network.beta / 1e9:.3g} GB/s, {1e6 * network.alpha:g} us", n,
                             f"{1e3 * c:.2f}", f"{1e3 * network.time(nbytes, n):.2f}", f"{1e3 * s:.2f}",
                             f"{100 * c / s:.1f}"])
    print_table(["worker speed", "network", "bandwidth, latency", "workers", "compute ms", "all-reduce ms", "step ms",
                 "scaling efficiency %"], rows)

if __name__ == "__main__":
    main()
