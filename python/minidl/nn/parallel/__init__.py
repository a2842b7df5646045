"""``md.nn.parallel`` (``torch.nn.parallel``): ``DistributedDataParallel``.

Files: ``distributed.py`` (the module wrapper: construction checks, broadcasts, forward,
``no_sync``), ``reducer.py`` (gradient buckets averaged during backward), ``coalesced.py``
(collectives over many tensors packed into one buffer).
"""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
