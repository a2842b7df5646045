"""Random number generators: ``md.Generator``, ``md.default_generator``, and the functions that
seed and snapshot the default one (``md.manual_seed``, ``md.seed``, ``md.initial_seed``,
``md.get_rng_state``, ``md.set_rng_state``, ``md.random.fork_rng``).

A generator is a stream of pseudo-random numbers fixed by its seed. Each ``md.Generator``
owns one xoshiro256** state (Blackman & Vigna, 2018; 256 bits, in C++: cpp/ops/random), so
draws from one never move another: ``md.rand(3, generator=g)`` leaves the default stream
(what ``md.rand(3)`` uses) where it was. That is how a data pipeline keeps its shuffling
reproducible while the model's dropout draws from the default stream.

Where minidl differs from PyTorch: the algorithm is not PyTorch's (Mersenne Twister on CPU),
so the same seed gives different numbers in the two libraries, and a state from
``get_state`` is minidl's own layout (int64, shape (4,)) that PyTorch cannot read.

>>> import minidl as md
>>> g = md.Generator().manual_seed(42)
>>> a = md.rand(3, generator=g)
>>> md.equal(a, md.rand(3, generator=md.Generator().manual_seed(42)))   # same seed, same draws
True
"""
from __future__ import annotations

import contextlib
import numbers
import os

import numpy as np

from .. import _C
from ..dtypes import int64
from ..tensor import Tensor, device as _device

_UINT64 = 1 << 64


def _check_seed(seed) -> int:
    """A seed as the unsigned 64-bit integer the C++ generator takes (negative ints wrap, as in PyTorch)."""
    if isinstance(seed, Tensor) and seed.ndim == 0:
        seed = seed.item()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"manual_seed expected an int seed, got {type(seed).__name__}")
    seed = int(seed)
    if not -(1 << 63) <= seed < _UINT64:
        raise RuntimeError(f"Overflow when unpacking long: seed {seed} is outside [-2**63, 2**64)")
    return seed % _UINT64


class Generator:
    """A random number generator with its own state: pass it as ``generator=`` to any random
    function (rand, randn, randint, randperm, normal, bernoulli, poisson, multinomial, the
    Tensor in-place samplers uniform_ ... log_normal_, nn.init) to draw from it instead of
    from the default generator.

    ``manual_seed(s)`` restarts the stream from seed s (and returns the generator, so
    ``g = md.Generator().manual_seed(0)`` reads as in PyTorch); ``seed()`` seeds from the
    operating system's entropy and returns that seed; ``initial_seed()`` is the last seed;
    ``get_state()`` / ``set_state(s)`` save and restore the position in the stream;
    ``clone_state()``, ``copy.deepcopy`` and pickle give an independent generator at the same
    position. A new generator starts from PyTorch's default seed, 67280421310721.

    Where minidl differs from PyTorch: the stream is xoshiro256**, not Mersenne Twister, and
    the state is an int64 tensor of shape (4,) (PyTorch: a uint8 tensor of 5056 bytes);
    only ``device="cpu"`` exists.

    >>> import minidl as md
    >>> g = md.Generator()
    >>> g.initial_seed(), g.device
    (67280421310721, device(type='cpu'))
    >>> state = g.manual_seed(7).get_state()
    >>> a = md.randn(2, generator=g)
    >>> _ = g.set_state(state)
    >>> md.equal(a, md.randn(2, generator=g))   # the same position, the same draws
    True
    """

    def __init__(self, device="cpu"):
        name = str(device)
        if name.startswith("cuda"):
            raise RuntimeError("minidl has no CUDA generator: only Generator(device='cpu') exists")
        if name != "cpu":
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {name}")
        self._rng = _C.Rng()
        self.device = _device("cpu")

    @classmethod
    def _wrapping(cls, rng) -> "Generator":
        g = cls.__new__(cls)
        g._rng, g.device = rng, _device("cpu")
        return g

    def manual_seed(self, seed) -> "Generator":
        """Restart the stream from ``seed`` (an int; negative seeds wrap modulo 2**64); returns self."""
        self._rng.manual_seed(_check_seed(seed))
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy (``os.urandom``) and return that seed."""
        s = int.from_bytes(os.urandom(8), "little")
        self._rng.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed the stream last started from."""
        return int(self._rng.seed)

    def get_state(self) -> Tensor:
        """The 256-bit xoshiro256** state as a new int64 tensor of shape (4,)."""
        return Tensor._wrap(np.array(self._rng.get_state(), dtype=np.uint64).view(np.int64))

    def set_state(self, new_state: Tensor) -> "Generator":
        """Restore a state taken by :meth:`get_state` (of this or any generator); returns self."""
        if not isinstance(new_state, Tensor) or new_state.dtype is not int64 or tuple(new_state.shape) != (4,):
            what = (f"a tensor of dtype {new_state.dtype} and shape {tuple(new_state.shape)}"
                    if isinstance(new_state, Tensor) else type(new_state).__name__)
            raise TypeError(f"RNG state must be the int64 tensor of shape (4,) that get_state() returns, got {what}")
        words = np.ascontiguousarray(new_state.detach().numpy()).view(np.uint64)
        self._rng.set_state([int(w) for w in words])
        return self

    def clone_state(self) -> "Generator":
        """A new generator at this one's seed and position: both then draw the same numbers."""
        return Generator().manual_seed(self.initial_seed()).set_state(self.get_state())

    # copy.deepcopy and pickle (a DataLoader or a checkpoint that holds a generator) go
    # through the seed and the 4 state words, as torch.Generator's do through its state
    def __getstate__(self):
        return {"seed": self.initial_seed(), "state": self._rng.get_state()}

    def __setstate__(self, saved):
        self._rng, self.device = _C.Rng(saved["seed"]), _device("cpu")
        self._rng.set_state(saved["state"])

    def __repr__(self):
        return f"<minidl.Generator device='cpu' initial_seed={self.initial_seed()}>"


