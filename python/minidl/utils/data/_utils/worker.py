"""The worker process of a ``DataLoader(num_workers > 0)``: its loop, its seeds, and
``get_worker_info``. As PyTorch's ``torch.utils.data._utils.worker``.

Each worker reads ``(task index, sampler indices)`` from its own index queue, fetches and
collates that batch with its own copy of the dataset, and puts ``(task index, batch)`` on the
one result queue all workers share. The batch is pickled in the worker (:func:`pack`), each
tensor as its NumPy array and its requires_grad flag, so that a batch that can't be pickled
becomes an exception in the main process instead of a batch lost in the queue's feeder
thread (and a main process waiting for it forever). The other end is always this same
loader's main process, so unpickling is between minidl's own trusted processes.
"""
from __future__ import annotations

import copyreg
import io
import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from ....backend import set_num_threads
from ....tensor import Tensor
from . import rng
from .fetch import create_fetcher

# How long a blocked queue read waits before it checks that the other side is still alive
# (PyTorch: 5 s; shorter here so a dead worker is reported within a second).
STATUS_CHECK_INTERVAL = 1.0


@dataclass
class WorkerInfo:
    """What a worker process knows about itself: ``id`` (0 .. num_workers - 1),
    ``num_workers``, ``seed`` (base_seed + id: minidl's, Python's and NumPy's generators were
    seeded from it) and ``dataset`` (this worker's own copy of the dataset)."""
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info = None


def get_worker_info():
    """In a DataLoader worker process, its :class:`WorkerInfo` (``id``, ``num_workers``,
    ``seed``, ``dataset``); in the main process, None.

    The way an ``IterableDataset`` splits its stream between workers (each worker iterates
    its own copy of the whole dataset), and the way ``worker_init_fn`` configures each
    worker's copy. As ``torch.utils.data.get_worker_info``.

    >>> from minidl.utils.data import get_worker_info
    >>> get_worker_info() is None      # the main process is no worker
    True
    """
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, with its traceback as text, carried to the main
    process and raised there by :meth:`reraise` (PyTorch's ``ExceptionWrapper``)."""

    def __init__(self, exc_info=None, where: str = "in background"):
        exc_info = exc_info or sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where
        try:
            pickle.dumps(self.exc_type)
        except Exception:  # a class the main process can't import: the message still says which
            self.exc_type = RuntimeError

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:  # KeyError's str() is its repr: keep the newlines readable
            msg = KeyErrorMessage(msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # an exception type whose constructor wants other arguments
            raise RuntimeError(msg) from None
        try:
            raise exception
        finally:
            # this frame's local would make exception -> traceback -> frame -> exception a
            # cycle, and keep the loader's iterator (and its workers) alive until a gc pass
            exception = None


class KeyErrorMessage(str):
    def __repr__(self):
        return self


@dataclass(frozen=True)
class IterableDatasetStopIteration:
    """A worker's IterableDataset copy is exhausted."""
    worker_id: int


@dataclass(frozen=True)
class ResumeIteration:
    """Start a new epoch with the same (persistent) worker."""


def _rebuild_tensor(array, requires_grad: bool):
    return Tensor._wrap(array).requires_grad_(requires_grad)


def _reduce_tensor(t: Tensor):
    if t._node is not None:
        raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd does "
                           "not support crossing process boundaries.  If you just want to transfer the data, call "
                           "detach() on the tensor before serializing (e.g., putting it into a Queue).")
    return _rebuild_tensor, (t._data, t.requires_grad)


class _BatchPickler(pickle.Pickler):
    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[Tensor] = _reduce_tensor


def pack(data) -> bytes:
    """``data`` pickled for the result queue, minidl tensors as (NumPy array, requires_grad)."""
    buffer = io.BytesIO()
    _BatchPickler(buffer, pickle.HIGHEST_PROTOCOL).dump(data)
    return buffer.getvalue()


def numpy_seed(base_seed: int, worker_id: int) -> list:
    """The 4 x 32-bit NumPy seed of a worker: PyTorch's ``_generate_state``, the hash of
    NumPy's SeedSequence applied to (worker_id, base_seed), so that workers' NumPy streams
    differ even where base_seed + worker_id collide between loaders."""
    INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    MIX_MULT_L, MIX_MULT_R, XSHIFT, MASK32 = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF
    entropy = [worker_id, base_seed & MASK32, base_seed >> 32, 0]
    hash_const = [INIT_A]

    def hash32(value):
        value = (value ^ hash_const[0]) & MASK32
        hash_const[0] = (hash_const[0] * MULT_A) & MASK32
        value = (value * hash_const[0]) & MASK32
        return (value ^ (value >> XSHIFT)) & MASK32

    def mix(x, y):
        result = ((MIX_MULT_L * x) - (MIX_MULT_R * y)) & MASK32
        return (result ^ (result >> XSHIFT)) & MASK32

    pool = [hash32(e) for e in entropy]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash32(pool[i_src]))
    state, const_b = [], INIT_B
    for value in pool:
        value = (value ^ const_b) & MASK32
        const_b = (const_b * MULT_B) & MASK32
        value = (value * const_b) & MASK32
        state.append((value ^ (value >> XSHIFT)) & MASK32)
    return state


# --8<-- [start:seed_worker]
def seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed minidl's default generator and Python's ``random`` with base_seed + worker_id,
    and NumPy's global generator with :func:`numpy_seed`, as PyTorch's worker does."""
    seed = base_seed + worker_id
    random.seed(seed)
    rng.manual_seed(seed)
    np.random.seed(numpy_seed(base_seed, worker_id))
    return seed
# --8<-- [end:seed_worker]


def worker_loop(is_iterable, dataset, index_queue, data_queue, done_event, auto_collation, collate_fn,
                drop_last, base_seed, init_fn, worker_id, num_workers, parent_pid):
    """The body of worker process ``worker_id``: serve (task index, indices) requests until
    it reads None, the main process sets ``done_event``, or the main process is gone."""
    global _worker_info
    try:
        set_num_threads(1)  # workers share the cores: one OpenMP thread each, as PyTorch's
        seed = seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        init_exception = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        # --8<-- [start:worker_loop_body]
        while os.getppid() == parent_pid:  # an orphaned worker stops by itself
            try:
                request = index_queue.get(timeout=STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if done_event.is_set():  # shut down while its None was lost (queue closed by gc first)
                    break
                continue
            if isinstance(request, ResumeIteration):  # a persistent worker's next epoch
                data_queue.put((request, None))
                iteration_end = False
                fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
                continue
            if request is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            task, index = request
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and is_iterable:
                        data, iteration_end = IterableDatasetStopIteration(worker_id), True
                    else:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            try:
                payload = pack(data)
            except Exception:
                payload = pack(ExceptionWrapper(where=f"in DataLoader worker process {worker_id}"))
            data_queue.put((task, payload))
            del data, payload, request, index
        # --8<-- [end:worker_loop_body]
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches the whole process group: the main process reports it, not each worker
    if done_event.is_set():
        # the main process no longer reads: don't let exit wait to flush the queue's pipe
        data_queue.cancel_join_thread()
        data_queue.close()
