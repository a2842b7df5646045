"""PixelShuffle / PixelUnshuffle (issue 15 group 9) against PyTorch: values, gradients,
batch-free and extra leading dims, round trip, errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 5), 2), ((9, 2, 2), 3), ((2, 1, 4, 1, 1), 2), ((1, 1, 1, 1), 1)])
def test_pixel_shuffle_and_unshuffle_match_pytorch(shape, r):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for name in ("pixel_shuffle", "pixel_unshuffle"):
        xs = x if name == "pixel_shuffle" else x.reshape(shape[:-3] + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r))
        mx, tx = md.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
        my, ty = getattr(F, name)(mx, r), getattr(torch.nn.functional, name)(tx, r)
        np.testing.assert_array_equal(my.detach().numpy(), ty.detach().numpy())
        g = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(np.float32)
        my.backward(md.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_array_equal(mx.grad.numpy(), tx.grad.numpy())


def test_round_trip_and_errors():
    x = md.randn(2, 12, 3, 3)
    assert md.equal(F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2), x)
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        md.nn.PixelShuffle(2)(md.zeros(1, 6, 2, 2))
    with pytest.raises(RuntimeError, match="divisible by downscale_factor"):
        md.nn.PixelUnshuffle(2)(md.zeros(1, 1, 3, 4))
