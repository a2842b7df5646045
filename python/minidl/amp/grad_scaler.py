"""Dynamic loss scaling: ``md.amp.GradScaler``, PyTorch's semantics (torch/amp/grad_scaler.py).

float16 has 5 exponent bits: gradients below 2^-24 round to zero (underflow). Multiplying
the loss by a large scale S moves the whole backward pass up by log2(S) binades; before the
optimizer step the gradients are divided by S again ("unscaled") in float32. A scale that is
too large makes some gradient inf/NaN: that step is skipped and S shrinks.

    scaler = md.amp.GradScaler()
    with md.autocast("cpu", dtype=md.float16):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()       # grads = S * dloss/dw
    scaler.unscale_(opt)                # optional, e.g. before clip_grad_norm_
    scaler.step(opt)                    # unscales if needed; skips the step on inf/NaN
    scaler.update()                     # S *= backoff on inf/NaN, S *= growth after
                                        # growth_interval clean steps in a row

The inf/NaN check and the unscale are one C++ pass over all gradients of an optimizer
(``_C.amp_unscale_``, cpp/ops/amp/amp.cpp). The scale is kept in float32 and updated with
float32 arithmetic, as PyTorch's scale tensor is, so the trajectories agree value for value.
Unlike PyTorch, it is enabled on the CPU (FP16 training there needs it too).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _C
from ..tensor import Tensor

_READY, _UNSCALED, _STEPPED = 0, 1, 2


class GradScaler:
    """Loss scaler: scale(outputs), unscale_(optimizer), step(optimizer), update(new_scale=None),
    get_scale(), is_enabled(), state_dict(), load_state_dict(sd)."""

    def __init__(self, device: str = "cpu", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        if device not in ("cpu", "cuda"):
            raise ValueError(f"GradScaler: device {device!r} is not supported; minidl scales on 'cpu'")
        if not isinstance(enabled, bool):
            raise TypeError(f"GradScaler: enabled must be a bool, got {type(enabled).__name__}")
        if device == "cuda" and enabled:  # as a CPU-only PyTorch: warn and pass everything through
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.")
            enabled = False
        if not growth_factor > 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if not isinstance(growth_interval, int) or growth_interval <= 0:
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval!r}")
        if not (isinstance(init_scale, (int, float)) and init_scale > 0 and math.isfinite(init_scale)):
            raise ValueError(f"GradScaler: init_scale must be a positive finite number, got {init_scale!r}")
        self._device = device
        self._enabled = enabled
        self._scale = np.float32(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer = {}   # id(optimizer) -> {"stage", "found_inf"}

    # ---- scaling ----------------------------------------------------------------------
    def scale(self, outputs):
        """outputs * scale (a tensor, or tensors nested in lists/tuples); unchanged if disabled."""
        if not self._enabled:
            return outputs
        s = float(self._scale)

        def apply(v):
            if isinstance(v, Tensor):
                return v * s
            if isinstance(v, (list, tuple)):
                return type(v)(apply(x) for x in v)
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")
        return apply(outputs)

    def _state(self, optimizer):
        st = self._per_optimizer.get(id(optimizer))
        if st is None:
            st = self._per_optimizer[id(optimizer)] = {"stage": _READY, "found_inf": False}
        return st

    def unscale_(self, optimizer) -> None:
        """Divides this optimizer's gradients by the scale in place (one C++ pass that also
        records whether any was inf/NaN). At most once per optimizer between update()s."""
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if st["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # 1/scale in double, rounded to float32 (PyTorch: scale.double().reciprocal().float())
        inv = float(np.float32(1.0 / float(self._scale)))
        by_dtype = {}
        for group in optimizer.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                a = g._data
                if a.dtype == np.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                if not (a.flags.c_contiguous and a.flags.writeable) or a.dtype not in (np.float32, np.float64):
                    # work on a contiguous float32/float64 copy and put it back as the grad
                    a = np.ascontiguousarray(a, dtype=np.float64 if a.dtype == np.float64 else np.float32).copy()
                    g._data = a
                by_dtype.setdefault(a.dtype, []).append(a)
        found = False
        for arrays in by_dtype.values():
            found |= bool(_C.amp_unscale_(arrays, inv))
        st["found_inf"] = found
        st["stage"] = _UNSCALED

    # --8<-- [start:step_update]
    def step(self, optimizer, *args, **kwargs):
        """unscale_ (if not done yet), then optimizer.step(...) unless some gradient was
        inf/NaN, in which case the step is skipped and None returned."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        st = self._state(optimizer)
        if st["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if st["stage"] == _READY:
            self.unscale_(optimizer)
        ret = None if st["found_inf"] else optimizer.step(*args, **kwargs)
        st["stage"] = _STEPPED
        return ret

    def update(self, new_scale=None) -> None:
        """New scale: backoff_factor * S if any optimizer saw inf/NaN this iteration, else
        growth_factor * S after growth_interval clean steps in a row (float32 arithmetic,
        kept only when finite). new_scale (float or 1-element tensor) sets it directly."""
        if not self._enabled:
            return
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1:
                    raise ValueError("new_scale should be a float or a 1-element tensor.")
                new_scale = new_scale.item()
            self._scale = np.float32(new_scale)
        else:
            if not self._per_optimizer:
                raise RuntimeError("No inf checks were recorded prior to update().")
            found = any(st["found_inf"] for st in self._per_optimizer.values())
            if found:
                self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
                self._growth_tracker = 0
            else:
                successful = self._growth_tracker + 1
                if successful == self._growth_interval:
                    with np.errstate(over="ignore"):  # an inf scale is simply not taken
                        grown = np.float32(self._scale * np.float32(self._growth_factor))
                    if np.isfinite(grown):
                        self._scale = grown
                    successful = 0
                self._growth_tracker = successful
        self._per_optimizer = {}
    # --8<-- [end:step_update]

    # ---- introspection and checkpoints -------------------------------------------------
    def get_scale(self) -> float:
        return float(self._scale) if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        """PyTorch's keys: scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker ({} when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": float(self._scale), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        missing = {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"} - set(state_dict)
        if missing:
            raise KeyError(f"GradScaler.load_state_dict: missing keys {sorted(missing)}")
        self._scale = np.float32(float(state_dict["scale"]))
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
