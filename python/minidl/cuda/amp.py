"""``md.cuda.amp``: PyTorch's deprecated ``torch.cuda.amp.autocast`` and
``torch.cuda.amp.GradScaler``, which many older scripts still call.

On a CPU-only PyTorch both warn that CUDA is not available and disable themselves, so the
script runs in float32 unchanged; minidl does the same. For mixed precision on the CPU use
``md.autocast("cpu", dtype=md.bfloat16)`` and ``md.amp.GradScaler("cpu")``.

>>> import warnings
>>> import minidl as md
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     scaler = md.cuda.amp.GradScaler()
>>> scaler.is_enabled()
False
"""
from __future__ import annotations

from ..amp import GradScaler as _GradScaler, autocast as _autocast


def autocast(enabled: bool = True, dtype=None, cache_enabled: bool = True):
    """``torch.cuda.amp.autocast(...)``: ``md.autocast("cuda", ...)``, which warns and is
    disabled (no CUDA here), as on a CPU-only PyTorch.

    >>> import warnings
    >>> import minidl as md
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     with md.cuda.amp.autocast():
    ...         y = md.ones(2) @ md.ones(2)
    >>> y.dtype
    minidl.float32
    """
    return _autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def GradScaler(init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
               growth_interval: int = 2000, enabled: bool = True):
    """``torch.cuda.amp.GradScaler(...)``: ``md.amp.GradScaler("cuda", ...)``, which warns and
    is disabled (``scale(loss)`` returns the loss, ``step`` just steps), as on a CPU-only
    PyTorch.

    >>> import warnings
    >>> import minidl as md
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     md.cuda.amp.GradScaler().scale(md.tensor(2.0))
    tensor(2.0000)
    """
    return _GradScaler("cuda", init_scale=init_scale, growth_factor=growth_factor, backoff_factor=backoff_factor,
                       growth_interval=growth_interval, enabled=enabled)
