"""Adaptive pooling to a fixed output size, beyond ``adaptive_avg_pool2d`` (which lives with
the pooling kernels in ``nn/pooling.py``): ``adaptive_avg_pool1d`` and ``adaptive_max_pool1d/2d``.

Output cell i pools the input window [floor(i n / out), ceil((i + 1) n / out)), so any input
size gives the requested output size (the windows overlap when out does not divide n).
Adaptive max pooling is one max reduction per output cell; ``return_indices`` gives each
max's flat position h W + w in its plane, which ``MaxUnpool2d`` takes.
"""
from __future__ import annotations

from ..ops.creation import tensor
from ..ops.join import stack
from ..tensor import Tensor
from .module import Module
from .pooling import adaptive_avg_pool2d


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Adaptive average pooling of the last dim to ``output_size`` (the 2-D kernel on a
    height-1 image). Shapes: (N, C, L) or (C, L) -> (N, C, output_size).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.adaptive_avg_pool1d(md.tensor([[[0.0, 1.0, 2.0, 3.0, 4.0]]]), 3)
    tensor([[[0.5000, 2.0000, 3.5000]]])
    """
    if input.ndim not in (2, 3):
        raise RuntimeError(f"adaptive_avg_pool1d(): Expected 2D or 3D tensor, but got {list(input.shape)}")
    size = output_size[0] if isinstance(output_size, (tuple, list)) else output_size
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


def _windows(n: int, out: int):
    """Output cell i pools [floor(i n / out), ceil((i + 1) n / out)) (PyTorch's adaptive windows)."""
    return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]


def _adaptive_max(input: Tensor, sizes, name: str, return_indices: bool):
    k = len(sizes)
    if input.ndim not in (k + 1, k + 2):
        raise RuntimeError(f"{name}(): Expected {k + 1}D or {k + 2}D tensor, but got {list(input.shape)}")
    spatial = tuple(input.shape[-k:])
    sizes = tuple(spatial[i] if s is None else int(s) for i, s in enumerate(sizes))
    if any(n == 0 for n in spatial) or any(s <= 0 for s in sizes):
        raise RuntimeError(f"{name}(): output_size {list(sizes)} and input {list(input.shape)} must be non-empty")
    lead = tuple(input.shape[:-k])
    plane = input.reshape(lead + (-1,)) if k == 2 else input
    width = spatial[-1]
    values, indices = [], []
    rows = _windows(spatial[0], sizes[0]) if k == 2 else [(0, 1)]
    cols = _windows(spatial[-1], sizes[-1])
    for h0, h1 in rows:
        for w0, w1 in cols:
            if k == 2:  # the window's flat positions h * W + w, as PyTorch's indices count them
                pos = [h * width + w for h in range(h0, h1) for w in range(w0, w1)]
                win = plane[(slice(None),) * len(lead) + (tensor(pos),)]
            else:
                pos = list(range(w0, w1))
                win = input[..., w0:w1]
            best = win.max(dim=-1)
            values.append(best.values)
            indices.append(tensor(pos)[best.indices] if return_indices else None)
    out = stack(values, dim=-1).reshape(lead + sizes)
    if return_indices:
        return out, stack(indices, dim=-1).reshape(lead + sizes)
    return out


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Adaptive max pooling of the last dim to ``output_size``: the max of each adaptive window
    (windows as in :func:`adaptive_avg_pool2d`). ``return_indices`` also gives each max's
    position in the input's last dim. Shapes: (N, C, L) or (C, L) -> (N, C, output_size).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.adaptive_max_pool1d(md.tensor([[[0.0, 5.0, 2.0, 3.0, 4.0]]]), 2, return_indices=True)
    (tensor([[[5.0000, 4.0000]]]), tensor([[[1, 4]]]))
    """
    size = output_size[0] if isinstance(output_size, (tuple, list)) else output_size
    return _adaptive_max(input, (size,), "adaptive_max_pool1d", return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Adaptive max pooling of the last two dims to ``output_size`` (an int or a pair, None
    keeps that size); ``return_indices`` gives each max's flat position h W + w in its input
    plane (what ``MaxUnpool2d`` takes). Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW).

    One max reduction per output cell (a loop in Python over OH x OW cells): fine for the small
    output sizes adaptive pooling is used for (a classifier head), slow for large ones.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> F.adaptive_max_pool2d(md.arange(16.0).reshape(1, 4, 4), 2)
    tensor([[[ 5.0000,  7.0000],
             [13.0000, 15.0000]]])
    """
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    return _adaptive_max(input, sizes, "adaptive_max_pool2d", return_indices)


class AdaptiveAvgPool1d(Module):
    """Adaptive average pooling of the last dim (see ``F.adaptive_avg_pool1d``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.AdaptiveAvgPool1d(1)(md.ones(2, 3, 7)).shape
    minidl.Size([2, 3, 1])
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(Module):
    """Adaptive max pooling of the last dim (see ``F.adaptive_max_pool1d``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.AdaptiveMaxPool1d(2)(md.tensor([[[0.0, 5.0, 2.0, 3.0, 4.0]]]))
    tensor([[[5.0000, 4.0000]]])
    """

    fn = staticmethod(adaptive_max_pool1d)

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return self.fn(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveMaxPool1d):
    """Adaptive max pooling of the last two dims (see ``F.adaptive_max_pool2d``).

    >>> import minidl as md
    >>> from minidl import nn
    >>> nn.AdaptiveMaxPool2d((1, 2))(md.arange(8.0).reshape(1, 2, 4))
    tensor([[[5.0000, 7.0000]]])
    """

    fn = staticmethod(adaptive_max_pool2d)
