"""The random functions the samplers and workers draw from, with ``generator=``.

``md.Generator`` (a generator with its own state) lives in ``ops.generator`` once issue 15's
random work is in; before that there is one default generator and ``generator=`` is accepted
but not used, so ``Generator`` is None here and callers fall back to the default generator.
"""
from __future__ import annotations

try:
    from ....ops.generator import Generator, manual_seed
    from ....ops.random import randint, randperm
except ImportError:  # minidl without md.Generator: the default generator only
    from ....ops.creation import get_rng_state, manual_seed, randint, randperm, set_rng_state
    Generator = None
from ....ops.sampling import multinomial

INT64_MAX = 2 ** 63 - 1

__all__ = ["Generator", "manual_seed", "randint", "randperm", "multinomial", "draw_seed", "seeded_generator", "seeded_randperm"]


def draw_seed(generator=None) -> int:
    """A seed in [0, 2^63 - 1) drawn from ``generator``: PyTorch's
    ``torch.empty((), dtype=torch.int64).random_(generator=generator).item()``."""
    return int(randint(0, INT64_MAX, (1,), generator=generator).item())


def seeded_generator(seed: int):
    """A new generator seeded with ``seed`` (PyTorch's ``torch.Generator().manual_seed(seed)``);
    None (the default generator, left unseeded) where minidl has no ``md.Generator``."""
    return None if Generator is None else Generator().manual_seed(seed)


def seeded_randperm(n: int, seed: int) -> list:
    """``randperm(n)`` from a generator seeded with ``seed``, as a list: the same on every call
    and in every process with the same seed (what DistributedSampler's ranks rely on)."""
    if Generator is not None:
        return randperm(n, generator=Generator().manual_seed(seed)).tolist()
    state = get_rng_state()  # no md.Generator: seed the default one, then put its state back
    manual_seed(seed)
    try:
        return randperm(n).tolist()
    finally:
        set_rng_state(state)
