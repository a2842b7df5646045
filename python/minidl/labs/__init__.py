"""Interview labs: each classic deep-learning interview question answered with numbers.

    python -m minidl.labs                      # list the labs
    python -m minidl.labs backprop [--quick] [--out DIR]

From Python, ``minidl.labs.run(name, quick=False, out=None)`` runs one lab, prints its
table, saves ``<out>/<name>.png`` (``out`` defaults to the current directory) and returns
the lab's numbers as a dict, so tests can assert on the conclusions.

Every lab module has a docstring stating the question and the answer its numbers show, and
a ``run(quick=False, out=None, seed=0) -> dict`` function.
"""
from __future__ import annotations

import importlib
import os

# name -> module (imported lazily: a lab may pull in matplotlib)
LABS = {
    "backprop": "minidl.labs.backprop",
    "vanishing": "minidl.labs.vanishing",
    "bias-variance": "minidl.labs.bias_variance",
    "schedules": "minidl.labs.schedules",
    "batch-size": "minidl.labs.batch_size",
    "why-conv": "minidl.labs.why_conv",
    "resnet": "minidl.labs.resnet",
    "transfer": "minidl.labs.transfer",
    "lstm-vs-gru": "minidl.labs.lstm_vs_gru",
    "bptt-gradients": "minidl.labs.bptt_gradients",
    "attention": "minidl.labs.attention",
    "sqrt-dk": "minidl.labs.sqrt_dk",
    "mixed-precision": "minidl.labs.mixed_precision",
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


def run(name: str, quick: bool = False, out=None, **kwargs) -> dict:
    """Run lab ``name``; print its table, save ``<out>/<name>.png`` and return its numbers.

    ``quick``: the small version (a few seconds; what the tests run). ``out``: directory for
    the figure (created if missing; default the current directory). Extra keyword
    arguments (e.g. ``seed``) go to the lab's own ``run``.
    """
    mod = _module(name)
    out = os.getcwd() if out is None else os.fspath(out)
    os.makedirs(out, exist_ok=True)
    return mod.run(quick=quick, out=out, **kwargs)


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
