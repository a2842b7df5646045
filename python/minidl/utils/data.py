"""``md.utils.data``: Dataset, TensorDataset, DataLoader, random_split (seeded by
``md.manual_seed``)."""
from __future__ import annotations

import math

import numpy as np

from ..ops.creation import randperm, tensor
from ..ops.shape import stack
from ..tensor import Tensor


class Dataset:
    """Map-style dataset: ``__getitem__(i)`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor (all with the same first dimension)."""

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0]
        for t in tensors:
            if t.shape[0] != n:
                raise ValueError(f"Size mismatch between tensors: {n} vs {t.shape[0]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    def __init__(self, dataset: Dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, i):
        if isinstance(i, (list, np.ndarray)):
            return self.dataset[[self.indices[j] for j in i]]
        return self.dataset[self.indices[i]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset: Dataset, lengths, generator=None):
    """Split into non-overlapping subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and any(isinstance(l, float) for l in lengths):
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = randperm(n).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + length]))
        start += length
    return out


def default_collate(batch):
    """Stack a list of samples (tensors, numbers, or tuples of them) into batch tensors."""
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch)
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(s)) for s in zip(*batch)) if isinstance(first, tuple) else \
            [default_collate(list(s)) for s in zip(*batch)]
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, np.ndarray):
        return tensor(np.stack(batch))
    return tensor(batch)


class DataLoader:
    """Iterates a dataset in batches. ``shuffle`` draws a new order each epoch from minidl's
    generator; TensorDatasets are batched by one gather per tensor (no per-sample Python)."""

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                 drop_last: bool = False, generator=None, **kwargs):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.collate_fn = drop_last, collate_fn
        self.sampler = sampler

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return list(iter(self.sampler))
        n = len(self.dataset)
        return randperm(n).tolist() if self.shuffle else list(range(n))

    def __iter__(self):
        order = self._order()
        bs = self.batch_size
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            if len(idx) < bs and self.drop_last:
                return
            if fast:
                index = tensor(np.asarray(idx, dtype=np.int64))
                yield tuple(t[index] for t in self.dataset.tensors)
            else:
                batch = [self.dataset[i] for i in idx]
                yield (self.collate_fn or default_collate)(batch)
