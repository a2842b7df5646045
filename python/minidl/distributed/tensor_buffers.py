"""Tensors as MPI buffers, and the reductions as MPI operations.

A tensor goes to MPI as its NumPy memory (``tensor._data``), in place, with an explicit MPI
datatype: nothing is pickled. Where MPI cannot use that memory as it is, a staging array
stands in and is copied back when the operation is done:

* a non-contiguous tensor (a transposed or sliced view) is sent from a contiguous copy and
  written back through the view, as PyTorch's gloo backend does (it accepts such tensors);
* bfloat16 and float16 have no MPI reduction (MPI 4.1 has no 16-bit floating type; MPICH's
  ``MPIX_C_FLOAT16`` has no bfloat16 and mpi4py does not expose it). A reduction widens them to
  float32, reduces, and rounds once: the result is the correctly rounded float32 sum, identical on
  every rank and independent of the reduction order, where a user-defined 16-bit MPI op would round
  after every partial sum (in the order MPICH's algorithm picks) and call back into Python for
  every chunk. It moves twice the bytes; gradients are usually reduced in float32 anyway. Moving
  16-bit data without reducing it (broadcast, gather, send) sends the 2-byte words unchanged.
"""
from __future__ import annotations

import enum

import numpy as np

from ..dtypes import bfloat16
from ..graph import version
from ..tensor import Tensor


class RedOpType(enum.Enum):
    """The reductions, as ``torch.distributed.ReduceOp.RedOpType``."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4

    def __repr__(self):
        return f"<RedOpType.{self.name}: {self.value}>"

    def __str__(self):
        return f"RedOpType.{self.name}"


class ReduceOp:
    """How a reduction combines the ranks' tensors x_0..x_{N-1}, elementwise:

    SUM: sum_r x_r; AVG: (sum_r x_r) / N (floating-point tensors); PRODUCT: prod_r x_r;
    MIN: min_r x_r; MAX: max_r x_r. On bool tensors SUM and MAX are a logical or, PRODUCT and
    MIN a logical and.

    >>> import minidl.distributed as dist
    >>> dist.ReduceOp.SUM, dist.ReduceOp.AVG
    (<RedOpType.SUM: 0>, <RedOpType.AVG: 1>)
    """

    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX


# Looked up once per dtype, not per call: numpy's ``dtype.name`` costs ~3 us in Python, which
# made md.distributed.all_reduce of a 1 KB tensor 4x slower than mpi4py's Allreduce (measured)
_HALF = {np.dtype(bfloat16.np), np.dtype(np.float16)}
_DATATYPE_NAMES = {np.dtype(np.float32): "FLOAT", np.dtype(np.float64): "DOUBLE", np.dtype(np.int64): "INT64_T",
                   np.dtype(np.bool_): "C_BOOL", np.dtype(bfloat16.np): "UINT16_T", np.dtype(np.float16): "UINT16_T"}
_OP_NAMES = {RedOpType.SUM: "SUM", RedOpType.AVG: "SUM", RedOpType.PRODUCT: "PROD", RedOpType.MIN: "MIN",
             RedOpType.MAX: "MAX"}
_BOOL_OP_NAMES = {RedOpType.SUM: "LOR", RedOpType.MAX: "LOR", RedOpType.PRODUCT: "LAND", RedOpType.MIN: "LAND"}
_cache: dict = {}


def check_tensor(tensor, collective: str, name: str = "tensor") -> None:
    """A TypeError naming the argument unless ``tensor`` is a minidl Tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{collective}: Invalid function argument. Expected parameter `{name}` of type "
                        f"minidl.Tensor, got {type(tensor).__name__}")


def mpi_datatype(MPI, array: np.ndarray):
    """The MPI datatype of the elements of ``array`` as they are stored (16-bit floats: 2-byte words)."""
    key = array.dtype
    found = _cache.get(key)
    if found is None:
        name = _DATATYPE_NAMES.get(key)
        if name is None:
            raise TypeError(f"md.distributed: tensors of dtype {key} cannot be communicated")
        found = _cache[key] = getattr(MPI, name)
    return found


def mpi_op(MPI, op, array: np.ndarray, collective: str):
    """The predefined MPI operation of ReduceOp ``op`` on ``array``'s dtype (AVG: the SUM it starts with)."""
    if type(op) is not RedOpType:
        raise TypeError(f"{collective}: op must be a md.distributed.ReduceOp (SUM, AVG, PRODUCT, MIN, MAX), got {op!r}")
    key = (op, array.dtype)
    found = _cache.get(key)
    if found is not None:
        return found
    if array.dtype == np.bool_:
        if op is RedOpType.AVG:  # PyTorch's error (its division makes a float result)
            raise RuntimeError(f"{collective}: ReduceOp.AVG needs a floating-point tensor: result type Float "
                               "can't be cast to the desired output type Bool")
        name = _BOOL_OP_NAMES[op]
    elif op is RedOpType.AVG and array.dtype.kind not in "fV":
        raise RuntimeError(f"{collective}: ReduceOp.AVG needs a floating-point tensor: result type Float can't be "
                           "cast to the desired output type Long")
    else:
        name = _OP_NAMES[op]
    found = _cache[key] = getattr(MPI, name)
    return found


def in_place_reduction(MPI, dtype: np.dtype, op, collective: str):
    """``(MPI.IN_PLACE, MPI datatype, MPI op)`` for reducing an array of ``dtype`` in place with
    ReduceOp ``op``, or None where a staging buffer is needed (16-bit floats, AVG); kept in
    IN_PLACE_REDUCTIONS so that the next call is one dict lookup. Why so frugal: mpi4py's
    Allreduce of 64 KB takes ~16 us here, and each Python microsecond of ours is 6% of it."""
    if op is RedOpType.AVG or dtype in _HALF:
        return None
    found = IN_PLACE_REDUCTIONS[(dtype, op)] = (MPI.IN_PLACE, mpi_datatype(MPI, np.empty(0, dtype)),
                                                mpi_op(MPI, op, np.empty(0, dtype), collective))
    return found


IN_PLACE_REDUCTIONS: dict = {}  # (numpy dtype, ReduceOp) -> in_place_reduction's answer


class Staged:
    """The MPI buffer of one tensor: ``array`` (the tensor's own memory when MPI can use it, else a
    contiguous or float32 copy) and ``spec`` (``[array, MPI datatype]``, what mpi4py is given).

    ``reducing``: a reduction will run on it (16-bit floats widen to float32). ``finish(scale)``
    after the operation writes the result back into the tensor (divided by ``scale`` for AVG)
    and records the in-place write in its version counter.
    """

    def __init__(self, MPI, tensor: Tensor, reducing: bool = False, read_only: bool = False):
        self.tensor, data = tensor, tensor._data
        if not read_only and not data.flags.writeable:
            raise RuntimeError("md.distributed: the tensor is a read-only (expanded) view; call .clone() first")
        if reducing and data.dtype in _HALF:
            self.array = data.astype(np.float32)
        elif not data.flags.c_contiguous:
            self.array = np.ascontiguousarray(data)
        else:
            self.array = data
        self.copied = self.array is not data
        flat = self.array.reshape(-1)
        if flat.dtype in _HALF:  # mpi4py reads the buffer's format: give it plain 2-byte words
            flat = flat.view(np.uint16)
        self.spec = [flat, mpi_datatype(MPI, self.array)]

    def finish(self, scale: int = 1) -> None:
        if scale != 1:
            np.divide(self.array, scale, out=self.array)
        if self.copied:
            self.tensor._data[...] = self.array  # a 16-bit result: rounded once, here
        version.bump(self.tensor._data)