default_generator = Generator._wrapping(_C.default_rng())


# --8<-- [start:rng_of]
def rng_of(generator):
    """The C++ state a random function draws from: ``generator``'s, or None for the default one.

    Anything else raises TypeError naming what was passed (a seed given where a generator
    belongs is the usual mistake).

    >>> from minidl.ops.generator import Generator, rng_of
    >>> rng_of(None) is None, rng_of(Generator()) is not None
    (True, True)
    >>> rng_of(0)
    Traceback (most recent call last):
        ...
    TypeError: generator must be a md.Generator (or None for the default one), got int
    """
    if generator is None:
        return None
    if isinstance(generator, Generator):
        return generator._rng
    raise TypeError(f"generator must be a md.Generator (or None for the default one), got {type(generator).__name__}")
# --8<-- [end:rng_of]


def manual_seed(seed) -> Generator:
    """Seed the default generator: rand/randn/randint/randperm, init, dropout, shuffling and
    augmentation all draw from it unless given ``generator=``. Returns ``md.default_generator``.

    The same seed gives the same sequence of random numbers, run after run: seed once at the
    top of a script to make an experiment reproducible. Where minidl differs from PyTorch: the
    generator is not PyTorch's (Mersenne Twister), so ``md.manual_seed(0)`` and
    ``torch.manual_seed(0)`` give different numbers.

    >>> import minidl as md
    >>> _ = md.manual_seed(0)
    >>> a = md.rand(3)
    >>> md.manual_seed(0) is md.default_generator
    True
    >>> md.equal(a, md.rand(3))     # the same seed, the same numbers
    True
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from the operating system's entropy; returns the seed
    (to log it, then reproduce the run with ``md.manual_seed`` of it).

    >>> import minidl as md
    >>> s = md.seed()
    >>> md.initial_seed() == s
    True
    """
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the default generator last started from (:func:`manual_seed`, :func:`seed`, or
    minidl's start-up seed).

    >>> import minidl as md
    >>> _ = md.manual_seed(42)
    >>> md.initial_seed()
    42
    """
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """A snapshot of the default generator's state, to restore later with :func:`set_rng_state`.

    Where minidl differs from PyTorch: the state is the 256-bit xoshiro256** state as an
    int64 tensor of shape (4,) (PyTorch returns a uint8 tensor of its own layout); the two
    are not interchangeable.

    >>> import minidl as md
    >>> state = md.get_rng_state()
    >>> state.shape, state.dtype
    (minidl.Size([4]), minidl.int64)
    """
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the default generator's state from a snapshot taken by :func:`get_rng_state`.

    The draws after it repeat the draws made after the snapshot was taken.

    >>> import minidl as md
    >>> state = md.get_rng_state()
    >>> a = md.randn(3)
    >>> md.set_rng_state(state)
    >>> md.equal(a, md.randn(3))
    True
    """
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True, device_type: str = "cpu"):
    """A ``with`` block whose draws from the default generator are forgotten after it: the
    state is saved on entry and restored on exit (also when the block raises).

    Useful to draw something (a validation batch, a probe) without shifting the random
    numbers the rest of a seeded run sees. ``enabled=False`` makes it a no-op. ``devices``
    and ``device_type`` are accepted for PyTorch's signature (minidl has only the CPU).

    >>> import minidl as md
    >>> _ = md.manual_seed(0)
    >>> with md.random.fork_rng():
    ...     _ = md.rand(1000)            # these draws do not move the stream outside
    >>> a = md.rand(2)
    >>> _ = md.manual_seed(0)
    >>> md.equal(a, md.rand(2))
    True
    """
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
