"""Fetchers: what turns the sampler's indices into a batch, the same code in the main process
(``num_workers=0``) and in each worker. As PyTorch's ``torch.utils.data._utils.fetch``."""
from __future__ import annotations

import numpy as np

from ....ops.creation import tensor
from ..dataset import TensorDataset
from .collate import default_collate


class MapDatasetFetcher:
    """Map-style: ``index`` is a list of indices (auto-collation) or one key (``batch_size=None``).

    A dataset with ``__getitems__`` gets the whole list at once, as PyTorch's fetcher gives it.
    A plain TensorDataset under ``default_collate`` is batched by one gather per tensor: the
    same tensors ``default_collate`` stacks, without a Python call per sample.
    """

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn
        self.gather = auto_collation and collate_fn is default_collate and type(dataset) is TensorDataset

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.gather:
            rows = tensor(np.asarray(index, dtype=np.int64))
            return [t[rows] for t in self.dataset.tensors]
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(index) if callable(getitems) else [self.dataset[i] for i in index]
        return self.collate_fn(samples)


class IterableDatasetFetcher:
    """Iterable-style: pulls ``len(index)`` samples from the dataset's iterator per batch
    (``index`` only counts); StopIteration once it is exhausted (or, with ``drop_last``, once
    what is left is short of a batch)."""

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool):
        self.dataset_iter = iter(dataset)
        self.auto_collation, self.collate_fn, self.drop_last = auto_collation, collate_fn, drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        samples = []
        for _ in index:
            try:
                samples.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not samples or (self.drop_last and len(samples) < len(index)):
            raise StopIteration
        return self.collate_fn(samples)


def create_fetcher(is_iterable: bool, dataset, auto_collation: bool, collate_fn, drop_last: bool):
    fetcher = IterableDatasetFetcher if is_iterable else MapDatasetFetcher
    return fetcher(dataset, auto_collation, collate_fn, drop_last)
