"""Samplers: the order in which a DataLoader visits a map-style dataset, as PyTorch's
``torch.utils.data.sampler``. A sampler yields dataset indices; a BatchSampler groups them
into lists of ``batch_size``.

Where PyTorch's algorithm is specified, the same steps run here on minidl's generator
(xoshiro256**, not PyTorch's Mersenne Twister): the same structure, different numbers.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ...ops.creation import tensor
from ...dtypes import float64
from ._utils.rng import draw_seed, multinomial, randint, randperm, seeded_generator


class Sampler:
    """Base class: ``__iter__`` yields indices (or, for a batch sampler, lists of them);
    ``__len__``, where defined, says how many.

    >>> from minidl.utils.data import Sampler
    >>> class EvenFirst(Sampler):
    ...     def __init__(self, n): self.n = n
    ...     def __iter__(self): return iter(list(range(0, self.n, 2)) + list(range(1, self.n, 2)))
    ...     def __len__(self): return self.n
    >>> list(EvenFirst(5))
    [0, 2, 4, 1, 3]
    """

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, in order.

    >>> from minidl.utils.data import SequentialSampler
    >>> list(SequentialSampler(range(4)))
    [0, 1, 2, 3]
    """

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices in [0, n), n = len(data_source).

    Without replacement: ``num_samples // n`` full permutations (``randperm(n)``) then the
    first ``num_samples % n`` of one more, so every index appears once per n draws. With
    replacement: ``num_samples`` independent uniform draws (``randint(n)``, 32 at a time).
    ``num_samples`` defaults to n. Without a ``generator``, each ``iter()`` draws a seed
    from the default generator and seeds a fresh generator with it, as PyTorch does.

    >>> import minidl as md
    >>> from minidl.utils.data import RandomSampler
    >>> sorted(RandomSampler(range(5)))                 # a permutation
    [0, 1, 2, 3, 4]
    >>> len(list(RandomSampler(range(3), num_samples=7)))  # 2 permutations and 1 more
    7
    >>> s = RandomSampler(range(10), replacement=True, num_samples=100)
    >>> len(list(s)), all(0 <= i < 10 for i in s)
    (100, True)
    """

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None):
        self.data_source, self.replacement = data_source, replacement
        self._num_samples, self.generator = num_samples, generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        generator = self.generator
        if generator is None:
            generator = seeded_generator(draw_seed())
        if self.replacement:
            for _ in range(self.num_samples // 32):
                yield from randint(0, n, (32,), generator=generator).tolist()
            yield from randint(0, n, (self.num_samples % 32,), generator=generator).tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from randperm(n, generator=generator).tolist()
            yield from randperm(n, generator=generator).tolist()[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order: ``indices[p]`` for p in ``randperm(len(indices))``.

    >>> from minidl.utils.data import SubsetRandomSampler
    >>> sorted(SubsetRandomSampler([10, 20, 30]))
    [10, 20, 30]
    """

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        for i in randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in [0, len(weights)), index i drawn with probability
    weights[i] / sum(weights): ``md.multinomial(weights, num_samples, replacement)``.
    The weights need not sum to 1. Without replacement an index is drawn at most once (then
    ``num_samples`` can't exceed the number of nonzero weights). Typical use: oversample rare
    classes with weights 1 / class_count[label].

    Bad weights (NaN, inf, negative, all zero) raise from ``md.multinomial`` when iterated,
    as in PyTorch.

    >>> from minidl.utils.data import WeightedRandomSampler
    >>> list(WeightedRandomSampler([0.0, 1.0, 0.0], 4))     # only index 1 has weight
    [1, 1, 1, 1]
    >>> sorted(WeightedRandomSampler([1.0, 2.0, 3.0], 3, replacement=False))
    [0, 1, 2]
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        weights = tensor(np.asarray(weights.tolist() if hasattr(weights, "tolist") else weights), dtype=float64)
        if weights.dim() != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(weights.shape)}")
        self.weights, self.num_samples = weights, num_samples
        self.replacement, self.generator = replacement, generator

    def __iter__(self):
        yield from multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator).tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last one shorter
    unless ``drop_last``. len = ceil(len(sampler) / batch_size) (floor with drop_last).

    >>> from minidl.utils.data import BatchSampler, SequentialSampler
    >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6]]
    >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=True))
    [[0, 1, 2], [3, 4, 5]]
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        indices = iter(self.sampler)
        batch = list(itertools.islice(indices, self.batch_size))
        while batch and (len(batch) == self.batch_size or not self.drop_last):
            yield batch
            batch = list(itertools.islice(indices, self.batch_size))

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return math.ceil(len(self.sampler) / self.batch_size)
