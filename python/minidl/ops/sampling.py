"""Drawing category indices from weights: ``md.multinomial``, sampled in C++
(cpp/ops/random/multinomial.cpp) from ``generator`` or the default generator (seeded by
``md.manual_seed``), so a seed reproduces the samples.
"""
from __future__ import annotations

from .. import _C
from ..tensor import Tensor
from . import array as A
from .generator import rng_of


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Sample ``num_samples`` category indices per row, category i with probability
    w_i / sum_j w_j for the non-negative weights w in ``input`` (they need not sum to 1).

    With ``replacement=True`` every draw is independent: inverse-CDF sampling, index i where
    cdf_{i-1} <= u < cdf_i for u ~ U(0, 1), so a zero-weight category is never drawn. Without
    replacement (the default) a category appears at most once per row, drawn as PyTorch does:
    the ``num_samples`` largest w_i / E_i with E_i ~ Exp(1) (equivalent to drawing one at a
    time and removing it); zero-weight categories come last, only when the row has fewer
    non-zero weights than ``num_samples``. The draws come from ``generator`` (an
    ``md.Generator``) or the default generator (``md.manual_seed``), so they reproduce under
    a seed but differ from PyTorch's.

    Shapes: (C,) -> (num_samples,); (N, C) -> (N, num_samples); int64 indices in [0, C).
    Bad input raises RuntimeError with PyTorch's message: not 1-D/2-D, integer weights,
    num_samples <= 0, more samples than categories without replacement, a negative, NaN or
    infinite weight, a row whose weights sum to 0.

    >>> import minidl as md
    >>> _ = md.manual_seed(0)
    >>> md.multinomial(md.tensor([0.0, 10.0, 0.0]), 4, replacement=True)
    tensor([1, 1, 1, 1])
    >>> sorted(md.multinomial(md.tensor([1.0, 2.0, 3.0]), 3).tolist())
    [0, 1, 2]
    >>> md.multinomial(md.tensor([[1.0, 0.0], [0.0, 1.0]]), 1)
    tensor([[0],
            [1]])
    """
    rng = rng_of(generator)
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.is_floating_point():
        name = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                "bool": "Bool"}.get(str(input.dtype).split(".")[-1], str(input.dtype))
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {name}")
    categories = input.shape[-1]
    weights = input.detach()._data
    if A.is_low(weights):  # float16 / bfloat16: the kernel reads float32 and float64
        weights = A.to_f32(weights)
    weights = weights.reshape(-1, categories)  # a copy only when the layout needs one; the kernel makes it contiguous
    out = _C.multinomial(weights, int(num_samples), bool(replacement), rng)  # checks the weights and num_samples
    return Tensor._wrap(out.reshape(out.shape[1]) if input.ndim == 1 else out)
