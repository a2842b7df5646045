"""``md.callbacks``: training-loop helpers. ``EarlyStopping`` stops when validation stalls.

    early = md.callbacks.EarlyStopping(patience=5)
    for epoch in range(100):
        train_one_epoch(model)
        if early(validate(model), model):   # True: stop; the best weights are back in model
            break
"""
from __future__ import annotations

import copy
import math
import numbers

from .tensor import Tensor

__all__ = ["EarlyStopping"]


def _snapshot(state: dict) -> dict:
    """A deep copy of a state dict: every tensor cloned (own memory), other values copied."""
    out = type(state)()
    for k, v in state.items():
        out[k] = v.detach().clone() if isinstance(v, Tensor) else copy.deepcopy(v)
    return out


class EarlyStopping:
    """Stop training after ``patience`` calls in a row without improvement.

    ``early(value, model=None)`` records one validation value (a number or a one-element
    tensor). The value *improves* when it beats ``best`` by more than ``min_delta``:
    ``value < best - min_delta`` for ``mode="min"`` (a loss), ``value > best + min_delta``
    for ``mode="max"`` (an accuracy); NaN never improves. On an improvement ``best``,
    ``best_epoch`` (0-based index of that call) and a deep copy of ``model.state_dict()``
    are kept and ``counter`` goes back to 0; otherwise ``counter`` grows by one. The call
    returns True once ``counter >= patience``, and then, with ``restore_best``, loads the
    best state dict back into ``model`` (every call that returns True does so).

    Before the first improvement ``best`` is +inf ("min") or -inf ("max") and
    ``best_epoch`` is None. ``state_dict()`` / ``load_state_dict()`` save and resume it.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, mode: str = "min", restore_best: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 1:
            raise ValueError(f"EarlyStopping patience must be a positive int, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) \
                or not (min_delta >= 0 and math.isfinite(min_delta)):
            raise ValueError(f"EarlyStopping min_delta must be a finite number >= 0, got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min' or 'max', got {mode!r}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = mode
        self.restore_best = bool(restore_best)
        self.reset()

    def reset(self) -> None:
        """Forget every value seen (a fresh run)."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.counter = 0
        self.calls = 0
        self.best_state = None

    def improves(self, value: float) -> bool:
        """Whether ``value`` would count as an improvement over ``best``."""
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    @property
    def should_stop(self) -> bool:
        return self.counter >= self.patience

    # --8<-- [start:early_stopping_call]
    def __call__(self, value, model=None) -> bool:
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise ValueError(f"EarlyStopping expects one value, got a tensor of shape {tuple(value.shape)}")
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"EarlyStopping expects a number or a one-element tensor, got {type(value).__name__}")
        value = float(value)
        if self.improves(value):
            self.best, self.best_epoch, self.counter = value, self.calls, 0
            if model is not None and self.restore_best:
                self.best_state = _snapshot(model.state_dict())
        else:
            self.counter += 1
        self.calls += 1
        stop = self.should_stop
        if stop and self.restore_best and model is not None and self.best_state is not None:
            model.load_state_dict(self.best_state)
        return stop
    # --8<-- [end:early_stopping_call]

    def state_dict(self) -> dict:
        """Everything needed to resume (``md.save`` can store it)."""
        return {"patience": self.patience, "min_delta": self.min_delta, "mode": self.mode,
                "restore_best": self.restore_best, "best": self.best, "best_epoch": self.best_epoch,
                "counter": self.counter, "calls": self.calls, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        for k in ("patience", "min_delta", "mode", "restore_best", "best", "best_epoch", "counter", "calls"):
            setattr(self, k, state[k])
        bs = state["best_state"]
        self.best_state = None if bs is None else _snapshot(bs)

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, mode={self.mode!r}, "
                f"best={self.best}, best_epoch={self.best_epoch}, counter={self.counter})")
