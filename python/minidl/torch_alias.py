"""``import torch`` meaning minidl: the import hook behind ``python -m minidl.run``.

``install_torch_alias()`` puts minidl in ``sys.modules["torch"]`` and adds a finder to
``sys.meta_path`` that answers every ``import torch.X.Y`` with the module ``minidl.X.Y``
(``torch.nn.functional`` -> ``minidl.nn.functional``, ``torch.utils.data`` ->
``minidl.utils.data`` ...). A module minidl lacks fails at its import line, as a missing
package does, with a ModuleNotFoundError that says minidl lacks it: a program stops where
minidl stops, never later with a confusing AttributeError.

How the finder works (PEP 451): ``find_spec("torch.a.b")`` imports ``minidl.a.b`` and
returns a spec whose loader hands that already-imported module back, so ``torch.a.b`` and
``minidl.a.b`` are the same object (``torch.nn.Linear is minidl.nn.Linear``).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

_ALIAS = "torch"
_TARGET = "minidl"


class _AliasLoader(importlib.abc.Loader):
    """Loads nothing: returns the minidl module the alias names."""

    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


class TorchAliasFinder(importlib.abc.MetaPathFinder):
    """``torch.X.Y`` -> ``minidl.X.Y`` on import; ModuleNotFoundError naming what minidl lacks.

    >>> from minidl.torch_alias import TorchAliasFinder
    >>> TorchAliasFinder().find_spec("numpy") is None      # not torch: left to the other finders
    True
    """

    # --8<-- [start:find_spec]
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        real = _TARGET + fullname[len(_ALIAS):]
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name is not None and e.name != real and not real.startswith(e.name + "."):
                raise  # a dependency of that minidl module is missing: its own message says which
            raise ModuleNotFoundError(
                f"No module named '{fullname}': minidl has no '{real}', so this PyTorch program stops here "
                "(the README lists what minidl does not have)", name=fullname) from None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module),
                                               is_package=hasattr(module, "__path__"))
    # --8<-- [end:find_spec]


def install_torch_alias() -> None:
    """Make ``import torch`` (and ``torch.nn``, ``torch.utils.data`` ...) import minidl, for
    the rest of this process. Idempotent. Raises if the real PyTorch is already imported
    (two libraries under one name would mix their tensors).

    What it installs, asked directly (a test process has the real torch imported already):

    >>> import minidl as md
    >>> from minidl.torch_alias import TorchAliasFinder
    >>> TorchAliasFinder().find_spec("torch.nn.functional").loader.module is md.nn.functional
    True
    """
    # --8<-- [start:install_body]
    present = sys.modules.get(_ALIAS)
    if present is not None and getattr(present, "__name__", None) != _TARGET:
        raise RuntimeError("install_torch_alias(): the real 'torch' is already imported in this process; call it "
                           "before anything imports torch (python -m minidl.run does)")
    if not any(isinstance(f, TorchAliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, TorchAliasFinder())
    sys.modules[_ALIAS] = importlib.import_module(_TARGET)
    # --8<-- [end:install_body]


def uninstall_torch_alias() -> None:
    """Undo :func:`install_torch_alias`: ``torch`` and its submodules are forgotten, and the
    next ``import torch`` finds the real PyTorch (if installed).

    >>> import minidl as md
    >>> md.uninstall_torch_alias()      # (nothing to undo: no error)
    """
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, TorchAliasFinder)]
    for name in [n for n in sys.modules if n == _ALIAS or n.startswith(_ALIAS + ".")]:
        if getattr(sys.modules[name], "__name__", "").startswith(_TARGET):
            del sys.modules[name]
