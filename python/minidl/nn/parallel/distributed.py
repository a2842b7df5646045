"""``nn.parallel.DistributedDataParallel``: data-parallel training over the ranks of an MPI job.

Every rank holds a full copy of the model and runs forward and backward on its own part of
the global batch; the gradients are averaged across the ranks during backward (see
``reducer.py`` for the buckets and the overlap), so every rank takes the same optimizer step
and the copies stay equal. With the loss a mean over each rank's B samples, the averaged
gradient is the gradient of the mean over all N x B samples: N ranks on batch B compute the
step one process computes on the concatenated batch.

    grad_p = (1 / N) sum_r grad_p(rank r) = d/dp [ (1 / (N B)) sum over all N B samples of loss ]

Checkpoints, written as a PyTorch program writes them: one rank writes, all read, so every
rank resumes from the same weights, optimizer state and step (tests/test_ddp.py checks that
the resumed run equals one that never stopped):

    if opt_is_zero: opt.consolidate_state_dict(to=0)   # ZeroRedundancyOptimizer: every rank calls it
    if dist.get_rank() == 0:                            # one writer; md.save is atomic (temp file + rename)
        md.save({"model": ddp.state_dict(), "optimizer": opt.state_dict(), "step": step}, path)
    dist.barrier()                                      # the file is complete before any rank reads it
    ckpt = md.load(path)                                # every rank
    ddp.load_state_dict(ckpt["model"]); opt.load_state_dict(ckpt["optimizer"]); step = ckpt["step"]
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ... import distributed as dist
from ...graph.grad_mode import is_grad_enabled
from ...tensor import Tensor
from ..module import Module
from .coalesced import broadcast_coalesced
from .reducer import FIRST_BUCKET_BYTES, Reducer

__doctest_requires__ = ("mpi4py",)


class DistributedDataParallel(Module):
    """Wrap ``module`` so that backward averages its gradients over the ranks of
    ``process_group`` (default: all ranks of ``md.distributed.init_process_group``).

    At construction: the parameter shapes are compared across ranks (a RuntimeError names the
    first parameter that differs and its shape on each rank), then every parameter and buffer
    gets the values of the group's rank 0 (``init_sync=True``). Gradients: buckets of about
    ``bucket_cap_mb`` MB (default None: 25, with a first bucket of 1 MB, as PyTorch), in reverse
    order of registration, each all-reduced asynchronously as soon as its last gradient is
    accumulated (``reducer.py``); all are
    waited for before ``backward()`` returns, which leaves in every ``p.grad``
    (1 / world_size) * sum over ranks of the rank's gradient. Shapes: whatever ``module``
    takes and returns; the batch dimension is each rank's own share.

    ``no_sync()``: a context in which backward accumulates gradients locally only (the next
    backward outside it averages the accumulated sum). ``find_unused_parameters=True``: the
    parameters the forward's outputs do not depend on are found by walking the autograd graph
    and count as ready (a parameter no rank used keeps its ``.grad``); without it, a parameter
    that gets no gradient leaves the reduction unfinished and the next forward raises
    PyTorch's error. ``broadcast_buffers=True``: buffers (BatchNorm's running statistics) get
    rank 0's values at every forward. ``module``: the wrapped module; ``state_dict()`` keys
    are the module's prefixed with ``module.``, as PyTorch's.
    ``gradient_as_bucket_view`` and ``static_graph`` are accepted and change nothing here
    (results are the same; gradients are copied out of the buckets). ``device_ids`` and
    ``output_device`` must be None (CPU modules).

    One process (the example runs without mpiexec; under ``mpiexec -n 2`` the same lines
    average the two ranks' gradients):

    >>> import minidl as md
    >>> import minidl.distributed as dist
    >>> from minidl import nn
    >>> dist.init_process_group("mpi")
    >>> model = nn.parallel.DistributedDataParallel(nn.Linear(2, 1))
    >>> model
    DistributedDataParallel(
      (module): Linear(in_features=2, out_features=1, bias=True)
    )
    >>> model(md.ones(4, 2)).sum().backward()
    >>> model.module.bias.grad                      # d/db of 4 outputs, averaged over 1 rank
    tensor([4.0000])
    >>> list(model.state_dict())
    ['module.weight', 'module.bias']
    >>> dist.destroy_process_group()
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got {type(module).__name__}")
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel device_ids and output_device arguments only work with "
                             "single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                             f"{device_ids}, output_device {output_device}, and module parameters on cpu: "
                             "leave both None for a CPU module")
        first_bucket_bytes = FIRST_BUCKET_BYTES if bucket_cap_mb is None else None  # as PyTorch: default cap only
        if bucket_cap_mb is None:
            bucket_cap_mb = 25.0
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        if not dist.is_initialized():
            raise RuntimeError("Default process group has not been initialized, please make sure to call "
                               "init_process_group.")
        self.module = module
        self.process_group = process_group
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view, self.static_graph = gradient_as_bucket_view, static_graph
        self.bucket_bytes_cap = int(bucket_cap_mb * 1024 * 1024)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        _verify_same_shapes(named, process_group)
        self.modules_buffers = [b for _, b in module.named_buffers()]
        self._authoritative = dist.get_process_group_ranks(process_group)[0]  # global rank of group rank 0
        if init_sync:
            broadcast_coalesced([p for _, p in module.named_parameters()] + self.modules_buffers, self._authoritative,
                                process_group)
        object.__setattr__(self, "reducer", Reducer(
            [p for _, p in named], [n for n, _ in named], process_group, bucket_cap_mb, find_unused_parameters,
            dist.get_world_size(process_group), dist.get_rank(process_group), first_bucket_bytes))

    # --8<-- [start:ddp_forward]
    def forward(self, *inputs, **kwargs):
        sync_grads = is_grad_enabled() and self.require_backward_grad_sync
        if self.require_forward_param_sync and self.broadcast_buffers and self.modules_buffers:
            broadcast_coalesced(self.modules_buffers, self._authoritative, self.process_group)
        output = self.module(*inputs, **kwargs)
        if sync_grads:
            self.require_forward_param_sync = True
            self.reducer.prepare_for_backward(output)
        else:
            self.require_forward_param_sync = False
        return output
    # --8<-- [end:ddp_forward]

    @contextmanager
    def no_sync(self):
        """Within this context backward does not average gradients: they accumulate in ``.grad``
        on each rank; the first forward-backward outside it averages the accumulated sums.

        >>> import minidl as md
        >>> import minidl.distributed as dist
        >>> from minidl import nn
        >>> dist.init_process_group("mpi")
        >>> model = nn.parallel.DistributedDataParallel(nn.Linear(1, 1))
        >>> with model.no_sync():
        ...     model(md.ones(1, 1)).sum().backward()     # local only
        >>> model(md.ones(1, 1)).sum().backward()         # accumulated 2, then averaged
        >>> model.module.bias.grad
        tensor([2.0000])
        >>> dist.destroy_process_group()
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old


def _verify_same_shapes(named, group):
    """Raise on every rank if some rank's parameter count or shapes differ from rank 0's.

    Each rank encodes [count, then ndim and sizes per parameter] as int64; the encodings
    (padded to the longest) are all-gathered, so every rank sees every rank's shapes."""
    code = [len(named)]
    for _, p in named:
        code += [p._data.ndim, *p._data.shape]
    n = Tensor._wrap(np.array([len(code)], dtype=np.int64))
    dist.all_reduce(n, op=dist.ReduceOp.MAX, group=group)
    world = dist.get_world_size(group)
    mine = np.full(int(n._data[0]), -1, dtype=np.int64)
    mine[:len(code)] = code
    everyone = np.zeros(world * mine.size, dtype=np.int64)
    dist.all_gather_into_tensor(Tensor._wrap(everyone), Tensor._wrap(mine), group=group)
    shapes = [_decode(row) for row in everyone.reshape(world, mine.size)]
    for r, theirs in enumerate(shapes[1:], start=1):
        if len(theirs) != len(shapes[0]):
            raise RuntimeError(f"DDP expects same model across all ranks, but Rank {r} has {len(theirs)} params, "
                               f"while rank 0 has inconsistent {len(shapes[0])} params.")
    for i, (name, _) in enumerate(named):
        ranks = [s[i] for s in shapes]
        if any(s != ranks[0] for s in ranks):
            detail = ", ".join(f"{list(s)} on rank {r}" for r, s in enumerate(ranks))
            raise RuntimeError(f"DDP expects same model across all ranks, but parameter '{name}' (params[{i}]) has "
                               f"different shapes: {detail}")


def _decode(row):
    count, k, shapes = int(row[0]), 1, []
    for _ in range(count):
        nd = int(row[k])
        shapes.append(tuple(int(v) for v in row[k + 1:k + 1 + nd]))
        k += 1 + nd
    return shapes
