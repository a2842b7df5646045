"""A PyTorch data-parallel training program, written as a PyTorch user writes it: gloo backend,
env:// init, DistributedSampler, DistributedDataParallel with gradient accumulation under
no_sync(), ZeroRedundancyOptimizer(AdamW), the loss averaged over the ranks for the log.

tests/test_ddp.py runs it twice on 2 processes: on PyTorch (the test sets RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT) and on minidl (``python -m minidl.distributed.run --nproc 2
--torch``), and compares the ``loss`` lines rank 0 prints. The weights and the data come from
NumPy with a fixed seed, so both libraries start from the same numbers.
"""
import contextlib

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

ACCUMULATE = 2  # micro-batches per optimizer step


def main():
    dist.init_process_group("gloo", init_method="env://")
    torch.set_num_threads(1)
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    data = TensorDataset(torch.tensor(rng.standard_normal((64, 8)), dtype=torch.float32),
                         torch.tensor(rng.integers(0, 3, 64)))
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.3, dtype=torch.float32))
    ddp = DDP(model, bucket_cap_mb=1e-4)  # tiny buckets: one per parameter
    opt = ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=torch.optim.AdamW, lr=0.05)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=False)
    loader = DataLoader(data, batch_size=8, sampler=sampler)
    step = 0
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for i, (x, y) in enumerate(loader):
            last_micro = (i + 1) % ACCUMULATE == 0
            with contextlib.nullcontext() if last_micro else ddp.no_sync():
                loss = F.cross_entropy(ddp(x), y) / ACCUMULATE
                loss.backward()
            if last_micro:
                opt.step()
                opt.zero_grad()
                mean = loss.detach().clone()
                dist.all_reduce(mean, op=dist.ReduceOp.SUM)  # gloo has no AVG
                if rank == 0:
                    print(f"step {step} loss {mean.item() / world:.6f}", flush=True)
                step += 1
    weights = torch.cat([p.detach().reshape(-1) for p in ddp.module.parameters()])
    if rank == 0:
        print(f"weights {weights.abs().sum().item():.6f} on {world} ranks, library {torch.__name__}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
