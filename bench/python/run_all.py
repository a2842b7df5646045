"""The headline benchmarks in one run, minidl against PyTorch on the same machine and threads,
written as one markdown table a user can compare with the README's.

    PYTHONPATH=python python bench/python/run_all.py [--quick] [--out my_machine.md]
        [--threads 1 2] [--only NAME ...] [--repeat N] [--list]

Workloads (issue 18): GEMM 1024^3 in float32 and bfloat16; Conv2d forward + backward at every
shape of bench_conv.py; a ResNet-20 training step (batch 64) in float32 and under BF16
autocast; a GPT block forward + backward (bench_gpt.py's) in float32 and BF16 autocast;
LSTM forward + backward at H = 256 and 512 (bench_rnn.py); causal attention forward +
backward (bench_attention.py, L = 512); one Adam and one AdamW step over 10M parameters
(bench_optim.py). Each is built by the ``paired_*`` function of its own bench script, so the
numbers here are those scripts' cases, not a second copy of them.

At each thread count one subprocess (OMP_NUM_THREADS and both libraries set to it, its
affinity reset by run_child) times every workload, minidl and PyTorch in alternating turns
(paired_timeit: the median of ``--repeat`` pairs after a warm-up), so the two see the same
machine. The worker imports torch before minidl, so the OpenMP runtime the two share (PyTorch's
bundled libgomp has the same soname) starts with PyTorch's defaults (minidl's wait policy and spin
count are not imposed on PyTorch). The table gives
both times, the ratio minidl / PyTorch (< 1: minidl faster), issue 18's target for that
ratio, and whether it was met; a BF16 row's target also asks that it be faster than minidl's
own float32 row (>= 1.6x for the GEMM). It starts with the machine header (CPU, flags,
kernel set, threads, load average): a load average near or above the core count means other
processes shared the cores, and the ratios are then only rough.

--quick: 3 pairs instead of 7 and one shape per family (35 s on a 2-core VM at load average
~3, 125 s at ~7; the full run: 136 s at ~5), for checking that everything runs;
--only NAME ... runs just those workloads (--list names them).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_PROC_BIND", "close")

import argparse  # noqa: E402
import ast  # noqa: E402
import datetime  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable, Optional, Tuple  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..", "..", "python")
sys.path.insert(0, HERE)
from _common import machine_header, paired_timeit, run_child  # noqa: E402

COLUMNS = ["workload", "threads", "minidl ms", "PyTorch ms", "ratio minidl/PyTorch", "target (issue 18)", "met?"]


@dataclass
class Workload:
    """One row family of the table: ``build()`` returns (minidl step, PyTorch step), two
    no-argument functions doing the same work; ``max_ratio`` is issue 18's target for minidl
    time / PyTorch time (None: no target), and ``faster_than`` = (name of minidl's float32
    workload, speed-up factor) asks a BF16 row to beat minidl's own float32 time as well."""
    name: str
    build: Callable[[], Tuple[Callable, Callable]]
    max_ratio: Optional[float] = None
    faster_than: Optional[Tuple[str, float]] = None
    quick: bool = True

    def target_text(self) -> str:
        parts = [] if self.max_ratio is None else [f"<= {self.max_ratio:.2f}"]
        if self.faster_than:
            ref, factor = self.faster_than
            parts.append(f"minidl >= {factor:g}x its {ref}" if factor != 1 else f"minidl faster than its {ref}")
        return "; ".join(parts) or "-"


def _from(module: str, function: str, *args, **kwargs):
    """A builder calling bench script ``module``'s ``function`` (imported only when run, in the
    child: each script imports its libraries at the top)."""
    return lambda: getattr(importlib.import_module(module), function)(*args, **kwargs)


def _conv_builder(shape):
    def build():
        import numpy as np
        conv = importlib.import_module("bench_conv")
        _, xs, K, k, s, p, g = shape
        return (conv.make_md(xs, K, k, s, p, g, np.random.default_rng(0)),
                conv.make_torch(xs, K, k, s, p, g, np.random.default_rng(0)))
    return build


