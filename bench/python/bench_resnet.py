"""One ResNet-20 training step in minidl vs PyTorch: time per step and peak memory.

    PYTHONPATH=python python3 bench/python/bench_resnet.py [--steps 5] [--repeat 5] [--threads 1 2]
        [--batch 64] [--depth 20] [--profile]

The model is ``md.models.resnet(depth)`` and its PyTorch twin ``md.models.build(torch.nn)
.resnet(depth)`` (the same source file run on torch.nn), with the same weights (torch's
initialisation copied into minidl through ``state_dict`` and NumPy) and the same random batch
of ``--batch`` 3x32x32 images and labels. A step is ``zero_grad(); loss =
CrossEntropyLoss(model(x), y); loss.backward(); opt.step()`` with SGD(lr=0.01,
momentum=0.9, weight_decay=5e-4), written identically for both libraries.

Each (library, thread count) runs in its own subprocess, so the libraries do not share an
allocator or a thread pool and each has its own memory high-water mark:
  * the first 3 losses are returned to the parent, which checks both libraries agree (a
    benchmark of different maths is void);
  * ms/step: median of ``--repeat`` timings of ``--steps`` steps each, after warm-up;
  * peak memory of the step: VmHWM (the process's resident-set high-water mark, from
    /proc/self/status) after all the steps minus VmRSS just before the first step (model,
    optimizer and batch already built), i.e. the extra memory the training steps needed at
    their peak (activations saved for backward, gradients, momentum buffers, workspaces,
    allocator caches). The absolute VmHWM is shown too.
``--profile`` adds, for minidl, cProfile's top functions by own time for a few steps, and a
per-shape table of the 3x3 convolutions of the network (forward, and forward + backward,
minidl vs torch, same input, in this process) to show where the step's time goes.
OMP_PROC_BIND=close is set unless already set (2-thread timings on a shared machine swing a lot).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_PROC_BIND", "close")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from _common import machine_header, run_child  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..", "..", "python")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def train_step(lib, model, x, y, bf16: bool = False):
    """The step timed: zero_grad, forward (under BF16 autocast when ``bf16``), cross-entropy,
    backward, SGD-momentum update; returns a no-argument function that runs it and returns the
    loss. ``lib`` is minidl or torch, written the same for both."""
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = lib.nn.CrossEntropyLoss()
    model.train()

    def step():
        opt.zero_grad()
        with lib.autocast("cpu", dtype=lib.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def paired_steps(depth: int = 20, batch: int = 64, bf16: bool = False, seed: int = 0):
    """(minidl step, torch step) of ResNet-``depth`` on one random batch, the same weights in
    both (torch's initialisation copied into minidl); run_all.py times these in one process."""
    sys.path.insert(0, PYDIR)
    import torch
    import minidl as md
    torch.manual_seed(seed)
    ref = md.models.build(torch.nn).resnet(depth)
    mine = md.models.resnet(depth)
    mine.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return (train_step(md, mine, md.tensor(x), md.tensor(y), bf16),
            train_step(torch, ref, torch.tensor(x), torch.tensor(y), bf16))


def worker(lib_name: str, threads: int, weights_path: str, steps: int, repeat: int, profile: bool) -> dict:
    """Runs in a subprocess: build, check losses, time, measure memory; returns a dict."""
    sys.path.insert(0, PYDIR)
    sys.path.insert(0, HERE)
    from _common import timeit
    if lib_name == "torch":
        import torch as lib
        import minidl.models as M  # pure Python model files; the model itself is torch's
        models = M.build(lib.nn)
    else:
        import minidl as lib
        models = lib.models
    lib.set_num_threads(threads)
    saved = np.load(weights_path)
    depth = int(saved["__depth"])
    model = models.resnet(depth)
    model.load_state_dict({k: lib.tensor(saved[k]) for k in saved.files if not k.startswith("__")})
    x, y = lib.tensor(saved["__x"]), lib.tensor(saved["__y"])
    step = train_step(lib, model, x, y)
    rss0 = _status_kb("VmRSS")
    losses = [step().item() for _ in range(3)]

    def loop():
        for _ in range(steps):
            step()
    loop()  # warm-up (thread pool, allocator, first-touch page faults)
    t = timeit(loop, repeat=repeat, warmup=0) / steps
    hwm = _status_kb("VmHWM")
    out = {"lib": lib_name, "threads": threads, "losses": losses, "ms": t * 1e3,
           "peak_mb": (hwm - rss0) / 1024, "hwm_mb": hwm / 1024, "rss0_mb": rss0 / 1024}
    if profile:
        import cProfile
        import io
        import pstats
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(3):
            step()
        pr.disable()
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(15)
        out["profile"] = s.getvalue()
    return out


CONV_SHAPES = [  # (in, out, stride, input side, count in ResNet-20)
    (3, 16, 1, 32, 1), (16, 16, 1, 32, 6), (16, 32, 2, 32, 1), (32, 32, 1, 16, 5),
    (32, 64, 2, 16, 1), (64, 64, 1, 8, 5)]


def conv_breakdown(batch: int, threads: int, repeat: int):
    """Rows: conv shape, count, minidl/torch forward ms and forward+backward ms (median)."""
    import torch
    import minidl as md
    from _common import timeit
    md.set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for cin, cout, stride, side, count in CONV_SHAPES:
        x = rng.standard_normal((batch, cin, side, side), dtype=np.float32)
        w = rng.standard_normal((cout, cin, 3, 3), dtype=np.float32) * 0.1
        res = []
        for lib in (md, torch):
            xt = lib.tensor(x, requires_grad=True)
            wt = lib.tensor(w, requires_grad=True)
            conv = lib.nn.functional.conv2d

            def fwd():
                with lib.no_grad():
                    conv(xt, wt, stride=stride, padding=1)

            def fwd_bwd():
                conv(xt, wt, stride=stride, padding=1).sum().backward()
            res += [timeit(fwd, repeat=repeat, warmup=2) * 1e3, timeit(fwd_bwd, repeat=repeat, warmup=2) * 1e3]
        rows.append([f"{cin}->{cout} s{stride} {side}x{side}", count, res[0], res[2], res[0] / res[2],
                     res[1], res[3], res[1] / res[3], count * res[1], count * res[3]])
    return rows


def run_worker(lib_name, threads, weights_path, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib_name, "--threads", str(threads),
           "--weights", weights_path, "--steps", str(args.steps), "--repeat", str(args.repeat)]
    if args.profile and lib_name == "minidl":
        cmd.append("--profile")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    res = run_child(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{lib_name} worker failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--worker", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.threads[0], args.weights, args.steps, args.repeat, args.profile)))
        return None
    print(machine_header(args.threads))

    sys.path.insert(0, PYDIR)
    sys.path.insert(0, HERE)
    import torch
    import minidl.models as M
    from _common import print_table
    torch.manual_seed(0)
    ref = M.build(torch.nn).resnet(args.depth)
    rng = np.random.default_rng(0)
    arrays = {k: v.detach().numpy().copy() for k, v in ref.state_dict().items()}
    arrays["__x"] = rng.standard_normal((args.batch, 3, 32, 32), dtype=np.float32)
    arrays["__y"] = rng.integers(0, 10, args.batch).astype(np.int64)
    arrays["__depth"] = np.array(args.depth)
    del ref
    tmp = tempfile.mkdtemp()
    weights_path = os.path.join(tmp, "resnet_weights.npz")
    np.savez(weights_path, **arrays)

    rows, profiles = [], []
    t0 = time.perf_counter()
    for n in args.threads:
        r_md = run_worker("minidl", n, weights_path, args)
        r_th = run_worker("torch", n, weights_path, args)
        assert np.allclose(r_md["losses"], r_th["losses"], rtol=1e-3, atol=1e-4), (r_md["losses"], r_th["losses"])
        rows.append([n, r_md["ms"], r_th["ms"], r_md["ms"] / r_th["ms"], r_md["peak_mb"], r_th["peak_mb"],
                     r_md["peak_mb"] / r_th["peak_mb"], r_md["hwm_mb"], r_th["hwm_mb"]])
        if "profile" in r_md:
            profiles.append((n, r_md["profile"]))
        first = (r_md["losses"], r_th["losses"])
    os.remove(weights_path)
    os.rmdir(tmp)

    import minidl as md
    print(f"ResNet-{args.depth} training step, batch {args.batch}x3x32x32, CrossEntropy, SGD momentum "
          f"(median of {args.repeat} x {args.steps} steps; one subprocess per library and thread count), "
          f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND')}, minidl kernels: {md.backend.name}, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.2f} ({time.perf_counter() - t0:.0f} s)")
    print(f"first 3 losses minidl {np.round(first[0], 5).tolist()} torch {np.round(first[1], 5).tolist()}")
    print_table(["threads", "minidl ms", "torch ms", "minidl/torch", "minidl peak MB", "torch peak MB",
                 "peak minidl/torch", "minidl VmHWM MB", "torch VmHWM MB"], rows)
    for n, text in profiles:
        print(f"\nminidl cProfile, {n} thread(s), 3 steps, top by own time:\n{text}")
    if args.profile:
        for n in args.threads:
            rows_c = conv_breakdown(args.batch, n, max(args.repeat, 5))
            print(f"3x3 convolutions of ResNet-{args.depth} (batch {args.batch}, {n} thread(s), median ms; "
                  f"fwd+bwd = forward + backward of sum(); x count = per step)")
            print_table(["conv", "count", "fwd minidl", "fwd torch", "ratio", "fwd+bwd minidl", "fwd+bwd torch",
                         "ratio", "x count minidl", "x count torch"], rows_c)
            print(f"sum of x count: minidl {sum(r[8] for r in rows_c):.1f} ms, torch {sum(r[9] for r in rows_c):.1f} ms")
    return rows


if __name__ == "__main__":
    main()
