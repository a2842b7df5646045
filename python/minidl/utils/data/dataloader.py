"""``DataLoader``: batches from a dataset, in the main process or in worker processes, as
PyTorch's ``torch.utils.data.dataloader``.

The pipeline: a sampler orders the indices, a BatchSampler groups them, a fetcher turns a
group into samples and ``collate_fn`` into a batch. With ``num_workers > 0`` the fetch and
collate run in worker processes (``_utils/worker.py``) and this module keeps them busy and
puts their results back in order.
"""
from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import warnings

from ._utils import worker as _worker
from ._utils.collate import default_collate, default_convert
from ._utils.fetch import create_fetcher
from ._utils.rng import draw_seed
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

get_worker_info = _worker.get_worker_info  # as torch.utils.data.dataloader's (scripts import it from here)


class _InfiniteConstantSampler:
    """An IterableDataset's "sampler": None forever (the fetcher only counts them)."""

    def __iter__(self):
        return itertools.repeat(None)


def _start_method_context(multiprocessing_context):
    if multiprocessing_context is None:
        # fork on Linux, as PyTorch (and Python 3.11's own default there); the platform's default elsewhere
        return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    if isinstance(multiprocessing_context, str):
        methods = multiprocessing.get_all_start_methods()
        if multiprocessing_context not in methods:
            raise ValueError("multiprocessing_context option should specify a valid start method in "
                             f"{methods!r}, but got multiprocessing_context={multiprocessing_context!r}")
        return multiprocessing.get_context(multiprocessing_context)
    if not isinstance(multiprocessing_context, multiprocessing.context.BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a string "
                        f"specifying the start method, but got multiprocessing_context={multiprocessing_context}")
    return multiprocessing_context


def _warn_if_too_many_workers(num_workers: int) -> None:
    """PyTorch's check_worker_number_rationality: more workers than usable cores is a warning."""
    if not num_workers:
        return
    cpuset_checked = hasattr(os, "sched_getaffinity")
    suggest = len(os.sched_getaffinity(0)) if cpuset_checked else os.cpu_count()
    if suggest is not None and num_workers <= suggest:
        return
    suggestion = (f"Our suggested max number of worker in current system is {suggest}"
                  f"{'' if cpuset_checked else ' (`cpuset` is not taken into account)'}, which is smaller than "
                  "what this DataLoader is going to create." if suggest is not None else
                  "DataLoader is not able to compute a suggested max number of worker in current system.")
    warnings.warn(f"This DataLoader will create {num_workers} worker processes in total. {suggestion} Please be aware "
                  "that excessive worker creation might get DataLoader running slow or even freeze, lower the worker "
                  "number to avoid potential slowness/freeze if necessary.", stacklevel=3)