def _conv_workloads():
    """One workload per shape of bench_conv.SHAPES, read from its source: importing bench_conv
    here would import minidl, whose OMP_WAIT_POLICY setting the workers would inherit, so
    PyTorch's runtime would not start with its own defaults."""
    with open(os.path.join(HERE, "bench_conv.py")) as f:
        tree = ast.parse(f.read())
    shapes = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SHAPES")
    return [Workload(f"Conv2d {shape[0]} (batch 32) fwd+bwd", _conv_builder(shape), 1.0,
                     quick=shape[0] == "64->64 3x3 @8") for shape in shapes]


def workloads() -> list:
    """Every headline workload, in table order."""
    gemm32, resnet32, gpt32 = "GEMM fp32 1024^3", "ResNet-20 step fp32", "GPT block fwd+bwd fp32"
    return [
        Workload(gemm32, _from("bench_gemm_lowp", "paired_matmuls", 1024, "float32")),
        Workload("GEMM bf16 1024^3", _from("bench_gemm_lowp", "paired_matmuls", 1024, "bfloat16"), 1.0,
                 (gemm32, 1.6)),
        *_conv_workloads(),
        Workload(resnet32, _from("bench_resnet", "paired_steps", 20, 64, False), 0.67),
        Workload("ResNet-20 step bf16 autocast", _from("bench_resnet", "paired_steps", 20, 64, True), 1.0,
                 (resnet32, 1.0)),
        Workload(gpt32, _from("bench_gpt", "paired_block_steps", False), 0.67),
        Workload("GPT block fwd+bwd bf16 autocast", _from("bench_gpt", "paired_block_steps", True), 1.0,
                 (gpt32, 1.0)),
        Workload("LSTM fwd+bwd H=256", _from("bench_rnn", "paired_steps", "LSTM", 256), 0.85),
        Workload("LSTM fwd+bwd H=512", _from("bench_rnn", "paired_steps", "LSTM", 512), 0.85, quick=False),
        Workload("attention fwd+bwd L=512 causal", _from("bench_attention", "paired_steps", 512, True)),
        Workload("Adam step 10M params", _from("bench_optim", "paired_steps", "Adam")),
        Workload("AdamW step 10M params", _from("bench_optim", "paired_steps", "AdamW"), quick=False),
    ]


def _find_minidl() -> None:
    """Import minidl from where Python finds it (PYTHONPATH, an installed wheel); only where it
    finds none, from this checkout's python/ (which then needs its extension built in place)."""
    if importlib.util.find_spec("minidl") is None:
        sys.path.insert(0, PYDIR)


def child(threads: int, names: list, repeat: int) -> None:
    """In the subprocess: time each named workload at ``threads`` threads, one JSON line each."""
    import torch  # first: its OpenMP runtime starts with torch's defaults, not minidl's OMP_WAIT_POLICY
    _find_minidl()
    import minidl as md
    md.set_num_threads(threads)
    torch.set_num_threads(threads)
    by_name = {w.name: w for w in workloads()}
    for name in names:
        try:
            fns = by_name[name].build()
            t_md, t_torch = paired_timeit(fns, repeat=repeat, warmup=1)
            row = {"name": name, "minidl_ms": t_md * 1e3, "torch_ms": t_torch * 1e3}
        except Exception as e:  # a failed workload is a row that says so, not a lost table
            row = {"name": name, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(row), flush=True)


def run_threads(threads: int, names: list, repeat: int) -> list:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(threads), "--repeat", str(repeat),
           "--only", *names]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    res = run_child(cmd, capture_output=True, text=True, env=env)
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode != 0 or len(rows) != len(names):
        raise RuntimeError(f"the {threads}-thread worker failed (exit {res.returncode}):\n{res.stderr}")
    return rows


