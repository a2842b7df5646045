"""minidl's dtypes: the PyTorch names, each backed by a NumPy dtype for storage.

``md.float32`` (default), ``md.float64``, ``md.float16``, ``md.bfloat16`` (NumPy dtype from
``ml_dtypes``, the package JAX uses), ``md.int64`` and ``md.bool``. The ``code`` of each
dtype is its member of ``_C.DType`` (the ``minidl::DType`` enum of ``cpp/core/tensor_view.h``),
which the kernels that create arrays take (``_C.cast``, ``_C.arange``, ``_C.rand``).
"""
from __future__ import annotations

import builtins  # this module binds float (md.float, as torch.float): Python's is builtins.float

import ml_dtypes
import numpy as np

from . import _C


class dtype:
    """A tensor element type (``md.float32`` ...). ``is_floating_point`` as in PyTorch.

    The dtypes are singletons, compared with ``is`` or ``==``: ``md.float32`` (alias
    ``md.float``, the default), ``md.float64`` (``md.double``), ``md.float16``
    (``md.half``), ``md.bfloat16``, ``md.int64`` (``md.long``) and ``md.bool``. Each has
    ``name``, ``itemsize`` (bytes per element), ``is_floating_point`` and ``np``, the NumPy
    dtype that stores it. Where minidl differs from PyTorch: there are no int8/int16/int32,
    uint8 or complex dtypes.

    >>> import minidl as md
    >>> md.tensor([1, 2]).dtype, md.tensor([1.5]).dtype
    (minidl.int64, minidl.float32)
    >>> md.float32.is_floating_point, md.int64.itemsize, md.float is md.float32
    (True, 8, True)
    """

    __slots__ = ("name", "np", "code", "is_floating_point", "itemsize")

    def __init__(self, name: str, np_dtype, code: _C.DType, is_float: bool):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.code = code
        self.is_floating_point = is_float
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"minidl.{self.name}"

    def __reduce__(self):  # dtypes are singletons
        return (getattr, (__import__("minidl"), self.name))


# --8<-- [start:dtype_table]
float32 = dtype("float32", np.float32, _C.DType.f32, True)
float64 = dtype("float64", np.float64, _C.DType.f64, True)
float16 = dtype("float16", np.float16, _C.DType.f16, True)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, _C.DType.bf16, True)
int64 = dtype("int64", np.int64, _C.DType.i64, False)
bool_ = dtype("bool", np.bool_, _C.DType.b8, False)
bool_.name = "bool"
# --8<-- [end:dtype_table]

# PyTorch aliases
float = float32
double = float64
half = float16
long = int64

_C._register_bfloat16(bfloat16.np)

# PyTorch's names of the scalar types in its error messages ("... but got Long and Float")
PYTORCH_NAMES = {float32: "Float", float64: "Double", float16: "Half", bfloat16: "BFloat16", int64: "Long",
                 bool_: "Bool"}
# the Tensor / Module method that converts to each dtype (x.float(), model.double(), ...)
_METHODS = {float32: "float", float64: "double", float16: "half", bfloat16: "bfloat16", int64: "long", bool_: "bool"}


def layer_dtype_fix(input_dtype: dtype, weight_dtype: dtype) -> str:
    """The fix, in words, for a layer called on an input whose dtype differs from its weights'.

    A learner meets this when data arrive as int64 (pixels, token counts) or float64 (NumPy's
    default) and the model is float32: the end of the error message of Linear, conv, ...

    >>> import minidl as md
    >>> md.dtypes.layer_dtype_fix(md.float64, md.float32)
    'The input is float64 but the weights are float32: call .float() on the input, or convert the model with model.double() to compute in float64'
    """
    fix = f"The input is {input_dtype.name} but the weights are {weight_dtype.name}: call .{_METHODS[weight_dtype]}() on the input"
    if not input_dtype.is_floating_point:
        return fix + " (integer data such as pixel values usually want scaling too, e.g. x.float() / 255)"
    return fix + f", or convert the model with model.{_METHODS[input_dtype]}() to compute in {input_dtype.name}"

ALL = (float32, float64, float16, bfloat16, int64, bool_)
_FROM_NP = {d.np: d for d in ALL}
# NumPy types that map onto ours when data comes in from outside
_FROM_NP.update({np.dtype(np.int32): int64, np.dtype(np.int16): int64, np.dtype(np.int8): int64,
                 np.dtype(np.uint8): int64, np.dtype(np.uint16): int64, np.dtype(np.uint32): int64})
LOW_PRECISION = (float16, bfloat16)
_FLOAT_RANK = {bfloat16: 1, float16: 1, float32: 2, float64: 3}

_default_dtype = float32


def from_numpy_dtype(np_dtype) -> dtype:
    """The minidl dtype that stores ``np_dtype`` (raises TypeError for unsupported ones)."""
    try:
        return _FROM_NP[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"can't convert np.ndarray of type {np_dtype}: minidl supports "
                        "float32, float64, float16, bfloat16, int64 and bool") from None


def as_dtype(d) -> dtype:
    """Accepts a minidl dtype, a NumPy dtype or a Python type (float, int, bool)."""
    if isinstance(d, dtype):
        return d
    if d is builtins.float:
        return _default_dtype
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    return from_numpy_dtype(d)


def promote_types(a: dtype, b: dtype) -> dtype:
    """Result dtype of a binary op between tensors (PyTorch's promotion lattice)."""
    if a is b:
        return a
    if a.is_floating_point or b.is_floating_point:
        if not a.is_floating_point:
            return b
        if not b.is_floating_point:
            return a
        ra, rb = _FLOAT_RANK[a], _FLOAT_RANK[b]
        if ra == rb:  # float16 with bfloat16
            return float32
        return a if ra > rb else b
    return int64  # int64 with bool


def get_default_dtype() -> dtype:
    """The dtype of new floating tensors made from Python floats (float32 unless changed).

    >>> import minidl as md
    >>> md.get_default_dtype()
    minidl.float32
    """
    return _default_dtype


def set_default_dtype(d) -> None:
    """Set the dtype of new floating tensors (float32 or float64; TypeError otherwise).

    Affects ``md.tensor([1.5])``, the factories (``zeros``, ``rand``, ...) without a
    ``dtype``, and int-with-float promotion. float64 is handy for numerical gradient checks.
    Unlike PyTorch, float16 and bfloat16 can't be the default.

    >>> import minidl as md
    >>> md.set_default_dtype(md.float64)
    >>> md.tensor([1.5])
    tensor([1.5000], dtype=minidl.float64)
    >>> md.set_default_dtype(md.float32)      # back to the usual default
    """
    global _default_dtype
    d = as_dtype(d)
    if d not in (float32, float64):
        raise TypeError(f"only float32 and float64 can be the default dtype, got {d}")
    _default_dtype = d


class DtypeShortcuts:
    """``.float()``, ``.double()``, ``.half()``, ``.bfloat16()`` as ``.to(dtype)``: shared by
    Tensor and nn.Module (each defines ``to``)."""

    __slots__ = ()

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(float16)

    def bfloat16(self):
        return self.to(bfloat16)
