"""Whether operations record the backward graph: ``no_grad``, ``enable_grad``,
``set_grad_enabled`` (context managers and decorators, as in PyTorch).

While recording is on (the default), every op on a tensor that requires grad keeps a node
for the backward pass; evaluation and parameter updates switch it off to save the memory
and the time. The switch is one global flag (PyTorch keeps one per thread).

>>> import minidl as md
>>> x = md.tensor([1., 2.], requires_grad=True)
>>> with md.no_grad():
...     (x * 2).requires_grad
False
"""
from __future__ import annotations

import functools

_enabled = True


def is_grad_enabled() -> bool:
    """True while operations record the backward graph (the default), False inside ``no_grad``.

    >>> import minidl as md
    >>> md.is_grad_enabled()
    True
    >>> with md.no_grad():
    ...     md.is_grad_enabled()
    False
    """
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
    """Inside it no graph is recorded: results have ``requires_grad=False``.

    Use it for evaluation (no backward pass will follow, so the saved activations would be
    wasted memory) and for updating parameters in place (an optimizer step is not part of
    the model). Works as a context manager or as a decorator; the previous mode is restored
    on exit, exceptions included.

    >>> import minidl as md
    >>> x = md.tensor([1., 2.], requires_grad=True)
    >>> with md.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    >>> @md.no_grad()
    ... def evaluate(t):
    ...     return t * 2
    >>> evaluate(x).requires_grad
    False
    """
    _value = False


class enable_grad(_GradMode):
    """Re-enables recording inside a ``no_grad`` block.

    A context manager or a decorator; the previous mode is restored on exit.

    >>> import minidl as md
    >>> x = md.tensor([1., 2.], requires_grad=True)
    >>> with md.no_grad():
    ...     with md.enable_grad():
    ...         y = x * 2
    >>> y.requires_grad
    True
    """
    _value = True


class set_grad_enabled(_GradMode):
    """``with set_grad_enabled(mode):`` records the graph iff ``mode``.

    ``no_grad`` and ``enable_grad`` with the choice made at run time, e.g.
    ``md.set_grad_enabled(is_training)``. As in PyTorch, calling it as a plain function
    (not in a ``with``) switches the mode right away and leaves it switched.

    >>> import minidl as md
    >>> x = md.tensor([1., 2.], requires_grad=True)
    >>> with md.set_grad_enabled(False):
    ...     (x * 2).requires_grad
    False
    >>> _ = md.set_grad_enabled(False)       # as a function: stays off ...
    >>> md.is_grad_enabled()
    False
    >>> _ = md.set_grad_enabled(True)        # ... until switched back
    """

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
    """Same as ``no_grad`` here.

    In PyTorch, inference mode also skips the bookkeeping that lets tensors made inside it
    be used later in autograd; minidl has no such bookkeeping, so the two are the same.
    ``inference_mode(False)`` leaves recording on.

    >>> import minidl as md
    >>> x = md.tensor([1., 2.], requires_grad=True)
    >>> with md.inference_mode():
    ...     (x * 2).requires_grad
    False
    """

    def __init__(self, mode: bool = True):
        self._value = not mode
