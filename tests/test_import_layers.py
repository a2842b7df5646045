"""The import structure of the ``minidl`` package, read from the source (no module is imported):

* no import cycle among the package's modules at module level;
* the layers: the leaf modules (``_C``, ``dtypes``, ``cuda``, ``ops.array``: arrays in, arrays
  out, no Tensor) import only leaves; ``graph/`` (the autograd machinery) imports only ``graph/`` and
  leaves; ``tensor.py`` imports only ``graph/`` and leaves; ``ops/`` nothing from ``nn/`` and up;
* every import written inside a function says why it is deferred (a ``deferred:`` comment on
  its line or the line above): only a real cycle or an optional heavy dependency justifies one.

Module-level means what runs when the module is imported: the module body, including its
``if``/``try``/``with`` blocks and class bodies, but not function bodies. Importing ``a.b.c``
also runs the packages ``a`` and ``a.b``; those implicit edges count, except to the importer's
own enclosing packages (they are being imported already when the importer runs).
"""
from __future__ import annotations

import ast
import importlib.util
import os
import pkgutil

import pytest

PACKAGE = "minidl"
LEAVES = {"minidl._C", "minidl.dtypes", "minidl.cuda", "minidl.ops.array"}
DEFERRED_MARK = "deferred:"


def _package_dir() -> str:
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without running its __init__
    assert spec is not None and spec.origin, "minidl not found on sys.path"
    # the folder of __init__.py: an editable install also lists its build folder (_C alone)
    return os.path.dirname(spec.origin)


def _walk(path: str, prefix: str):
    """(module name, source file or None, is_package) for every module under ``path``."""
    for info in pkgutil.iter_modules([path]):
        name = prefix + info.name
        if info.ispkg:
            sub = os.path.join(path, info.name)
            yield name, os.path.join(sub, "__init__.py"), True
            yield from _walk(sub, name + ".")
        else:
            src = os.path.join(path, info.name + ".py")
            yield name, (src if os.path.exists(src) else None), False  # None: the extension _C


def _modules():
    root = _package_dir()
    mods = {PACKAGE: (os.path.join(root, "__init__.py"), True)}
    for name, src, ispkg in _walk(root, PACKAGE + "."):
        mods[name] = (src, ispkg)
    mods.setdefault(PACKAGE + "._C", (None, False))  # an editable install keeps _C in its build folder
    return mods


MODULES = _modules()


def _ancestors(name: str):
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _module_level(body):
    """The statements that run at import time: recurse into blocks and class bodies, not defs."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield from _module_level(node.orelse)
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _module_level(getattr(node, field, None) or [])
        for case in getattr(node, "cases", None) or []:
            yield from _module_level(case.body)


def _targets(importer: str, is_pkg: bool, node):
    """(module, explicit) pairs for the package modules an import statement runs or reads."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            out.append((alias.name, True))
            out.extend((a, False) for a in _ancestors(alias.name))
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            here = importer.split(".") if is_pkg else importer.split(".")[:-1]
            base_parts = here[:len(here) - node.level + 1]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module
        out.extend((a, False) for a in _ancestors(base))
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in MODULES:
                out.append((base, False))  # runs the package, then reads its submodule
                out.append((sub, True))
            else:
                out.append((base, True))  # reads a name the module defines
    return [(m, e) for m, e in out if m == PACKAGE or m.startswith(PACKAGE + ".")]


def _parse(name):
    src, _ = MODULES[name]
    if src is None:
        return None, None
    with open(src, encoding="utf-8") as f:
        text = f.read()
    return ast.parse(text, filename=src), text.splitlines()


def _import_graph():
    """module -> {imported module: explicit?}; the edges that can close a cycle at import time."""
    graph = {}
    for name, (_, is_pkg) in MODULES.items():
        tree, _ = _parse(name)
        edges = {}
        if tree is not None:
            enclosing = set(_ancestors(name))
            for node in _module_level(tree.body):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                for mod, explicit in _targets(name, is_pkg, node):
                    if mod == name or (not explicit and mod in enclosing):
                        continue
                    edges[mod] = edges.get(mod, False) or explicit
        graph[name] = edges
    return graph


