"""The concept pages of the documentation site (docs/concepts/*.md) and the snippet markers
in the source that they pull their code excerpts from.

A page shows code only through pymdownx.snippets sections, ``--8<-- "path:name"``, between
``# --8<-- [start:name]`` and ``# --8<-- [end:name]`` comment lines of the source file
(``//`` in C++). ``mkdocs build --strict`` fails on a missing section (tests/test_docs_site.py
runs it when the docs extra is installed); these checks need nothing but the files, so they
also run where mkdocs is absent, and they check what the build does not: that every marker in
the source is paired and shown by some page, so a reader of the source who meets a marker
can trust that a page explains that code.
"""
from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONCEPTS = ROOT / "docs" / "concepts"
SOURCE_GLOBS = ("python/minidl/**/*.py", "cpp/**/*.h", "cpp/**/*.cpp", "CMakeLists.txt")
INCLUDE = re.compile(r'^\s*--8<--\s+"([^":]+):([A-Za-z][\w-]*)"\s*$', re.M)
MARKER = re.compile(r"^\s*(?:#|//)\s*--8<--\s*\[(start|end):([A-Za-z][\w-]*)\]\s*$")

PAGES = sorted(p for p in CONCEPTS.glob("*.md") if p.name != "index.md")


def markers_in(path: pathlib.Path) -> list:
    """(kind, name, line number) of every snippet marker line in ``path``, in order."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = MARKER.match(line)
        if m:
            found.append((m.group(1), m.group(2), number))
    return found


def source_files():
    return sorted({p for g in SOURCE_GLOBS for p in ROOT.glob(g)})


def test_there_are_concept_pages():
    assert len(PAGES) >= 12, [p.name for p in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_has_order_and_one_title(page):
    text = page.read_text(encoding="utf-8")
    front = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert front, f"{page.name}: no front matter (--- order: N ---)"
    assert re.search(r"^order:\s*\d+\s*$", front.group(1), re.M), f"{page.name}: front matter without order: N"
    body = text[front.end():]
    body = re.sub(r"```.*?```", "", body, flags=re.S)  # '# ' inside code blocks is a comment
    titles = re.findall(r"^# \S.*$", body, re.M)
    assert len(titles) == 1, f"{page.name}: expected one H1 title, found {titles}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_excerpt_names_a_marked_section(page):
    includes = INCLUDE.findall(page.read_text(encoding="utf-8"))
    assert includes, f"{page.name}: shows no code excerpt"
    for rel, name in includes:
        src = ROOT / rel
        assert src.is_file(), f"{page.name}: excerpt from {rel}, which does not exist"
        kinds = [(k, n) for k, n, _ in markers_in(src)]
        assert ("start", name) in kinds and ("end", name) in kinds, \
            f"{page.name}: {rel} has no section '{name}' (// --8<-- [start:{name}] ... [end:{name}])"


def test_markers_are_paired_and_not_nested_in_themselves():
    problems = []
    for path in source_files():
        open_at = {}
        for kind, name, line in markers_in(path):
            rel = path.relative_to(ROOT)
            if kind == "start":
                if name in open_at:
                    problems.append(f"{rel}:{line}: section '{name}' started again before its end")
                open_at[name] = line
            elif open_at.pop(name, None) is None:
                problems.append(f"{rel}:{line}: end of section '{name}' without a start")
        problems += [f"{path.relative_to(ROOT)}:{line}: section '{n}' never ends" for n, line in open_at.items()]
    assert not problems, "\n".join(problems)


def test_every_marked_section_is_shown_by_a_page():
    shown = set()
    for page in (ROOT / "docs").rglob("*.md"):
        shown |= set(INCLUDE.findall(page.read_text(encoding="utf-8")))
    unused = [f"{path.relative_to(ROOT)}: {name}" for path in source_files()
              for kind, name, _ in markers_in(path)
              if kind == "start" and (str(path.relative_to(ROOT)), name) not in shown]
    assert not unused, "sections marked in the source that no page of docs/ shows:\n" + "\n".join(unused)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_file_a_page_names_exists(page):
    """The tests, benchmarks, examples and sources a page names in `code spans` (the site cannot
    link them, so a renamed file would leave the page pointing at nothing)."""
    named = re.findall(r"`((?:tests|bench|examples|python|cpp|docs)/[\w./-]+\.(?:py|cpp|h|md))`",
                       page.read_text(encoding="utf-8"))
    missing = sorted({rel for rel in named if not (ROOT / rel).is_file()})
    assert not missing, f"{page.name} names files that do not exist: {missing}"
