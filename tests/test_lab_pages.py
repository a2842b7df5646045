"""Every lab has its page on the documentation site (issue 20 item 3), with the numbers and figure
its last run produced, and every code excerpt a lab page pulls by snippet marker exists.

``mkdocs build --strict`` (tests/test_docs_site.py, with the docs extra) fails on a missing
snippet too; this file checks the lab pages without mkdocs, so a lab renamed, a marker removed
or a lab added without its page fails here in every test run.
"""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from conftest import require
from minidl.labs import LABS

REPO = pathlib.Path(__file__).resolve().parents[1]
PAGES = REPO / "docs" / "labs"
RESULTS = PAGES / "results"
MAX_FIGURE_BYTES = 200_000  # docs/labs/_generate.py's limit: the site stays light
_SNIPPET = re.compile(r'^-{1,3}8<-{1,3} "([^"]+)"\s*$', re.M)
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


@pytest.mark.parametrize("name", sorted(LABS))
def test_every_lab_has_a_page_with_its_results(name):
    page = PAGES / f"{name}.md"
    assert page.is_file(), f"lab {name} has no page docs/labs/{name}.md (see docs/CONTRIBUTING-docs.md)"
    text = page.read_text()
    front = _FRONT_MATTER.match(text)
    assert front and re.search(r"^order: \d+$", front.group(1), re.M), f"{page}: no front-matter order"
    assert re.search(r"^# \S", text[front.end():], re.M), f"{page}: no H1 title"
    for part in ("## The experiment", "## The numbers", "## The answer the numbers support"):
        assert part in text, f"{page}: no '{part}' section"
    assert "TODO" not in text
    folder = RESULTS / name
    for kept in ("output.txt", "run.txt", f"{name}.png"):
        assert (folder / kept).is_file(), f"{folder}/{kept} missing: PYTHONPATH=python python docs/labs/_generate.py {name}"
    for kept in ("output.txt", "run.txt"):
        assert f'"docs/labs/results/{name}/{kept}"' in text, f"{page} does not include {kept}"
    assert f"(results/{name}/{name}.png)" in text, f"{page} does not show {name}.png"
    run = (folder / "run.txt").read_text()
    assert re.search(r"on \d{4}-\d\d-\d\d at commit [0-9a-f]{7,}.* in \*\*(quick|full) mode\*\*", run), run
    assert "CPU " in run and f"python -m minidl.labs {name}" in run and f"_generate.py {name}`" in run, run


def test_lab_figures_are_small():
    figures = [p for p in RESULTS.rglob("*") if p.suffix in (".png", ".svg")]
    assert figures
    too_big = [f"{p.relative_to(REPO)} ({p.stat().st_size} bytes)" for p in figures if p.stat().st_size > MAX_FIGURE_BYTES]
    assert not too_big, too_big


def test_lab_page_excerpts_exist():
    """Each ``--8<-- "path:section"`` of a lab page names a file that holds that section's markers."""
    checked = 0
    for page in PAGES.glob("*.md"):
        for target in _SNIPPET.findall(page.read_text()):
            path, _, section = target.partition(":")
            source = REPO / path
            assert source.is_file(), f"{page.name}: snippet file {path} does not exist"
            if section:
                text = source.read_text()
                for edge in ("start", "end"):
                    assert f"--8<-- [{edge}:{section}]" in text, f"{page.name}: {path} has no [{edge}:{section}] marker"
            checked += 1
    assert checked >= 2 * len(LABS)


@pytest.mark.slow  # two interpreters importing minidl and matplotlib: 10 s measured at load average 8
def test_the_generator_writes_a_labs_results_folder(tmp_path):
    """docs/labs/_generate.py on one quick lab, into a temporary folder: the printed table without
    the figure-path line, the provenance line, and the figure re-saved as a palette PNG."""
    require("matplotlib")
    from PIL import Image  # matplotlib's dependency
    done = subprocess.run([sys.executable, "docs/labs/_generate.py", "--quick", "--results", str(tmp_path), "schedules"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "schedules"
    assert sorted(p.name for p in folder.iterdir()) == ["output.txt", "run.txt", "schedules.png"]
    printed = (folder / "output.txt").read_text()
    assert "CosineAnnealingLR" in printed and "figure: " not in printed
    run = (folder / "run.txt").read_text()
    assert "in **quick mode**" in run and "python -m minidl.labs schedules --quick" in run and "at commit " in run
    with Image.open(folder / "schedules.png") as image:
        assert image.mode == "P"  # 256 colours: 88 KB where matplotlib's RGBA file is 258 KB
    assert (folder / "schedules.png").stat().st_size < MAX_FIGURE_BYTES
