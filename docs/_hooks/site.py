"""mkdocs hooks of minidl's site (``hooks:`` in mkdocs.yml): three things mkdocs does not do.

1. **Discovered sections.** ``docs/concepts/*.md``, ``docs/labs/*.md`` and ``docs/api/*.md``
   join the nav without an edit of mkdocs.yml: the nav entry titled "Concepts" (or "Labs",
   "API reference") becomes that folder's ``index.md`` followed by its other pages, ordered
   by their front-matter ``order:`` (a number; pages without one come last), then by title
   (front-matter ``title:``, else the first ``# `` heading, else the file name).
2. **Code excerpts from the repository.** pymdownx.snippets' base path is set to the
   repository root here (the folder holding mkdocs.yml), so that ``--8<-- "python/..."``
   resolves wherever mkdocs is started from. With ``check_paths: true`` a missing file or
   section stops the build (pymdownx raises ``SnippetMissingError``; checked in
   tests/test_docs_site.py), so a page cannot show code that no longer exists.
3. **Math without a CDN.** The KaTeX files (``katex.min.js``, ``katex.min.css``, the fonts)
   are copied into the built site under ``assets/katex/`` from Debian's ``libjs-katex``
   (``/usr/share/javascript/katex``) or from the folder ``MINIDL_KATEX_DIR`` names (any KaTeX
   ``dist/`` folder), rather than committed (1.1 MB) or fetched from the network at page load.
"""
from __future__ import annotations

import os
import pathlib
import re

import yaml
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

#: nav titles whose section is the folder's pages, found at build time
DISCOVERED_SECTIONS = {"Concepts": "concepts", "Labs": "labs", "API reference": "api"}

KATEX_DIRS = ("/usr/share/javascript/katex",)
KATEX_FILES = ("katex.min.js", "katex.min.css")
KATEX_MISSING = ("KaTeX not found (the site's math renderer): apt-get install libjs-katex, or set MINIDL_KATEX_DIR "
                 "to a folder holding katex.min.js, katex.min.css and fonts/ (the dist/ folder of the katex npm "
                 "package)")

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)


def page_order_and_title(path: pathlib.Path) -> tuple[float, str]:
    """(order, title) of a markdown page: front matter ``order:`` (inf if absent) and
    ``title:``, else the first level-1 heading, else the file stem."""
    text = path.read_text(encoding="utf-8")
    meta = {}
    match = _FRONT_MATTER.match(text)
    if match:
        meta = yaml.safe_load(match.group(1)) or {}
        if not isinstance(meta, dict):
            raise PluginError(f"{path}: the front matter is not a mapping of keys to values")
    order = meta.get("order", float("inf"))
    if not isinstance(order, (int, float)) or isinstance(order, bool):
        raise PluginError(f"{path}: front-matter 'order' must be a number, got {order!r}")
    heading = _HEADING.search(text[match.end():] if match else text)
    title = str(meta.get("title") or (heading.group(1) if heading else path.stem))
    return float(order), title


def discovered_section(docs_dir: pathlib.Path, folder: str) -> list:
    """The nav entries of docs/<folder>/: its index.md first, then the other pages in order."""
    root = docs_dir / folder
    pages = sorted((p for p in root.glob("*.md") if p.name != "index.md"), key=page_order_and_title)
    entries = [f"{folder}/index.md"] if (root / "index.md").exists() else []
    return entries + [{page_order_and_title(p)[1]: f"{folder}/{p.name}"} for p in pages]


def katex_dir() -> pathlib.Path:
    """The folder the KaTeX files are copied from (MINIDL_KATEX_DIR first)."""
    candidates = [os.environ["MINIDL_KATEX_DIR"]] if os.environ.get("MINIDL_KATEX_DIR") else list(KATEX_DIRS)
    for candidate in map(pathlib.Path, candidates):
        if all((candidate / name).is_file() for name in KATEX_FILES) and (candidate / "fonts").is_dir():
            return candidate
    raise PluginError(f"{KATEX_MISSING} (looked in: {', '.join(candidates)})")


def on_config(config, **kwargs):
    repo_root = pathlib.Path(config.config_file_path).resolve().parent
    snippets = config.mdx_configs.setdefault("pymdownx.snippets", {})
    snippets["base_path"] = [str(repo_root)]
    docs_dir = pathlib.Path(config.docs_dir)
    for entry in config.nav or []:
        if isinstance(entry, dict):
            for title in entry:
                if title in DISCOVERED_SECTIONS:
                    entry[title] = discovered_section(docs_dir, DISCOVERED_SECTIONS[title])
    return config


def on_files(files, config, **kwargs):
    source = katex_dir()
    names = list(KATEX_FILES) + [f"fonts/{p.name}" for p in sorted((source / "fonts").iterdir()) if p.is_file()]
    for name in names:
        files.append(File.generated(config, f"assets/katex/{name}", abs_src_path=str((source / name).resolve())))
    return files
