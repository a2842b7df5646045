"""Every loss against PyTorch (values and gradients, every reduction, edge values), float64
gradcheck, and bad input. The losses run on C++ kernels (cpp/ops/loss/loss*.cpp)."""
import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F

from conftest import assert_close, require, to_torch

torch = require("torch")
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def _run(fn_md, fn_torch, inputs, grad_seed=0):
    """Forward both, backward with the same upstream gradient; compare values and grads."""
    mins = [md.tensor(x, requires_grad=rg) if isinstance(x, np.ndarray) else x for x, rg in inputs]
    tins = [to_torch(m) if isinstance(m, md.Tensor) else m for m in mins]
    out, ref = fn_md(*mins), fn_torch(*tins)
    assert_close(out, ref)
    g = np.random.default_rng(grad_seed).standard_normal(tuple(ref.shape)).astype(np.float32)
    out.backward(md.tensor(g))
    ref.backward(torch.tensor(g))
    for m, t in zip(mins, tins):
        if isinstance(m, md.Tensor) and m.requires_grad:
            assert_close(m.grad, t.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_losses(rng, reduction, name):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    y = rng.standard_normal((5, 7)).astype(np.float32)
    _run(lambda a, b: getattr(F, name)(a, b, reduction=reduction),
         lambda a, b: getattr(TF, name)(a, b, reduction=reduction), [(x, True), (y, True)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_on_probabilities(rng, reduction, weighted):
    x = rng.uniform(0.02, 0.98, (6, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (6, 3)).astype(np.float32)
    w = md.tensor(rng.uniform(0.5, 2, (3,)).astype(np.float32)) if weighted else None
    tw = to_torch(w) if weighted else None
    _run(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
         lambda a, b: TF.binary_cross_entropy(a, b, weight=tw, reduction=reduction), [(x, True), (y, False)])


def test_bce_log_is_clamped_at_0_and_1():
    x = md.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    y = md.tensor([1.0, 0.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(x, y, reduction="none")
    ref = TF.binary_cross_entropy(torch.tensor([0.0, 1.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0, 1.0]),
                                  reduction="none")
    assert np.isfinite(loss.detach().numpy()).all()
    assert_close(loss, ref)  # 100, 100, 0, 0
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [False, True])
def test_bce_with_logits(rng, reduction, pos_weight):
    x = (rng.standard_normal((4, 5)) * 30).astype(np.float32)  # large logits: the stable form matters
    y = rng.uniform(0, 1, (4, 5)).astype(np.float32)
    pw = md.tensor(rng.uniform(0.5, 3, (5,)).astype(np.float32)) if pos_weight else None
    tpw = to_torch(pw) if pos_weight else None
    _run(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=pw),
         lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=tpw),
         [(x, True), (y, False)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_class_indices(rng, reduction, smoothing, weighted):
    x = (rng.standard_normal((9, 6)) * 3).astype(np.float32)
    t = rng.integers(0, 6, 9)
    t[[1, 4]] = -100  # ignore_index
    w = md.tensor(rng.uniform(0.2, 2, 6).astype(np.float32)) if weighted else None
    tw = to_torch(w) if weighted else None
    _run(lambda a: F.cross_entropy(a, md.tensor(t), weight=w, reduction=reduction, label_smoothing=smoothing),
         lambda a: TF.cross_entropy(a, torch.tensor(t), weight=tw, reduction=reduction, label_smoothing=smoothing),
         [(x, True)])


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets(rng, smoothing, reduction):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    p = rng.uniform(0, 1, (5, 4)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    w = md.tensor(rng.uniform(0.5, 2, 4).astype(np.float32))
    _run(lambda a: F.cross_entropy(a, md.tensor(p), weight=w, reduction=reduction, label_smoothing=smoothing),
         lambda a: TF.cross_entropy(a, torch.tensor(p), weight=to_torch(w), reduction=reduction,
                                    label_smoothing=smoothing), [(x, True)])


def test_cross_entropy_spatial_and_1d(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    t = rng.integers(0, 3, (2, 4, 5))
    _run(lambda a: F.cross_entropy(a, md.tensor(t)), lambda a: TF.cross_entropy(a, torch.tensor(t)), [(x, True)])
    v = rng.standard_normal(7).astype(np.float32)
    _run(lambda a: F.cross_entropy(a, md.tensor(3)), lambda a: TF.cross_entropy(a, torch.tensor(3)), [(v, True)])


def test_cross_entropy_stable_at_1000():
    x = md.tensor([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]], requires_grad=True)
    loss = F.cross_entropy(x, md.tensor([1, 2]))
    ref = TF.cross_entropy(torch.tensor(x.detach().numpy()), torch.tensor([1, 2]))
    assert np.isfinite(loss.item())
    assert_close(loss, ref)


def test_loss_modules_match_functional(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = md.tensor(rng.integers(0, 3, 4))
    assert_close(nn.CrossEntropyLoss(label_smoothing=0.1)(md.tensor(x), t),
                 F.cross_entropy(md.tensor(x), t, label_smoothing=0.1))
    y = md.tensor(rng.uniform(0, 1, (4, 3)).astype(np.float32))
    assert_close(nn.BCEWithLogitsLoss(reduction="sum")(md.tensor(x), y),
                 F.binary_cross_entropy_with_logits(md.tensor(x), y, reduction="sum"))
    assert_close(nn.BCELoss()(md.tensor(x).sigmoid(), y), F.binary_cross_entropy(md.tensor(x).sigmoid(), y))
    assert_close(nn.L1Loss()(md.tensor(x), y), F.l1_loss(md.tensor(x), y))
    assert_close(nn.FocalLoss(gamma=1.0)(md.tensor(x), t), F.focal_loss(md.tensor(x), t, gamma=1.0))


def _focal_torch(x, t, alpha, gamma, reduction):
    logp = TF.log_softmax(x, 1).gather(1, t[:, None]).squeeze(1)
    a = alpha[t] if isinstance(alpha, torch.Tensor) else (1.0 if alpha is None else alpha)
    loss = -a * (1 - logp.exp()) ** gamma * logp
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [0.25, None, "tensor"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_loss(rng, gamma, alpha, reduction):
    x = (rng.standard_normal((8, 5)) * 2).astype(np.float32)
    t = rng.integers(0, 5, 8)
    a_md = md.tensor(rng.uniform(0.1, 1, 5).astype(np.float32)) if alpha == "tensor" else alpha
    a_t = to_torch(a_md) if alpha == "tensor" else alpha
    _run(lambda a: F.focal_loss(a, md.tensor(t), alpha=a_md, gamma=gamma, reduction=reduction),
         lambda a: _focal_torch(a, torch.tensor(t), a_t, gamma, reduction), [(x, True)])


def test_focal_with_gamma_0_alpha_1_is_cross_entropy(rng):
    x = md.tensor(rng.standard_normal((6, 4)).astype(np.float32))
    t = md.tensor(rng.integers(0, 4, 6))
    assert_close(F.focal_loss(x, t, alpha=None, gamma=0.0), F.cross_entropy(x, t))


@pytest.mark.parametrize("fn", [
    lambda x, y, t, p: F.mse_loss(x, y),
    lambda x, y, t, p: F.l1_loss(x, y + 0.5),
    lambda x, y, t, p: F.binary_cross_entropy(x.sigmoid(), p),
    lambda x, y, t, p: F.binary_cross_entropy_with_logits(x, p, pos_weight=md.tensor([2.0, 0.5, 1.0], dtype=md.float64)),
    lambda x, y, t, p: F.cross_entropy(x, t, label_smoothing=0.2, weight=md.tensor([1.0, 2.0, 0.5], dtype=md.float64)),
    lambda x, y, t, p: F.cross_entropy(x, p),
    lambda x, y, t, p: F.focal_loss(x, t, alpha=0.5, gamma=1.5),
], ids=["mse", "l1", "bce", "bce_logits", "ce_smooth_weighted", "ce_prob", "focal"])
def test_gradcheck_float64(rng, fn):
    x = md.tensor(rng.standard_normal((4, 3)), dtype=md.float64, requires_grad=True)
    y = md.tensor(rng.standard_normal((4, 3)), dtype=md.float64, requires_grad=True)
    t = md.tensor(rng.integers(0, 3, 4))
    p = md.tensor(rng.dirichlet(np.ones(3), 4), dtype=md.float64)
    assert md.autograd.gradcheck(lambda a, b: fn(a, b, t, p), (x, y))


def test_bad_input():
    x = md.randn(3, 4)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(md.tensor([0.5, 1.5]), md.tensor([1.0, 0.0]))
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, md.tensor([0, 4, 1]))
    with pytest.raises(RuntimeError, match="Long"):
        F.cross_entropy(x, md.tensor([0.0, 1.0, 2.0]).bool())
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(x, md.tensor([0, 1]))
    with pytest.raises(ValueError, match="target size"):
        F.mse_loss(x, md.randn(4, 3))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.l1_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, md.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="weight tensor"):
        F.cross_entropy(x, md.tensor([0, 1, 2]), weight=md.ones(3))
    with pytest.raises(ValueError, match="int64 targets"):
        F.focal_loss(x, md.tensor([0.0, 1.0, 2.0]))
    # ignore_index targets may be out of range; every other index is checked
    assert np.isfinite(F.cross_entropy(x, md.tensor([0, -100, 3])).item())
