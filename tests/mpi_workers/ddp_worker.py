"""The checks of tests/test_ddp.py, run on every rank of one MPI launch:

    mpiexec -n 2 python tests/mpi_workers/ddp_worker.py OUT_DIR [CHECK ...]

Each rank runs each check and writes OUT_DIR/rank<r>.json: {check: "ok" or the error}. The
reference of the equivalence checks is one process (this one, alone) training the same model,
from rank 0's initial weights, on the concatenation of all ranks' batches, in float64.
Each rank's model starts from weights of its own seed: DDP's broadcast must replace them.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback

import numpy as np

import minidl as md
import minidl.distributed as dist
import minidl.nn.functional as F
from minidl import nn
from minidl.distributed.optim import ZeroRedundancyOptimizer
from minidl.nn.parallel import DistributedDataParallel as DDP

B, D_IN, D_OUT, STEPS = 4, 6, 3, 3  # per-rank batch, sizes, optimizer steps


def batches(step, world, d_in=D_IN, shape=None, rank=None):
    """The global batch of ``step`` (the same on every rank) and this rank's slice of it."""
    rng = np.random.default_rng(1000 + step)
    x = rng.standard_normal((world * B,) + (shape or (d_in,)))
    y = rng.standard_normal((world * B, D_OUT))
    r = dist.get_rank() if rank is None else rank
    return md.tensor(x), md.tensor(y), md.tensor(x[r * B:(r + 1) * B]), md.tensor(y[r * B:(r + 1) * B])


def mlp(seed):
    md.manual_seed(seed)
    return nn.Sequential(nn.Linear(D_IN, 8), nn.Tanh(), nn.Linear(8, D_OUT)).double()


def twin(ddp, make):
    """A single-process copy of the DDP model's (broadcast) weights and buffers."""
    ref = make(12345)
    ref.load_state_dict({k[len("module."):]: v.clone() for k, v in ddp.state_dict().items()})
    return ref


def assert_same_params(model, ref, rtol=1e-6, what="parameter"):
    for (name, p), (_, q) in zip(model.state_dict().items(), ref.state_dict().items()):
        np.testing.assert_allclose(p.numpy().astype(np.float64), q.numpy().astype(np.float64), rtol=rtol, atol=1e-9,
                                   err_msg=f"{what} {name} differs from the single-process run")


def equivalence(optimizer, make=mlp, steps=STEPS, **ddp_args):
    world = dist.get_world_size()
    model = DDP(make(100 + dist.get_rank()), **ddp_args)
    ref = twin(model, make)
    opt, opt_ref = optimizer(model.parameters()), optimizer(ref.parameters())
    for step in range(steps):
        x, y, xr, yr = batches(step, world)
        opt.zero_grad()
        F.mse_loss(model(xr), yr).backward()
        opt.step()
        opt_ref.zero_grad()
        F.mse_loss(ref(x), y).backward()
        opt_ref.step()
    assert_same_params(model.module, ref)
    return model, ref


def check_broadcast_at_construction():
    model = DDP(mlp(100 + dist.get_rank()))
    mine = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    everyone = md.zeros(dist.get_world_size() * mine.size, dtype=md.float64)
    dist.all_gather_into_tensor(everyone, md.tensor(mine))
    rows = everyone.numpy().reshape(dist.get_world_size(), -1)
    assert all(np.array_equal(rows[0], row) for row in rows), "ranks hold different weights after construction"
    assert list(model.state_dict())[:2] == ["module.0.weight", "module.0.bias"], list(model.state_dict())
    assert isinstance(model.module, nn.Sequential)


def check_sgd_equivalence():
    equivalence(lambda ps: md.optim.SGD(ps, lr=0.1, momentum=0.9))


def check_adamw_equivalence():
    equivalence(lambda ps: md.optim.AdamW(ps, lr=0.01, weight_decay=0.1))


def check_small_buckets_equivalence():
    model, _ = equivalence(lambda ps: md.optim.SGD(ps, lr=0.1), bucket_cap_mb=1e-5)
    assert len(model.reducer.buckets) >= 2, [b.indices for b in model.reducer.buckets]


