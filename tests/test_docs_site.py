"""The documentation site (issue 20): ``mkdocs build --strict`` builds it with no warning, and
every page works in a real browser.

The browser check (tests/_site_browser.py) builds the site into a temporary folder, serves it
on localhost (an ``http.server`` thread on a free port) and opens every built page in headless
Chromium through Selenium, with Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``
(nothing is downloaded: the driver path is given, so selenium-manager does not run). It fails
on a page that does not load, a broken internal link or anchor, an image that does not load, a
math element KaTeX did not typeset, a JavaScript console error (the browser log at SEVERE,
which also holds every resource that failed to load), and a search that finds nothing.

It saves screenshots of the home page, a concept page and a lab page, and a report (build
time, pages, screenshot paths) under ``build/docs-screenshots/`` at the repository root.

Needs the ``docs`` extra (``pip install ".[docs]"``) and, from Debian, ``chromium``,
``chromium-driver`` and ``libjs-katex``; skips saying which is missing.
"""
from __future__ import annotations

import doctest
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

from _site_browser import CHROMEDRIVER, CHROMIUM, built_pages, check_site, start_chromium
from conftest import require

ROOT = pathlib.Path(__file__).resolve().parent.parent
HOOKS = ROOT / "docs" / "_hooks"
SCREENSHOTS = ROOT / "build" / "docs-screenshots"
KATEX = "/usr/share/javascript/katex/katex.min.js"
BUILD_TIMEOUT_S = 600  # the whole site on 2 busy cores: 15-40 s measured; a hung build must not hang CI


def _hook(name: str):
    """docs/_hooks/<name>.py imported as a module (the hooks are files mkdocs loads by path)."""
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require_docs_tools():
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        require(module)
    if not os.environ.get("MINIDL_KATEX_DIR") and not os.path.exists(KATEX):
        pytest.skip("KaTeX (the site's math renderer) is not installed: apt-get install libjs-katex, or set "
                    "MINIDL_KATEX_DIR to a KaTeX dist/ folder")


