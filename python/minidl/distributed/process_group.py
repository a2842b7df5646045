"""Process groups over MPI: who takes part in a collective, and under which rank.

``init_process_group`` makes the *default group*: every process of the MPI launch
(``mpiexec -n N python script.py``), rank ``r`` of ``N`` as MPI numbers them. ``new_group(ranks)``
makes a sub-group (an MPI sub-communicator) whose group ranks are the positions of the global
ranks in ``sorted(ranks)``, as PyTorch's. Every collective takes ``group=`` (None: the default).

Where minidl differs from PyTorch's ``torch.distributed``:

* the rendezvous is the MPI launch: rank and world size come from ``mpiexec`` (or Slurm's
  ``srun --mpi=pmix``), so ``init_method="env://"`` (the only init_method accepted) and the
  environment variables ``MASTER_ADDR``/``MASTER_PORT``/``RANK`` are not needed, and a ``store``
  is refused; ``rank=``/``world_size=`` are checked against MPI's;
* ``backend="gloo"`` (what CPU PyTorch scripts pass) runs over MPI too and ``get_backend()``
  returns ``"gloo"``, so such scripts run unchanged; ``"nccl"`` raises as PyTorch's CPU build does;
* a rank whose exception is not caught ends the whole launch (``MPI_Abort``) instead of leaving
  the other ranks waiting forever in their next collective.
"""
from __future__ import annotations

import sys

from .mpi_library import mpi

__doctest_requires__ = ("mpi4py",)  # the examples start MPI (a world of one)

NOT_INITIALIZED = "Default process group has not been initialized, please make sure to call init_process_group."


class Backend(str):
    """A backend name, as ``torch.distributed.Backend``: a lower-case ``str``.

    minidl runs every backend over MPI; ``MPI`` and ``GLOO`` are accepted (``GLOO`` so that CPU
    PyTorch scripts run unchanged), ``NCCL`` is refused as PyTorch's CPU build refuses it.

    >>> import minidl.distributed as dist
    >>> dist.Backend("GLOO"), dist.Backend.MPI == "mpi"
    ('gloo', True)
    """

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"

    def __new__(cls, name: str):
        if not isinstance(name, str):
            raise ValueError(f"Backend constructor parameter must be string-ish, but got: {type(name)}")
        value = getattr(Backend, name.upper(), Backend.UNDEFINED)
        if value == Backend.UNDEFINED:
            value = name.lower()
        return str.__new__(cls, value)


class ProcessGroup:
    """A set of processes that run collectives together: an MPI communicator plus the global
    ranks of its members (``ranks[i]`` is the global rank of group rank ``i``).

    Made by :func:`init_process_group` (all processes) and :func:`new_group` (a subset); pass it
    as ``group=`` to any collective.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group("mpi")         # a single process: a group of one
    >>> g = dist.new_group([0])
    >>> g.rank(), g.size(), dist.get_rank(g)
    (0, 1, 0)
    >>> dist.destroy_process_group()
    """

    def __init__(self, comm, ranks, backend: str):
        self.comm, self.ranks, self.backend = comm, list(ranks), backend

    def rank(self) -> int:
        """This process's rank within the group."""
        return self.comm.Get_rank()

    def size(self) -> int:
        """The number of processes in the group."""
        return len(self.ranks)

    def __repr__(self):
        return f"ProcessGroup(ranks={self.ranks}, backend={self.backend!r})"


class GroupMember:
    """``GroupMember.WORLD``: the default group once initialized (None before), and
    ``GroupMember.NON_GROUP_MEMBER``: what :func:`new_group` returns to a process left out of it.

    >>> import minidl.distributed as dist
    >>> dist.GroupMember.NON_GROUP_MEMBER
    -100
    """

    WORLD = None
    NON_GROUP_MEMBER = -100


class _State:
    groups: list = []  # the sub-groups made by new_group, freed by destroy_process_group
    previous_excepthook = None


def is_initialized() -> bool:
    """True between :func:`init_process_group` and :func:`destroy_process_group`.

    >>> import minidl.distributed as dist
    >>> dist.is_initialized()
    False
    """
    return GroupMember.WORLD is not None


