"""Subscripting: ``x[key]`` (getitem) and the window a key selects.

A basic key (ints, slices, None, Ellipsis) selects a strided view of the tensor's memory (a
NumPy view); its backward writes the gradient into that window of a zero gradient. An
advanced key (integer or bool tensors/arrays) gathers a copy; its backward scatter-adds the
gradient back to the source positions, so repeated indices accumulate. ``x[key] = value`` is
an in-place op: ops/inplace.py records it, using ``write_window`` for the write itself.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import _C
from ..graph.node import Node
from ..graph.version import epoch as _epoch
from ..tensor import Tensor
from . import array as A
from ._graph import result


def _convert_key(key, shape):
    """Tensor indices -> arrays; validate integer indices so errors name the problem."""
    if not isinstance(key, tuple):
        key = (key,)
    out, basic, dim = [], True, 0
    for k in key:
        if isinstance(k, Tensor):
            k = k._data
            if k.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        if isinstance(k, (list, np.ndarray)):
            k = np.asarray(k)
            if k.dtype == np.bool_:
                if dim + k.ndim > len(shape) or tuple(shape[dim:dim + k.ndim]) != k.shape:
                    raise IndexError(f"The shape of the mask {list(k.shape)} at index {dim} does not match the "
                                     f"shape of the indexed tensor {list(shape)}")
                dim += k.ndim
            else:
                if k.dtype.kind not in "iu":
                    if k.size == 0:
                        k = k.astype(np.int64)
                    else:
                        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
                if dim >= len(shape):
                    raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
                n = shape[dim]
                if k.size and (k.max() >= n or k.min() < -n):
                    bad = int(k.max()) if k.max() >= n else int(k.min())
                    raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {n}")
                dim += 1
            basic = False
        elif isinstance(k, (bool, np.bool_)):
            basic = False
        elif isinstance(k, (int, np.integer)):
            if dim >= len(shape):
                raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
            n = shape[dim]
            if not -n <= k < n:
                raise IndexError(f"index {int(k)} is out of bounds for dimension {dim} with size {n}")
            k = int(k)
            dim += 1
        elif k is None:
            pass
        elif k is Ellipsis:
            dim = len(shape) - sum(1 for kk in key if kk is not None and kk is not Ellipsis
                                   and not (isinstance(kk, (np.ndarray, Tensor)) and getattr(kk, "dtype", None) == np.bool_))
        elif isinstance(k, slice):
            if k.step is not None and k.step <= 0:
                raise ValueError("step must be greater than zero")
            dim += 1
        else:
            raise TypeError(f"index of type {type(k).__name__} is not supported")
        out.append(k)
    if dim > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    return tuple(out), basic


class IndexBackward(Node):
    __slots__ = ()
    is_view = True  # its result may share the input's memory (ops/inplace.py)

    def apply(self, g):
        shape, np_dtype, key, basic = self.get_saved()
        gx = A.zeros(shape, np_dtype)
        if basic:  # a view: copy the gradient into the same window
            _C.copy_(window(gx, key), g)
        elif len(key) == 1 and isinstance(key[0], np.ndarray) and key[0].dtype == np.int64 and len(shape) >= 1:
            # x[idx], rows picked by one integer array (an embedding-like lookup, a batch of
            # samples): the gradient's rows are added at idx, as index_add does. The general
            # path below numbers every element of x and scatters one float at a time: 4096 rows
            # of a (1024, 1024) x took 29.6 ms forward + backward, PyTorch 7.7.
            rows = key[0].reshape(-1)
            if rows.size:  # (no rows picked: the gradient stays zero)
                rows = np.where(rows < 0, rows + shape[0], rows) if rows.min() < 0 else rows
                _C.scatter_add_rows(gx.reshape(shape[0], -1), rows, A.contiguous(g).reshape(rows.size, -1))
        else:  # advanced: scatter-add at the source positions (repeats accumulate)
            positions = _C.arange(0, int(np.prod(shape)), 1, _C.DType.i64).reshape(shape)[key]
            flat = gx.reshape(-1, 1)
            _C.scatter_add_rows(flat, A.contiguous(positions).reshape(-1), A.contiguous(g).reshape(-1, 1))
        return (gx,)

    def apply_differentiable(self, g):  # linear in g: the same scatter, recorded with its own backward
        return (result(self.apply(g._data)[0], IndexScatterBackward, (g,), self.get_saved()),)


class IndexScatterBackward(Node):
    """Backward of the op ``IndexBackward.apply`` performs (g placed into zeros at ``key``):
    indexing again, g2[key]. Only double backward records it."""
    __slots__ = ()

    def apply(self, g2):
        shape, np_dtype, key, basic = self.get_saved()
        return (A.contiguous(window(g2, key)) if basic else np.asarray(g2[key]),)

    def apply_differentiable(self, g2):
        return (getitem(g2, self.get_saved()[2]),)


def window(d: np.ndarray, key) -> np.ndarray:
    """The view of ``d`` a basic (slice/int/None/Ellipsis) key selects; always an array, even
    for an all-integer key (the trailing Ellipsis keeps it a 0-d view, not a scalar)."""
    return d[key] if builtins.any(k is Ellipsis for k in key) else d[key + (Ellipsis,)]


def getitem(x: Tensor, key) -> Tensor:
    d = x._data
    kind = type(key)
    # fast path for the commonest keys, x[i] and x[i:j] (a view, as below); other keys and
    # out-of-range ints take the general path, which validates and words the errors
    if (kind is int and d.ndim and -d.shape[0] <= key < d.shape[0]) or (kind is slice and key.step is None
                                                                       and d.ndim):
        out = result(d[key, ...], IndexBackward, (x,), (d.shape, d.dtype, (key,), True))
        out._view_of = (x, key, _epoch[0])  # writes to out go through x (ops/inplace.py)
        return out
    key, basic = _convert_key(key, d.shape)
    if basic:  # a view
        out = result(window(d, key), IndexBackward, (x,), (d.shape, d.dtype, key, True))
        out._view_of = (x, key, _epoch[0])
        return out
    # NumPy gathers a copy
    return result(np.asarray(d[key]), IndexBackward, (x,), (d.shape, d.dtype, key, False))


def write_window(d: np.ndarray, key, basic: bool, value) -> None:
    """``d[key] = value`` for a converted key: value is a Tensor, a number or array-like."""
    if isinstance(value, Tensor):
        v = value._data
    elif isinstance(value, (int, float, bool, np.number, np.bool_)):
        v = None
    else:
        v = np.asarray(value, dtype=d.dtype)
    if basic:
        target = window(d, key)
        if v is None:
            _C.fill_(target, float(value))
        else:
            _C.copy_(target, v)
    elif v is None:
        d[key] = value  # scatter of one scalar into an advanced-index selection
    else:
        d[key] = v if v.dtype == d.dtype else A.cast(v, d.dtype)
