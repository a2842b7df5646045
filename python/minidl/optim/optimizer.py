"""``optim.Optimizer``: parameter groups, per-parameter state, state_dict, zero_grad,
as in PyTorch. Subclasses implement ``step``; the update arithmetic is C++."""
from __future__ import annotations

from collections import defaultdict

from ..tensor import Tensor


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _typename(obj) -> str:
    """The type's name as PyTorch's messages write it: ``tuple``, ``minidl.nn.linear.Linear``."""
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


class Optimizer:
    """Base class. ``params``: an iterable of tensors, or of dicts (parameter groups) with
    a ``params`` key and per-group overrides of ``defaults``."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, but "
                            "got " + type(params).__name__)
        name = type(self).__name__
        if callable(getattr(params, "parameters", None)):  # a model (nn.Module): PyTorch's message, then the fix
            first = next(iter(params), None) if hasattr(params, "__iter__") else None  # Sequential yields layers
            pytorch = (f"optimizer can only optimize Tensors, but one of the params is {_typename(first)}"
                       if first is not None else f"'{type(params).__name__}' object is not iterable")
            raise TypeError(f"{pytorch}. The optimizer updates tensors, not a model: pass model.parameters(), "
                            f"e.g. {name}(model.parameters(), lr=0.01)")
        if callable(params) and getattr(params, "__name__", "") == "parameters":
            raise TypeError(f"'method' object is not iterable. model.parameters is a method: call it, "
                            f"{name}(model.parameters(), lr=0.01)")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict):
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                named = isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Tensor)
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(p)}"
                                + (". named_parameters() gives (name, tensor) pairs: pass model.parameters()"
                                   if named else ""))
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {k}")
            group.setdefault(k, v)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError("a parameter appears more than once in the same parameter group")
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True):
        for g in self.param_groups:
            for p in g["params"]:
                if p._grad is not None:
                    if set_to_none:
                        p._grad = None
                    else:
                        p._grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError

    # --- state dicts ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]} as PyTorch."""
        index, groups = {}, []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: {k: (v.clone() if isinstance(v, Tensor) else v) for k, v in s.items()}
                 for p, s in ((p, self.state[p]) for g in self.param_groups for p in g["params"]) if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        by_index = {}
        for mine, theirs in zip(self.param_groups, groups):
            for p, i in zip(mine["params"], theirs["params"]):
                by_index[i] = p
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = v
        self.state = defaultdict(dict)
        for i, s in state_dict["state"].items():
            i = int(i)
            if i not in by_index:
                raise KeyError(f"optimizer state refers to unknown parameter index {i}")
            p = by_index[i]
            self.state[p] = {k: (v.clone().to(p.dtype) if isinstance(v, Tensor) and v.is_floating_point() and k != "step"
                                 else (v.clone() if isinstance(v, Tensor) else v)) for k, v in s.items()}

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"
