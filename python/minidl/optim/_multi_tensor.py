"""Helpers shared by the optimizers: gather the parameters of one group that have a gradient
into lists of contiguous NumPy arrays for the multi-tensor C++ kernels (``_C.sgd_step``,
``_C.adam_step``, ``_C.lamb_step``), one list per dtype."""
from __future__ import annotations

import numpy as np

from ..graph import version
from ..graph.grad_mode import enable_grad
from ..tensor import Tensor

_SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))


def run_closure(closure):
    """PyTorch's ``step(closure)``: re-evaluate the loss with gradients enabled."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


class Batch:
    """The parameters of one dtype in one group: ``params`` (tensors), ``arrays`` (their
    contiguous storage), ``grads`` (contiguous, same dtype). Call ``finish()`` after the
    kernel: a non-contiguous parameter was updated in a copy, which is written back, and each
    parameter's version counter goes up (``graph/version.py``), as PyTorch's in-place step does."""

    def __init__(self):
        self.params, self.arrays, self.grads, self._writeback = [], [], [], []

    def add(self, p: Tensor):
        arr = p._data
        if arr.dtype not in _SUPPORTED:
            raise TypeError(f"optimizer: parameter of dtype {arr.dtype} is not supported "
                            "(float32 and float64 are; keep float32 master weights for 16-bit training)")
        g = p._grad._data
        if g.shape != arr.shape:
            raise ValueError(f"optimizer: gradient of shape {g.shape} for a parameter of shape {arr.shape}")
        if g.dtype != arr.dtype or not g.flags.c_contiguous:
            g = np.ascontiguousarray(g, dtype=arr.dtype)
        if not (arr.flags.c_contiguous and arr.flags.writeable):
            work = np.ascontiguousarray(arr).copy()
            self._writeback.append((arr, work))
            arr = work
        self.params.append(p)
        self.arrays.append(arr)
        self.grads.append(g)

    def finish(self):
        for dst, src in self._writeback:
            np.copyto(dst, src)
        for p in self.params:  # an in-place write: a graph that saved p now raises in backward
            version.bump(p._data)


def batches_with_grad(group) -> list:
    """One Batch per dtype for the parameters of ``group`` whose ``.grad`` is not None
    (PyTorch updates every parameter that has a gradient, whatever its requires_grad)."""
    by_dtype = {}
    for p in group["params"]:
        if p._grad is None:
            continue
        b = by_dtype.get(p._data.dtype)
        if b is None:
            b = by_dtype[p._data.dtype] = Batch()
        b.add(p)
    return list(by_dtype.values())


def state_zeros(p: Tensor) -> Tensor:
    """A zero state tensor shaped like ``p`` (C-contiguous, ``p``'s dtype)."""
    return Tensor._wrap(np.zeros(p._data.shape, dtype=p._data.dtype))


def new_step() -> Tensor:
    """``state["step"]``: a float32 0-d tensor, as PyTorch keeps it."""
    return Tensor._wrap(np.zeros((), dtype=np.float32))


def state_array(state: dict, key: str, p: Tensor) -> np.ndarray:
    """The C-contiguous array of ``state[key]`` (made contiguous, in ``p``'s dtype, if a loaded
    state dict handed us something else)."""
    t = state[key]
    a = t._data
    if a.dtype != p._data.dtype or not a.flags.c_contiguous or not a.flags.writeable or a.shape != p._data.shape:
        if a.size != p._data.size:
            raise ValueError(f"optimizer state '{key}' has shape {a.shape}, parameter has {p._data.shape}")
        a = np.ascontiguousarray(a, dtype=p._data.dtype).reshape(p._data.shape).copy()
        state[key] = Tensor._wrap(a)
    return a
