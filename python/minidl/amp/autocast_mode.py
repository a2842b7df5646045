"""Automatic mixed precision: ``md.autocast(device_type="cpu", dtype=md.bfloat16)``.

Inside the context (or a function decorated with it) the ops that profit from 16-bit math
run in the low dtype: their floating inputs are cast to ``dtype`` first (float64 inputs are
left alone, as in PyTorch). The ops that need float32's range and precision run in float32:
their 16-bit inputs are cast up. Every other op runs in the dtype of its inputs, with the
usual promotion (bfloat16 + float32 -> float32). The lists follow PyTorch's CPU autocast
(torch/csrc/autograd/autocast_mode.cpp, CPU policy):

    LOWER_PRECISION_OPS  matmul mm bmm baddbmm addmm linear conv1d conv2d
                         scaled_dot_product_attention, the LSTM and RNN layers (PyTorch's
                         mkldnn_rnn_layer). nn.GRU and the cells return float32 in both
                         libraries; PyTorch runs their inner linear products in 16 bits,
                         minidl runs them wholly in float32 (one fused kernel).
    FP32_OPS             the losses (cross_entropy, nll_loss, mse_loss, l1_loss,
                         binary_cross_entropy(_with_logits), focal_loss, ctc_loss)

Ops outside both lists keep their input dtype but compute in float32 inside when the input
is 16-bit (softmax, log_softmax, layer/batch norm statistics, sum/mean accumulate in float32
and round the result once), which is what PyTorch's CPU kernels do too.

The casts are ordinary graph ops, so parameters stay float32 ("master weights") and their
gradients arrive in float32. The state is per thread; contexts nest (an inner
``autocast(enabled=False)`` switches it off for a block). Ops call
``autocast_inputs(op_name, *tensors)``; a new op joins autocast with one line.
"""
from __future__ import annotations

import functools
import threading
import warnings

from ..dtypes import bfloat16, float16, float32
from ..dtypes import dtype as _dtype
from ..tensor import Tensor

LOWER_PRECISION_OPS = frozenset({"matmul", "mm", "bmm", "baddbmm", "addmm", "linear", "conv1d", "conv2d",
                                 "scaled_dot_product_attention", "lstm", "rnn_tanh", "rnn_relu"})
FP32_OPS = frozenset({"cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
                      "binary_cross_entropy_with_logits", "focal_loss", "ctc_loss"})
_CASTABLE = (float32, float16, bfloat16)   # float64 is never autocast (PyTorch's rule)
_LOW = (float16, bfloat16)

_tls = threading.local()   # .dtype: the autocast dtype of this thread, None when off
# Number of autocast contexts entered with enabled=True in any thread: when 0 (the common
# case) ops skip even the thread-local lookup.
active = 0
_lock = threading.Lock()


def is_autocast_enabled(device_type: str = "cpu") -> bool:
    """True inside an enabled autocast context on this thread.

    ``device_type`` must be "cpu" (ValueError otherwise).

    >>> import minidl as md
    >>> md.is_autocast_enabled()
    False
    >>> with md.autocast(device_type="cpu"):
    ...     md.is_autocast_enabled()
    True
    """
    _check_device(device_type)
    return getattr(_tls, "dtype", None) is not None


def get_autocast_dtype(device_type: str = "cpu"):
    """The dtype autocast uses on this thread (bfloat16 when none was set, as PyTorch).

    >>> import minidl as md
    >>> with md.autocast(device_type="cpu", dtype=md.float16):
    ...     md.get_autocast_dtype("cpu")
    minidl.float16
    """
    _check_device(device_type)
    return getattr(_tls, "dtype", None) or getattr(_tls, "last", None) or bfloat16


def _check_device(device_type):
    if not isinstance(device_type, str):
        raise TypeError(f"autocast: device_type must be a string such as 'cpu', got {type(device_type).__name__}")
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"autocast: device_type {device_type!r} is not supported; minidl autocasts on 'cpu' only "
                         "('cuda' is accepted and disabled, as on a CPU-only PyTorch)")


