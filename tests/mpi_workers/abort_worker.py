"""Rank 1 raises an uncaught exception while rank 0 waits in a collective for it.

Without md.distributed's excepthook (print the traceback, then MPI_Abort) rank 0 would wait in
its barrier forever; with it, the whole launch ends with an error status at once
(tests/test_distributed_collectives.py::test_an_uncaught_exception_on_one_rank_ends_every_rank).
"""
import minidl as md
import minidl.distributed as dist

dist.init_process_group()
x = md.ones(3)
dist.all_reduce(x)  # every rank got this far
if dist.get_rank() == 1:
    raise RuntimeError("rank 1 fails on purpose")
dist.barrier()  # rank 0 waits here for a rank that is gone
print("rank 0 passed the barrier: the failure did not end it", flush=True)
