"""``DistributedSampler``: each of ``num_replicas`` processes (ranks) gets its own equal share
of the dataset, as PyTorch's ``torch.utils.data.distributed``."""
from __future__ import annotations

import math

from ... import distributed as dist
from ._utils.rng import randperm, seeded_generator
from .sampler import Sampler


class DistributedSampler(Sampler):
    """The indices of rank ``rank`` out of ``num_replicas``, so that the ranks together cover
    the dataset once per epoch in equal shares. PyTorch's steps:

    1. indices = ``randperm(n)`` from a generator seeded with ``seed + epoch`` (the same on
       every rank; ``shuffle=False``: 0 .. n-1);
    2. make the length a multiple of num_replicas: without ``drop_last``, pad with the first
       indices again (wrapping round as often as needed) up to
       total = ceil(n / num_replicas) * num_replicas; with ``drop_last``, cut the tail down to
       ceil((n - num_replicas) / num_replicas) * num_replicas;
    3. rank r takes indices[r :: num_replicas] (len = total / num_replicas).

    Call ``set_epoch(epoch)`` before each epoch for a new order. ``num_replicas`` and ``rank``
    left out come from the default process group (``md.distributed.get_world_size()`` and
    ``get_rank()``, after ``init_process_group``), as in PyTorch. Where minidl differs: the order
    comes from minidl's generator, so it differs from PyTorch's numbers.

    >>> from minidl.utils.data import DistributedSampler
    >>> [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    >>> s = DistributedSampler(range(10), num_replicas=3, rank=0, seed=1)
    >>> len(s), len(set(s)) == 4
    (4, True)
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        if num_replicas is None or rank is None:
            if not dist.is_available():
                raise RuntimeError('Requires distributed package to be available (pip install "minidl[distributed]", '
                                   "or pass num_replicas= and rank=)")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.epoch, self.drop_last, self.shuffle, self.seed = 0, drop_last, shuffle, seed
        n = len(self.dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:  # the same permutation on every rank: a generator seeded with seed + epoch
            indices = randperm(n, generator=seeded_generator(self.seed + self.epoch)).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch: with ``shuffle=True`` the next ``iter()`` uses the permutation of
        seed + epoch, the same on every rank, a new one each epoch.

        >>> from minidl.utils.data import DistributedSampler
        >>> s = DistributedSampler(range(100), num_replicas=2, rank=0)
        >>> first = list(s); s.set_epoch(1)
        >>> list(s) != first
        True
        """
        self.epoch = epoch