def conv_bn_net(seed):
    md.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 5 * 5, D_OUT), nn.BatchNorm1d(D_OUT, affine=False, momentum=None)).double()


def check_syncbn_equivalence():
    """SyncBatchNorm on N ranks = BatchNorm on the whole batch: parameters and running stats."""
    world = dist.get_world_size()
    model = DDP(nn.SyncBatchNorm.convert_sync_batchnorm(conv_bn_net(100 + dist.get_rank())))
    assert isinstance(model.module[1], nn.SyncBatchNorm)
    ref = twin(model, conv_bn_net)
    opt, opt_ref = md.optim.SGD(model.parameters(), lr=0.1), md.optim.SGD(ref.parameters(), lr=0.1)
    for step in range(STEPS):
        x, y, xr, yr = batches(step, world, shape=(2, 5, 5))
        opt.zero_grad()
        out = model(xr)
        F.mse_loss(out, yr).backward()
        opt.step()
        opt_ref.zero_grad()
        out_ref = ref(x)
        F.mse_loss(out_ref, y).backward()
        opt_ref.step()
        r = dist.get_rank()
        np.testing.assert_allclose(out.detach().numpy(), out_ref.detach().numpy()[r * B:(r + 1) * B], rtol=1e-6,
                                   atol=1e-9, err_msg="SyncBatchNorm forward differs from BatchNorm on the whole batch")
    assert_same_params(model.module, ref)  # state_dict: running_mean, running_var, num_batches_tracked too
    model.eval()
    np.testing.assert_allclose(model(xr).detach().numpy(), ref.eval()(xr).detach().numpy(), rtol=1e-6, atol=1e-9)


def check_no_sync_accumulation():
    """2 micro-batches under no_sync + 1 synchronised = one process accumulating 3 global micro-batches."""
    world = dist.get_world_size()
    model = DDP(mlp(100 + dist.get_rank()))
    ref = twin(model, mlp)
    opt, opt_ref = md.optim.SGD(model.parameters(), lr=0.05), md.optim.SGD(ref.parameters(), lr=0.05)
    for step in range(2):
        opt.zero_grad()
        opt_ref.zero_grad()
        for micro in range(3):
            x, y, xr, yr = batches(10 * step + micro, world)
            if micro < 2:
                with model.no_sync():
                    F.mse_loss(model(xr), yr).backward()
            else:
                F.mse_loss(model(xr), yr).backward()
            F.mse_loss(ref(x), y).backward()
        opt.step()
        opt_ref.step()
    assert_same_params(model.module, ref)


class Branchy(nn.Module):
    """``extra`` is used by the samples of rank 0 only; ``never`` by no rank."""

    def __init__(self, seed):
        super().__init__()
        md.manual_seed(seed)
        self.body = nn.Linear(D_IN, D_OUT).double()
        self.extra = nn.Linear(D_IN, D_OUT).double()
        self.never = nn.Linear(D_IN, D_OUT).double()

    def forward(self, x, use_extra):
        out = self.body(x)
        return out + self.extra(x) if use_extra else out


def check_unused_parameters():
    world = dist.get_world_size()
    model = DDP(Branchy(100 + dist.get_rank()), find_unused_parameters=True)
    ref = twin(model, Branchy)
    opt, opt_ref = md.optim.SGD(model.parameters(), lr=0.1), md.optim.SGD(ref.parameters(), lr=0.1)
    for step in range(STEPS):
        x, y, xr, yr = batches(step, world)
        opt.zero_grad()
        F.mse_loss(model(xr, use_extra=dist.get_rank() == 0), yr).backward()
        opt.step()
        opt_ref.zero_grad()  # the whole batch: rank 0's samples through extra, the others not
        loss = sum(F.mse_loss(ref(x[r * B:(r + 1) * B], use_extra=r == 0), y[r * B:(r + 1) * B])
                   for r in range(world)) / world
        loss.backward()
        opt_ref.step()
    assert model.module.never.weight.grad is None and ref.never.weight.grad is None
    assert model.module.extra.weight.grad is not None  # averaged in, on rank 1 too
    assert_same_params(model.module, ref)


