"""Collectives of picklable Python objects (a metric, a config dict, a list of file names), as
``torch.distributed``'s ``*_object`` functions: the objects are pickled, as PyTorch pickles them,
and moved with mpi4py's lower-case (pickle-based) collectives. For tensors, use the tensor
collectives: they send the tensor's memory without pickling.

Unpickling runs code: call these only with ranks you trust, the processes of your own job (the
same warning PyTorch gives for its ``*_object`` collectives). Nothing else in minidl unpickles
data from outside: checkpoints (``md.load``, ``load_safetensors``) are read as data and a pickle
file is refused, and a DataLoader unpickles only what its own worker processes send.

Every function takes a list it fills in place (PyTorch's signatures), ``group=`` like the tensor
collectives, and global ranks in ``src``/``dst`` (``group_src``/``group_dst``: ranks in ``group``).
"""
from __future__ import annotations

from .collectives import root_rank
from .process_group import resolve_group

__doctest_requires__ = ("mpi4py",)  # the examples start MPI (a world of one)


def _check_list(object_list, name: str, collective: str, length=None) -> None:
    if not isinstance(object_list, list):
        raise TypeError(f"{collective}: {name} must be a list, got {type(object_list).__name__}")
    if length is not None and len(object_list) != length:
        raise ValueError(f"{collective}: {name} has {len(object_list)} entries; it must be sized as the group "
                         f"({length})")


def all_gather_object(object_list, obj, group=None) -> None:
    """Every rank's ``obj`` into ``object_list`` on every rank: object_list[i] <- obj of rank i
    (``object_list``: N entries, N = the group's size).

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> out = [None]
    >>> dist.all_gather_object(out, {"loss": 0.25})
    >>> out
    [{'loss': 0.25}]
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None:
        return None
    _check_list(object_list, "object_list", "all_gather_object", pg.size())
    object_list[:] = pg.comm.allgather(obj)
    return None


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None) -> None:
    """Every rank's ``obj`` into ``object_gather_list`` of rank ``dst`` (default: global rank 0),
    which gives a list of N entries; the other ranks give None.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> out = [None]
    >>> dist.gather_object("rank 0 done", out, dst=0)
    >>> out
    ['rank 0 done']
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None:
        return None
    root = root_rank(pg, dst, group_dst, "gather_object", default_global=0 if group_dst is None else None)
    if pg.rank() == root:
        if object_gather_list is None:
            raise ValueError("Argument ``object_gather_list`` must be specified on destination rank.")
        _check_list(object_gather_list, "object_gather_list", "gather_object", pg.size())
    elif object_gather_list:
        raise ValueError("Argument ``object_gather_list`` must NOT be specified on non-destination ranks.")
    gathered = pg.comm.gather(obj, root=root)
    if pg.rank() == root:
        object_gather_list[:] = gathered
    return None


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None) -> None:
    """The entries of ``object_list`` of rank ``src`` into ``object_list`` on every rank (the list
    has the same length everywhere). ``device`` is accepted and unused (all is on the CPU).

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> config = [{"lr": 0.1}, 3]
    >>> dist.broadcast_object_list(config, src=0)
    >>> config
    [{'lr': 0.1}, 3]
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None:
        return None
    _check_list(object_list, "object_list", "broadcast_object_list")
    root = root_rank(pg, src, group_src, "broadcast_object_list")
    received = pg.comm.bcast(list(object_list) if pg.rank() == root else None, root=root)
    if len(received) != len(object_list):
        raise ValueError(f"broadcast_object_list: rank {src} sent {len(received)} objects, this rank's "
                         f"object_list has {len(object_list)} entries")
    object_list[:] = received
    return None


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None, group=None,
                        group_src=None) -> None:
    """Entry r of ``scatter_object_input_list`` of rank ``src`` (default: global rank 0) into
    ``scatter_object_output_list[0]`` of rank r.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> out = [None]
    >>> dist.scatter_object_list(out, ["shard-0.bin"], src=0)
    >>> out
    ['shard-0.bin']
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None:
        return None
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("Expected argument scatter_object_output_list to be a list of size at least 1.")
    root = root_rank(pg, src, group_src, "scatter_object_list", default_global=0 if group_src is None else None)
    if pg.rank() == root:
        if scatter_object_input_list is None:
            raise ValueError("Argument ``scatter_object_input_list`` must be specified on source rank.")
        _check_list(scatter_object_input_list, "scatter_object_input_list", "scatter_object_list", pg.size())
    scatter_object_output_list[0] = pg.comm.scatter(scatter_object_input_list if pg.rank() == root else None,
                                                    root=root)
    return None
