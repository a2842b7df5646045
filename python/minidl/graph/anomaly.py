"""Anomaly detection: find the op whose backward produced a NaN (``set_detect_anomaly``,
``detect_anomaly``), as PyTorch's.

A NaN in a gradient spreads to every parameter it touches, so by the time the loss or the
weights are NaN the op that made it is long gone. With anomaly detection on, the engine
checks every gradient a node returns and raises at the first NaN, naming the node
("Function 'DivBackward' returned nan values in its 0th output.") and showing where the
forward op that created the node was called (each node remembers its stack while the mode
is on). It costs a NaN scan per gradient and a stack capture per op: a debugging tool.

>>> import minidl as md
>>> x = md.tensor([0.0, 1.0], requires_grad=True)
>>> with md.autograd.detect_anomaly():
...     y = x.sqrt() * 0          # d sqrt / dx at 0 is inf; inf * 0 is NaN
...     try:
...         y.sum().backward()
...     except RuntimeError as e:
...         print(str(e).splitlines()[0])
Function 'SqrtBackward' returned nan values in its 0th output.
"""
from __future__ import annotations

import traceback
import weakref

import numpy as np

enabled = [False]  # a one-element list: graph/node.py and the engine read enabled[0]
_check_nan = [True]
_forward_stacks = weakref.WeakKeyDictionary()  # node -> the stack of the forward call that made it


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on.

    >>> import minidl as md
    >>> md.autograd.is_anomaly_enabled()
    False
    """
    return enabled[0]


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection checks gradients for NaN (``check_nan``).

    >>> import minidl as md
    >>> md.autograd.is_anomaly_check_nan_enabled()
    True
    """
    return _check_nan[0]


class set_detect_anomaly:
    """Turn anomaly detection on or off: as a call (``set_detect_anomaly(True)``) or for a
    block (``with set_detect_anomaly(True):``), as PyTorch's.

    >>> import minidl as md
    >>> with md.autograd.set_detect_anomaly(True):
    ...     md.autograd.is_anomaly_enabled()
    True
    >>> md.autograd.is_anomaly_enabled()
    False
    """

    def __init__(self, mode: bool, check_nan: bool = True):
        if not isinstance(mode, bool):
            raise TypeError(f"set_detect_anomaly(): mode must be a bool, got {type(mode).__name__}")
        self._prev = (enabled[0], _check_nan[0])
        enabled[0], _check_nan[0] = mode, bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        enabled[0], _check_nan[0] = self._prev
        return False


class detect_anomaly:
    """``with detect_anomaly():``: anomaly detection on for the block (see the module docs).

    >>> import minidl as md
    >>> with md.autograd.detect_anomaly():
    ...     md.autograd.is_anomaly_enabled()
    True
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = (enabled[0], _check_nan[0])
        enabled[0], _check_nan[0] = True, bool(self.check_nan)
        return self

    def __exit__(self, *exc):
        enabled[0], _check_nan[0] = self._prev
        return False


def record_forward(node) -> None:
    """Remember where ``node``'s forward op was called (anomaly mode only)."""
    # the innermost frames of the forward call (minus this hook and Node.__init__): where the
    # user's code called the op, without the test runner's or notebook's frames far above it
    _forward_stacks[node] = traceback.format_stack(limit=14)[:-2]


def check_gradients(node, grads) -> None:
    """Raise if a gradient ``node`` returned holds a NaN, naming the node and its forward call."""
    if not _check_nan[0]:
        return
    for i, g in enumerate(grads):
        g = getattr(g, "_data", g)  # (under create_graph=True the gradients are Tensors)
        if g is None or not isinstance(g, np.ndarray) or g.dtype.kind != "f" and g.dtype.kind != "V":
            continue
        if np.isnan(g.astype(np.float32) if g.dtype.kind == "V" else g).any():
            stack = _forward_stacks.get(node)
            where = ("\nTraceback of the forward call that created it:\n" + "".join(stack)) if stack else ""
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.{where}")
