"""``md.distributed.optim`` (``torch.distributed.optim``): optimizers for data-parallel training.

``ZeroRedundancyOptimizer`` shards the optimizer state over the ranks (ZeRO stage 1).
"""
from .zero_redundancy_optimizer import ZeroRedundancyOptimizer

__all__ = ["ZeroRedundancyOptimizer"]
