"""Indexing by mask or by value: ``masked_select``, ``masked_scatter``, ``nonzero``,
``argwhere``.

``masked_select`` is ``x[mask]`` after broadcasting; ``masked_scatter`` fills the masked
positions from ``source`` in row-major order; ``nonzero`` / ``argwhere`` list the positions of
the non-zero elements (cpp/ops/indexing/nonzero.cpp).
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..tensor import Tensor
from . import array as A
from .indexing import index_copy


# --- masks ----------------------------------------------------------------------------------
def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``input`` where ``mask`` (bool, broadcast with input) is True, as a vector.

    out = input[mask] after broadcasting both, in row-major order. Backward: the gradient
    goes back to the selected positions (0 elsewhere).

    Shapes: input (*), mask broadcastable with it -> (number of True,).

    >>> import minidl as md
    >>> x = md.tensor([[1., -2.], [-3., 4.]])
    >>> md.masked_select(x, x > 0)
    tensor([1.0000, 4.0000])
    """
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, but got {got}")
    # --8<-- [start:masked_select]
    shape = np.broadcast_shapes(input.shape, mask.shape)
    x = input if tuple(input.shape) == shape else input.expand(*shape)
    m = mask if tuple(mask.shape) == shape else mask.expand(*shape)
    return x[m]
    # --8<-- [end:masked_select]


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` whose positions where ``mask`` is True take ``source``'s elements in order.

    out[mask] = source.flatten()[:mask.sum()] (mask broadcast with input; row-major order).
    ``source`` needs at least as many elements as ``mask`` has True values. Backward:
    ``input``'s gradient is 0 at the masked positions; ``source``'s first mask.sum() elements
    get the gradient of the positions they filled, the rest 0.

    Shapes: input (*), mask broadcastable with it, source (any shape) -> broadcast shape.

    >>> import minidl as md
    >>> x = md.zeros(2, 3)
    >>> md.masked_scatter(x, md.tensor([[True, False, True], [False, True, False]]), md.tensor([1., 2., 3., 4.]))
    tensor([[1.0000, 0.0000, 2.0000],
            [0.0000, 3.0000, 0.0000]])
    """
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_scatter_: expected BoolTensor for mask, but got {got}")
    if not isinstance(source, Tensor) or source._data.dtype != input._data.dtype:
        got = source.dtype if isinstance(source, Tensor) else type(source).__name__
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got {input.dtype} "
                           f"and {got}")
    shape = np.broadcast_shapes(input.shape, mask.shape)
    x = input if tuple(input.shape) == shape else input.expand(*shape)
    m = mask._data if tuple(mask.shape) == shape else np.broadcast_to(mask._data, shape)
    positions = _C.nonzero(A.contiguous(m).reshape(-1)).reshape(-1)
    if positions.size > source.numel():
        raise RuntimeError(f"masked_scatter: number of elements of source ({source.numel()}) < number of ones in "
                           f"mask ({positions.size})")
    values = source.reshape(-1)[:positions.size]
    return index_copy(x.reshape(-1), 0, Tensor._wrap(positions), values).reshape(*shape)


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """The coordinates of the non-zero elements of ``input``, in row-major order.

    as_tuple=False: an int64 tensor (count, input.ndim), one row of coordinates per
    non-zero element. as_tuple=True: a tuple of input.ndim int64 vectors, one per dim, that
    index those elements (``x[x.nonzero(as_tuple=True)]`` is ``x[x != 0]``). -0.0 is zero,
    NaN is not. No gradient (the result is integer).

    >>> import minidl as md
    >>> x = md.tensor([[0., 3.], [4., 0.]])
    >>> md.nonzero(x)
    tensor([[0, 1],
            [1, 0]])
    >>> md.nonzero(x, as_tuple=True)
    (tensor([0, 1]), tensor([1, 0]))
    """
    coords = _C.nonzero(input._data)
    if not as_tuple:
        return Tensor._wrap(coords)
    if input.ndim == 0:  # PyTorch reads a 0-d tensor as a 1-element vector here
        return (Tensor._wrap(_C.nonzero(input._data.reshape(1)).reshape(-1)),)
    return tuple(Tensor._wrap(A.contiguous(coords[:, d])) for d in range(input.ndim))


def argwhere(input: Tensor) -> Tensor:
    """The coordinates of the non-zero elements, (count, input.ndim) int64: ``nonzero(input)``.

    >>> import minidl as md
    >>> md.argwhere(md.tensor([0., 2., 0., 5.]))
    tensor([[1],
            [3]])
    """
    return nonzero(input)