def _abort_all_ranks(exc_type, exc, tb):
    """sys.excepthook of an initialized process: print the traceback, then end every rank.

    Without it, the other ranks would wait forever in their next collective for this one."""
    previous = _State.previous_excepthook or sys.__excepthook__
    previous(exc_type, exc, tb)
    world = GroupMember.WORLD
    if world is not None and world.size() > 1 and not issubclass(exc_type, KeyboardInterrupt):
        sys.stderr.write(f"[rank {world.rank()}] uncaught {exc_type.__name__}: aborting all "
                         f"{world.size()} ranks (MPI_Abort)\n")
        sys.stderr.flush()
        sys.stdout.flush()
        world.comm.Abort(1)


def init_process_group(backend=None, init_method=None, timeout=None, world_size: int = -1, rank: int = -1,
                       store=None, group_name: str = "", pg_options=None, device_id=None) -> None:
    """Join the processes of the MPI launch into the default group (as ``torch.distributed``'s).

    Rank ``r`` and world size ``N`` come from MPI (``mpiexec -n N python script.py`` or
    ``python -m minidl.distributed.run --nproc N script.py``); ``rank=``/``world_size=`` when given
    must agree. ``backend``: ``"mpi"`` (or None), or ``"gloo"`` (runs over MPI as well; get_backend()
    then says ``"gloo"``); ``"nccl"`` raises. ``init_method``: None or ``"env://"`` (MPI did the
    rendezvous already). ``timeout``, ``group_name``, ``pg_options``, ``device_id`` are accepted and
    unused. After it, an uncaught exception on any rank aborts all ranks.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group(backend="gloo")     # run alone: rank 0 of 1
    >>> dist.get_rank(), dist.get_world_size(), dist.get_backend()
    (0, 1, 'gloo')
    >>> dist.destroy_process_group()
    """
    if GroupMember.WORLD is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = Backend(backend) if backend is not None else Backend.MPI
    if name == Backend.NCCL:
        raise RuntimeError("Distributed package doesn't have NCCL built in")
    if name not in (Backend.MPI, Backend.GLOO):
        raise ValueError(f"Invalid backend: '{backend}': minidl runs 'mpi' (and 'gloo', over MPI)")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_method={init_method!r}: minidl takes rank and world size from the MPI launch "
                         "(mpiexec -n N python script.py); pass init_method=None or 'env://'")
    if store is not None:
        raise ValueError("store=: minidl takes rank and world size from the MPI launch and needs no store")
    MPI = mpi()
    world = MPI.COMM_WORLD
    if world_size not in (-1, None) and world_size != world.Get_size():
        raise ValueError(f"init_process_group(world_size={world_size}): the MPI launch started "
                         f"{world.Get_size()} processes (mpiexec -n {world.Get_size()})")
    if rank not in (-1, None) and rank != world.Get_rank():
        raise ValueError(f"init_process_group(rank={rank}): this process is rank {world.Get_rank()} of the MPI launch")
    # a duplicate: minidl's messages never mix with other MPI users' (mpi4py code in the same script)
    GroupMember.WORLD = ProcessGroup(world.Dup(), range(world.Get_size()), name)
    _State.previous_excepthook = sys.excepthook
    sys.excepthook = _abort_all_ranks


def _world() -> ProcessGroup:
    if GroupMember.WORLD is None:
        raise ValueError(NOT_INITIALIZED)
    return GroupMember.WORLD


def resolve_group(group):
    """The ProcessGroup a ``group=`` argument names (None: the default group); None when this
    process is not a member (the collective is then skipped, as PyTorch skips it)."""
    world = _world()
    if group is None or group is world:
        return world
    if group is GroupMember.NON_GROUP_MEMBER or isinstance(group, int) and group == GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup made by new_group() (or None), got {type(group).__name__}")
    return group


def group_rank_of(group: ProcessGroup, global_rank: int, what: str, collective: str) -> int:
    """The group rank of global rank ``global_rank``; a named error if it is not in the group."""
    if not isinstance(global_rank, int) or isinstance(global_rank, bool):
        raise TypeError(f"{collective}: {what} must be an int rank, got {type(global_rank).__name__}")
    if global_rank not in group.ranks:
        if group is GroupMember.WORLD:
            raise RuntimeError(f"ProcessGroupMPI::{collective}: invalid root rank: {global_rank}")
        raise ValueError(f"{collective}: {what}={global_rank}: Global rank {global_rank} is not part of group {group}")
    return group.ranks.index(global_rank)


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (default: its global rank, 0..N-1); -1 if not a member.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.get_rank()
    0
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    return -1 if pg is None else pg.rank()


