"""Version counters: how autograd notices that a tensor it saved was overwritten.

Backward formulas read the values their forward saw (``d(x*w)/dx = w``). If ``w`` is
changed in place between the forward and the backward, the gradient computed from the
new ``w`` is silently wrong. PyTorch guards against this with a *version counter*: every
in-place write bumps it, each saved tensor remembers the version it had when saved, and
backward raises if the two differ. minidl does the same.

Where the counter lives. All views of one tensor share memory, so they must share one
counter (a write through ``x[0]`` changes what ``x`` saved). A minidl tensor's data is a
NumPy array, and NumPy points every view, and every view of a view, at the same owner of
the memory (``arr.base``, or ``arr`` itself when it owns its memory). So the counter is
kept per owner, in a table keyed by ``id(owner)``; a weak reference removes the entry when
the owner dies, so an id is never reused while its entry lives. Unlike PyTorch, a tensor
obtained with ``.data`` shares the counter too (it shares the memory).

Cost. A counter is created on the first in-place write to its memory only. Saving costs a
dictionary lookup per saved array (``Node.__init__``): versions are recorded only when
non-zero, so the common case (nothing ever written in place) stores nothing.

>>> import minidl as md
>>> x = md.ones(3)
>>> v = x[1:]                       # a view: same memory, same counter
>>> x._version, v.add_(1)._version, x._version
(0, 1, 1)
"""
from __future__ import annotations

import weakref

import numpy as np

_ndarray = np.ndarray


class _Counter(weakref.ref):
    """The version of one block of memory; a weak reference to its owner."""

    __slots__ = ("version", "key")


class _PinnedCounter:
    """Counter for an owner that takes no weak reference (e.g. ``bytes``): holds it alive."""

    __slots__ = ("version", "key", "owner")


_counters: dict = {}  # id(owner) -> _Counter


def _forget(counter):
    if _counters.get(counter.key) is counter:
        del _counters[counter.key]


def _owner(arr):
    base = arr.base
    return arr if base is None else base


def version_of(arr) -> int:
    """How many in-place writes the memory of ``arr`` has seen (0 if none)."""
    c = _counters.get(id(_owner(arr)))
    return 0 if c is None else c.version


def bump(arr) -> int:
    """Record one in-place write to the memory of ``arr``; return the new version."""
    owner = _owner(arr)
    key = id(owner)
    c = _counters.get(key)
    if c is None:
        try:
            c = _Counter(owner, _forget)
        except TypeError:  # no weak references to this owner: keep it alive with its counter
            c = _PinnedCounter()
            c.owner = owner
        c.version, c.key = 0, key
        _counters[key] = c
    c.version += 1
    return c.version


def record(saved):
    """Versions of the arrays in ``saved`` (top level and one level of tuple/list), or None.

    None means every saved array was at version 0 (no counter yet), the common case. The
    loops are written out (no helper calls): this runs for every node the forward records.
    """
    if not _counters:
        return None
    get = _counters.get
    found = None
    for i, s in enumerate(saved):
        t = type(s)
        if t is _ndarray:
            b = s.base
            c = get(id(s if b is None else b))
            if c is not None and c.version:
                if found is None:
                    found = {}
                found[i] = c.version
        elif t is tuple or t is list:
            for j, a in enumerate(s):
                if type(a) is _ndarray:
                    b = a.base
                    c = get(id(a if b is None else b))
                    if c is not None and c.version:
                        if found is None:
                            found = {}
                        found[(i, j)] = c.version
    return found


_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
               "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
               "bool": "Bool"}


def _modified_error(arr, now: int, then: int, node_name: str) -> RuntimeError:
    kind = _TYPE_NAMES.get(str(arr.dtype), str(arr.dtype))
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [minidl.{kind}Tensor {list(arr.shape)}] is at version {now}; expected version "
        f"{then} instead. Hint: {node_name} saved it in the forward pass, and it was changed in place "
        "since (x.add_(), x[...] = v, x += v, optimizer.step(), ...); compute out of place "
        "(x = x + v) or run backward() before changing it.")


def check(saved, versions, node_name: str) -> None:
    """Raise PyTorch's error if an array in ``saved`` was written since it was saved."""
    if not _counters:
        return
    get = _counters.get
    for i, s in enumerate(saved):
        t = type(s)
        if t is _ndarray:
            b = s.base
            c = get(id(s if b is None else b))
            if c is not None and c.version != (versions.get(i, 0) if versions else 0):
                raise _modified_error(s, c.version, versions.get(i, 0) if versions else 0, node_name)
        elif t is tuple or t is list:
            for j, a in enumerate(s):
                if type(a) is _ndarray:
                    b = a.base
                    c = get(id(a if b is None else b))
                    then = versions.get((i, j), 0) if versions else 0
                    if c is not None and c.version != then:
                        raise _modified_error(a, c.version, then, node_name)
