"""``md.distributed`` (``torch.distributed`` under ``python -m minidl.run``): data-parallel
training's communication, over MPI through mpi4py (``pip install "minidl[distributed]"``).

Start N processes with MPI's launcher (``mpiexec -n N python script.py``, or the thin wrapper
``python -m minidl.distributed.run --nproc N script.py``); each calls ``init_process_group()``
and then the same collectives in the same order. Files, one concept each: ``mpi_library.py``
(is MPI installed, loading it), ``process_group.py`` (who takes part), ``collectives.py``
(all_reduce and friends), ``point_to_point.py`` (send/recv), ``work.py`` (async handles),
``object_collectives.py`` (pickled Python objects), ``tensor_buffers.py`` (tensors as MPI
buffers, ReduceOp), ``run.py`` (the launcher).

>>> import minidl as md, minidl.distributed as dist
>>> dist.init_process_group(backend="mpi")
>>> grad = md.tensor([0.5, -1.0])
>>> dist.all_reduce(grad, op=dist.ReduceOp.AVG)    # the mean gradient over the ranks
>>> dist.get_rank(), dist.get_world_size(), grad.tolist()
(0, 1, [0.5, -1.0])
>>> dist.destroy_process_group()
"""
from .mpi_library import is_available, is_gloo_available, is_mpi_available, is_nccl_available
from .process_group import (Backend, GroupMember, ProcessGroup, destroy_process_group, get_backend, get_global_rank,
                            get_group_rank, get_process_group_ranks, get_rank, get_world_size, init_process_group,
                            is_initialized, new_group)
from .tensor_buffers import ReduceOp
from .work import Work
from .collectives import (all_gather, all_gather_into_tensor, all_reduce, barrier, broadcast, gather, reduce,
                          reduce_scatter_tensor, scatter)
from .point_to_point import irecv, isend, recv, send
from .object_collectives import all_gather_object, broadcast_object_list, gather_object, scatter_object_list

__doctest_requires__ = ("mpi4py",)