GRAPH = _import_graph()


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan), each as a cycle path."""
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    paths = []
    for comp in sccs:  # one concrete cycle through the component, by breadth-first search
        start = min(comp)
        prev, frontier = {start: None}, [start]
        while frontier and start not in [w for v in frontier for w in graph[v]]:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w in comp and w not in prev:
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        last = next(v for v in frontier if start in graph[v])
        path = [start]
        while last is not None and last != start:
            path.insert(1, last)
            last = prev[last]
        paths.append(" -> ".join(path + [start]) + f"   (component of {len(comp)} modules)")
    return paths


def test_the_package_is_found_and_parsed():
    assert {"minidl.tensor", "minidl.graph.engine", "minidl.ops.elementwise", "minidl.nn.module"} <= set(MODULES)
    assert "minidl.graph.node" in GRAPH["minidl.tensor"]


def test_no_import_cycle_at_module_level():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles among minidl's modules:\n  " + "\n  ".join(cycles)


def _explicit_imports(name):
    return sorted(m for m, explicit in GRAPH[name].items() if explicit)


def _in(name, *prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_leaf_modules_import_only_leaves():
    for leaf in sorted(LEAVES):
        bad = [m for m in _explicit_imports(leaf) if m not in LEAVES]
        assert not bad, f"{leaf} is a leaf module (no Tensor, no graph) but imports {bad}"
        for pkg in _ancestors(leaf)[1:]:  # importing the leaf runs these packages' __init__ too
            assert not GRAPH[pkg], f"{pkg}/__init__.py must import nothing (it runs when {leaf} is imported)"


def test_graph_imports_no_tensor_and_nothing_above():
    graph_modules = [m for m in MODULES if _in(m, "minidl.graph")]
    assert len(graph_modules) >= 4
    for name in graph_modules:
        bad = [m for m in _explicit_imports(name) if not (_in(m, "minidl.graph") or m in LEAVES)]
        assert not bad, f"{name} is in the graph layer (below Tensor) but imports {bad}"


def test_tensor_imports_only_graph_and_leaves():
    bad = [m for m in _explicit_imports("minidl.tensor") if not (_in(m, "minidl.graph") or m in LEAVES)]
    assert not bad, f"minidl.tensor sits right above graph/ but imports {bad}"


def test_ops_import_nothing_from_the_layers_above():
    above = ("minidl.nn", "minidl.optim", "minidl.models", "minidl.labs", "minidl.autograd", "minidl._tensor_methods")
    for name in [m for m in MODULES if _in(m, "minidl.ops")]:
        bad = [m for m in _explicit_imports(name) if _in(m, *above) or m == PACKAGE]
        assert not bad, f"{name} is in the ops layer but imports {bad}"


def _undocumented_function_imports():
    found = []
    for name in sorted(MODULES):
        tree, lines = _parse(name)
        if tree is None:
            continue
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                near = lines[max(node.lineno - 2, 0):node.end_lineno]  # the line above and the statement
                if not any(DEFERRED_MARK in line for line in near):
                    found.append(f"{MODULES[name][0]}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return sorted(set(found))  # a nested def is walked from each enclosing def


def test_every_import_inside_a_function_says_why_it_is_deferred():
    found = _undocumented_function_imports()
    assert not found, (f"{len(found)} imports inside functions without a '# {DEFERRED_MARK} <why>' comment "
                       "(move them to the top of the module, or say which cycle or optional dependency "
                       "they defer):\n  " + "\n  ".join(found))


if __name__ == "__main__":  # python tests/test_import_layers.py: print the graph's problems
    print("\n".join(_cycles(GRAPH)) or "no cycle")
    print("\n".join(_undocumented_function_imports()) or "no undocumented in-function import")
    raise SystemExit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
