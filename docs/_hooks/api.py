"""mkdocs hook of the API reference (``hooks:`` in mkdocs.yml): which names a module's page lists.

A page of ``docs/api/`` says ``::: minidl.nn.functional`` and nothing more; this hook adds the
``members:`` option, so the page lists the module's public names as they are today and a
name added to the module appears without an edit of the page. mkdocstrings alone would list
only the objects a module defines or names in ``__all__``, which leaves the namespaces that
only re-export (``md``, ``md.nn``, ``md.nn.functional``, ``md.linalg`` ...) empty.

A module's public names (:func:`public_names`): the classes and functions of its ``__all__``
if it has one (submodules have their own entries); else the public classes and functions it
defines itself; else, for a namespace that defines nothing, the public classes and functions
it re-exports from minidl (never ``np``, ``Path`` and such). A ``:::`` line already followed
by an indented ``options:`` block is left as written.

One case needs a second directive: a function named like a submodule of its namespace
(``md.tensor`` the function, ``minidl/tensor.py`` the module; ``md.autograd.gradcheck``).
griffe resolves ``minidl.tensor`` to the module, so such a function is rendered from its
defining module (``minidl.ops.creation.tensor``), under the short name, right after the
namespace's other members.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import re

from mkdocs.exceptions import PluginError

_DIRECTIVE = re.compile(r"^::: (minidl(?:\.\w+)*)[ \t]*$", re.M)


def _public_callable(obj) -> bool:
    return inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)


def public_names(module_name: str) -> list[str]:
    """The names the API page of ``module_name`` lists (rule in the module docstring), sorted."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PluginError(f"the API reference imports {module_name} and could not: {err} (install minidl: pip "
                          "install '.[docs]', or put the checkout's python/ on PYTHONPATH with its extension built)") from err
    if hasattr(module, "__all__"):
        return sorted(name for name in module.__all__ if _public_callable(getattr(module, name)))
    public = {name: obj for name, obj in vars(module).items() if not name.startswith("_") and _public_callable(obj)}
    own = [name for name, obj in public.items() if getattr(obj, "__module__", None) == module_name]
    if own:
        return sorted(own)
    return sorted(name for name, obj in public.items() if str(getattr(obj, "__module__", "")).startswith("minidl."))


def shadowed_by_submodule(module_name: str, name: str) -> bool:
    """True when ``module_name.name`` is a function but also the name of a submodule file."""
    module = importlib.import_module(module_name)
    package_dir = getattr(module, "__path__", None)
    return bool(package_dir) and importlib.util.find_spec(f"{module_name}.{name}") is not None


def rendered_path(module_name: str, name: str) -> str:
    """The identifier (and HTML anchor) under which the API page renders ``module_name.name``."""
    if shadowed_by_submodule(module_name, name):
        obj = getattr(importlib.import_module(module_name), name)
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{module_name}.{name}"


def with_members(markdown: str) -> str:
    """``markdown`` with a ``members:`` option after every bare ``::: minidl...`` line, and a
    directive of its own for each function a submodule's name shadows."""
    def expand(match: re.Match) -> str:
        rest = markdown[match.end():].lstrip("\n")
        if rest.startswith("    options:"):
            return match.group(0)
        module_name = match.group(1)
        names = public_names(module_name)
        shadowed = [n for n in names if shadowed_by_submodule(module_name, n)]
        listed = ", ".join(n for n in names if n not in shadowed)
        text = f"{match.group(0)}\n    options:\n      members: [{listed}]\n"
        for name in shadowed:
            text += (f"\n::: {rendered_path(module_name, name)}\n    options:\n      heading_level: 3\n"
                     f"      show_root_full_path: false\n")
        return text
    return _DIRECTIVE.sub(expand, markdown)


def on_page_markdown(markdown, page, **kwargs):
    if page.file.src_uri.startswith("api/"):
        return with_members(markdown)
    return markdown
