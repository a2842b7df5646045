"""Mixed precision: ``autocast`` (per-op dtype policy, autocast_mode.py) and ``GradScaler``
(dynamic loss scaling, grad_scaler.py). ``md.autocast`` is ``md.amp.autocast``."""
from __future__ import annotations

from .autocast_mode import (FP32_OPS, LOWER_PRECISION_OPS, autocast, autocast_inputs, get_autocast_dtype,
                            is_autocast_enabled)
from .grad_scaler import GradScaler

__all__ = ["autocast", "autocast_inputs", "GradScaler", "is_autocast_enabled", "get_autocast_dtype",
           "LOWER_PRECISION_OPS", "FP32_OPS"]
