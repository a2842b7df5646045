"""Every public class and function of ``minidl`` and ``minidl.nn`` (with ``nn.functional``,
``nn.init`` and ``nn.utils``) has a docstring with a runnable ``>>>`` example, and every
example in the package runs and prints what its docstring says (doctest, module by module).
"""
from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import minidl as md
from conftest import require

NAMESPACES = ["minidl", "minidl.nn", "minidl.nn.functional", "minidl.nn.init", "minidl.nn.utils", "minidl.utils.data",
              "minidl.distributed"]


def _public(namespace: str):
    mod = importlib.import_module(namespace)
    for name in sorted(dir(mod)):
        if name.startswith("_"):
            continue
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
            yield f"{namespace}.{name}", obj


PUBLIC = [item for ns in NAMESPACES for item in _public(ns)]


@pytest.mark.parametrize("qualname,obj", PUBLIC, ids=[q for q, _ in PUBLIC])
def test_public_name_has_docstring_with_example(qualname, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{qualname} has no docstring"
    assert ">>>" in doc, f"{qualname}: the docstring has no runnable '>>>' example"


def _package_modules():
    names = ["minidl"]
    for info in pkgutil.walk_packages(md.__path__, prefix="minidl."):
        names.append(info.name)
    return sorted(n for n in names if not n.endswith("__main__"))


MODULES = _package_modules()


@pytest.mark.parametrize("module_name", MODULES)
def test_doctests_run(module_name):
    module = importlib.import_module(module_name)
    for package in getattr(module, "__doctest_requires__", ()):  # optional packages its examples import
        require(package)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"md": md, "nn": md.nn, "F": md.nn.functional, "np": np}
    tests = [t for t in finder.find(module, module_name, globs=dict(globs))
             if t.examples and (getattr(t, "filename", None) is None or t.name.startswith(module_name))]
    report = []
    for t in tests:
        md.manual_seed(0)  # examples that draw random numbers print the same thing every run
        runner.run(t, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)[:4000]
