"""``md.utils.data``: Dataset, TensorDataset, DataLoader, random_split (seeded by
``md.manual_seed``)."""
from __future__ import annotations

import math

import numpy as np

from ..ops.creation import tensor
from ..ops.random import randperm
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
    """Split into non-overlapping subsets of the given lengths (or fractions summing to 1).

    The order comes from ``randperm`` drawn from ``generator`` (an ``md.Generator``; default:
    the default generator), so a seeded generator gives the same split every run.

    >>> import minidl as md
    >>> from minidl.utils.data import TensorDataset, random_split
    >>> ds = TensorDataset(md.arange(10))
    >>> a, b = random_split(ds, [7, 3], generator=md.Generator().manual_seed(0))
    >>> len(a), len(b), sorted(a.indices + b.indices) == list(range(10))
    (7, 3, True)
    """
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and any(isinstance(l, float) for l in lengths):
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = randperm(n, generator=generator).tolist()
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


def default_convert(data):
    """One sample as it is, without a batch dimension: NumPy arrays and NumPy numbers become
    tensors (inside tuples, lists and dicts too), everything else is returned unchanged.

    What ``DataLoader(batch_size=None)`` applies to each sample when no ``collate_fn`` is
    given (PyTorch's ``torch.utils.data.default_convert``); as there, a plain tuple comes back
    as a list.

    >>> import numpy as np
    >>> from minidl.utils.data import default_convert
    >>> default_convert((np.array([1., 2.]), 3))
    [tensor([1.0000, 2.0000], dtype=minidl.float64), 3]
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and data.dtype.kind not in "OSU":  # not strings, not objects
        return tensor(data)
    if isinstance(data, dict):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a named tuple keeps its type
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):
        return [default_convert(d) for d in data]
    return data


class DataLoader:
    """Iterates a dataset in batches. ``shuffle`` draws a new order each epoch from
    ``generator`` (an ``md.Generator``; default: the default generator); TensorDatasets are batched by one gather per tensor (no per-sample Python).

    ``batch_size=None`` turns batching off, as in PyTorch: each sample comes out on its own
    (through ``collate_fn`` if given, else :func:`default_convert`), in order or shuffled,
    and ``len(loader)`` is the number of samples. ``drop_last`` has no meaning then (a
    ValueError).

    >>> import minidl as md
    >>> from minidl.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(md.arange(5.), md.arange(5))
    >>> [x.tolist() for x, y in DataLoader(ds, batch_size=2)]
    [[0.0, 1.0], [2.0, 3.0], [4.0]]
    >>> loader = DataLoader(ds, batch_size=None)
    >>> len(loader), next(iter(loader))
    (5, [tensor(0.0000), tensor(0)])
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                 drop_last: bool = False, generator=None, **kwargs):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.collate_fn = drop_last, collate_fn
        self.sampler, self.generator = sampler, generator

    def __len__(self):
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return list(iter(self.sampler))
        n = len(self.dataset)
        return randperm(n, generator=self.generator).tolist() if self.shuffle else list(range(n))

    def __iter__(self):
        order = self._order()
        bs = self.batch_size
        if bs is None:  # no batching: one sample at a time
            for i in order:
                yield (self.collate_fn or default_convert)(self.dataset[i])
            return
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