class DataLoader:
    """Iterates ``dataset`` in batches: ``for x, y in DataLoader(ds, batch_size=64, shuffle=True)``.

    The order: ``sampler`` (default: SequentialSampler, or RandomSampler(generator=generator)
    with ``shuffle=True``) grouped by BatchSampler(sampler, batch_size, drop_last), or a
    ``batch_sampler`` that yields index lists itself. Each group becomes a batch by
    ``collate_fn`` (default :func:`default_collate`: samples stacked along a new first
    dimension). ``batch_size=None`` turns batching off: each sample is converted by
    :func:`default_convert`. An :class:`IterableDataset` takes no sampler: its own stream
    is batched.

    ``num_workers > 0`` loads in that many worker processes (``multiprocessing_context``:
    'fork' by default on Linux, 'spawn' when asked), each with its own copy of the dataset,
    up to ``prefetch_factor * num_workers`` batches in flight, results in the sampler's
    order. Worker k seeds minidl's, Python's and NumPy's generators from base_seed + k,
    base_seed drawn from ``generator`` once per epoch (so ``generator`` makes workers'
    augmentations reproducible), then calls ``worker_init_fn(k)``; :func:`get_worker_info`
    tells a dataset which worker runs it. An exception in a worker is raised again here with
    the worker's traceback in its message; a worker that dies raises RuntimeError naming its
    pid and signal; ``timeout > 0`` raises if a batch takes longer. ``persistent_workers``
    keeps the workers from one epoch to the next. ``pin_memory`` is accepted and does
    nothing on a CPU (a warning, as PyTorch's without an accelerator). Where minidl differs
    from PyTorch: ``in_order=False`` is accepted but batches still come in the sampler's order.

    len = ceil(len(sampler) / batch_size) (floor with ``drop_last``).

    >>> import minidl as md
    >>> from minidl.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(md.arange(5.), md.arange(5))
    >>> [x.tolist() for x, y in DataLoader(ds, batch_size=2)]
    [[0.0, 1.0], [2.0, 3.0], [4.0]]
    >>> loader = DataLoader(ds, batch_size=None)
    >>> len(loader), next(iter(loader))
    (5, [tensor(0.0000), tensor(0)])
    >>> [y.tolist() for _, y in DataLoader(ds, batch_size=2, num_workers=2)]   # two processes, same order
    [[0, 1], [2, 3], [4]]
    """

    _FIXED_AFTER_INIT = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn=None, pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={num_workers}")
            multiprocessing_context = _start_method_context(multiprocessing_context)
        self.dataset, self.num_workers, self.prefetch_factor = dataset, num_workers, prefetch_factor
        self.pin_memory, self.pin_memory_device, self.timeout = pin_memory, pin_memory_device, timeout
        self.worker_init_fn, self.multiprocessing_context, self.in_order = worker_init_fn, multiprocessing_context, in_order

        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            else:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last, self.sampler, self.batch_sampler = batch_size, drop_last, sampler, batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn, self.persistent_workers = collate_fn, persistent_workers
        self._iterator = None
        self.__initialized = True
        _warn_if_too_many_workers(num_workers)

    def __setattr__(self, name, value):
        if self.__dict__.get("_DataLoader__initialized") and name in self._FIXED_AFTER_INIT:
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        _warn_if_too_many_workers(self.num_workers)
        if not self.persistent_workers:
            return _MultiProcessingIter(self)
        if self._iterator is None:
            self._iterator = _MultiProcessingIter(self)
        else:
            self._iterator._reset(self)
        return self._iterator

    def __len__(self):
        return _length(self.dataset, self._is_iterable, self.batch_size, self.drop_last, self._index_sampler)


def _length(dataset, is_iterable: bool, batch_size, drop_last: bool, index_sampler) -> int:
    """Batches per epoch: the index sampler's length; an IterableDataset's own len, batched."""
    if not is_iterable:
        return len(index_sampler)
    length = len(dataset)
    if batch_size is not None:
        length = length // batch_size if drop_last else math.ceil(length / batch_size)
    return length


class _BaseIter:
    def __init__(self, loader: DataLoader):
        # no reference to the loader itself: a persistent loader holds its iterator, and the
        # cycle would leave the workers to the garbage collector instead of `del loader`
        self._batch_size = loader.batch_size
        self._dataset, self._is_iterable = loader.dataset, loader._is_iterable
        self._auto_collation, self._drop_last = loader._auto_collation, loader.drop_last
        self._index_sampler, self._collate_fn = loader._index_sampler, loader.collate_fn
        self._timeout, self._num_workers = loader.timeout, loader.num_workers
        if loader.pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=3)
        self._sampler_iter = iter(self._index_sampler)
        # drawn for every epoch, with or without workers, as PyTorch does: the same draws
        # from the generator whatever num_workers is
        self._base_seed = draw_seed(loader.generator)

    def __iter__(self):
        return self

    def __len__(self):
        return _length(self._dataset, self._is_iterable, self._batch_size, self._drop_last, self._index_sampler)

    def _next_index(self):
        return next(self._sampler_iter)


class _SingleProcessIter(_BaseIter):
    """``num_workers=0``: fetch and collate in this process."""

    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = create_fetcher(self._is_iterable, self._dataset, self._auto_collation,
                                       self._collate_fn, self._drop_last)

    def __next__(self):
        return self._fetcher.fetch(self._next_index())