def check_unused_parameters_without_flag_raises():
    model = DDP(Branchy(7))
    x, y, xr, yr = batches(0, dist.get_world_size())
    F.mse_loss(model(xr, use_extra=True), yr).backward()  # `never` gets no gradient
    try:
        model(xr, use_extra=True)
    except RuntimeError as e:
        msg = str(e)
        assert "Expected to have finished reduction in the prior iteration" in msg, msg
        assert "find_unused_parameters=True" in msg and "never.weight" in msg, msg
    else:
        raise AssertionError("no error for a parameter that got no gradient")


def check_overlap():
    """The first bucket's all-reduce is issued before the first layer's gradients exist."""
    md.manual_seed(0)
    net = nn.Sequential(nn.Linear(512, 512), nn.Tanh(), nn.Linear(512, 512), nn.Tanh(), nn.Linear(512, 512))
    model = DDP(net, bucket_cap_mb=1)
    assert len(model.reducer.buckets) == 3, [b.indices for b in model.reducer.buckets]
    events = model.reducer.events = []
    x = md.randn(2, 512, requires_grad=True)
    x.register_hook(lambda g: events.append(("input grad", None)))  # the last gradient backward computes
    model(x).sum().backward()
    where = {e: i for i, e in enumerate(events)}
    assert where[("launch", 0)] < where[("ready", "0.weight")], events
    assert where[("launch", 1)] < where[("ready", "0.weight")], events
    assert where[("launch", 2)] < where[("finalized", None)] < where[("input grad", None)], events


def check_shape_mismatch_raises():
    rank = dist.get_rank()
    try:
        DDP(nn.Sequential(nn.Linear(4, 3 if rank == 0 else 5)))
    except RuntimeError as e:
        msg = str(e)
        assert "'0.weight'" in msg and "[3, 4] on rank 0" in msg and "[5, 4] on rank 1" in msg, msg
    else:
        raise AssertionError("no error for different parameter shapes")
    try:
        DDP(nn.Sequential(*[nn.Linear(4, 4) for _ in range(1 + (rank == 1))]))
    except RuntimeError as e:
        assert "Rank 1 has 4 params, while rank 0 has inconsistent 2 params" in str(e), str(e)
    else:
        raise AssertionError("no error for different parameter counts")


def check_broadcast_buffers():
    model = DDP(conv_bn_net(3))
    if dist.get_rank() == 1:
        model.module[1].running_mean.fill_(5.0)
    model.eval()
    model(md.zeros(1, 2, 5, 5, dtype=md.float64))
    assert float(model.module[1].running_mean.abs().max()) == 0.0, model.module[1].running_mean


def sync_net(seed):
    return nn.SyncBatchNorm.convert_sync_batchnorm(conv_bn_net(seed))


def zero_equivalence(optimizer_class, **kwargs):
    world = dist.get_world_size()
    model = DDP(sync_net(100 + dist.get_rank()))
    ref = twin(model, conv_bn_net)
    opt = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=optimizer_class, **kwargs)
    opt_ref = optimizer_class(ref.parameters(), **kwargs)
    for step in range(STEPS):
        x, y, xr, yr = batches(step, world, shape=(2, 5, 5))
        opt.zero_grad()
        F.mse_loss(model(xr), yr).backward()
        opt.step()
        opt_ref.zero_grad()
        F.mse_loss(ref(x), y).backward()
        opt_ref.step()
    assert_same_params(model.module, ref)
    n_params = len(list(model.parameters()))
    assert 0 < len(opt.optim.state) < n_params, f"rank holds state of {len(opt.optim.state)} of {n_params} params"
    opt.consolidate_state_dict(to=0)
    if dist.get_rank() == 0:
        full, want = opt.state_dict(), opt_ref.state_dict()
        assert sorted(full["state"]) == sorted(want["state"]) == list(range(n_params))
        for i in want["state"]:
            for k, v in want["state"][i].items():
                np.testing.assert_allclose(np.asarray(full["state"][i][k].numpy(), dtype=np.float64),
                                           np.asarray(v.numpy(), dtype=np.float64), rtol=1e-6, atol=1e-12)
    else:
        try:
            opt.state_dict()
        except RuntimeError as e:
            assert "consolidate_state_dict(to=" in str(e), str(e)
        else:
            raise AssertionError("state_dict() without consolidation did not raise")


