"""A PyTorch data-parallel program as a PyTorch user writes it (gloo backend, env:// init):
run on minidl with ``python -m minidl.distributed.run --nproc 2 --torch``; it prints one line
per rank that the test reads."""
import os

import torch
import torch.distributed as dist

assert dist.is_available()
dist.init_process_group(backend="gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
# what torchrun sets and such programs read (python -m minidl.distributed.run sets them too)
assert (int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])) == (rank, world)
assert int(os.environ["LOCAL_RANK"]) == rank and int(os.environ["LOCAL_WORLD_SIZE"]) == world  # one machine
grad = torch.full((3,), float(rank + 1))
dist.all_reduce(grad, op=dist.ReduceOp.SUM)
grad /= world
print(f"rank {rank} of {world}: backend {dist.get_backend()}, library {torch.__name__}, "
      f"mean grad {grad.tolist()}", flush=True)
dist.destroy_process_group()
