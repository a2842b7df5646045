"""Point-to-point messages: one rank sends a tensor, one rank receives it into a tensor of the
same shape and dtype (``MPI_Send``/``MPI_Recv``; ``isend``/``irecv``: ``MPI_Isend``/``MPI_Irecv``
inside a :class:`Work`). Ranks are global ranks (``group_dst``/``group_src``: ranks in ``group``);
``tag`` tells apart messages between the same two ranks.
"""
from __future__ import annotations

from .collectives import root_rank
from .mpi_library import mpi
from .process_group import resolve_group
from .tensor_buffers import Staged, check_tensor
from .work import Work

__doctest_requires__ = ("mpi4py",)  # the examples start MPI (a world of one)


def _peer(pg, rank, group_rank, role: str, collective: str) -> int:
    peer = root_rank(pg, rank, group_rank, collective)
    if peer == pg.rank():
        raise ValueError(f"Invalid {role} rank: {role} rank should not be the same as the rank of the current process.")
    return peer


def isend(tensor, dst=None, group=None, tag: int = 0, group_dst=None):
    """Start sending ``tensor`` to rank ``dst``; returns a Work (``wait()`` before changing ``tensor``).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.isend(md.ones(2), dst=0)                  # a rank cannot send to itself
    Traceback (most recent call last):
    ValueError: Invalid destination rank: destination rank should not be the same as the rank of the current process.
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "isend")
    pg = resolve_group(group)
    if pg is None:
        return None
    peer = _peer(pg, dst, group_dst, "destination", "isend")
    staged = Staged(mpi(), tensor, read_only=True)
    return Work([pg.comm.Isend(staged.spec, peer, tag)], None, [tensor])


def send(tensor, dst=None, group=None, tag: int = 0, group_dst=None) -> None:
    """Send ``tensor`` to rank ``dst`` (returns once the buffer may be reused).

    Rank 0 sends, rank 1 receives (under ``mpiexec -n 2``)::

        if dist.get_rank() == 0:
            dist.send(x, dst=1)
        else:
            dist.recv(x, src=0)

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.send(md.ones(2), dst=1)                   # one process: rank 1 does not exist
    Traceback (most recent call last):
    RuntimeError: ProcessGroupMPI::send: invalid root rank: 1
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "send")
    pg = resolve_group(group)
    if pg is None:
        return None
    peer = _peer(pg, dst, group_dst, "destination", "send")
    pg.comm.Send(Staged(mpi(), tensor, read_only=True).spec, peer, tag)
    return None


def irecv(tensor, src=None, group=None, tag: int = 0, group_src=None):
    """Start receiving into ``tensor`` from rank ``src`` (None: any rank); returns a Work
    (``wait()`` before reading ``tensor``).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.irecv(md.zeros(2), src=0)
    Traceback (most recent call last):
    ValueError: Invalid source rank: source rank should not be the same as the rank of the current process.
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "irecv")
    pg = resolve_group(group)
    if pg is None:
        return None
    MPI = mpi()
    peer = MPI.ANY_SOURCE if src is None and group_src is None else _peer(pg, src, group_src, "source", "irecv")
    staged = Staged(MPI, tensor)
    return Work([pg.comm.Irecv(staged.spec, peer, tag)], staged.finish, [tensor])


def recv(tensor, src=None, group=None, tag: int = 0, group_src=None) -> int:
    """Receive into ``tensor`` from rank ``src`` (None: whichever rank sends first); returns the
    sender's global rank (-1 if this process is not in ``group``).

    >>> import minidl as md, minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.recv(md.zeros(2), src=0)
    Traceback (most recent call last):
    ValueError: Invalid source rank: source rank should not be the same as the rank of the current process.
    >>> dist.destroy_process_group()
    """
    check_tensor(tensor, "recv")
    pg = resolve_group(group)
    if pg is None:
        return -1
    MPI = mpi()
    peer = MPI.ANY_SOURCE if src is None and group_src is None else _peer(pg, src, group_src, "source", "recv")
    staged, status = Staged(MPI, tensor), MPI.Status()
    pg.comm.Recv(staged.spec, peer, tag, status)
    staged.finish()
    return pg.ranks[status.Get_source()]
