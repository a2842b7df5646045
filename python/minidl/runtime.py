"""Process-wide settings a PyTorch script makes at its top, as ``torch.*`` has them:
``compile``, the float32 matmul precision, deterministic algorithms, inter-op threads and
``is_floating_point``. Each does what it can do on minidl and says where that differs.

>>> import minidl as md
>>> model = md.compile(md.nn.Linear(2, 2))     # minidl runs eagerly: the model itself
>>> isinstance(model, md.nn.Linear)
True
>>> md.set_float32_matmul_precision("high")
>>> md.get_float32_matmul_precision()
'high'
"""
from __future__ import annotations

import warnings

from .tensor import Tensor

_settings = {"matmul_precision": "highest", "deterministic": False, "deterministic_warn_only": False,
             "interop_threads": 1}


# --8<-- [start:compile]
def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor", mode=None, options=None,
            disable: bool = False):
    """``torch.compile``: returns ``model`` (a module or a function) unchanged.

    minidl runs eagerly: every op already calls its C++ kernel, and there is no graph
    compiler to hand the model to. Used as a decorator (``@md.compile`` or
    ``@md.compile(mode=...)``) it returns the function unchanged too. The arguments are
    accepted and ignored.

    >>> import minidl as md
    >>> @md.compile
    ... def f(x):
    ...     return x * 2
    >>> f(md.ones(2))
    tensor([2.0000, 2.0000])
    """
    if model is None:
        return lambda m: m
    return model
# --8<-- [end:compile]


def set_float32_matmul_precision(precision: str) -> None:
    """Record the float32 matmul precision ("highest", "high" or "medium"), as
    ``torch.set_float32_matmul_precision``; any other value warns and changes nothing.

    Where minidl differs: its float32 products always accumulate in float32 ("highest"); for
    faster 16-bit products use ``md.autocast("cpu", dtype=md.bfloat16)``.

    >>> import minidl as md
    >>> md.set_float32_matmul_precision("medium")
    >>> md.get_float32_matmul_precision()
    'medium'
    >>> md.set_float32_matmul_precision("highest")
    """
    if precision not in ("highest", "high", "medium"):
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "setFloat32MatmulPrecision call has no effect.")
        return
    _settings["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    """The value last given to :func:`set_float32_matmul_precision` ("highest" at start).

    >>> import minidl as md
    >>> md.get_float32_matmul_precision() in ("highest", "high", "medium")
    True
    """
    return _settings["matmul_precision"]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record whether only deterministic algorithms may run (``torch.use_deterministic_algorithms``).

    Where minidl differs: it records the flag but does not check kernels against it. At a
    given thread count the kernels give bit-identical results run after run: sums split
    between threads cover fixed ranges added in a fixed order, whichever thread ran which
    (attention's dQ over key tiles, the convolution weight gradient over images).
    Which kernel path runs is chosen by timing on first use unless
    ``md.backends.cpu.benchmark = False``; the paths round differently.

    >>> import minidl as md
    >>> md.use_deterministic_algorithms(True)
    >>> md.are_deterministic_algorithms_enabled()
    True
    >>> md.use_deterministic_algorithms(False)
    """
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms(): argument 'mode' must be bool, not {type(mode).__name__}")
    _settings["deterministic"], _settings["deterministic_warn_only"] = mode, bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    """The flag last given to :func:`use_deterministic_algorithms` (False at start).

    >>> import minidl as md
    >>> md.are_deterministic_algorithms_enabled() in (True, False)
    True
    """
    return _settings["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """The ``warn_only`` last given to :func:`use_deterministic_algorithms`.

    >>> import minidl as md
    >>> md.is_deterministic_algorithms_warn_only_enabled() in (True, False)
    True
    """
    return _settings["deterministic_warn_only"]


def set_num_interop_threads(n: int) -> None:
    """Record the number of inter-op threads (``torch.set_num_interop_threads``).

    Where minidl differs: it runs one op at a time (no inter-op pool); the threads that matter
    are the intra-op ones, :func:`md.set_num_threads`.

    >>> import minidl as md
    >>> md.set_num_interop_threads(2)
    >>> md.get_num_interop_threads()
    2
    """
    if not isinstance(n, int) or n < 1:
        raise RuntimeError(f"Expected positive number of threads, got {n}")
    _settings["interop_threads"] = n


def get_num_interop_threads() -> int:
    """The value last given to :func:`set_num_interop_threads` (1 at start: one op at a time).

    >>> import minidl as md
    >>> md.get_num_interop_threads() >= 1
    True
    """
    return _settings["interop_threads"]


def is_floating_point(input: Tensor) -> bool:
    """Whether ``input``'s dtype is a floating-point one (float16/32/64, bfloat16).

    >>> import minidl as md
    >>> md.is_floating_point(md.ones(1)), md.is_floating_point(md.tensor([1]))
    (True, False)
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"is_floating_point(): argument 'input' must be Tensor, not {type(input).__name__}")
    return input.is_floating_point()
