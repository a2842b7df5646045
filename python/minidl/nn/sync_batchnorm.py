"""``nn.SyncBatchNorm``: batch normalization whose statistics cover the global batch of all ranks.

Under DistributedDataParallel each rank sees only its B samples; a plain BatchNorm would
normalise with the statistics of B samples, not of the N x B the model is trained on (and
small per-rank batches make those statistics noisy). SyncBatchNorm combines the ranks'
statistics in forward and the matching sums in backward, so N ranks compute what one
process computes with BatchNorm on the whole batch.

Forward, per channel c: every rank computes its count n_r, mean m_r and sum of squared
deviations M2_r; these are all-gathered and combined (Chan et al.'s parallel variance, as
PyTorch's ``batch_norm_gather_stats_with_counts``, stable where sum(x^2) - n mean^2 is not):
    n = sum n_r,   mean = sum n_r m_r / n,   M2 = sum [M2_r + n_r (m_r - mean)^2],   var = M2 / n
    y = (x - mean) / sqrt(var + eps) * weight + bias
    running_var <- (1 - momentum) running_var + momentum * M2 / (n - 1)      (unbiased)
Backward (xhat = (x - mean) invstd): the two per-channel sums of dx are all-reduced,
    S1 = sum over all ranks of dy,   S2 = sum over all ranks of dy xhat
    dx = invstd weight (dy - S1 / n - xhat S2 / n),  dweight = sum_local dy xhat,  dbias = sum_local dy
(dweight and dbias stay local: DistributedDataParallel averages them with the other gradients.)
In eval mode, or without an initialised process group of more than one rank, it is BatchNorm.
Where PyTorch differs: its SyncBatchNorm refuses CPU tensors ("SyncBatchNorm expected input
tensor to be on GPU ..."); minidl's is a CPU implementation over MPI.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from .. import distributed as dist
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import result
from ..ops.inplace import write
from ..tensor import Tensor
from .batchnorm import _BatchNorm, _compute_dtype

__doctest_requires__ = ("mpi4py",)


class SyncBatchNormBackward(Node):
    __slots__ = ()

    def apply(self, g):
        x, w, mean, invstd, count, dtypes, group = self.get_saved()
        if g.dtype != x.dtype:
            g = A.cast(g, x.dtype)
        gx0, gw, gb = _C.batch_norm_backward(g, x, w, mean, invstd, False, self.next[0] is not None, True, True)
        gx = None
        if self.next[0] is not None:
            sums = Tensor._wrap(np.concatenate([gb, gw]).astype(np.float64))
            dist.all_reduce(sums, op=dist.ReduceOp.SUM, group=group)
            C = mean.size
            per_channel = (1, C) + (1,) * (x.ndim - 2)
            s1 = (sums._data[:C] / count).reshape(per_channel)
            s2 = (sums._data[C:] / count).reshape(per_channel)
            scale = invstd if w is None else invstd * w
            xhat = (x - mean.reshape(per_channel)) * invstd.reshape(per_channel)
            gx = (gx0 - scale.reshape(per_channel) * (s1 + xhat * s2)).astype(x.dtype, copy=False)
        out = []
        for grad, dt, wanted in zip((gx, gw, gb), dtypes, (True, self.next[1] is not None, self.next[2] is not None)):
            if grad is None or not wanted:
                out.append(None)
            else:
                out.append(A.cast(grad, dt) if grad.dtype != dt else grad)
        return tuple(out)


def _global_statistics(x: np.ndarray, group):
    """(count n, mean (C,), biased var (C,)) over the channel-1 values of every rank, float64."""
    C = x.shape[1]
    n_local = x.size // C if C else 0
    if n_local:  # the C++ reductions (two-pass variance) of the compute dtype, widened for the combine
        dims = (0,) + tuple(range(2, x.ndim))
        mean_local = A.reduce(A.R_SUM, x, dims, False, 1.0 / n_local).astype(np.float64)
        m2_local = A.variance(x, dims, False, 0.0).astype(np.float64) * n_local
    else:
        mean_local = m2_local = np.zeros(C)
    mine = np.concatenate([[float(n_local)], mean_local, m2_local])
    world = dist.get_world_size(group)
    everyone = np.zeros(world * mine.size)
    dist.all_gather_into_tensor(Tensor._wrap(everyone), Tensor._wrap(mine), group=group)
    # --8<-- [start:syncbn_combine]
    table = everyone.reshape(world, mine.size)
    counts, means, m2s = table[:, 0], table[:, 1:C + 1], table[:, C + 1:]
    n = counts.sum()
    if n <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(x.shape)} "
                         f"and {int(n)} values per channel over all ranks")
    mean = (counts[:, None] * means).sum(0) / n
    m2 = (m2s + counts[:, None] * (means - mean) ** 2).sum(0)
    return n, mean, m2 / n
    # --8<-- [end:syncbn_combine]


def sync_batch_norm(input: Tensor, running_mean, running_var, weight, bias, momentum: float, eps: float,
                    group=None) -> Tensor:
    """Training-mode batch norm of (N, C, *) ``input`` with the statistics of every rank's
    batch (module docstring for the formulas); updates ``running_mean`` / ``running_var``
    (C,) in place when given. Shapes as ``F.batch_norm``. Needs an initialised process group.

    >>> import minidl as md
    >>> import minidl.distributed as dist
    >>> from minidl.nn.sync_batchnorm import sync_batch_norm
    >>> dist.init_process_group("mpi")                 # one rank: plain batch statistics
    >>> sync_batch_norm(md.tensor([[1.0], [3.0]]), None, None, None, None, 0.1, 1e-5)
    tensor([[-1.0000],
            [ 1.0000]])
    >>> dist.destroy_process_group()
    """
    d = input._data
    if d.ndim < 2:
        raise ValueError(f"expected at least 2D input (got {d.ndim}D input)")
    cdt = _compute_dtype(d)
    x = np.ascontiguousarray(d if d.dtype == cdt else A.cast(d, cdt))
    n, mean, var = _global_statistics(x, group)
    w = None if weight is None else (weight._data if weight._data.dtype == cdt else A.cast(weight._data, cdt))
    b = None if bias is None else (bias._data if bias._data.dtype == cdt else A.cast(bias._data, cdt))
    y, mean_c, invstd, _ = _C.batch_norm(x, w, b, mean.astype(cdt), var.astype(cdt), False, 0.0, float(eps))
    if running_mean is not None:
        m = float(momentum)
        for buf, stat in ((running_mean, mean), (running_var, var * n / (n - 1))):  # unbiased var, as BatchNorm
            write(buf, ((1 - m) * buf._data.astype(np.float64) + m * stat).astype(buf._data.dtype))
    if y.dtype != d.dtype:
        y = A.cast(y, d.dtype)
    dtypes = (d.dtype, None if weight is None else weight._data.dtype, None if bias is None else bias._data.dtype)
    return result(y, SyncBatchNormBackward, (input, weight, bias), (x, w, mean_c, invstd, n, dtypes, group))


class SyncBatchNorm(_BatchNorm):
    """Batch norm of (N, C, *) input whose training statistics are those of the whole global
    batch, across the ranks of ``process_group`` (default: all): see the module docstring for
    forward and backward. Same parameters, buffers and arguments as ``BatchNorm1d/2d``, plus
    ``process_group``. Falls back to ``F.batch_norm`` in eval mode and when no process group
    of more than one rank is initialised (so a single process runs it as BatchNorm).
    ``SyncBatchNorm.convert_sync_batchnorm(module)`` replaces every BatchNorm of a model.

    >>> import minidl as md
    >>> from minidl import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    >>> net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    >>> net[1]
    SyncBatchNorm(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    >>> net(md.randn(4, 1, 5, 5)).shape       # no process group: BatchNorm on this batch
    minidl.Size([4, 2, 3, 3])
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        need_sync = self.training and dist.is_initialized() and dist.get_world_size(self.process_group) > 1
        if not need_sync:
            return super().forward(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"SyncBatchNorm: expected input with {self.num_features} channels (num_features), "
                               f"got input of shape {list(input.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._data[...] = self.num_batches_tracked._data + 1  # as _BatchNorm.forward
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked._data)
        running = self.track_running_stats and self.running_mean is not None
        return sync_batch_norm(input, self.running_mean if running else None, self.running_var if running else None,
                               self.weight, self.bias, factor, self.eps, self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """Return ``module`` with every BatchNorm1d/2d (at any depth) replaced by a
        SyncBatchNorm holding the same parameters and buffers (the same tensors) and the
        same training flag; a BatchNorm given directly is replaced and returned.

        >>> from minidl import nn
        >>> nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3, momentum=0.5))
        SyncBatchNorm(3, eps=1e-05, momentum=0.5, affine=True, track_running_stats=True)
        """
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group)
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out

