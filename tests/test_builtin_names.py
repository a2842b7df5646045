"""No module of ``minidl`` both binds the name of a Python builtin and reads that name (issue 14
item 4).

PyTorch's API exports names that are builtins (``torch.bool``, ``torch.float``, ``torch.sum``,
``torch.max``, ``torch.abs``, ...), so minidl binds them too. In a module that binds ``max``,
every ``max(a, b)`` written in that module calls minidl's max, not Python's: this is how
``md.equal`` and ``md.allclose`` once raised "'dtype' object is not callable" (``bool(...)``
in ``minidl/__init__.py`` called ``md.bool``), and how ``rtol: float`` annotated minidl's
float32. The rule, checked on the source of every module:

* a module *binds* a builtin's name when its global namespace holds that name with another
  object after import (assignment, ``def``, ``class``, ``import ... as``, ``from ... import``,
  ``globals()[...] =``), or when its top-level code assigns or imports it;
* a module *reads* the name when the name is looked up in the module's global scope: at module
  level, in a function or lambda that has no local of that name, in a comprehension, in an
  annotation (``typing.get_type_hints`` evaluates those in the module's namespace). Python's
  ``symtable`` says which scope each name lives in, so a parameter called ``max`` is no read.

A module may do one or the other, not both: a module that binds ``max`` reaches Python's as
``builtins.max``.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import symtable
import types
import typing

import pytest

import minidl as md

BUILTIN_NAMES = {n for n in dir(builtins) if not n.startswith("__")}


def _module_names():
    names = ["minidl"]
    names += [i.name for i in pkgutil.walk_packages(md.__path__, prefix="minidl.")]
    return sorted(n for n in names if not n.endswith("__main__"))  # __main__ runs a program on import


MODULE_NAMES = _module_names()


def _source(module):
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return None, None  # the extension _C
    with open(path, encoding="utf-8") as f:
        return f.read(), path


def bound_builtin_names(module, table: symtable.SymbolTable) -> set:
    """Builtin names the module's global namespace binds to something else."""
    dynamic = {n for n, v in vars(module).items() if n in BUILTIN_NAMES and v is not getattr(builtins, n)}
    static = {s.get_name() for s in table.get_symbols()
              if s.get_name() in BUILTIN_NAMES and (s.is_assigned() or s.is_imported())}
    return dynamic | static


def global_reads(table: symtable.SymbolTable, names: set, where: str = "module level"):
    """(name, scope) for each name of ``names`` that a scope of ``table`` looks up as a global."""
    found = []
    for sym in table.get_symbols():
        name = sym.get_name()
        if name not in names or not sym.is_referenced():
            continue
        if table.get_type() == "module" or (table.get_type() != "class" and sym.is_global()):
            found.append((name, where))
    for child in table.get_children():
        found += global_reads(child, names, f"{child.get_type()} {child.get_name()}")
    return found


def annotation_reads(source: str, names: set):
    """(name, "annotation of f") for each name of ``names`` in the annotations that
    ``typing.get_type_hints`` evaluates in the module's namespace: function signatures and
    module- or class-level ``x: T``. (``symtable`` skips them under ``from __future__ import
    annotations``, which turns them into strings.)"""
    found = []
    for node in ast.walk(ast.parse(source)):
        exprs = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            exprs = [arg.annotation for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]
                     if arg is not None] + [node.returns]
        elif isinstance(node, (ast.Module, ast.ClassDef)):
            exprs = [stmt.annotation for stmt in node.body if isinstance(stmt, ast.AnnAssign)]
        where = f"annotation of {getattr(node, 'name', 'the module')}"
        found += [(n.id, where) for e in exprs if e is not None for n in ast.walk(e)
                  if isinstance(n, ast.Name) and n.id in names]
    return found


def _lines_reading(source: str, name: str):
    return sorted({n.lineno for n in ast.walk(ast.parse(source))
                   if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)})


@pytest.mark.parametrize("module_name", MODULE_NAMES)
def test_no_module_binds_a_builtin_name_and_reads_it(module_name):
    """issue 14 item 4: a module that rebinds ``bool``/``sum``/``max``... never calls them meaning the builtin."""
    module = importlib.import_module(module_name)
    source, path = _source(module)
    if source is None:
        return  # a compiled extension has no Python source to read
    table = symtable.symtable(source, path, "exec")
    bound = bound_builtin_names(module, table)
    reads = global_reads(table, bound) + annotation_reads(source, bound)
    assert not reads, (
        f"{path} binds the builtin name(s) {sorted(bound)} and reads them, where a reader (and "
        "often the author) means Python's builtin:\n  "
        + "\n  ".join(f"{name!r} in {scope} (lines {_lines_reading(source, name)})" for name, scope in sorted(set(reads)))
        + "\nMove the code to a module that does not bind the name, or write builtins.<name>.")


def test_the_rule_sees_a_rebound_builtin_read_in_a_function():
    """The checker itself: it flags the pattern that broke md.equal, and only that."""
    cases = {
        "float = 1\ndef f(x):\n    return float(x)\n": [("float", "function f")],
        "import builtins\nfloat = 1\ndef f(x, max=3):\n    return builtins.float(x) + max\n": [],
        "from __future__ import annotations\nbool = 1\ndef g() -> bool:\n    pass\n": [("bool", "annotation of g")],
        "globals()['sum'] = len\nn = sum([1])\n": [("sum", "module level")],
    }
    for source, expected in cases.items():
        module = types.ModuleType("case")
        exec(compile(source, "<case>", "exec"), module.__dict__)
        table = symtable.symtable(source, "<case>", "exec")
        bound = bound_builtin_names(module, table)
        reads = global_reads(table, bound) + annotation_reads(source, bound)
        assert reads == expected, (source, reads)


def test_md_equal_and_allclose_return_python_bools():
    """issue 14 item 4: the functions that once called md.bool for bool."""
    a = md.tensor([1.0, 2.0])
    assert md.equal(a, md.tensor([1.0, 2.0])) is True
    assert md.equal(a, md.tensor([[1.0, 2.0]])) is False
    assert md.allclose(a, a + 1e-7) is True
    assert md.allclose(a, a + 1.0) is False


def _package_functions():
    for module_name in MODULE_NAMES:
        module = importlib.import_module(module_name)
        for name, obj in sorted(vars(module).items()):
            if inspect.isfunction(obj) and obj.__module__ == module_name:
                yield f"{module_name}.{name}", obj
            elif inspect.isclass(obj) and obj.__module__ == module_name:
                for attr, fn in sorted(vars(obj).items()):
                    if inspect.isfunction(fn):
                        yield f"{module_name}.{name}.{attr}", fn


def test_annotations_mean_what_they_say():
    """issue 14 item 4: ``rtol: float`` evaluated in minidl's namespace must be Python's float,
    not md.float (typing.get_type_hints, IDEs and type checkers read annotations this way)."""
    dtypes = (md.dtype,)
    wrong = []
    for qualname, fn in _package_functions():
        hints = typing.get_type_hints(fn)
        wrong += [f"{qualname}: {arg} -> {hint!r}" for arg, hint in hints.items() if isinstance(hint, dtypes)]
    assert not wrong, "annotations that evaluate to a minidl dtype, not a Python type:\n  " + "\n  ".join(wrong)