def verdict(w: Workload, row: dict, same_threads: dict) -> str:
    """'yes', 'no' or '-' (no target) for one row; same_threads: {name: row} at its thread count."""
    if "error" in row:
        return "no (failed)"
    # judged on the values as the table prints them (2 decimals), so that a row never reads
    # "1.00 ... <= 1.00 ... no"
    checks, notes = [], []
    if w.max_ratio is not None:
        checks.append(round(row["minidl_ms"] / row["torch_ms"], 2) <= w.max_ratio)
    if w.faster_than:
        ref = same_threads.get(w.faster_than[0])
        if ref is None or "error" in ref:
            notes.append(f"{w.faster_than[0]} not run")
        else:
            checks.append(round(ref["minidl_ms"] / row["minidl_ms"], 2) >= w.faster_than[1])
            notes.append(f"{ref['minidl_ms'] / row['minidl_ms']:.2f}x the speed of fp32")
    if not checks:
        return "-"
    return ("yes" if all(checks) else "no") + (f" ({', '.join(notes)})" if notes else "")


def markdown(header: str, rows: list, by_name: dict, threads: list, note: str) -> str:
    """The report: machine header, one table, the load average at the end."""
    lines = ["# minidl vs PyTorch: headline benchmarks (bench/python/run_all.py)", ""]
    lines += [line + "  " for line in header.splitlines()] + [note, ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for n in threads:
        same = {r["name"]: r for r in rows if r["threads"] == n}
        for r in (r for r in rows if r["threads"] == n):
            w = by_name[r["name"]]
            if "error" in r:
                cells = ["failed: " + r["error"].replace("|", "/").splitlines()[0][:80], "-", "-"]
            else:
                cells = [f"{r['minidl_ms']:.2f}", f"{r['torch_ms']:.2f}", f"{r['minidl_ms'] / r['torch_ms']:.2f}"]
            lines.append("| " + " | ".join([w.name, str(n), *cells, w.target_text(), verdict(w, r, same)]) + " |")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    lines += ["", f"ratio < 1: minidl faster. Load average (1, 5, 15 min) after the run: {load}."]
    return "\n".join(lines) + "\n"


def _git_commit() -> str:
    """HEAD's short hash, '+changes' when the checkout has uncommitted edits ('unknown' outside git)."""
    try:
        head = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True)
    except OSError:
        return "unknown"
    return (head.stdout.strip() or "unknown") + ("+changes" if dirty.stdout.strip() else "")


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 pairs, one shape per family (< 2 min on 2 cores)")
    p.add_argument("--out", help="also write the markdown table to this file")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--only", nargs="+", metavar="NAME", help="run just these workloads (see --list)")
    p.add_argument("--repeat", type=int, help="minidl/PyTorch pairs timed per workload (default 7, --quick 3)")
    p.add_argument("--list", action="store_true", help="print the workload names and exit")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 7)
    if args.child:
        child(args.child, args.only, repeat)
        return ""
    all_workloads = workloads()
    by_name = {w.name: w for w in all_workloads}
    if args.list:
        print("\n".join(by_name))
        return ""
    if args.only:
        unknown = [n for n in args.only if n not in by_name]
        if unknown:
            p.error(f"unknown workload(s) {unknown}; the names are (--list): {list(by_name)}")
        names = [w.name for w in all_workloads if w.name in args.only]
    else:
        names = [w.name for w in all_workloads if w.quick or not args.quick]
    header = machine_header(args.threads)
    t0 = time.perf_counter()
    rows = []
    for n in args.threads:
        rows += [dict(r, threads=n) for r in run_threads(n, names, repeat)]
    _find_minidl()  # only now: importing minidl sets OMP_WAIT_POLICY, which the workers would inherit
    import minidl as md
    import torch
    note = (f"minidl {md.__version__} (commit {_git_commit()}), torch {torch.__version__}; "
            f"{'quick: ' if args.quick else ''}median of {repeat} alternating minidl/PyTorch pairs; "
            f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND')}; "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {time.perf_counter() - t0:.0f} s")
    report = markdown(header, rows, by_name, args.threads, note)
    print(report, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    return report


if __name__ == "__main__":
    main()
