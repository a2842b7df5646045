"""Shared helpers for the Python benchmarks: a median timer and a plain-text table.

    from _common import machine_header, timeit, paired_timeit, print_table, compare_with_torch
    print(machine_header(args.threads))   # first lines of every table: where it ran
    t = timeit(lambda: f(x), repeat=15, warmup=3)   # median seconds
    t_a, t_b = paired_timeit([lambda: a(x), lambda: b(x)], repeat=15)   # interleaved: A vs B
    print_table(["shape", "GFLOP/s"], [["1024^3", 250.1]])

Timings on small shared machines are noisy: report medians, warm up (thread pools, page
faults, caches), and pin OpenMP threads (OMP_PROC_BIND=close) when comparing thread counts.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Iterable, Sequence


def _all_cpus() -> set:
    try:
        with open("/sys/fs/cgroup/cpuset.cpus.effective") as f:
            spans = [part.split("-") for part in f.read().strip().split(",") if part]
        return {c for span in spans for c in range(int(span[0]), int(span[-1]) + 1)}
    except (OSError, ValueError):
        return set(range(os.cpu_count() or 1))


def unpin() -> None:
    """Let this process run on every core again (see run_child). Call it before the first
    OpenMP library loads: libgomp takes its list of places from the affinity it sees then."""
    try:
        os.sched_setaffinity(0, _all_cpus())
    except (OSError, AttributeError):
        pass


def run_child(cmd, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run for a benchmark worker, with the CPU affinity reset to every core.

    Why: under OMP_PROC_BIND=close, an OpenMP pool of one thread (torch's first op, or
    md.set_num_threads(1)) binds the calling thread to a single core, and a child process
    inherits that mask: a "2-thread" worker started afterwards would run both threads on one
    core (measured: the GPT block and ResNet-20 step no faster on 2 threads than on 1).
    Importing scikit-learn pins the same way.
    """
    return subprocess.run(cmd, preexec_fn=unpin, **kwargs)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), printed with every benchmark table."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16")


