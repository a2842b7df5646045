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

Cost. A counter is created on the first in-place write to its memory only. Saving costs
nothing per array: a node stores the *write epoch* (how many in-place writes the process
has made so far, one global number) when it is made. In backward, a node whose epoch is
still the current one skips the check: nothing was written since it saved its arrays, the
common case. Otherwise it looks up the counter of each array it saved and raises if one was
written after the node's epoch (each counter keeps the epochs of its last writes).

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


_RECENT = 32  # epochs of writes a counter remembers: enough to name the version a node expected


class _Counter(weakref.ref):
    """The version of one block of memory; a weak reference to its owner."""

    __slots__ = ("version", "key", "writes")


class _PinnedCounter:
    """Counter for an owner that takes no weak reference (e.g. ``bytes``): holds it alive."""

    __slots__ = ("version", "key", "writes", "owner")


_counters: dict = {}  # id(owner) -> _Counter
epoch = [0]  # in-place writes so far, all memory together (a list: modules share the cell)


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


def _new_counter(owner):
    key = id(owner)
    try:
        c = _Counter(owner, _forget)
    except TypeError:  # no weak references to this owner: keep it alive with its counter
        c = _PinnedCounter()
        c.owner = owner
    c.version, c.key, c.writes = 0, key, []
    _counters[key] = c
    return c


# --8<-- [start:version_bump]
def bump(arr) -> int:
    """Record one in-place write to the memory of ``arr``; return the new version."""
    b = arr.base
    owner = arr if b is None else b
    c = _counters.get(id(owner))
    if c is None:
        c = _new_counter(owner)
    e = epoch[0] = epoch[0] + 1
    c.version += 1
    writes = c.writes
    writes.append(e)
    if len(writes) > _RECENT:
        del writes[0]
    return c.version
# --8<-- [end:version_bump]


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


# --8<-- [start:version_check]
def written_since(arr, since: int):
    """The counter of ``arr``'s memory if it was written after epoch ``since``, else None."""
    b = arr.base
    c = _counters.get(id(arr if b is None else b))
    return c if c is not None and c.writes and c.writes[-1] > since else None


def writes_after(arr, since: int):
    """The epochs of the in-place writes to ``arr``'s memory after epoch ``since`` (a tuple,
    empty if none), or None when the counter may have forgotten some of them.

    >>> import minidl as md
    >>> from minidl.graph import version
    >>> x = md.zeros(2)
    >>> e = version.epoch[0]
    >>> _ = x.add_(1)
    >>> version.writes_after(x._data, e) == (e + 1,), version.writes_after(x._data, e + 1)
    (True, ())
    """
    b = arr.base
    c = _counters.get(id(arr if b is None else b))
    if c is None:
        return ()
    writes = c.writes
    if len(writes) >= _RECENT and writes[0] > since:
        return None
    return tuple(w for w in writes if w > since)


def check(saved, since: int, name) -> None:
    """Raise PyTorch's error if an array in ``saved`` (top level, or one level of tuple or
    list) was written in place after epoch ``since``, when it was saved. ``name()`` names
    who saved it, for the message."""
    if epoch[0] == since:
        return
    for s in saved:
        for a in (s if type(s) in (tuple, list) else (s,)):
            if type(a) is _ndarray:
                c = written_since(a, since)
                if c is not None:
                    writes_after = sum(1 for e in c.writes if e > since)
                    raise _modified_error(a, c.version, c.version - writes_after, name())
# --8<-- [end:version_check]
