"""``progress``: a progress bar for the labs and examples, with tqdm when it is installed.

A training run that prints nothing for minutes looks hung. ``progress(iterable, desc=...)``
wraps a loop the way ``tqdm(iterable, desc=...)`` does: with tqdm installed (an optional
dependency, in the ``examples`` extra) it *is* a tqdm bar; without tqdm it prints a plain line
``desc: 40% (4/10), 12 s elapsed, ~18 s left`` to stderr at most every ``every`` seconds and
once at the end, so logs stay readable. ``enabled=False`` (the ``--no-progress`` flag) gives a
silent object with the same methods, so the loop's code does not change.
"""
from __future__ import annotations

import sys
import time

try:
    from tqdm import tqdm as _tqdm
except ImportError:  # tqdm is optional: the plain fallback below prints lines instead
    _tqdm = None


class PlainProgress:
    """The fallback bar: iterates like ``tqdm`` and prints a line every ``every`` seconds.

    ``set_postfix(loss=0.5)`` adds ``loss=0.5`` to the next line; ``update(n)`` advances a bar
    used without an iterable; ``close()`` prints the final line (once).

    >>> import io
    >>> from minidl.utils.progress import PlainProgress
    >>> out = io.StringIO()
    >>> sum(PlainProgress(range(4), desc="demo", file=out, every=0.0))
    6
    >>> out.getvalue().splitlines()[-1].startswith("demo: 100% (4/4 it)")
    True
    """

    def __init__(self, iterable=None, total=None, desc: str = "", unit: str = "it", file=None,
                 every: float = 5.0, leave: bool = True, **_ignored):
        self.iterable, self.desc, self.unit = iterable, desc, unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.n, self.file, self.every = total, 0, file, every
        self.start = self.last = time.perf_counter()
        self.postfix, self.closed = "", False

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self):
        return self.total or 0

    def set_postfix(self, **values):
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, text: str):
        self.postfix = text

    def update(self, n=1):
        self.n += n
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            self._print(now)

    def close(self):
        if not self.closed:
            self.closed = True
            self._print(time.perf_counter())

    def _print(self, now):
        elapsed = now - self.start
        if self.total:
            left = elapsed / self.n * (self.total - self.n) if self.n else float("nan")
            line = (f"{self.desc}: {100 * self.n / self.total:.0f}% ({self.n:g}/{self.total:g} {self.unit}), "
                    f"{elapsed:.0f} s elapsed, ~{left:.0f} s left")
        else:
            line = f"{self.desc}: {self.n:g} {self.unit}, {elapsed:.0f} s elapsed"
        if self.postfix:
            line += f" [{self.postfix}]"
        print(line, file=self.file or sys.stderr, flush=True)


class NoProgress(PlainProgress):
    """What ``progress(..., enabled=False)`` returns: the same methods, prints nothing.

    >>> from minidl.utils.progress import NoProgress
    >>> list(NoProgress(range(3)))
    [0, 1, 2]
    """

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.n += 1

    def update(self, n=1):
        self.n += n

    def close(self):
        self.closed = True


def progress(iterable=None, total=None, desc: str = "", unit: str = "it", enabled: bool = True, **tqdm_kwargs):
    """A progress bar over ``iterable`` (or ``total`` units advanced with ``.update(n)``).

    tqdm's bar when tqdm is installed, else ``PlainProgress`` (a line to stderr every 5 s);
    ``enabled=False`` returns ``NoProgress`` (silent). Extra keyword arguments go to tqdm.
    minidl-only: PyTorch has no progress bar (``torch.hub`` uses tqdm the same way).

    >>> from minidl.utils.progress import progress
    >>> bar = progress(range(3), desc="epochs", enabled=False)
    >>> [epoch for epoch in bar]
    [0, 1, 2]
    >>> bar.set_postfix(loss=0.25)   # the same calls as on a tqdm bar
    """
    if not enabled:
        return NoProgress(iterable, total=total, desc=desc, unit=unit)
    if _tqdm is not None:
        return _tqdm(iterable, total=total, desc=desc, unit=unit, **tqdm_kwargs)
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, **tqdm_kwargs)