def _cast(t, target):
    if isinstance(t, Tensor) and t.dtype is not target and t.dtype in _CASTABLE:
        return t.to(target)
    return t


# --8<-- [start:autocast_inputs]
def autocast_inputs(op_name: str, *tensors):
    """The inputs of op ``op_name`` as autocast wants them on this thread: cast to the
    autocast dtype for LOWER_PRECISION_OPS, 16-bit ones to float32 for FP32_OPS, unchanged
    otherwise or when autocast is off. Returns a tuple (None entries pass through)."""
    dt = getattr(_tls, "dtype", None) if active else None
    if dt is None:
        return tensors
# --8<-- [end:autocast_inputs]
    if op_name in LOWER_PRECISION_OPS:
        return tuple(_cast(t, dt) for t in tensors)
    if op_name in FP32_OPS:
        return tuple(t.to(float32) if isinstance(t, Tensor) and t.dtype in _LOW else t for t in tensors)
    return tensors


class autocast:
    """``with md.autocast(device_type="cpu", dtype=md.bfloat16, enabled=True):`` or as a
    decorator. dtype: md.bfloat16 (default) or md.float16; ValueError otherwise, and for a
    device_type other than "cpu" and "cuda" ("cuda" warns and disables itself, as on a
    CPU-only PyTorch, so GPU scripts run unchanged in float32).

    Mixed precision: inside the context, matrix products, linear layers, convolutions,
    attention and the LSTM/RNN layers run in the 16-bit ``dtype`` (half the memory traffic,
    faster GEMMs), the losses run in float32, and every other op keeps its input dtype (see
    the module docstring for the lists). Parameters stay float32 and get float32 gradients,
    because the casts are recorded in the graph. Contexts nest; ``enabled=False`` switches
    autocast off for an inner block. ``cache_enabled`` is accepted and ignored.

    Shapes: unchanged; only dtypes change.

    >>> import minidl as md
    >>> a, w = md.ones(2, 3), md.ones(4, 3)
    >>> with md.autocast(device_type="cpu", dtype=md.bfloat16):
    ...     y = md.matmul(a, w.t())        # on the list: runs in bfloat16
    ...     s = a + a                      # not on the list: keeps float32
    >>> y.dtype, s.dtype
    (minidl.bfloat16, minidl.float32)
    """

    def __init__(self, device_type: str = "cpu", dtype=None, enabled: bool = True, cache_enabled=None):
        _check_device(device_type)
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast: enabled must be a bool, got {type(enabled).__name__}")
        if device_type == "cuda":  # as a CPU-only PyTorch: warn, then run the block without autocast
            if enabled:
                warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling")
            enabled, dtype = False, bfloat16
        if dtype is None:
            dtype = bfloat16
        if not isinstance(dtype, _dtype) or dtype not in _LOW:
            raise ValueError(f"autocast: CPU autocast supports dtype=md.bfloat16 or md.float16, got {dtype!r}")
        self.device = device_type
        self.fast_dtype = dtype
        self._enabled = enabled
        self._prev = []

    def __enter__(self):
        global active
        self._prev.append((getattr(_tls, "dtype", None), getattr(_tls, "last", None)))
        _tls.dtype = self.fast_dtype if self._enabled else None
        _tls.last = self.fast_dtype
        if self._enabled:
            with _lock:
                active += 1
        return self

    def __exit__(self, *exc):
        global active
        _tls.dtype, _tls.last = self._prev.pop()
        if self._enabled:
            with _lock:
                active -= 1
        return False

    def __call__(self, fn):
        args = (self.device, self.fast_dtype, self._enabled)

        @functools.wraps(fn)
        def wrapper(*a, **kw):
            with autocast(*args):
                return fn(*a, **kw)
        return wrapper