def get_world_size(group=None) -> int:
    """The number of processes in ``group`` (default: all N of the launch); -1 if not a member.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.get_world_size()
    1
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    return -1 if pg is None else pg.size()


def get_process_group_ranks(group=None) -> list:
    """The global ranks of ``group``'s members, in group-rank order (None: the default group).

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.get_process_group_ranks(dist.new_group([0]))
    [0]
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None:
        raise ValueError("get_process_group_ranks: this process is not a member of the group")
    return list(pg.ranks)


def get_global_rank(group, group_rank: int) -> int:
    """The global rank of the member with rank ``group_rank`` in ``group``: ``ranks[group_rank]``.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.get_global_rank(dist.new_group([0]), 0)
    0
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None or not isinstance(group_rank, int) or not 0 <= group_rank < pg.size():
        raise ValueError(f"Group rank {group_rank} is not part of group {group}")
    return pg.ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    """The rank within ``group`` of the process with global rank ``global_rank``.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.get_group_rank(dist.new_group([0]), 0)
    0
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None or global_rank not in pg.ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {group}")
    return pg.ranks.index(global_rank)


def get_backend(group=None) -> str:
    """The backend name ``group`` was made with: ``"mpi"``, or ``"gloo"`` when the script asked for it.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group("mpi")
    >>> dist.get_backend()
    'mpi'
    >>> dist.destroy_process_group()
    """
    pg = resolve_group(group)
    if pg is None:
        raise ValueError("Invalid process group specified")
    return str(pg.backend)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A sub-group of the global ranks ``ranks`` (None: all): an MPI sub-communicator.

    Every process of the default group must call it (it is collective), members or not; group
    rank ``i`` is the global rank ``sorted(ranks)[i]``. A process outside ``ranks`` gets
    ``GroupMember.NON_GROUP_MEMBER``, and collectives it calls on it do nothing.

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> g = dist.new_group(ranks=[0])
    >>> dist.get_world_size(g), g.ranks
    (1, [0])
    >>> dist.destroy_process_group()
    """
    world = _world()
    if backend is not None and Backend(backend) == Backend.NCCL:
        raise RuntimeError("Distributed package doesn't have NCCL built in")
    members = list(range(world.size())) if ranks is None else sorted(ranks)
    if len(members) > world.size():
        raise ValueError("the new group's world size should be less or equal to the world size set by "
                         "init_process_group")
    for r in members:
        if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r < world.size():
            raise ValueError(f"new_group(): rank {r!r} is not a rank of the default group (0..{world.size() - 1})")
    if len(set(members)) != len(members):
        raise ValueError(f"new_group(): ranks {list(ranks)} lists a rank twice")
    comm = world.comm.Create(world.comm.Get_group().Incl(members))  # collective over the default group
    if comm == mpi().COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    group = ProcessGroup(comm, members, Backend(backend) if backend is not None else world.backend)
    _State.groups.append(group)
    return group


def destroy_process_group(group=None) -> None:
    """Free ``group``'s communicator; with None, the default group and every sub-group (the process
    can call :func:`init_process_group` again; MPI itself stays initialized until exit).

    >>> import minidl.distributed as dist
    >>> dist.init_process_group()
    >>> dist.destroy_process_group()
    >>> dist.is_initialized()
    False
    """
    world = _world()
    if group is not None and group is not world:
        pg = resolve_group(group)
        if pg is not None and pg in _State.groups:
            _State.groups.remove(pg)
            pg.comm.Free()
        return
    for pg in _State.groups:
        pg.comm.Free()
    _State.groups = []
    world.comm.Free()
    GroupMember.WORLD = None
    if sys.excepthook is _abort_all_ranks:
        sys.excepthook = _State.previous_excepthook or sys.__excepthook__
    _State.previous_excepthook = None
