"""The package's metadata (issue 14 item 15): pyproject.toml says who made minidl, where it
lives, under which license and at which version, and the files it points to exist.

The version has one source: pyproject.toml does not write it, scikit-build-core's regex
provider reads it from ``python/minidl/_version.py``, the file ``md.__version__`` comes from.
"""
from __future__ import annotations

import importlib.metadata
import os
import re

import pytest

import minidl as md

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.dirname(md.__file__)  # the minidl that tests import: the source or an installed wheel


@pytest.fixture(scope="module")
def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_version_has_one_source_and_it_is_md_version(pyproject):
    """issue 14 item 15: the wheel's version is read from the file md.__version__ comes from."""
    project = pyproject["project"]
    assert "version" not in project, "pyproject.toml writes the version: read it from _version.py instead"
    assert "version" in project.get("dynamic", [])
    source = pyproject["tool"]["scikit-build"]["metadata"]["version"]
    assert source["provider"] == "scikit_build_core.metadata.regex"
    with open(os.path.join(ROOT, source["input"]), encoding="utf-8") as f:
        match = re.search(source["regex"], f.read())
    assert match, f"the version regex finds nothing in {source['input']}"
    assert match.group("value") == md.__version__
    try:  # installed (CI installs the wheel): the installed metadata says the same version
        installed = importlib.metadata.version("minidl")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed is not None and not PACKAGE_DIR.startswith(ROOT):
        assert installed == md.__version__


def test_license_file_matches_the_license_field(pyproject):
    """issue 14 item 15: ``license = "MIT"`` (SPDX) and the LICENSE file is the MIT text."""
    project = pyproject["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    assert not any(c.startswith("License ::") for c in project["classifiers"]), \
        "PEP 639: with a license expression, License :: classifiers are not allowed"


def test_authors_urls_classifiers_keywords(pyproject):
    """issue 14 item 15: the fields PyPI shows on the project page are filled in."""
    project = pyproject["project"]
    assert project["authors"] and all(a.get("name") for a in project["authors"])
    assert set(project["urls"]) >= {"Homepage", "Documentation", "Source", "Issues"}
    assert all(u.startswith("https://") for u in project["urls"].values())
    assert project["keywords"]
    classifiers = project["classifiers"]
    assert "Typing :: Typed" in classifiers  # true only with py.typed shipped (next test)
    low = tuple(int(p) for p in project["requires-python"].lstrip(">=").split("."))
    versions = [c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert versions and all(tuple(map(int, v.split("."))) >= low for v in versions), \
        f"the Python classifiers {versions} disagree with requires-python {project['requires-python']}"


def test_py_typed_marks_the_package_as_typed():
    """issue 14 item 15: PEP 561's marker lies in the package folder (in the wheel too: CI installs it)."""
    assert os.path.isfile(os.path.join(PACKAGE_DIR, "py.typed"))
