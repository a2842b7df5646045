"""Module containers: Sequential, ModuleList, ModuleDict, and Identity.

A network is a tree of modules. Containers hold sub-modules so that their parameters are
registered (``parameters()``, ``state_dict()``, ``train()``/``eval()`` and the optimizers
see them; a plain Python list of layers would hide them):

    Sequential   y = f_n(... f_2(f_1(x)))    the modules called in order
    ModuleList   a list of modules, forward written by you
    ModuleDict   a dict of modules, forward written by you
    Identity     y = x                        a placeholder (e.g. to remove a model's head)

Pure Python, no C++.
"""
from __future__ import annotations

from collections import OrderedDict

from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


class Identity(Module):
    """Returns its input unchanged (accepts and ignores constructor arguments): y = x.

    input (*) -> output (*), the same tensor. No parameters. Typical use: replace a
    pretrained model's classifier by ``nn.Identity()`` to get its features.

    >>> import minidl as md
    >>> from minidl import nn
    >>> x = md.tensor([1.0, 2.0])
    >>> nn.Identity(54, unused="ignored")(x) is x
    True
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Sequential(Module):
    """Calls its modules in order, each on the previous one's output: y = f_n(...f_1(x)).

    ``Sequential(m1, m2, ...)`` names the children "0", "1", ...; ``Sequential(OrderedDict)``
    uses the dict's names. Indexing gives a child (``seq[0]``) or a Sequential of a slice;
    ``append`` adds one at the end. The shapes are those of the chain: each module's output
    must fit the next one's input.

    >>> import minidl as md
    >>> from minidl import nn
    >>> mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> mlp
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=2, bias=True)
    )
    >>> mlp(md.zeros(3, 4)).shape
    minidl.Size([3, 2])
    >>> [name for name, _ in mlp.named_parameters()]     # ReLU has none
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> mlp[0]
    Linear(in_features=4, out_features=8, bias=True)
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    # --8<-- [start:sequential_forward]
    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input
    # --8<-- [end:sequential_forward]

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        if not -len(mods) <= idx < len(mods):
            raise IndexError(f"index {idx} is out of range")
        return mods[idx]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[idx]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules.keys())
        for k in (keys[idx] if isinstance(idx, slice) else [keys[idx]]):
            del self._modules[k]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered.

    Holds layers that ``forward`` uses in its own way (a loop, skip connections, weight
    sharing); supports indexing, ``len``, iteration, ``append``, ``extend`` and ``insert``.
    Unlike ``Sequential`` it has no ``forward`` of its own.

    >>> import minidl as md
    >>> from minidl import nn
    >>> blocks = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
    >>> len(blocks), [name for name, _ in blocks.named_parameters()]
    (2, ['0.weight', '0.bias', '1.weight', '1.bias'])
    >>> x = md.zeros(1, 3)
    >>> for block in blocks:                 # a residual stack
    ...     x = x + block(x)
    >>> x.shape
    minidl.Size([1, 3])
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return self._modules[str(idx % n)]

    def __setitem__(self, idx, module):
        self.add_module(str(idx % len(self)), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)


class ModuleDict(Module):
    """A dict of modules whose parameters are registered.

    Keys are strings (they become the ``state_dict`` prefixes); supports ``[key]``, ``in``,
    ``len``, iteration over the keys, ``keys``/``values``/``items``, ``update`` and ``pop``,
    in insertion order.

    >>> from minidl import nn
    >>> heads = nn.ModuleDict({"digit": nn.Linear(16, 10), "parity": nn.Linear(16, 2)})
    >>> list(heads.keys()), "digit" in heads
    (['digit', 'parity'], True)
    >>> [name for name, _ in heads.named_parameters()]
    ['digit.weight', 'digit.bias', 'parity.weight', 'parity.bias']
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self.add_module(k, m)

    def pop(self, key):
        return self._modules.pop(key)


# --8<-- [start:as_parameter]
def _as_parameter(value):
    """A plain tensor put into a ParameterList/Dict becomes a Parameter, as in PyTorch."""
    return value if isinstance(value, Parameter) or not isinstance(value, Tensor) else Parameter(value)
# --8<-- [end:as_parameter]


class ParameterList(Module):
    """A list of parameters, registered under the names "0", "1", ...

    For a number of weights known only at run time (one per head, per task, per layer);
    supports indexing, ``len``, iteration, ``append`` and ``extend``. A plain tensor is wrapped
    in a Parameter.

    >>> import minidl as md
    >>> from minidl import nn
    >>> scales = nn.ParameterList([nn.Parameter(md.ones(2)) for _ in range(3)])
    >>> len(scales), [name for name, _ in scales.named_parameters()]
    (3, ['0', '1', '2'])
    >>> scales.append(md.zeros(2))[3].requires_grad
    True
    """

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return self._parameters[str(idx % n)]

    def __setitem__(self, idx, param):
        self.register_parameter(str(idx % len(self)), _as_parameter(param))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value):
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self


class ParameterDict(Module):
    """A dict of parameters, registered under their (string) keys, in insertion order.

    Supports ``[key]``, ``in``, ``len``, iteration over the keys, ``keys``/``values``/``items``,
    ``update`` and ``pop``. A plain tensor is wrapped in a Parameter.

    >>> import minidl as md
    >>> from minidl import nn
    >>> bias = nn.ParameterDict({"en": nn.Parameter(md.zeros(4)), "de": md.ones(4)})
    >>> list(bias.keys()), type(bias["de"]).__name__
    (['en', 'de'], 'Parameter')
    """

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, param):
        self.register_parameter(key, _as_parameter(param))

    def __delitem__(self, key):
        del self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()

    def update(self, parameters):
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for k, p in items:
            self[k] = p

    def pop(self, key):
        return self._parameters.pop(key)
