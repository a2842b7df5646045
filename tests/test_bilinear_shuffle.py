"""nn.Bilinear / F.bilinear and nn.ChannelShuffle (issue 15 group 12) against PyTorch:
values, gradients, initialisation range, gradcheck and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")


@pytest.mark.parametrize("lead", [(4,), (2, 3), (1,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bilinear_matches_pytorch(lead, with_bias):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal(lead + (3,)).astype(np.float32), rng.standard_normal(lead + (5,)).astype(np.float32)
    w, b = rng.standard_normal((2, 3, 5)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    out = []
    for lib in (md, torch):
        ts = [lib.tensor(a, requires_grad=True) for a in (x1, x2, w, b)]
        y = lib.nn.functional.bilinear(ts[0], ts[1], ts[2], ts[3] if with_bias else None)
        (y * 1.3).sum().backward()
        out.append([y.detach().numpy()] + [t.grad.numpy() if t.grad is not None else None for t in ts])
    for got, want in zip(*out):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_bilinear_module_and_gradcheck():
    layer = md.nn.Bilinear(4, 6, 3)
    bound = 1 / 2  # 1 / sqrt(in1_features)
    assert float(layer.weight.abs().max()) <= bound and float(layer.bias.abs().max()) <= bound
    assert layer(md.zeros(2, 4), md.zeros(2, 6)).shape == (2, 3)
    rng = np.random.default_rng(1)
    args = [md.tensor(rng.standard_normal(s), requires_grad=True) for s in [(2, 3), (2, 4), (5, 3, 4), (5,)]]
    assert md.autograd.gradcheck(F.bilinear, tuple(args), eps=1e-6, atol=1e-5)
    with pytest.raises(RuntimeError, match="bilinear"):
        F.bilinear(md.zeros(2, 3), md.zeros(2, 4), md.zeros(5, 4, 4))


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 3), 2), ((1, 12, 5), 3), ((3, 4, 2, 2), 4), ((2, 5, 1, 1), 1)])
def test_channel_shuffle_matches_pytorch(shape, groups):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    my, ty = md.nn.ChannelShuffle(groups)(mx), torch.nn.ChannelShuffle(groups)(tx)
    np.testing.assert_array_equal(my.detach().numpy(), ty.detach().numpy())
    g = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    my.backward(md.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(mx.grad.numpy(), tx.grad.numpy())


def test_channel_shuffle_needs_divisible_channels():
    with pytest.raises(RuntimeError, match="divisible by groups"):
        md.nn.ChannelShuffle(4)(md.zeros(1, 6, 2, 2))
