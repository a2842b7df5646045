"""The collectives: every rank of a group calls the same one, in the same order.

Each is one MPI collective on the group's communicator, over the tensors' own memory (see
``tensor_buffers.py``). With ``async_op=True`` the non-blocking MPI call (``MPI_Iallreduce``,
...) starts it and a :class:`Work` is returned; otherwise the blocking call runs (MPICH picks
its blocking algorithms for latency, its non-blocking ones for overlap) and None is returned.

With N ranks and tensors x_r of n elements:

=========================  ===============================================================
barrier                    every rank waits until all arrived
broadcast(x, src)          x_r <- x_src
all_reduce(x, op)          x_r <- op(x_0, ..., x_{N-1})                 (every rank)
reduce(x, dst, op)         x_dst <- op(x_0, ..., x_{N-1})               (dst only)
all_gather(xs, x)          xs[i] <- x_i                                 (every rank)
all_gather_into_tensor     out[i*n:(i+1)*n] <- x_i                      (every rank)
reduce_scatter_tensor      out_r <- op over ranks of input[r*n:(r+1)*n]
gather(x, xs, dst)         xs[i] <- x_i                                 (dst only)
scatter(x, xs, src)        x_r <- xs[r] of src
=========================  ===============================================================

Ranks named by ``src``/``dst`` are global ranks; ``group_src``/``group_dst`` are ranks within
``group``. A process that is not in ``group`` returns at once, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from ..graph import version
from .mpi_library import mpi
from .process_group import group_rank_of, resolve_group
from .tensor_buffers import (IN_PLACE_REDUCTIONS, ReduceOp, RedOpType, Staged, check_tensor, in_place_reduction,
                             mpi_datatype, mpi_op)
from .work import Work

__doctest_requires__ = ("mpi4py",)  # the examples start MPI (a world of one)


_AVG = RedOpType.AVG  # a module constant: an Enum member lookup costs ~0.1 us on Python 3.11


def run(async_op: bool, blocking, nonblocking, finish=None, result=None):
    """Run a collective: ``blocking()`` then ``finish()``, or ``nonblocking()`` (its MPI
    requests) inside a Work that calls ``finish()`` once they are done."""
    if async_op:
        return Work(nonblocking(), finish, result)
    blocking()
    if finish is not None:
        finish()
    return None


def root_rank(pg, rank, group_rank, collective: str, default_global=None) -> int:
    """The group rank of a root given as a global rank (``src``/``dst``) or a group rank."""
    if group_rank is not None:
        if rank is not None:
            raise ValueError(f"{collective}: Can't specify both group_rank and global_rank")
        if not isinstance(group_rank, int) or not 0 <= group_rank < pg.size():
            raise ValueError(f"{collective}: group rank {group_rank!r} is not in a group of {pg.size()}")
        return group_rank
    if rank is None:
        if default_global is None:
            raise ValueError(f"{collective}: Must specify global_rank or group_rank")
        rank = default_global
    return group_rank_of(pg, rank, "the root rank", collective)


def _same_as(tensors, like, collective: str, name: str, count: int):
    """Check a list argument: ``count`` tensors, each of ``like``'s shape and dtype."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{collective}: {name} must be a list of tensors, got {type(tensors).__name__}")
    if len(tensors) != count:
        raise RuntimeError(f"{collective}: {name} has {len(tensors)} tensors; expected {count}, one per rank "
                           "of the group")
    for i, t in enumerate(tensors):
        check_tensor(t, collective, f"{name}[{i}]")
        if t.dtype != like.dtype:
            raise ValueError(f"{collective}: {name}[{i}] has dtype {t.dtype}, the tensor has {like.dtype} "
                             "(Invalid usage of tensors with different dtypes)")
        if tuple(t.shape) != tuple(like.shape):
            raise RuntimeError(f"{collective}: invalid tensor size at index {i} of {name} "
                               f"(expected {tuple(like.shape)}, got {tuple(t.shape)})")


def _unpack_into(tensors, stacked: np.ndarray):
    for t, row in zip(tensors, stacked):
        t._data[...] = row
        version.bump(t._data)


def _stacked(MPI, count: int, like):
    """A contiguous (count, *shape) array of ``like``'s dtype and its mpi4py buffer spec."""
    array = np.empty((count,) + tuple(like.shape), dtype=like._data.dtype)
    flat = array.reshape(-1)
    return array, [flat.view(np.uint16) if flat.dtype.itemsize == 2 else flat, mpi_datatype(MPI, array)]


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Block until every rank of ``group`` has called barrier.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.barrier()
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None:
        return None
    return run(async_op, pg.comm.Barrier, lambda: [pg.comm.Ibarrier()])