def check_zero_adam():
    zero_equivalence(md.optim.Adam, lr=0.01)


def check_zero_lamb():
    zero_equivalence(md.optim.LAMB, lr=0.01, weight_decay=0.01)


def check_process_group_subset():
    """DDP and ZeRO on a sub-group of global ranks 1 and 2 (3-rank launch): rank 0 is not in it."""
    members = [1, 2] if dist.get_world_size() >= 3 else [0, 1]
    group = dist.new_group(members)
    if dist.get_rank() not in members:
        return
    rank, world = dist.get_rank(group), 2
    model = DDP(mlp(100 + dist.get_rank()), process_group=group, bucket_cap_mb=1e-4)
    ref = twin(model, mlp)
    opt = ZeroRedundancyOptimizer(model.parameters(), md.optim.Adam, process_group=group, lr=0.01)
    opt_ref = md.optim.Adam(ref.parameters(), lr=0.01)
    for step in range(STEPS):
        x, y, xr, yr = batches(step, world, rank=rank)
        opt.zero_grad()
        F.mse_loss(model(xr), yr).backward()
        opt.step()
        opt_ref.zero_grad()
        F.mse_loss(ref(x), y).backward()
        opt_ref.step()
    assert_same_params(model.module, ref)


def check_checkpoint_resume():
    """Rank 0 saves model, optimizer and step; barrier; every rank loads and goes on: the same
    parameters as a run that never stopped (SGD momentum and a ZeRO Adam state both resumed)."""
    world = dist.get_world_size()
    holder = [tempfile.mkdtemp(prefix="ddp_ckpt_") if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(holder, src=0)  # rank 0's folder
    path = holder[0]

    def build(seed):
        model = DDP(sync_net(seed))
        return model, md.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), \
            ZeroRedundancyOptimizer(model.parameters(), md.optim.Adam, lr=0.01)

    def train(model, sgd, adam, steps):
        for step in steps:
            x, y, xr, yr = batches(step, world, shape=(2, 5, 5))
            opt = sgd if step % 2 else adam
            opt.zero_grad()
            F.mse_loss(model(xr), yr).backward()
            opt.step()

    first = build(200 + dist.get_rank())
    train(*first, range(2))
    first[2].consolidate_state_dict(to=0)
    if dist.get_rank() == 0:
        md.save({"model": first[0].state_dict(), "sgd": first[1].state_dict(), "zero": first[2].state_dict(),
                 "step": 2}, os.path.join(path, "ckpt.pt"))
    dist.barrier()  # the file is complete before any rank reads it
    resumed = build(300 + dist.get_rank())  # other initial weights: all must come from the checkpoint
    ckpt = md.load(os.path.join(path, "ckpt.pt"))
    dist.barrier()  # every rank has read it
    if dist.get_rank() == 0:
        shutil.rmtree(path)
    resumed[0].load_state_dict(ckpt["model"])
    resumed[1].load_state_dict(ckpt["sgd"])
    resumed[2].load_state_dict(ckpt["zero"])
    train(*resumed, range(ckpt["step"], 4))
    straight = build(200 + dist.get_rank())
    train(*straight, range(4))
    assert_same_params(resumed[0].module, straight[0].module, what="resumed")


CHECKS = {name[len("check_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("check_")}


def main():
    out_dir, wanted = sys.argv[1], sys.argv[2:] or list(CHECKS)
    dist.init_process_group("mpi")
    results = {}
    for name in wanted:
        try:
            CHECKS[name]()
            results[name] = "ok"
        except Exception:  # noqa: BLE001 - reported to pytest, which fails the check's test
            results[name] = traceback.format_exc()
        dist.barrier()
    with open(os.path.join(out_dir, f"rank{dist.get_rank()}.json"), "w") as f:
        json.dump(results, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
