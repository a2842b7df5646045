"""Datasets, as PyTorch's ``torch.utils.data.dataset``: map-style (``Dataset``: ``ds[i]`` and
``len(ds)``) and iterable-style (``IterableDataset``: ``iter(ds)``), and the ways to combine
them (TensorDataset, StackDataset, ConcatDataset, ChainDataset, Subset, random_split)."""
from __future__ import annotations

import bisect
import itertools
import math
import warnings

from ._utils.rng import randperm


class Dataset:
    """Map-style dataset: ``ds[i]`` gives sample i, ``len(ds)`` how many there are.

    Subclass it and define ``__getitem__`` (and ``__len__``, which samplers and ``len`` of
    a DataLoader use). A subclass may add ``__getitems__(indices)`` returning the list of
    samples at once; the DataLoader then calls it once per batch. ``ds1 + ds2`` is a
    :class:`ConcatDataset`.

    >>> from minidl.utils.data import Dataset
    >>> class Squares(Dataset):
    ...     def __getitem__(self, i): return i * i
    ...     def __len__(self): return 4
    >>> ds = Squares() + Squares()
    >>> len(ds), ds[5]
    (8, 1)
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Iterable-style dataset: a stream of samples from ``__iter__`` (files read in order,
    a generator, a database cursor), for data that can't be indexed.

    With ``num_workers > 0`` each worker iterates its own copy of the whole dataset, so the
    stream comes out ``num_workers`` times unless ``__iter__`` splits it by
    :func:`get_worker_info` (worker ``id`` of ``num_workers``), as in PyTorch.
    ``ds1 + ds2`` is a :class:`ChainDataset`.

    >>> from minidl.utils.data import IterableDataset, get_worker_info
    >>> class Range(IterableDataset):
    ...     def __init__(self, n): self.n = n
    ...     def __iter__(self):
    ...         info = get_worker_info()   # None in the main process
    ...         start, step = (0, 1) if info is None else (info.id, info.num_workers)
    ...         return iter(range(start, self.n, step))
    >>> list(Range(3) + Range(2))
    [0, 1, 2, 0, 1]
    """

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Sample i is ``(t[i] for t in tensors)``: rows of tensors with the same first dimension.

    Shapes: tensors (N, *a), (N, *b), ... -> samples ((*a), (*b), ...). Where minidl differs
    from PyTorch: different first dimensions raise ValueError naming them (PyTorch: an
    AssertionError "Size mismatch between tensors").

    >>> import minidl as md
    >>> from minidl.utils.data import TensorDataset
    >>> ds = TensorDataset(md.arange(6.).reshape(3, 2), md.tensor([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (tensor([2.0000, 3.0000]), tensor(1)))
    """

    def __init__(self, *tensors):
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


class StackDataset(Dataset):
    """Sample i of several datasets side by side: ``StackDataset(a, b)[i] == (a[i], b[i])``,
    ``StackDataset(x=a, y=b)[i] == {"x": a[i], "y": b[i]}``. All must have the same length.

    >>> from minidl.utils.data import StackDataset
    >>> ds = StackDataset(image=[10, 11, 12], label=[0, 1, 0])
    >>> len(ds), ds[1]
    (3, {'image': 11, 'label': 1})
    """

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or"
                             "``dict``- (via ``kwargs``) like input/output, but both types are given.")
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        self.datasets = args if args else kwargs
        parts = list(args if args else kwargs.values())
        self._length = len(parts[0])
        if any(len(d) != self._length for d in parts):
            raise ValueError("Size mismatch between datasets")

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self):
        return self._length


class ConcatDataset(Dataset):
    """Map-style datasets one after the other: index i falls in the first dataset whose
    cumulative length exceeds it (a binary search over ``cumulative_sizes``).

    >>> from minidl.utils.data import ConcatDataset
    >>> ds = ConcatDataset([[0, 1, 2], [10, 11]])
    >>> len(ds), ds.cumulative_sizes, ds[3], ds[-1]
    (5, [3, 5], 10, 11)
    """

    @staticmethod
    def cumsum(sequence):
        return list(itertools.accumulate(len(d) for d in sequence))

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[dataset_idx - 1] if dataset_idx > 0 else 0
        return self.datasets[dataset_idx][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after the other, chained on the fly.

    >>> from minidl.utils.data import ChainDataset, IterableDataset
    >>> class Letters(IterableDataset):
    ...     def __init__(self, s): self.s = s
    ...     def __iter__(self): return iter(self.s)
    ...     def __len__(self): return len(self.s)
    >>> ds = ChainDataset([Letters("ab"), Letters("c")])
    >>> list(ds), len(ds)
    (['a', 'b', 'c'], 3)
    """

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``: ``Subset(ds, idx)[i] == ds[idx[i]]``.

    >>> from minidl.utils.data import Subset
    >>> s = Subset(["a", "b", "c", "d"], [3, 1])
    >>> len(s), s[0], s.__getitems__([0, 1])
    (2, 'd', ['d', 'b'])
    """

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping :class:`Subset` s of the given ``lengths``.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1: then each
    split gets floor(fraction * n) and the remaining items go one each to the splits in
    turn (round robin from the first), as in PyTorch 2.13. The items are those of
    ``randperm(n, generator=generator)`` in order, so a seeded generator gives the same
    split every run (``generator=None``: the default generator).

    >>> import minidl as md
    >>> from minidl.utils.data import random_split
    >>> a, b, c = random_split(range(10), [0.5, 0.3, 0.2])
    >>> len(a), len(b), len(c), sorted(a.indices + b.indices + c.indices) == list(range(10))
    (5, 3, 2, True)
    >>> split = lambda: [s.indices for s in random_split(range(10), [7, 3], generator=md.Generator().manual_seed(0))]
    >>> split() == split()          # the same seed, the same split
    True
    """
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, fraction in enumerate(lengths):
            if fraction < 0 or fraction > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(math.floor(n * fraction))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = randperm(sum(lengths), generator=generator).tolist()
    return [Subset(dataset, indices[end - length:end])
            for end, length in zip(itertools.accumulate(lengths), lengths)]
