"""One MLP training step in minidl vs PyTorch, same model, same weights, same batch.

    PYTHONPATH=python python3 bench/python/bench_mlp.py [--steps 50] [--repeat 7] [--threads 1 2]
        [--sizes 64 256 256 10] [--batch 128]

(``--sizes 64 16 16 10 --batch 8`` makes the kernels negligible: what is left is the
framework overhead of a step, module calls, graph building, the backward engine, optimizer.)

Default model 64-256-256-10 with ReLU, CrossEntropyLoss, SGD(lr=0.01, momentum=0.9), a batch of
128 real digits. A step is ``zero_grad(); loss = loss_fn(model(x), y); loss.backward();
opt.step()`` written identically for both libraries. Reported per thread count: ms per step
(median of ``--repeat`` timings of ``--steps`` steps each, after warm-up), the ratio
minidl / torch (< 1: minidl faster), minor page faults per step (``getrusage``), and the
part of minidl's step spent inside its GEMM calls (``_C.mm`` / ``_C.addmm``, timed in the
step by wrapping them) next to the same GEMMs (same shapes and transposes) replayed alone
in minidl and in torch.
"""
from __future__ import annotations

import os

# pin OpenMP threads before either library starts its pool (NOTES-build.md: unpinned 2-thread
# timings swing 10x on this machine)
os.environ.setdefault("OMP_PROC_BIND", "close")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minidl as md  # noqa: E402
from _common import machine_header, print_table, timeit  # noqa: E402

SIZES = (64, 256, 256, 10)
BATCH = 128


def build(lib, weights, sizes=SIZES):
    nn = lib.nn
    layers = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    with lib.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(lib.tensor(w))
    for p, w in zip(model.parameters(), weights):
        assert np.array_equal(p.detach().numpy(), w)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, nn.CrossEntropyLoss(), opt


def make_step(lib, weights, x_np, y_np, sizes=SIZES):
    model, loss_fn, opt = build(lib, weights, sizes)
    x, y = lib.tensor(x_np), lib.tensor(y_np)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step, model


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(step, steps, repeat):
    def loop():
        for _ in range(steps):
            step()
    for _ in range(3):
        loop()  # warm-up: thread pool, allocator, first-touch page faults
    f0 = minor_faults()
    t = timeit(loop, repeat=repeat, warmup=0)
    faults = (minor_faults() - f0) / (steps * repeat)
    return t / steps * 1e3, faults


class GemmRecorder:
    """Wraps minidl._C.mm/addmm: accumulates their time and records their arguments."""

    def __init__(self):
        self.seconds, self.calls, self.record = 0.0, [], False
        self.orig = {name: getattr(md._C, name) for name in ("mm", "addmm")}

    def __enter__(self):
        for name, fn in self.orig.items():
            setattr(md._C, name, self._wrap(name, fn))
        return self

    def __exit__(self, *exc):
        for name, fn in self.orig.items():
            setattr(md._C, name, fn)

    def _wrap(self, name, fn):
        def timed(*args):
            t0 = time.perf_counter()
            r = fn(*args)
            self.seconds += time.perf_counter() - t0
            if self.record:
                self.calls.append((name, list(args)))
            return r
        return timed


def replay_gemms(calls, steps, repeat):
    """Time the recorded GEMM calls alone, in minidl and in torch (same arrays, same strides)."""
    md_calls = [(getattr(md._C, n), args) for n, args in calls]
    th_fns = {"mm": torch.mm, "addmm": torch.addmm}
    th_calls = [(th_fns[n], [torch.from_numpy(a) for a in args]) for n, args in calls]

    def run(cs):
        def loop():
            for _ in range(steps):
                for fn, args in cs:
                    fn(*args)
        return timeit(loop, repeat=repeat, warmup=2) / steps * 1e3
    return run(md_calls), run(th_calls)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="layer widths, first = 64 pixels")
    p.add_argument("--batch", type=int, default=BATCH)
    args = p.parse_args(argv)
    print(machine_header(args.threads))
    sizes, batch = tuple(args.sizes), args.batch
    if sizes[0] != 64 or sizes[-1] != 10:
        p.error("--sizes must start with 64 (digit pixels) and end with 10 (classes)")

    images, labels = md.datasets.load_digits(as_numpy=True)
    x_np = images[:batch].reshape(batch, -1).astype(np.float32)
    y_np = labels[:batch].astype(np.int64)
    torch.manual_seed(0)
    ref = torch.nn.Sequential(*[torch.nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)])
    weights = [p.detach().numpy().copy() for p in ref.parameters()]

    # same weights, same batch: the first losses must agree (a benchmark of different maths is void)
    md_step, _ = make_step(md, weights, x_np, y_np, sizes)
    th_step, _ = make_step(torch, weights, x_np, y_np, sizes)
    l_md, l_th = [md_step().item() for _ in range(3)], [th_step().item() for _ in range(3)]
    assert np.allclose(l_md, l_th, rtol=1e-4, atol=1e-5), (l_md, l_th)

    rows, split = [], []
    for n in args.threads:
        torch.set_num_threads(n)
        md.set_num_threads(n)
        md_step, _ = make_step(md, weights, x_np, y_np, sizes)
        th_step, _ = make_step(torch, weights, x_np, y_np, sizes)
        ms_md, pf_md = measure(md_step, args.steps, args.repeat)
        ms_th, pf_th = measure(th_step, args.steps, args.repeat)
        rows.append([n, ms_md, ms_th, ms_md / ms_th, pf_md, pf_th])

        with GemmRecorder() as rec:  # GEMM share inside minidl's step
            md_step()
            rec.record = True
            md_step()
            rec.record = False
            rec.seconds = 0.0
            t0 = time.perf_counter()
            for _ in range(args.steps):
                md_step()
            total = (time.perf_counter() - t0) / args.steps * 1e3
            gemm_in_step = rec.seconds / args.steps * 1e3
        rep_md, rep_th = replay_gemms(rec.calls, args.steps, args.repeat)
        split.append([n, total, gemm_in_step, total - gemm_in_step, len(rec.calls), rep_md, rep_th,
                      rep_md / rep_th])

    print(f"MLP training step {'-'.join(map(str, sizes))} ReLU, batch {batch}, CrossEntropy, SGD momentum "
          f"(median of {args.repeat} x {args.steps} steps), OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND')}, "
          f"minidl kernels: {md.backend.name}, torch {torch.__version__}")
    print_table(["threads", "minidl ms", "torch ms", "minidl/torch", "minidl faults/step", "torch faults/step"],
                rows)
    print()
    print("minidl step split (GEMM = time inside _C.mm/_C.addmm; replay = the same GEMM calls alone):")
    print_table(["threads", "minidl step ms", "GEMM ms", "rest ms", "GEMM calls", "replay minidl ms",
                 "replay torch ms", "GEMM minidl/torch"], split)
    return rows, split


if __name__ == "__main__":
    main()