def broadcast(tensor, src=None, group=None, async_op: bool = False, group_src=None):
    """Copy ``tensor`` of global rank ``src`` into ``tensor`` on every rank: x_r <- x_src.

    ``tensor``: the same shape and dtype on every rank.

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> x = md.arange(3.)
    >>> dist.broadcast(x, src=0)
    >>> x.tolist()
    [0.0, 1.0, 2.0]
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "broadcast")
    pg = resolve_group(group)
    if pg is None:
        return None
    MPI, root = mpi(), root_rank(pg, src, group_src, "broadcast")
    staged = Staged(MPI, tensor, read_only=pg.rank() == root)
    receives = pg.rank() != root
    return run(async_op, lambda: pg.comm.Bcast(staged.spec, root), lambda: [pg.comm.Ibcast(staged.spec, root)],
               (lambda: staged.finish()) if receives else None, [tensor])


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over the ranks, in place on every rank: x_r <- op(x_0, ..., x_{N-1}).

    ``op``: a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX); ``tensor``: the same shape and dtype on every
    rank (bfloat16/float16 are reduced in float32 and rounded once).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> x = md.tensor([1., 2., 3.])
    >>> dist.all_reduce(x, op=dist.ReduceOp.SUM)      # one rank: the sum of one tensor
    >>> x.tolist()
    [1.0, 2.0, 3.0]
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "all_reduce")
    pg = resolve_group(group)
    if pg is None:
        return None
    data = tensor._data
    if not async_op and type(op) is RedOpType:  # the common case, in the tensor's memory: ~0.7 us of Python
        fast = IN_PLACE_REDUCTIONS.get((data.dtype, op)) or in_place_reduction(mpi(), data.dtype, op, "all_reduce")
        flags = data.flags
        if fast is not None and flags.c_contiguous and flags.writeable:
            pg.comm.Allreduce(fast[0], [data, fast[1]], fast[2])
            version.bump(data)
            return None
    MPI = mpi()
    staged = Staged(MPI, tensor, reducing=True)
    mop = mpi_op(MPI, op, staged.array, "all_reduce")
    scale = pg.size() if op is _AVG else 1
    return run(async_op, lambda: pg.comm.Allreduce(MPI.IN_PLACE, staged.spec, mop),
               lambda: [pg.comm.Iallreduce(MPI.IN_PLACE, staged.spec, mop)], lambda: staged.finish(scale), [tensor])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op: bool = False, group_dst=None):
    """Reduce ``tensor`` over the ranks into ``tensor`` of rank ``dst``: x_dst <- op(x_0, ..., x_{N-1});
    the other ranks' tensors are left as they were.

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> x = md.tensor([2., 5.])
    >>> dist.reduce(x, dst=0, op=dist.ReduceOp.MAX)
    >>> x.tolist()
    [2.0, 5.0]
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "reduce")
    pg = resolve_group(group)
    if pg is None:
        return None
    MPI, root = mpi(), root_rank(pg, dst, group_dst, "reduce")
    is_root = pg.rank() == root
    staged = Staged(MPI, tensor, reducing=True, read_only=not is_root)
    mop = mpi_op(MPI, op, staged.array, "reduce")
    if is_root:
        scale = pg.size() if op is _AVG else 1
        return run(async_op, lambda: pg.comm.Reduce(MPI.IN_PLACE, staged.spec, mop, root),
                   lambda: [pg.comm.Ireduce(MPI.IN_PLACE, staged.spec, mop, root)], lambda: staged.finish(scale),
                   [tensor])
    return run(async_op, lambda: pg.comm.Reduce(staged.spec, None, mop, root),
               lambda: [pg.comm.Ireduce(staged.spec, None, mop, root)], None, [tensor])


