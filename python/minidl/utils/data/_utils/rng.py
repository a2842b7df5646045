"""The random draws of samplers and workers, each from a ``generator=`` (an ``md.Generator``;
None: the default generator), in PyTorch's steps."""
from __future__ import annotations

from ....dtypes import int64
from ....ops.creation import empty
from ....ops.generator import Generator, manual_seed
from ....ops.random import randint, randperm
from ....ops.random_inplace import random_
from ....ops.sampling import multinomial

__all__ = ["Generator", "manual_seed", "randint", "randperm", "multinomial", "draw_seed", "seeded_generator"]


def draw_seed(generator=None) -> int:
    """A seed drawn from ``generator``: PyTorch's
    ``torch.empty((), dtype=torch.int64).random_(generator=generator).item()``."""
    return int(random_(empty((), dtype=int64), generator=generator).item())


def seeded_generator(seed: int) -> Generator:
    """``md.Generator().manual_seed(seed)``: a stream of its own, the same wherever the seed is."""
    return Generator().manual_seed(seed)
