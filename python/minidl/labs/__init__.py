"""Interview labs: each classic deep-learning interview question answered with numbers.

    python -m minidl.labs                      # list the labs, with their running times
    python -m minidl.labs backprop [--quick] [--out DIR] [--no-progress]

From Python, ``minidl.labs.run(name, quick=False, out=None)`` runs one lab, says what it is
doing (a line, then a progress bar), prints its table, saves ``<out>/<name>.png`` (``out``
defaults to the current directory) and returns the lab's numbers as a dict, so tests can
assert on the conclusions.

Every lab module has a docstring stating the question and the answer its numbers show, and
a ``run(quick=False, out=None, seed=0, progress=True) -> dict`` function.
"""
from __future__ import annotations

import importlib
import os

from .. import tuning
from ..utils.progress import progress as _progress

# name -> module (imported lazily: a lab may pull in matplotlib)
LABS = {
    "backprop": "minidl.labs.backprop",
    "vanishing": "minidl.labs.vanishing",
    "bias-variance": "minidl.labs.bias_variance",
    "schedules": "minidl.labs.schedules",
    "batch-size": "minidl.labs.batch_size",
    "large-batch": "minidl.labs.large_batch",
    "why-conv": "minidl.labs.why_conv",
    "resnet": "minidl.labs.resnet",
    "transfer": "minidl.labs.transfer",
    "transfer-digits": "minidl.labs.transfer_digits",
    "lstm-vs-gru": "minidl.labs.lstm_vs_gru",
    "bptt-gradients": "minidl.labs.bptt_gradients",
    "attention": "minidl.labs.attention",
    "sqrt-dk": "minidl.labs.sqrt_dk",
    "mixed-precision": "minidl.labs.mixed_precision",
    "kv-cache": "minidl.labs.kv_cache",
}

# name -> (quick seconds, full seconds), measured: the CPU time of
# ``python -m minidl.labs NAME [--quick] --no-progress`` with OMP_NUM_THREADS=1 on this
# project's 2-core Intel Xeon, imports included, i.e. the wall time on an idle machine. At load
# average 7-8 (other jobs on both cores) the wall times were 1.5-3x these.
RUNTIMES = {
    "backprop": (2, 2),
    "vanishing": (2, 3),
    "bias-variance": (4, 18),
    "schedules": (2, 2),
    "batch-size": (2, 3),
    "large-batch": (4, 27),
    "why-conv": (4, 7),
    "resnet": (5, 19),
    "transfer": (40, 900),   # measured on 1 thread with other jobs running: an idle machine is faster
    "transfer-digits": (4, 12),
    "lstm-vs-gru": (7, 27),
    "bptt-gradients": (4, 9),
    "attention": (2, 3),
    "sqrt-dk": (2, 2),
    "mixed-precision": (4, 6),
    "kv-cache": (2, 2),
}


def _module(name: str):
    if name not in LABS:
        raise ValueError(f"unknown lab {name!r}; available labs: {', '.join(sorted(LABS))}")
    return importlib.import_module(LABS[name])


