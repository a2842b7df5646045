"""``nn.Module``: the base class of every layer and model, as in PyTorch.

Attributes that are Parameters or Modules are registered on assignment, so
``parameters()``, ``state_dict()``, ``train()``/``eval()`` and ``to()`` walk the tree.
``state_dict`` keys are PyTorch's (``layer.0.weight``, ``bn.running_mean`` ...), so weights
move between the two libraries through NumPy arrays.

Pure Python, no C++: a Module only organises parameters and calls; the computation happens
in the functions its ``forward`` calls.
"""
from __future__ import annotations

import os
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from ..dtypes import DtypeShortcuts, as_dtype, dtype as _dtype
from ..ops.creation import _check_device, tensor as _tensor
from ..ops.dlpack import describe_value
from ..ops.inplace import write as _write
from ..tensor import Tensor
from .parameter import Parameter

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module(DtypeShortcuts):
    """Base class: subclasses define ``__init__`` (creating submodules/parameters) and
    ``forward``; call the module, not ``forward``.

    Calling ``module(x)`` runs the forward pre-hooks, ``forward(x)`` and the forward hooks.
    Attributes that are ``nn.Parameter`` or ``Module`` are registered on assignment;
    ``register_buffer`` adds state that is saved but not trained (BatchNorm's running
    statistics). The tree is then walked by ``parameters()`` / ``named_parameters()``,
    ``buffers()``, ``children()``, ``modules()``, ``state_dict()`` /
    ``load_state_dict()``, ``train()`` / ``eval()`` (the ``training`` flag that Dropout
    and BatchNorm read), ``zero_grad()``, ``requires_grad_()``, ``apply(fn)`` and
    ``to(dtype)``. ``to(device)`` and ``cuda()`` only check the device name: the tensors stay
    where they are (a CUDA device raises RuntimeError when none is available).

    >>> import minidl as md
    >>> from minidl import nn
    >>> import minidl.nn.functional as F
    >>> class TwoLayer(nn.Module):
    ...     def __init__(self, n_in, n_hidden, n_out):
    ...         super().__init__()
    ...         self.fc1 = nn.Linear(n_in, n_hidden)     # registered as a child
    ...         self.fc2 = nn.Linear(n_hidden, n_out)
    ...     def forward(self, x):
    ...         return self.fc2(F.relu(self.fc1(x)))
    >>> net = TwoLayer(4, 8, 3)
    >>> net
    TwoLayer(
      (fc1): Linear(in_features=4, out_features=8, bias=True)
      (fc2): Linear(in_features=8, out_features=3, bias=True)
    )
    >>> net(md.zeros(2, 4)).shape
    minidl.Size([2, 3])
    >>> [(name, tuple(p.shape)) for name, p in net.named_parameters()]
    [('fc1.weight', (8, 4)), ('fc1.bias', (8,)), ('fc2.weight', (3, 8)), ('fc2.bias', (3,))]
    >>> sum(p.numel() for p in net.parameters())         # 8*4 + 8 + 3*8 + 3
    67
    >>> net.training, net.eval().fc1.training             # eval() switches every child
    (True, False)
    >>> copy = TwoLayer(4, 8, 3)
    >>> _ = copy.load_state_dict(net.state_dict())
    >>> bool((copy.fc1.weight == net.fc1.weight).all())
    True
    """

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    # --8<-- [start:module_call]
    def __call__(self, *args, **kwargs):
        if not self._forward_pre_hooks and not self._forward_hooks:
            return self.forward(*args, **kwargs)
        for hook in self._forward_pre_hooks.values():
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in self._forward_hooks.values():
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out
    # --8<-- [end:module_call]

    def register_forward_hook(self, hook):
        key = object()
        self._forward_hooks[key] = hook
        return _RemovableHandle(self._forward_hooks, key)

    def register_forward_pre_hook(self, hook):
        key = object()
        self._forward_pre_hooks[key] = hook
        return _RemovableHandle(self._forward_pre_hooks, key)

    # --- registration --------------------------------------------------------------------
    # --8<-- [start:register_on_assign]
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign before Module.__init__() call")
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        # --8<-- [end:register_on_assign]
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}'")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}'")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param):
        if "." in name or name == "":
            raise KeyError(f"parameter name can't contain \".\" or be empty, got '{name}'")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}'")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True):
        if "." in name or name == "":
            raise KeyError(f"buffer name can't contain \".\" or be empty, got '{name}'")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}'")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str):
        m = self
        for part in target.split(".") if target else []:
            if part not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no attribute `{part}`")
            m = m._modules[part]
        return m

    # --- traversal ------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, p in m._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield mp + ("." if mp else "") + name, p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, b in m._buffers.items():
                if b is None or (remove_duplicate and id(b) in seen):
                    continue
                seen.add(id(b))
                yield mp + ("." if mp else "") + name, b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # --- modes and bulk operations -------------------------------------------------------------
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True):
        for p in self.parameters():
            if p._grad is None:
                continue
            if set_to_none:
                p._grad = None
            else:
                p._grad.zero_()

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, fn):
        for m in self.modules():
            for name, p in m._parameters.items():
                if p is not None:
                    new = fn(p)
                    if new is not p:
                        p._data = new._data
                        if p._grad is not None:
                            p._grad = fn(p._grad)
            for name, b in m._buffers.items():
                if b is not None:
                    m._buffers[name] = fn(b)
        return self

    def to(self, *args, **kwargs):
        """``to(dtype)`` converts floating parameters and buffers; ``to("cpu")`` is a no-op."""
        dt = kwargs.get("dtype")
        for a in args:
            if isinstance(a, _dtype):
                dt = a
            elif isinstance(a, str) or hasattr(a, "type"):
                _check_device(a)
        if dt is None:
            return self
        dt = as_dtype(dt)
        return self._apply_to_tensors(lambda t: t.to(dt) if t.is_floating_point() else t)

    def cpu(self):
        return self

    def cuda(self, device=None):
        _check_device("cuda")
        return self

    # --- state ----------------------------------------------------------------------------------
    # --8<-- [start:state_dict]
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """OrderedDict name -> tensor (parameters and persistent buffers), PyTorch's keys."""
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination, prefix + name + ".", keep_vars)
        return destination
    # --8<-- [end:state_dict]

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy tensors in by key; with ``strict`` missing or unexpected keys raise."""
        if not isinstance(state_dict, Mapping):  # PyTorch's message, then the fix for what a learner passes
            fix = ""
            if isinstance(state_dict, Module):
                fix = " Pass a model's state dict, not the model: model.load_state_dict(other_model.state_dict())"
            elif isinstance(state_dict, (str, bytes, os.PathLike)):
                fix = " Read the checkpoint file first: model.load_state_dict(md.load(path))"
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.{fix}")
        # --8<-- [start:load_state_dict_match]
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for k, target in own.items():
            if k not in state_dict:
                continue
            src = given = state_dict[k]
            if not isinstance(src, Tensor):
                try:
                    src = _tensor(src)
                except Exception:
                    errors.append(f'While copying the parameter named "{k}", expected a tensor (minidl, PyTorch, '
                                  f"NumPy, or anything with __dlpack__ / __array__), got {describe_value(src)}")
                    continue
            if tuple(src.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {k}: copying a param with shape {list(src.shape)} from checkpoint, "
                              f"the shape in current model is {list(target.shape)}."
                              + ("" if given is src else f" (The checkpoint's value is a {describe_value(given)}.)"))
                continue
            _write(target, src._data)
        # --8<-- [end:load_state_dict_match]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)

    # --- printing ---------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        inner = "\n  ".join(([extra] if extra else []) + lines)
        return f"{type(self).__name__}(\n  {inner}\n)"

    def __dir__(self):
        return list(super().__dir__()) + list(self._parameters) + list(self._modules) + list(self._buffers)


class _RemovableHandle:
    def __init__(self, store, key):
        self._store, self._key = store, key

    def remove(self):
        self._store.pop(self._key, None)
