"""Turning samples into batches: ``default_collate`` (a list of samples -> one batch) and
``default_convert`` (one sample -> tensors, no batch dimension), as PyTorch's
``torch.utils.data._utils.collate``."""
from __future__ import annotations

import collections.abc
import copy

import numpy as np

from ....ops.creation import as_tensor, tensor
from ....ops.join import stack
from ....tensor import Tensor
from ....dtypes import float64

COLLATE_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_string_or_object(array: np.ndarray) -> bool:
    """NumPy arrays of strings or Python objects have no tensor form (PyTorch's [SaUO] dtypes)."""
    return array.dtype.kind in "SaUO"


def default_convert(data):
    """One sample as it is, without a batch dimension: NumPy arrays and NumPy numbers become
    tensors (inside tuples, lists and dicts too), everything else is returned unchanged.

    What ``DataLoader(batch_size=None)`` applies to each sample when no ``collate_fn`` is
    given (PyTorch's ``torch.utils.data.default_convert``); as there, a plain tuple comes back
    as a list, a named tuple keeps its type, and arrays of strings stay arrays.

    >>> import numpy as np
    >>> from minidl.utils.data import default_convert
    >>> default_convert((np.array([1., 2.]), 3))
    [tensor([1.0000, 2.0000], dtype=minidl.float64), 3]
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)):
        if isinstance(data, (np.str_, np.bytes_)) or (isinstance(data, np.ndarray) and _is_string_or_object(data)):
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a named tuple keeps its type
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as PyTorch (backwards compatibility there)
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _rebuild_mapping(like, values: dict):
    """A mapping of the type of ``like`` holding ``values`` (a plain dict where that type can't be built)."""
    try:
        if isinstance(like, collections.abc.MutableMapping):
            clone = copy.copy(like)  # keeps the type and any attributes of a dict subclass
            clone.update(values)
            return clone
        return type(like)(values)
    except TypeError:
        return values


def _rebuild_sequence(like, values: list):
    """A sequence of the type of ``like`` holding ``values`` (a plain list where that type can't be built)."""
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, v in enumerate(values):
                clone[i] = v
            return clone
        return type(like)(values)
    except TypeError:
        return values


def default_collate(batch):
    """A list of samples -> one batch, stacking along a new first dimension, recursively.

    The rules (PyTorch's ``torch.utils.data.default_collate``), by the type of the first sample:

    - Tensor -> ``md.stack(batch)``: shape (*) -> (B, *); tensors of different shapes raise
      ``stack expects each tensor to be equal size, but got [3] at entry 0 and [4] at entry 1``
    - NumPy array -> a stacked tensor; NumPy number -> a tensor of them
    - float -> a float64 tensor, int -> an int64 tensor (bool -> bool)
    - str / bytes -> the list unchanged
    - dict (any Mapping) -> a dict with each key's values collated
    - named tuple -> the same named tuple of collated fields
    - tuple / list -> a list of collated positions (samples must have equal length)

    Where minidl differs from PyTorch: minidl's one integer dtype is int64, so NumPy
    int8/int16/int32/uint8 arrays come out as int64 tensors (PyTorch keeps their dtype).

    >>> import minidl as md
    >>> from minidl.utils.data import default_collate
    >>> default_collate([(md.tensor([1., 2.]), 0), (md.tensor([3., 4.]), 1)])
    [tensor([[1.0000, 2.0000],
            [3.0000, 4.0000]]), tensor([0, 1])]
    >>> default_collate([{"x": 0.5, "name": "a"}, {"x": 1.5, "name": "b"}])
    {'x': tensor([0.5000, 1.5000], dtype=minidl.float64), 'name': ['a', 'b']}
    """
    # --8<-- [start:collate_rules]
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if _is_string_or_object(elem):
            raise TypeError(COLLATE_ERROR.format(elem.dtype))
        return default_collate([as_tensor(b) for b in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=float64)
    if isinstance(elem, int):  # bool is an int too: a bool tensor, as torch.tensor([True, ...])
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        positions = [default_collate(list(samples)) for samples in zip(*batch)]
        return positions if isinstance(elem, tuple) else _rebuild_sequence(elem, positions)
    raise TypeError(COLLATE_ERROR.format(type(elem)))
    # --8<-- [end:collate_rules]