def all_gather(tensor_list, tensor, group=None, async_op: bool = False):
    """Every rank's ``tensor`` into ``tensor_list`` on every rank: tensor_list[i] <- x_i.

    ``tensor_list``: N tensors of ``tensor``'s shape and dtype (N = the group's size).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> out = [md.zeros(2)]
    >>> dist.all_gather(out, md.tensor([1., 2.]))
    >>> [t.tolist() for t in out]
    [[1.0, 2.0]]
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "all_gather")
    pg = resolve_group(group)
    if pg is None:
        return None
    _same_as(tensor_list, tensor, "all_gather", "tensor_list", pg.size())
    MPI = mpi()
    source = Staged(MPI, tensor, read_only=True)
    stacked, spec = _stacked(MPI, pg.size(), tensor)
    return run(async_op, lambda: pg.comm.Allgather(source.spec, spec), lambda: [pg.comm.Iallgather(source.spec, spec)],
               lambda: _unpack_into(tensor_list, stacked), list(tensor_list))


def _check_flat_pair(big, small, count: int, collective: str, big_name: str, small_name: str):
    check_tensor(big, collective, big_name)
    check_tensor(small, collective, small_name)
    if big.dtype != small.dtype:
        raise ValueError(f"{collective}: {big_name} has dtype {big.dtype}, {small_name} has {small.dtype} "
                         "(Invalid usage of tensors with different dtypes)")
    if big.numel() != count * small.numel():
        raise ValueError(f"{collective}: {big_name} size must be equal to world_size times {small_name} size "
                         f"({big_name} {tuple(big.shape)}, {small_name} {tuple(small.shape)}, world_size {count})")


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op: bool = False):
    """Every rank's ``input_tensor`` (n elements) concatenated into ``output_tensor`` (N*n elements)
    on every rank: output[i*n:(i+1)*n] <- input_i (output shaped (N*d0, ...) or (N, d0, ...)).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> out = md.zeros(2)
    >>> dist.all_gather_into_tensor(out, md.tensor([4., 5.]))
    >>> out.tolist()
    [4.0, 5.0]
    >>> dist.destroy_process_group()
    """
    check_tensor(output_tensor, "all_gather_into_tensor", "output_tensor")
    check_tensor(input_tensor, "all_gather_into_tensor", "input_tensor")
    pg = resolve_group(group)
    if pg is None:
        return None
    _check_flat_pair(output_tensor, input_tensor, pg.size(), "all_gather_into_tensor", "output tensor",
                     "input tensor")
    MPI = mpi()
    source, target = Staged(MPI, input_tensor, read_only=True), Staged(MPI, output_tensor)
    return run(async_op, lambda: pg.comm.Allgather(source.spec, target.spec),
               lambda: [pg.comm.Iallgather(source.spec, target.spec)], target.finish, [output_tensor])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``input`` (N*n elements) over the ranks and give rank r the r-th block of n:
    output_r <- op over ranks q of input_q[r*n:(r+1)*n].

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> out = md.zeros(2)
    >>> dist.reduce_scatter_tensor(out, md.tensor([1., 2.]))
    >>> out.tolist()
    [1.0, 2.0]
    >>> dist.destroy_process_group()
    """
    check_tensor(output, "reduce_scatter_tensor", "output")
    check_tensor(input, "reduce_scatter_tensor", "input")
    pg = resolve_group(group)
    if pg is None:
        return None
    _check_flat_pair(input, output, pg.size(), "reduce_scatter_tensor", "input tensor", "output tensor")
    MPI = mpi()
    source = Staged(MPI, input, reducing=True, read_only=True)
    target = Staged(MPI, output, reducing=True)
    mop = mpi_op(MPI, op, target.array, "reduce_scatter_tensor")
    scale = pg.size() if op is _AVG else 1
    return run(async_op, lambda: pg.comm.Reduce_scatter_block(source.spec, target.spec, mop),
               lambda: [pg.comm.Ireduce_scatter_block(source.spec, target.spec, mop)],
               lambda: target.finish(scale), [output])


def gather(tensor, gather_list=None, dst=None, group=None, async_op: bool = False, group_dst=None):
    """Every rank's ``tensor`` into ``gather_list`` of rank ``dst`` (default: global rank 0):
    gather_list[i] <- x_i. ``gather_list`` is given on ``dst`` only (N tensors like ``tensor``).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> out = [md.zeros(2)]
    >>> dist.gather(md.tensor([7., 8.]), out, dst=0)
    >>> [t.tolist() for t in out]
    [[7.0, 8.0]]
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "gather")
    pg = resolve_group(group)
    if pg is None:
        return None
    MPI = mpi()
    root = root_rank(pg, dst, group_dst, "gather", default_global=0 if group_dst is None else None)
    source = Staged(MPI, tensor, read_only=True)
    if pg.rank() != root:
        if gather_list:
            raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination ranks.")
        return run(async_op, lambda: pg.comm.Gather(source.spec, None, root),
                   lambda: [pg.comm.Igather(source.spec, None, root)])
    if gather_list is None:
        raise ValueError("Argument ``gather_list`` must be specified on destination rank.")
    _same_as(gather_list, tensor, "gather", "gather_list", pg.size())
    stacked, spec = _stacked(MPI, pg.size(), tensor)
    return run(async_op, lambda: pg.comm.Gather(source.spec, spec, root),
               lambda: [pg.comm.Igather(source.spec, spec, root)], lambda: _unpack_into(gather_list, stacked),
               list(gather_list))


def scatter(tensor, scatter_list=None, src=None, group=None, async_op: bool = False, group_src=None):
    """``scatter_list[r]`` of rank ``src`` (default: global rank 0) into ``tensor`` of rank r:
    x_r <- scatter_list[r]. ``scatter_list`` is given on ``src`` only (N tensors like ``tensor``).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> x = md.zeros(2)
    >>> dist.scatter(x, [md.tensor([3., 4.])], src=0)
    >>> x.tolist()
    [3.0, 4.0]
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "scatter")
    pg = resolve_group(group)
    if pg is None:
        return None
    MPI = mpi()
    root = root_rank(pg, src, group_src, "scatter", default_global=0 if group_src is None else None)
    target = Staged(MPI, tensor)
    if pg.rank() != root:
        if scatter_list:
            raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
        return run(async_op, lambda: pg.comm.Scatter(None, target.spec, root),
                   lambda: [pg.comm.Iscatter(None, target.spec, root)], target.finish, [tensor])
    if scatter_list is None:
        raise ValueError("Argument ``scatter_list`` must be specified on source rank.")
    _same_as(scatter_list, tensor, "scatter", "scatter_list", pg.size())
    stacked, spec = _stacked(MPI, pg.size(), tensor)
    for row, t in zip(stacked, scatter_list):
        row[...] = t._data
    return run(async_op, lambda: pg.comm.Scatter(spec, target.spec, root),
               lambda: [pg.comm.Iscatter(spec, target.spec, root)], target.finish, [tensor])
