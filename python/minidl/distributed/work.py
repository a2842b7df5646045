"""``Work``: the handle a collective called with ``async_op=True`` returns.

The collective was started as a non-blocking MPI operation (``MPI_Iallreduce``, ``MPI_Ibcast``,
...); the caller computes meanwhile and calls ``wait()`` before reading the tensor. MPICH moves a
non-blocking operation forward only inside MPI calls, so the overlap comes from polling
``is_completed()`` (``MPI_Testall``) between pieces of work (DistributedDataParallel: in each
gradient hook). Measured (2 ranks on this 2-core machine, 16 MB float32, 50 ms of NumPy work
between the start and ``wait()``): without polling ``wait()`` still took 25 ms, the whole
all-reduce (22 ms when blocking), nothing had moved; polling every ~1 ms, ``wait()`` took 0.01 ms.
MPICH's progress thread (``MPIR_CVAR_ASYNC_PROGRESS=1``) overlaps without polling but spins a
core: the blocking all-reduce took 64 ms instead of 22 on 2 cores.
"""
from __future__ import annotations

__doctest_requires__ = ("mpi4py",)  # the examples start MPI (a world of one)


class Work:
    """A started collective: ``wait()`` blocks until it is done, ``is_completed()`` asks without
    blocking. After either says done, the result tensors hold the result.

    ``requests`` are MPI requests; ``finish`` runs once, after they complete (the copy back from a
    staging buffer, the division of ``ReduceOp.AVG``, the rounding of a 16-bit result).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> x = md.ones(3)
    >>> work = dist.all_reduce(x, async_op=True)
    >>> work.wait(), work.is_completed(), x.tolist()
    (True, True, [1.0, 1.0, 1.0])
    >>> dist.destroy_process_group()
    """

    def __init__(self, requests, finish=None, result=None):
        self._requests, self._finish, self._result, self._done = list(requests), finish, result, False

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._finish()
            self._finish = None

    def wait(self, timeout=None) -> bool:
        """Block until the collective is done (``timeout`` is accepted and unused); True."""
        if not self._done:
            if self._requests:
                type(self._requests[0]).Waitall(self._requests)
            self._complete()
        return True

    def is_completed(self) -> bool:
        """True if the collective is done (then the results are in place); never blocks."""
        if not self._done and (not self._requests or type(self._requests[0]).Testall(self._requests)):
            self._complete()
        return self._done

    def is_success(self) -> bool:
        """True once the collective completed (an MPI error aborts the launch instead)."""
        return self.is_completed()

    def exception(self):
        """None: an MPI failure ends the launch, it is never stored in the handle."""
        return None

    def result(self) -> list:
        """The tensors the collective wrote (after ``wait()``)."""
        self.wait()
        return list(self._result or [])
