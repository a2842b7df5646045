"""Run the labs and keep what they print and draw for the lab pages of the site.

    PYTHONPATH=python python docs/labs/_generate.py                 # every lab
    PYTHONPATH=python python docs/labs/_generate.py backprop sqrt-dk
    PYTHONPATH=python python docs/labs/_generate.py --quick why-conv

For each lab NAME this runs ``python -m minidl.labs NAME [--quick] --no-progress --out
docs/labs/results/NAME`` from the repository root with OMP_NUM_THREADS=1 (one thread, as the
labs' expected running times in ``minidl.labs.RUNTIMES`` were measured), and writes, under
``docs/labs/results/NAME/``:

* ``output.txt``: what the lab printed (its setup line, its table, its conclusion line),
* the lab's figures (``NAME.png``; the backprop lab also ``backprop-graph.svg``),
* ``run.txt``: one line (markdown, included in the page) saying when, at which commit, in which
  mode, on which CPU and with which command the numbers were made, how long the run took, and
  how to regenerate them.

The pages (``docs/labs/NAME.md``) include ``output.txt`` and ``run.txt`` by snippet, so
regenerating a lab updates its page. Mode: full, except for a lab whose full run takes longer
than ``QUICK_ABOVE_S`` on an idle machine (the transfer lab: ~15 min), which runs quick; a
lab's page says which mode made its numbers. A figure over ``MAX_FIGURE_BYTES`` fails the run
(the site should stay light).
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import subprocess
import sys
import time

from minidl.labs import LABS, RUNTIMES

REPO = pathlib.Path(__file__).resolve().parents[2]
RESULTS = pathlib.Path("docs/labs/results")  # relative to REPO: the printed figure paths stay short
QUICK_ABOVE_S = 180       # full runs longer than this (idle machine, RUNTIMES) run quick here
MAX_FIGURE_BYTES = 200_000
TIMEOUT_S = 1800          # the transfer lab's quick mode on a busy machine takes minutes, never this


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` prints it (platform.processor() is often empty on Linux)."""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=30).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def commit() -> str:
    """The commit the labs ran from (short hash), marked when python/ had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "python"], cwd=REPO, capture_output=True,
                               text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return (head or "unknown") + (" with uncommitted changes in python/" if dirty else "")


def shrink_png(path: pathlib.Path) -> None:
    """Re-save a matplotlib PNG with a 256-colour palette when that is smaller: a plot has few
    colours, so it looks the same (the schedules figure: 258 KB in RGBA, 88 KB as a palette)."""
    from PIL import Image  # deferred: Pillow comes with matplotlib, which only the labs need
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    tmp = path.with_suffix(".tmp.png")
    small.save(tmp, optimize=True)
    if tmp.stat().st_size < path.stat().st_size:
        tmp.replace(path)
    else:
        tmp.unlink()


def generate(name: str, quick: bool, results: pathlib.Path = RESULTS) -> pathlib.Path:
    """Run lab ``name`` and write its results folder ``<results>/<name>`` (``results`` relative
    to the repository root, or absolute); returns the folder."""
    folder = pathlib.Path(results) / name
    (REPO / folder).mkdir(parents=True, exist_ok=True)
    for old in (REPO / folder).iterdir():  # a figure the lab no longer draws must not linger
        old.unlink()
    args = ["-m", "minidl.labs", name, "--no-progress", "--out", str(folder)] + (["--quick"] if quick else [])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable] + args, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"lab {name} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    printed = [line for line in done.stdout.splitlines() if not line.startswith("figure: ")]  # shown on the page
    (REPO / folder / "output.txt").write_text("\n".join(printed) + "\n")
    for figure in (REPO / folder).iterdir():
        if figure.suffix == ".png":
            shrink_png(figure)
        if figure.suffix in (".png", ".svg") and figure.stat().st_size > MAX_FIGURE_BYTES:
            raise SystemExit(f"{figure} is {figure.stat().st_size} bytes, over {MAX_FIGURE_BYTES}")
    mode = "quick" if quick else "full"
    command = f"OMP_NUM_THREADS=1 python -m minidl.labs {name}{' --quick' if quick else ''}"
    load = os.getloadavg()[0]
    (REPO / folder / "run.txt").write_text(
        f"Numbers and figure made on {datetime.date.today().isoformat()} at commit {commit()} in **{mode} mode** "
        f"by `{command}` ({seconds:.0f} s) on CPU {cpu_model()}, {os.cpu_count()} cores shared with other jobs "
        f"(load average {load:.1f} when the lab ended). Regenerate: "
        f"`PYTHONPATH=python python docs/labs/_generate.py {name}`.\n")
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="labs to run (default: all)")
    p.add_argument("--quick", action="store_true", help="quick mode for every lab named")
    p.add_argument("--results", default=str(RESULTS), help=f"folder of the results folders (default {RESULTS})")
    args = p.parse_args(argv)
    names = args.names or list(LABS)
    unknown = [n for n in names if n not in LABS]
    if unknown:
        p.error(f"unknown lab(s) {unknown}; available: {', '.join(LABS)}")
    for name in names:
        quick = args.quick or RUNTIMES[name][1] > QUICK_ABOVE_S
        print(f"{name} ({'quick' if quick else 'full'}) ...", flush=True)
        print(f"  -> {generate(name, quick, pathlib.Path(args.results))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