def describe(name: str) -> str:
    """First line of the lab's docstring (its interview question)."""
    doc = _module(name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def list_labs() -> dict:
    """``{name: one-line description}`` for every registered lab."""
    return {name: describe(name) for name in LABS}


def runtime(name: str) -> str:
    """The expected running time of lab ``name`` in words, quick and full mode.

    >>> from minidl.labs import runtime
    >>> runtime("backprop")
    'quick ~2 s, full ~2 s'
    """
    quick, full = RUNTIMES[name]
    return f"quick ~{_duration(quick)}, full ~{_duration(full)}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def run(name: str, quick: bool = False, out=None, progress: bool = True, **kwargs) -> dict:
    """Run lab ``name``; print its table, save ``<out>/<name>.png`` and return its numbers.

    ``quick``: the small version (a few seconds; what the tests run). ``out``: directory for
    the figure (created if missing; default the current directory). ``progress``: show a
    progress bar (tqdm if installed, else a line every few seconds) on stderr. Extra keyword
    arguments (e.g. ``seed``) go to the lab's own ``run``.

    A lab runs with the kernels' fixed path order (``md.backends.cpu.benchmark = False``, set
    back afterwards), so that a seed gives the same numbers in every run at a given thread
    count: the paths round differently, and which one a timing picks varies from run to run,
    which a long training run amplifies (the resnet lab's residual-56 final loss read 0.50,
    0.63 and 0.74 for one seed with the paths chosen by measurement).
    """
    mod = _module(name)
    out = os.getcwd() if out is None else os.fspath(out)
    os.makedirs(out, exist_ok=True)
    mode = "quick" if quick else "full"
    if mpi_launch()[0] == 0:  # under mpiexec, rank 0 alone speaks
        print(f"lab {name} ({mode} mode, expected ~{_duration(RUNTIMES[name][0 if quick else 1])} on 2 idle cores, "
              f"longer on a busy machine): {describe(name)}", flush=True)
    was = tuning.enabled()
    tuning.set_enabled(False)
    try:
        return mod.run(quick=quick, out=out, progress=progress, **kwargs)
    finally:
        tuning.set_enabled(was)


def mpi_launch() -> tuple:
    """``(rank, world_size)`` of the MPI launch that started this process, read from what the
    launcher sets: ``PMI_RANK``/``PMI_SIZE`` (MPICH's and Intel MPI's mpiexec, hence
    ``python -m minidl.distributed.run``), ``OMPI_COMM_WORLD_RANK``/``_SIZE`` (Open MPI), and
    Slurm's ``srun --mpi=pmix`` (``PMIX_RANK``, with ``SLURM_NTASKS`` for the size); ``(0, 1)``
    when started plainly. It only decides whether to join a launch without starting MPI: once
    joined, ``md.distributed`` gives the ranks. A lab or example that trains data-parallel
    (``large-batch``, examples/train_ddp.py) joins the launch; every lab prints from rank 0 only.

    >>> from minidl.labs import mpi_launch
    >>> rank, world_size = mpi_launch()
    >>> 0 <= rank < world_size
    True
    """
    env = os.environ
    rank = env.get("PMI_RANK") or env.get("OMPI_COMM_WORLD_RANK") or env.get("PMIX_RANK") or 0
    size = env.get("PMI_SIZE") or env.get("OMPI_COMM_WORLD_SIZE") or (
        env.get("SLURM_NTASKS") if "PMIX_RANK" in env else None) or 1
    return int(rank), int(size)


def bar(iterable=None, total=None, desc: str = "", unit: str = "it", enabled: bool = True):
    """The labs' progress bar: ``minidl.utils.progress.progress`` that clears itself when done.

    >>> from minidl.labs import bar
    >>> list(bar(range(2), desc="fits", enabled=False))
    [0, 1]
    """
    return _progress(iterable, total=total, desc=desc, unit=unit, enabled=enabled, leave=False)


def save_figure(fig, out: str, name: str) -> str:
    """Save a matplotlib figure as ``<out>/<name>.png`` and close it; returns the path."""
    import matplotlib.pyplot as plt  # deferred: matplotlib is optional (examples extra) and slow to import
    path = os.path.join(out, f"{name}.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend (imported only when a lab plots)."""
    import matplotlib  # deferred: matplotlib is optional (examples extra) and slow to import
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after choosing the backend
    return plt


def decades(values) -> float:
    """How many decades the middle 80% of the positive ``values`` span (10th to 90th percentile:
    a schedule that ends at ~0, or one outlier, does not count as spanning decades).

    >>> from minidl.labs import decades
    >>> decades([0.1, 1.0, 10.0, 100.0, 1000.0]) > 2
    True
    >>> decades([0.0, 1.0, 1.0])
    0.0
    """
    import numpy as np  # deferred: only the plotting code of a lab needs it
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) < 2:
        return 0.0
    lo, hi = np.percentile(v, [10, 90])
    return float(np.log10(hi / lo))


def log_scale_if_wide(ax, values, limit: float = 2.0) -> None:
    """Put ``ax``'s y axis on a log scale when ``values`` span more than ``limit`` decades
    (on a linear axis everything but the largest values would sit on the floor)."""
    if decades(values) > limit:
        ax.set_yscale("log")
        ax.set_ylabel(ax.get_ylabel() + " (log scale)")


def print_table(headers, rows, title=None):
    """Print ``rows`` (lists of cells) under ``headers`` as an aligned text table."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else _fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        print(title)
    line = "  ".join(h.rjust(w) for h, w in zip(cells[0], widths))
    print(line)
    print("-" * len(line))
    for r in cells[1:]:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def _fmt(x):
    if isinstance(x, float):
        return f"{x:.3e}" if (x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4)) else f"{x:.4f}"
    return str(x)
