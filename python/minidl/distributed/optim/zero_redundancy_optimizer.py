"""``distributed.optim.ZeroRedundancyOptimizer``: ZeRO stage 1, the optimizer state sharded over the ranks.

Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"
(SC 2020). Under data parallelism every rank holds the same parameters, the same averaged
gradients and so would hold the same optimizer state: Adam's two moments are twice the
model's size, replicated N times. ZeRO-1 keeps each parameter's state on one rank only, its
*owner*: rank r steps only the parameters it owns, then broadcasts them, so every rank ends
the step with the same parameters as an unsharded optimizer would give them:

    for each rank r:  w[p] <- optimizer_step(w[p], grad[p], state[p])   for p owned by r
    for each rank r:  broadcast(w[p] for p owned by r, src = r)

Memory for the state: 1 / N of the unsharded one; traffic: one broadcast of the parameters
per step. Ownership as PyTorch assigns it: per parameter group, the parameters from the
largest to the smallest go to the rank with the fewest elements so far.
"""
from __future__ import annotations

import numpy as np

from ... import distributed as dist
from ...nn.parallel.coalesced import broadcast_coalesced
from ...optim.optimizer import Optimizer
from ...tensor import Tensor

__doctest_requires__ = ("mpi4py",)


class ZeroRedundancyOptimizer(Optimizer):
    """Wrap ``optimizer_class`` (any minidl optimizer: SGD, Adam, AdamW, LAMB, ...; built with
    ``**defaults``) so that each rank of ``process_group`` keeps and updates the state of its
    share of ``params`` only, and ``step()`` broadcasts each updated parameter from its owner.
    The result of ``step()`` on every rank equals that of ``optimizer_class(params, **defaults)``
    given the same (averaged) gradients. ``optim``: this rank's local optimizer;
    ``param_groups`` hold every parameter (an LR scheduler works on them as usual).

    ``state_dict()``: PyTorch's protocol: every rank calls ``consolidate_state_dict(to=r)``,
    then rank r's ``state_dict()`` returns the full state with global parameter indices (the
    dict an unsharded ``optimizer_class`` would give: it loads into one). ``load_state_dict``
    takes that full dict on every rank and keeps this rank's share. ``parameters_as_bucket_view``
    and ``overlap_with_ddp`` are PyTorch's memory and overlap options: only False is supported.

    >>> import minidl as md
    >>> import minidl.distributed as dist
    >>> from minidl.distributed.optim import ZeroRedundancyOptimizer
    >>> dist.init_process_group("mpi")
    >>> w = md.nn.Parameter(md.tensor([1.0, 2.0]))
    >>> opt = ZeroRedundancyOptimizer([w], optimizer_class=md.optim.SGD, lr=0.5)
    >>> w.grad = md.tensor([2.0, 2.0])
    >>> opt.step()                      # w - lr grad, stepped by its owner (rank 0) and broadcast
    >>> w
    Parameter containing:
    tensor([0.0000, 1.0000], requires_grad=True)
    >>> opt.consolidate_state_dict(to=0)
    >>> opt.state_dict()["param_groups"][0]["params"]
    [0]
    >>> dist.destroy_process_group()
    """

    def __init__(self, params, optimizer_class, process_group=None, parameters_as_bucket_view=False,
                 overlap_with_ddp=False, **defaults):
        if parameters_as_bucket_view or overlap_with_ddp:
            raise NotImplementedError("ZeroRedundancyOptimizer: parameters_as_bucket_view and overlap_with_ddp are "
                                      "not supported by minidl (leave them False)")
        if isinstance(params, Tensor):
            raise TypeError(f"`params` argument should be an iterable of Tensors, but got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError("ZeroRedundancyOptimizer got an empty parameter list")
        if not dist.is_initialized():
            raise RuntimeError("Default process group has not been initialized, please make sure to call "
                               "init_process_group.")
        super().__init__(params, defaults)
        self.process_group = process_group
        self.world_size = dist.get_world_size(process_group)
        self.rank = dist.get_rank(process_group)
        self._global_ranks = dist.get_process_group_ranks(process_group)  # broadcast's src is a global rank
        self._per_rank_groups = self._partition_parameters()
        self._all_params = [p for g in self.param_groups for p in g["params"]]
        self._param_to_rank = {id(p): r for r, groups in enumerate(self._per_rank_groups)
                               for g in groups for p in g["params"]}
        self._all_state_dicts = []
        self.optim = optimizer_class(self._per_rank_groups[self.rank], **defaults)

    def _partition_parameters(self):
        """For each rank, its parameter groups (same hyper-parameters, its share of the params)."""
        per_rank = [[] for _ in range(self.world_size)]
        sizes = [0] * self.world_size
        for group in self.param_groups:
            shares = [[] for _ in range(self.world_size)]
            for p in sorted(group["params"], key=lambda t: t.numel(), reverse=True):
                r = sizes.index(min(sizes))
                shares[r].append(p)
                sizes[r] += p.numel()
            for r in range(self.world_size):
                per_rank[r].append({**group, "params": shares[r]})
        return per_rank

    def _params_of_rank(self, rank: int) -> list:
        """The parameters ``rank`` owns (steps and broadcasts), in its groups' order."""
        return [p for g in self._per_rank_groups[rank] for p in g["params"]]

    def step(self, closure=None):
        """The local optimizer's step on this rank's parameters, then each rank's parameters
        broadcast from it (one coalesced broadcast per rank and dtype); returns the loss of
        ``closure`` (run by the local optimizer)."""
        # --8<-- [start:zero_step]
        _copy_hyperparameters(self.param_groups, self._per_rank_groups[self.rank], self.optim.param_groups)
        loss = self.optim.step(closure)
        for r in range(self.world_size):
            owned = self._params_of_rank(r)
            if owned:
                broadcast_coalesced(owned, self._global_ranks[r], self.process_group)
        return loss
        # --8<-- [end:zero_step]

    def consolidate_state_dict(self, to: int = 0) -> None:
        """Collective: rank ``to`` receives every rank's local optimizer state (tensors as
        buffers, one coalesced broadcast per rank; the rest, a small skeleton of keys, shapes
        and hyper-parameters, by ``broadcast_object_list``), for ``state_dict()`` to assemble there."""
        self._all_state_dicts = []
        for r in range(self.world_size):
            local = self.optim.state_dict() if r == self.rank else None
            skeleton, tensors = _split_tensors(local) if local is not None else (None, [])
            holder = [skeleton]
            dist.broadcast_object_list(holder, src=self._global_ranks[r], group=self.process_group)
            skeleton = holder[0]
            if r != self.rank:
                tensors = [Tensor._wrap(np.empty(shape, dtype=dt)) for shape, dt in skeleton["tensors"]]
            if tensors:
                broadcast_coalesced(tensors, self._global_ranks[r], self.process_group)
            if self.rank == to:
                self._all_state_dicts.append(_join_tensors(skeleton, tensors))

    def state_dict(self) -> dict:
        """The full state gathered by the last ``consolidate_state_dict(to=this rank)``, indexed
        as an unsharded optimizer over ``params`` would index it."""
        if not self._all_state_dicts:
            raise RuntimeError("Optimizer state has not been consolidated on this rank. Please call "
                               f"`consolidate_state_dict(to={self.rank})` on all ranks beforehand if you meant to "
                               "save the global state.")
        out = super().state_dict()
        index = {id(p): i for i, p in enumerate(self._all_params)}
        for local, groups in zip(self._all_state_dicts, self._per_rank_groups):
            for local_group, group in zip(local["param_groups"], groups):
                for local_i, p in zip(local_group["params"], group["params"]):
                    if local_i in local["state"]:
                        out["state"][index[id(p)]] = local["state"][local_i]
        out["state"] = dict(sorted(out["state"].items()))
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a full state dict (from ``state_dict()``, or an unsharded optimizer's) on every
        rank: this rank keeps the state of the parameters it owns; hyper-parameters go to all."""
        super().load_state_dict({"state": {}, "param_groups": state_dict["param_groups"]})
        owned = {}
        for i, s in state_dict["state"].items():
            p = self._all_params[int(i)]
            if self._param_to_rank[id(p)] == self.rank:
                owned[p] = s
        local_index = {id(p): i for i, p in enumerate(self._params_of_rank(self.rank))}
        local = {"state": {local_index[id(p)]: s for p, s in owned.items()},
                 "param_groups": [{**g, "params": [local_index[id(p)] for p in mine["params"]]}
                                  for g, mine in zip(self.optim.state_dict()["param_groups"],
                                                     self._per_rank_groups[self.rank])]}
        self.optim.load_state_dict(local)
        _copy_hyperparameters(self.param_groups, self._per_rank_groups[self.rank], self.optim.param_groups)


def _copy_hyperparameters(src_groups, *dst_lists):
    """lr, betas, ... of the exposed groups (what a scheduler changes) into the local ones."""
    for dst_groups in dst_lists:
        for src, dst in zip(src_groups, dst_groups):
            for k, v in src.items():
                if k != "params":
                    dst[k] = v


def _split_tensors(state_dict):
    """(skeleton, tensors): the state dict with each state tensor replaced by its position in
    ``tensors``; the skeleton's "tensors" lists their shapes and dtypes."""
    tensors, state = [], {}
    for i, s in state_dict["state"].items():
        state[i] = {}
        for k, v in s.items():
            if isinstance(v, Tensor):
                state[i][k] = ("__tensor__", len(tensors))
                tensors.append(v)
            else:
                state[i][k] = v
    return {"state": state, "param_groups": state_dict["param_groups"],
            "tensors": [(tuple(t._data.shape), t._data.dtype) for t in tensors]}, tensors


def _join_tensors(skeleton, tensors):
    state = {i: {k: (tensors[v[1]] if isinstance(v, tuple) and len(v) == 2 and v[0] == "__tensor__" else v)
                 for k, v in s.items()} for i, s in skeleton["state"].items()}
    return {"state": state, "param_groups": skeleton["param_groups"]}