def cpu_flags() -> list:
    """Which of the instruction-set flags minidl's kernels care about (KERNEL_FLAGS) the CPU
    reports in /proc/cpuinfo; the others are left out to keep the header short."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [flag for flag in KERNEL_FLAGS if flag in have]
    except OSError:
        pass
    return []


def _threads_text(threads, n_threads) -> str:
    if threads is None:
        return f"{n_threads} (minidl's setting when the table started)"
    if isinstance(threads, (list, tuple)):
        return " and ".join(str(t) for t in threads)
    return str(threads)


def _facts_of(md) -> tuple:
    try:
        bf16_path = md._C.gemm_lowp_path("bfloat16")
    except (AttributeError, RuntimeError):
        bf16_path = "-"
    return md.backend.name, bf16_path, md.get_num_threads()


def _minidl_facts() -> tuple:
    """(kernel set, BF16 GEMM path, thread count) of minidl, as this process would see them.

    Where this process has not imported minidl yet, a child process asks: importing it here
    would set OMP_WAIT_POLICY in os.environ (python/minidl/_openmp_defaults.py), which the
    benchmark's own workers (PyTorch's among them) would then inherit; the header must not
    change what it describes. Costs ~0.5 s once per table."""
    if "minidl" in sys.modules:
        return _facts_of(sys.modules["minidl"])
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.path + [here, os.path.join(here, "..", "..", "python")]  # PYTHONPATH first, this checkout last
    code = f"import sys; sys.path[:] = {path!r}\nimport _common, minidl\nprint(*_common._facts_of(minidl))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    words = res.stdout.split()
    return tuple(words) if res.returncode == 0 and len(words) == 3 else ("(minidl not importable)", "-", "-")


def machine_header(threads=None) -> str:
    """The lines every benchmark table starts with, saying where it ran: the CPU model, the
    kernel set minidl runs (``md.backend.name``) and the path of its BF16 GEMM, the CPU's flags
    that matter to those kernels (:data:`KERNEL_FLAGS`), the thread count(s) and the load
    average over 1, 5 and 15 minutes (``os.getloadavg``).

    Why: a ratio minidl / PyTorch means little without the machine (the same build was 0.35
    on one AVX-512 CPU and 1.07 on a Zen 4 for the BF16 GEMM, issue 18), and a load average
    above the core count says other processes shared the cores during the run.
    ``threads`` is printed as given (an int, a list of ints, or a string); None prints
    minidl's current thread count.
    """
    kernels, bf16_path, n_threads = _minidl_facts()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    flags = " ".join(cpu_flags()) or "none of " + " ".join(KERNEL_FLAGS)
    return (f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); CPU flags: {flags}\n"
            f"minidl kernels: {kernels} (bf16 GEMM: {bf16_path}); threads: {_threads_text(threads, n_threads)}; "
            f"load average (1, 5, 15 min): {load}")


def blas_idle(seconds: float = 0.3) -> None:
    """Wait until NumPy's OpenBLAS worker threads have stopped spinning; call it after timing
    NumPy, before timing minidl or torch in the same process.

    Why: after a multi-threaded call OpenBLAS keeps its workers busy-waiting for about 0.1 s,
    so a measurement started in that window shares its cores with them. Measured on 2 cores: a
    2-thread LSTM step takes 16 ms quiet, 31-45 ms right after NumPy matmuls, 20 ms 0.1 s
    later and 17-19 ms after 0.2 s.
    """
    time.sleep(seconds)


def timeit(fn: Callable[[], object], repeat: int = 11, warmup: int = 2,
           min_time: float = 0.0) -> float:
    """Median wall time of fn() in seconds over `repeat` runs, after `warmup` untimed runs.

    A single run shorter than ~50 us is timed as a loop of calls (total >= 200 us) so timer
    resolution and call overhead do not dominate; `min_time` (seconds) extends the repeats
    until that much total time was measured.
    """
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    inner = max(1, int(2e-4 / first)) if first < 5e-5 else 1
    samples = []
    total = 0.0
    while len(samples) < repeat or total < min_time:
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        dt = (time.perf_counter() - t0) / inner
        samples.append(dt)
        total += dt * inner
    return statistics.median(samples)


def paired_timeit(fns: Sequence[Callable[[], object]], repeat: int = 11, warmup: int = 1,
                  gap: float = 0.002, clock: Callable[[], float] = time.perf_counter) -> list:
    """Median time of each fn in seconds, the fns run in turns (ABAB.., the order reversed every
    other round) so that all of them see the same machine state.

    Why: on a shared 2-core VM the speed of a run drifts by 5-20% over seconds (other tenants,
    the second vCPU stalled); timing library A for a second and then B for a second compares
    two different machines, interleaving compares the same one. The `gap` sleep between calls
    lets the previous library's OpenMP workers stop spinning (libgomp busy-waits ~0.3 ms after a
    parallel region) so they do not share the cores with the next call.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    samples = [[] for _ in fns]
    for r in range(repeat):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            time.sleep(gap)
            t0 = clock()
            fns[i]()
            samples[i].append(clock() - t0)
    return [statistics.median(s) for s in samples]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]], file=None) -> None:
    """Prints rows under headers as an aligned text table (floats: 3 significant digits
    below 10, one decimal above; NaN shows as '-')."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    print("\n".join(lines), file=file, flush=True)


def compare_parser(doc: str, repeat: int = 9) -> argparse.ArgumentParser:
    """The command line the :func:`compare_with_torch` benchmarks share: ``--repeat`` (default
    ``repeat``) and ``--threads`` (default 1 2), described by the first line of ``doc`` (the
    script's docstring); a script adds its own options to the parser it returns."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--repeat", type=int, default=repeat)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    return p


def compare_with_torch(md, torch, make_cases, threads=(1, 2), repeat: int = 9, variants=(None,), width: int = 42,
                       note: str = "", clock: Callable[[], float] = time.perf_counter) -> None:
    """The loop most ``bench_*.py`` share: print :func:`machine_header` (and ``note``), then at each
    thread count (both libraries set to it) time ``make_cases(lib[, variant])[name]`` of
    minidl against PyTorch in alternating turns (:func:`paired_timeit`) and print one row
    per case: minidl ms, torch ms and the ratio minidl / PyTorch (< 1: minidl is faster).

    ``make_cases(lib)`` returns {case name: a no-argument function running the case with
    ``lib``}; the data is built again for each thread count (and each of ``variants``, passed
    as a second argument when not None). ``clock``: :func:`paired_timeit`'s (``time.process_time``
    times CPU work, which other jobs on a shared machine do not inflate; with several threads it
    is the sum over them).
    """
    print(machine_header(threads))
    print(f"torch {torch.__version__}")
    if note:
        print(note)
    print(f"{'case':{width}s} {'threads':>7s} {'minidl ms':>10s} {'torch ms':>9s} {'ratio':>6s}")
    for n in threads:
        md.set_num_threads(n)
        torch.set_num_threads(n)
        for variant in variants:
            extra = () if variant is None else (variant,)
            mine, theirs = make_cases(md, *extra), make_cases(torch, *extra)
            for name in mine:
                m, t = (v * 1e3 for v in paired_timeit([mine[name], theirs[name]], repeat=repeat, clock=clock))
                print(f"{name:{width}s} {n:7d} {m:10.2f} {t:9.2f} {m / t:6.2f}", flush=True)