def _mkdocs_build(config: pathlib.Path, site_dir: pathlib.Path, cwd: pathlib.Path | None = None):
    """``mkdocs build --strict`` of ``config`` into ``site_dir``: (CompletedProcess, seconds)."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site_dir)],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env, cwd=cwd or ROOT)
    return proc, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# The hooks: nav discovery, docstring rendering, API members (fast, no build)
# ---------------------------------------------------------------------------------------------

def test_hook_doctests_run():
    """The examples in the docstrings of docs/_hooks/*.py (tests/test_docstrings.py covers only
    the package) run and print what they say."""
    require("mkdocs")
    require("mkdocstrings_handlers.python")  # brings griffe
    for name in ("site", "griffe_doctest", "api"):
        result = doctest.testmod(_hook(name), optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, f"docs/_hooks/{name}.py: {result.failed} doctest example(s) failed"


def test_nav_sections_are_ordered_by_front_matter_then_title(tmp_path):
    require("mkdocs")
    site = _hook("site")
    folder = tmp_path / "concepts"
    folder.mkdir()
    (folder / "index.md").write_text("# Concepts\n")
    (folder / "b.md").write_text("# Zeta page\n")
    (folder / "a.md").write_text("---\norder: 2\n---\n# Second\n")
    (folder / "c.md").write_text("---\norder: 1\ntitle: First\n---\n# Heading not used\n")
    (folder / "d.md").write_text("no heading here\n")
    assert site.discovered_section(tmp_path, "concepts") == [
        "concepts/index.md", {"First": "concepts/c.md"}, {"Second": "concepts/a.md"},
        {"Zeta page": "concepts/b.md"}, {"d": "concepts/d.md"}]
    (folder / "e.md").write_text("---\norder: soon\n---\n# E\n")
    with pytest.raises(Exception, match="front-matter 'order' must be a number"):
        site.discovered_section(tmp_path, "concepts")


def test_docstrings_render_as_markdown():
    """The >>> blocks become code fences; index brackets, shape stars, <tags> and $ stay text."""
    require("mkdocstrings_handlers.python")  # brings griffe
    render = _hook("griffe_doctest").markdown_docstring
    text = "out[i][index[i][j]] for shape (*, n) costs $1; see :func:`md.relu`.\n\n>>> x[0] * 2\n<Tensor>\n\nEnd."
    assert render(text).splitlines() == [
        r"out\[i\]\[index\[i\]\[j\]\] for shape (\*, n) costs \$1; see `md.relu`.", "",
        "```pycon", ">>> x[0] * 2", "<Tensor>", "```", "", "End."]


def test_api_pages_list_every_public_name():
    """docs/_hooks/api.py: a namespace that only re-exports lists what it re-exports, a module
    its own names (not what it imports), ``__all__`` wins, submodules are left out, and a
    function that a submodule's name shadows is rendered from its defining module."""
    require("mkdocs")
    api = _hook("api")
    assert {"relu", "conv2d", "cross_entropy"} <= set(api.public_names("minidl.nn.functional"))
    assert "Tensor" not in api.public_names("minidl.datasets")  # imported there, defined elsewhere
    autograd = api.public_names("minidl.autograd")
    assert "grad" in autograd and "functional" not in autograd and "grad_mode" not in autograd
    assert api.rendered_path("minidl", "tensor") == "minidl.ops.creation.tensor"
    assert api.rendered_path("minidl", "zeros") == "minidl.zeros"
    page = api.with_members("# md.linalg\n\n::: minidl.linalg\n")
    assert "      members: [" in page and "svd" in page
    assert api.with_members("::: minidl.linalg\n    options:\n      members: [svd]\n").count("members") == 1


# ---------------------------------------------------------------------------------------------
# Code excerpts: a missing file or section fails the strict build
# ---------------------------------------------------------------------------------------------

def _snippet_project(tmp_path: pathlib.Path, include: str) -> pathlib.Path:
    """A one-page mkdocs project with the site's markdown extensions and hooks, whose page
    includes ``include`` from a marked source file beside mkdocs.yml."""
    import yaml  # deferred: PyYAML comes with mkdocs (the docs extra), which the callers required
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    (tmp_path / "docs").mkdir()
    (tmp_path / "kernel.py").write_text("x = 0\n# --8<-- [start:relu_forward]\ndef relu(x):\n    return max(x, 0)\n"
                                        "# --8<-- [end:relu_forward]\n")
    (tmp_path / "docs" / "index.md").write_text(f'# Page\n\n```python\n--8<-- "{include}"\n```\n')
    small = {"site_name": "t", "docs_dir": "docs", "markdown_extensions": config["markdown_extensions"],
             "hooks": [str(HOOKS / "site.py")], "theme": {"name": "mkdocs"}}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(small))
    return tmp_path / "mkdocs.yml"


def test_snippet_section_is_pulled_from_the_source(tmp_path):
    _require_docs_tools()
    proc, _ = _mkdocs_build(_snippet_project(tmp_path, "kernel.py:relu_forward"), tmp_path / "site", cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text()
    assert "max" in html and "relu" in html
    assert "--8&lt;--" not in html and "start:relu_forward" not in html  # the marker lines are left out


@pytest.mark.parametrize("include,missing", [("kernel.py:relu_backward", "relu_backward"),
                                             ("no_such_file.py:relu_forward", "no_such_file.py")])
def test_missing_snippet_fails_the_strict_build(tmp_path, include, missing):
    _require_docs_tools()
    proc, _ = _mkdocs_build(_snippet_project(tmp_path, include), tmp_path / "site")
    assert proc.returncode != 0, "a page including a missing file or section built anyway"
    assert missing in proc.stderr


# ---------------------------------------------------------------------------------------------
# The whole site, built and opened in Chromium
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """The repository's site, built with ``--strict`` into a temporary folder: (folder, seconds, log)."""
    _require_docs_tools()
    site_dir = tmp_path_factory.mktemp("site")
    proc, seconds = _mkdocs_build(ROOT / "mkdocs.yml", site_dir)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-5000:]}"
    return site_dir, seconds, proc.stderr


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium session for every page (a start costs 1-2 s)."""
    require("selenium")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"Chromium or its driver is missing ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium "
                    "chromium-driver")
    driver = start_chromium()
    yield driver
    driver.quit()


def _screenshot_targets(pages: list[str]) -> dict[str, pathlib.Path]:
    """The home page, the first concept page and the first lab page by file name (the section's
    index while it has no page) -> where their screenshots go."""
    def first(section):
        inside = [p for p in pages if p.startswith(f"{section}/") and p != f"{section}/"]
        return inside[0] if inside else f"{section}/"
    return {"": SCREENSHOTS / "home.png", first("concepts"): SCREENSHOTS / "concept.png",
            first("labs"): SCREENSHOTS / "lab.png"}


@pytest.mark.slow  # the build (15-40 s on 2 busy cores) and one browser visit per page: 40-80 s in all
def test_site_builds_and_every_page_works_in_chromium(built_site, browser):
    site_dir, build_s, log = built_site
    assert "WARNING" not in log, f"the strict build logged warnings:\n{log[-3000:]}"
    pages = built_pages(site_dir)
    assert {"", "getting-started/", "benchmarks/", "api/", "concepts/", "labs/", "api/nn/"} <= set(pages)
    shots = _screenshot_targets(pages)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    problems, pages, links, browse_s = check_site(site_dir, browser, shots)
    report = [f"mkdocs build --strict: {build_s:.1f} s", f"pages opened in Chromium: {len(pages)} in {browse_s:.1f} s",
              f"internal links checked: {len(links)} in {time.perf_counter() - start - browse_s:.1f} s"]
    report += [f"screenshot of /{page}: {path}" for page, path in shots.items()]
    (SCREENSHOTS / "report.txt").write_text("\n".join(report) + "\n")
    print("\n".join(report))
    assert not problems, f"{len(problems)} problem(s) in the built site:\n" + "\n".join(problems[:50])
    for path in shots.values():
        assert path.stat().st_size > 10_000, f"the screenshot {path} is (nearly) empty"


BROKEN_PAGE = """# Broken

Math KaTeX cannot parse: $\\frac{1}{$ and fine math: $x^2$.

![a figure that is not there](img/missing.png)

[a page that is not there](nowhere.md), [an anchor that is not there](#no-such-heading).

<script>console.error("a script error");</script>
"""


@pytest.mark.slow  # a small build and a browser start: ~5 s on 2 busy cores
def test_the_browser_check_catches_each_kind_of_breakage(tmp_path, browser):
    """The checker itself can fail: a site (the real theme, hooks and KaTeX script)
    with a formula KaTeX cannot parse, a missing image, a link to a missing page and anchor,
    and a console error is reported for each."""
    _require_docs_tools()
    import yaml  # deferred: PyYAML comes with mkdocs (the docs extra)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    (tmp_path / "docs" / "javascripts").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "javascripts" / "katex-render.js", tmp_path / "docs" / "javascripts")
    (tmp_path / "docs" / "index.md").write_text(BROKEN_PAGE)
    small = {key: config[key] for key in ("theme", "markdown_extensions", "extra_javascript", "extra_css")}
    small.update(site_name="t", docs_dir="docs", strict=False, hooks=[str(HOOKS / "site.py")], plugins=["search"],
                 validation={"links": {"not_found": "info", "anchors": "info"}})
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(small))
    proc, _ = _mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    # built with --strict too: the broken link and anchor are only 'info' here, so that the browser sees them
    assert proc.returncode == 0, f"the broken test page did not build:\n{proc.stderr[-3000:]}"
    problems = "\n".join(check_site(tmp_path / "site", browser, query="broken")[0])
    assert "math not typeset" in problems and "frac{1}" in problems, problems
    assert "image did not load" in problems and "missing.png" in problems, problems
    assert "broken link /nowhere.md" in problems, problems
    assert "missing anchor /#no-such-heading" in problems, problems
    assert "a script error" in problems, problems
    assert problems.count("math not typeset") == 1, problems  # $x^2$ was typeset


@pytest.mark.slow  # shares the site build (15-40 s) with the browser check
def test_katex_is_served_from_the_site_not_a_cdn(built_site):
    """The site fetches nothing from the network: KaTeX and its fonts are in the built site, and
    no page names an external script, stylesheet or font."""
    site_dir = built_site[0]
    assert (site_dir / "assets" / "katex" / "katex.min.js").is_file()
    assert any((site_dir / "assets" / "katex" / "fonts").glob("*.woff2"))
    external = re.compile(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//[^"]+"')
    for html in site_dir.rglob("*.html"):
        found = external.findall(html.read_text(encoding="utf-8", errors="replace"))
        assert not found, f"{html.relative_to(site_dir)} loads from the network: {found[:3]}"
