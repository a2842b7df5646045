"""Whether operations record the backward graph: ``no_grad``, ``enable_grad``,
``set_grad_enabled`` (context managers and decorators, as in PyTorch)."""
from __future__ import annotations

import functools

_enabled = True


def is_grad_enabled() -> bool:
    return _enabled


class _GradMode:
    _value = True

    def __enter__(self):
        global _enabled
        self._prev = _enabled
        _enabled = self._value
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Inside it no graph is recorded: results have ``requires_grad=False``."""
    _value = False


class enable_grad(_GradMode):
    """Re-enables recording inside a ``no_grad`` block."""
    _value = True


class set_grad_enabled(_GradMode):
    """``with set_grad_enabled(mode):`` records the graph iff ``mode``."""

    def __init__(self, mode: bool):
        global _enabled
        self._value = bool(mode)
        # like PyTorch, calling it as a function sets the mode right away
        self._prev = _enabled
        _enabled = self._value

    def __enter__(self):  # the mode before __init__ changed it is the one to restore
        global _enabled
        _enabled = self._value
        return self

    def __call__(self, fn):
        mode = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class inference_mode(no_grad):
    """Same as ``no_grad`` here."""

    def __init__(self, mode: bool = True):
        self._value = not mode
