"""Collectives over many tensors at once: one flat buffer per dtype, one collective each.

A model's parameters and buffers are dozens of small tensors; a collective per tensor pays
the latency (alpha in the alpha-beta model of the issue) dozens of times. Packing them into
one contiguous buffer per dtype pays it once, as PyTorch's ``_broadcast_coalesced`` does.
"""
from __future__ import annotations

import numpy as np

from ... import distributed as dist
from ...ops.inplace import write
from ...tensor import Tensor

__doctest_requires__ = ("mpi4py",)  # the examples start MPI (a world of one)


def by_dtype(tensors) -> dict:
    """{numpy dtype: [tensors]}, each list in the order given."""
    groups = {}
    for t in tensors:
        groups.setdefault(t._data.dtype, []).append(t)
    return groups


def flatten(tensors) -> np.ndarray:
    """The tensors' values one after the other in one new 1-D array (one dtype)."""
    return np.concatenate([t._data.reshape(-1) for t in tensors]) if tensors else np.zeros(0)


def unflatten_into(flat: np.ndarray, tensors) -> None:
    """Write consecutive slices of ``flat`` back into ``tensors`` (counted as in-place writes)."""
    offset = 0
    for t in tensors:
        n = t._data.size
        write(t, flat[offset:offset + n].reshape(t._data.shape))
        offset += n


def broadcast_coalesced(tensors, src: int, group=None) -> None:
    """Give every rank ``src``'s values of ``tensors`` (the same list, in the same order, on
    every rank; written in place): one broadcast per dtype.

    With a process group of one rank (the doctest runs without mpiexec) it changes nothing:

    >>> import minidl as md
    >>> import minidl.distributed as dist
    >>> from minidl.nn.parallel.coalesced import broadcast_coalesced
    >>> dist.init_process_group("mpi")
    >>> w = md.tensor([1.0, 2.0])
    >>> broadcast_coalesced([w, md.zeros(2, dtype=md.int64)], src=0)
    >>> w
    tensor([1.0000, 2.0000])
    >>> dist.destroy_process_group()
    """
    for ts in by_dtype(tensors).values():
        flat = flatten(ts)
        dist.broadcast(Tensor._wrap(flat), src=src, group=group)
        if dist.get_rank() != src:
            unflatten_into(flat, ts)