class _MultiProcessingIter(_BaseIter):
    """``num_workers > 0``: PyTorch's ``_MultiProcessingDataLoaderIter``.

    Task t (the t-th batch of the epoch) goes to the index queue of the next active worker
    in turn; ``prefetch_factor * num_workers`` tasks are outstanding at a time. Results come
    back in any order on the one result queue; ``_task_info`` holds those that arrived
    early until their turn (``_rcvd_idx``), so batches come out in the sampler's order.
    """

    def __init__(self, loader):
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._persistent = loader.persistent_workers
        context = loader.multiprocessing_context or _start_method_context(None)
        self._worker_result_queue = context.Queue()
        self._workers_done_event = context.Event()
        self._index_queues, self._workers = [], []
        self._shutdown = True  # until the workers exist: nothing to shut down
        self._owner_pid = os.getpid()  # a process forked later holds a copy of this object: not its workers
        for worker_id in range(self._num_workers):
            index_queue = context.Queue()
            index_queue.cancel_join_thread()  # exit never waits on an index queue nobody reads
            w = context.Process(target=_worker.worker_loop, daemon=True, args=(
                self._is_iterable, self._dataset, index_queue, self._worker_result_queue,
                self._workers_done_event, self._auto_collation, self._collate_fn, self._drop_last,
                self._base_seed, loader.worker_init_fn, worker_id, self._num_workers, os.getpid()))
            w.start()
            self._index_queues.append(index_queue)
            self._workers.append(w)
            self._shutdown = False
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter: bool = False):
        if not first_iter:  # the first epoch's order was drawn by _BaseIter already
            self._sampler_iter = iter(self._index_sampler)
        self._send_idx = self._rcvd_idx = 0  # next task to send; next task to return
        self._task_info = {}  # task -> (worker_id,) while out, (worker_id, data) once back early
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers  # False: its IterableDataset copy is exhausted
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:  # persistent workers: a new epoch, acknowledged by each worker
            for index_queue in self._index_queues:
                index_queue.put(_worker.ResumeIteration())
            resume_acks = self._num_workers
            while resume_acks > 0:  # results of an epoch left early come first: dropped
                task, _ = self._get_data()
                if isinstance(task, _worker.ResumeIteration):
                    resume_acks -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_put_index(self):
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next worker that still has data
            worker_id = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker_id]:
                break
        else:
            return  # every worker is exhausted
        self._index_queues[worker_id].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker_id,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _try_get_data(self, timeout):
        try:
            return True, self._worker_result_queue.get(timeout=timeout)
        except queue.Empty:
            pass
        failed = [w for w in self._workers if w.exitcode is not None and not self._shutdown]
        if failed:  # the way PyTorch's SIGCHLD check words it
            self._shutdown_workers()
            w = failed[0]
            if w.exitcode < 0:
                name = signal.strsignal(-w.exitcode) or f"signal {-w.exitcode}"
                raise RuntimeError(f"DataLoader worker (pid {w.pid}) is killed by signal: {name}. ")
            raise RuntimeError(f"DataLoader worker (pid {w.pid}) exited unexpectedly with exit code {w.exitcode}. "
                               "Details are lost due to multiprocessing. Rerunning with num_workers=0 may give "
                               "better error trace.")
        return False, None

    def _get_data(self):
        """The next (task, result) from the result queue, the result unpickled (see worker.pack)."""
        if self._timeout > 0:
            success, message = self._try_get_data(self._timeout)
            if not success:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        else:
            success = False
            while not success:  # wake up now and then to check that the workers are alive
                success, message = self._try_get_data(_worker.STATUS_CHECK_INTERVAL)
        task, payload = message
        return task, (None if payload is None else pickle.loads(payload))

    def __next__(self):
        try:
            return self._next_data()
        except KeyboardInterrupt:
            self._shutdown_workers()
            raise

    # --8<-- [start:ordered_results]
    def _next_data(self):
        while True:
            # skip tasks of workers whose IterableDataset ran out
            while self._rcvd_idx < self._send_idx:
                info = self._task_info[self._rcvd_idx]
                if len(info) == 2 or self._workers_status[info[0]]:
                    break
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:  # arrived earlier, out of order
                return self._process_data(self._task_info.pop(self._rcvd_idx)[1])
            task, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _worker.IterableDatasetStopIteration):
                self._workers_status[data.worker_id] = False
                self._try_put_index()
                continue
            if task != self._rcvd_idx:
                self._task_info[task] += (data,)
            else:
                del self._task_info[task]
                return self._process_data(data)

    def _process_data(self, data):
        self._rcvd_idx += 1
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return data
    # --8<-- [end:ordered_results]

    def _shutdown_workers(self):
        """Stop the workers: set the done event, send each a None, join them (terminate the
        ones that don't stop within a few seconds), close the queues. Safe to call twice."""
        if self._shutdown or os.getpid() != self._owner_pid:
            return
        self._shutdown = True
        try:
            self._workers_done_event.set()
            for index_queue in self._index_queues:
                index_queue.put(None)
            for w in self._workers:
                w.join(timeout=5.0)
                if w.is_alive():
                    w.terminate()
                    w.join()
            for index_queue in self._index_queues:
                index_queue.close()
            self._worker_result_queue.cancel_join_thread()
            self._worker_result_queue.close()
        finally:
            for w in self._workers:
                if w.is_alive():
                    w.terminate()

    def __del__(self):
        if hasattr(self, "_shutdown"):
            self._shutdown_workers()
