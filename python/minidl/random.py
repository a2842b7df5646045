"""``md.random``, as ``torch.random``: the default generator's seed and state, and
``fork_rng`` to draw without moving the default stream. The same functions are at the top
level (``md.manual_seed`` is ``md.random.manual_seed``); they live in ops/generator.py.

>>> import minidl as md
>>> _ = md.random.manual_seed(3)
>>> md.random.initial_seed(), md.random.default_generator is md.default_generator
(3, True)
"""
from .ops.generator import (Generator, default_generator, fork_rng, get_rng_state, initial_seed, manual_seed, seed,
                            set_rng_state)

__all__ = ["Generator", "default_generator", "fork_rng", "get_rng_state", "initial_seed", "manual_seed", "seed",
           "set_rng_state"]
