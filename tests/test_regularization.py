"""Dropout (inverted, seeded, identity in eval) and gradient clipping against PyTorch."""
import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F

from conftest import assert_close, require, to_torch


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_statistics_and_scaling(p):
    md.manual_seed(0)
    x = md.ones(200_000)
    y = F.dropout(x, p, training=True).numpy()
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.01           # each element kept with probability 1 - p
    assert np.allclose(y[kept], 1 / (1 - p))           # survivors scaled: E[y] = x
    assert abs(y.mean() - 1.0) < 0.03


def test_dropout_is_seeded_identity_in_eval_and_backward_uses_mask():
    layer = nn.Dropout(0.5)
    x = md.randn(64, 32, requires_grad=True)
    md.manual_seed(3)
    a = layer(x)
    md.manual_seed(3)
    b = layer(x)
    assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    a.sum().backward()
    mask = a.detach().numpy() != 0
    assert np.allclose(x.grad.numpy(), mask * 2.0)     # d/dx = mask / (1 - p)
    layer.eval()
    assert layer(x) is x
    assert F.dropout(x, 0.0, training=True) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, float("inf")])
def test_clip_grad_norm_matches_torch(rng, norm_type):
    torch = require("torch")
    grads = [rng.standard_normal(s).astype(np.float32) * 3 for s in [(4, 5), (7,), (2, 3, 2)]]
    ps = [md.zeros(*g.shape, requires_grad=True) for g in grads]
    tps = [torch.zeros(*g.shape, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad = md.tensor(g)
        tp.grad = torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ps, max_norm=1.5, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm=1.5, norm_type=norm_type)
    assert_close(total, ttotal)
    for p, tp in zip(ps, tps):
        assert_close(p.grad, tp.grad)


@pytest.mark.parametrize("dtype", ["float64", "bfloat16", "strided"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_clip_grad_norm_dtypes_and_layouts_match_torch(rng, dtype, norm_type):
    torch = require("torch")
    grads = [rng.standard_normal(s) * 3 for s in [(40, 50), (7,), (0, 3)]]
    ps, tps = [], []
    for g in grads:
        p, tp = md.zeros(*g.shape, requires_grad=True), torch.zeros(*g.shape, requires_grad=True)
        if dtype == "strided":                           # a transposed view as .grad
            p.grad, tp.grad = md.tensor(g.T.astype(np.float32)).T, torch.tensor(g.T.astype(np.float32)).T
        else:
            p, tp = p.to(getattr(md, dtype)), tp.to(getattr(torch, dtype))
            p.grad, tp.grad = md.tensor(g).to(getattr(md, dtype)), torch.tensor(g).to(getattr(torch, dtype))
        ps.append(p)
        tps.append(tp)
    total = nn.utils.clip_grad_norm_(ps, max_norm=1.5, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm=1.5, norm_type=norm_type)
    tol = 1e-2 if dtype == "bfloat16" else 1e-5
    np.testing.assert_allclose(float(total), float(ttotal), rtol=tol)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.float().numpy(), tp.grad.float().numpy(), rtol=tol, atol=tol)


def test_clip_grad_norm_of_a_long_gradient_is_accurate(rng):
    # 2^22 same-signed squares: the float32 sum is taken in blocks, close to the exact value
    g = rng.random(1 << 22).astype(np.float32)
    p = md.zeros(1 << 22, requires_grad=True)
    p.grad = md.tensor(g)
    exact = float(np.sqrt(np.dot(g.astype(np.float64), g.astype(np.float64))))
    np.testing.assert_allclose(float(nn.utils.clip_grad_norm_([p], 1e9)), exact, rtol=1e-6)
    np.testing.assert_allclose(float(nn.utils.clip_grad_norm_([p], 1e9, norm_type=1.0)),
                               float(g.astype(np.float64).sum()), rtol=1e-6)


def test_clip_grad_value_matches_torch(rng):
    torch = require("torch")
    g = rng.standard_normal((5, 6)).astype(np.float32) * 2
    p, tp = md.zeros(5, 6, requires_grad=True), torch.zeros(5, 6, requires_grad=True)
    p.grad, tp.grad = md.tensor(g), torch.tensor(g)
    nn.utils.clip_grad_value_([p], 0.7)
    torch.nn.utils.clip_grad_value_([tp], 0.7)
    assert_close(p.grad, tp.grad)


def test_weight_decay_is_coupled_in_sgd_and_decoupled_in_adamw():
    # one step on a zero gradient: SGD with weight decay moves w by lr*wd*w; AdamW shrinks w
    # by (1 - lr*wd) directly, independent of the adaptive denominator
    for cls, kwargs, expected in [(md.optim.SGD, dict(lr=0.1, weight_decay=0.5), 1 - 0.1 * 0.5),
                                  (md.optim.AdamW, dict(lr=0.1, weight_decay=0.5), 1 - 0.1 * 0.5)]:
        w = md.ones(3, requires_grad=True)
        opt = cls([w], **kwargs)
        w.grad = md.zeros(3)
        opt.step()
        assert np.allclose(w.detach().numpy(), expected, atol=1e-6), cls.__name__
