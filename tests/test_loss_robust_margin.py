"""Smooth L1, Huber, Poisson NLL, KL divergence and the margin losses (issue 15 group 11)
against PyTorch: values and gradients for every reduction, on odd and size-1 shapes, plus
float64 gradcheck and the errors PyTorch raises."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")
TF = torch.nn.functional


def _signs(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


# name -> (make inputs from rng: list of (array, requires_grad), call(F, *tensors, reduction))
CASES = {
    "smooth_l1": (lambda r, s: [(r.standard_normal(s) * 2, True), (r.standard_normal(s), True)],
                  lambda f, x, y, red: f.smooth_l1_loss(x, y, reduction=red, beta=0.7)),
    "smooth_l1 beta=0": (lambda r, s: [(r.standard_normal(s), True), (r.standard_normal(s), False)],
                         lambda f, x, y, red: f.smooth_l1_loss(x, y, reduction=red, beta=0.0)),
    "huber": (lambda r, s: [(r.standard_normal(s) * 2, True), (r.standard_normal(s), True)],
              lambda f, x, y, red: f.huber_loss(x, y, reduction=red, delta=1.3)),
    "poisson log_input": (lambda r, s: [(r.standard_normal(s), True), (r.poisson(2.0, s), False)],
                          lambda f, x, y, red: f.poisson_nll_loss(x, y, reduction=red)),
    "poisson rate full": (lambda r, s: [(r.uniform(0.5, 3, s), True), (r.poisson(2.0, s), False)],
                          lambda f, x, y, red: f.poisson_nll_loss(x, y, log_input=False, full=True, reduction=red)),
    "kl_div": (lambda r, s: [(np.log(r.dirichlet(np.ones(s[-1]), s[:-1] or None).reshape(s)), True),
                             (r.dirichlet(np.ones(s[-1]), s[:-1] or None).reshape(s), True)],
               lambda f, x, y, red: f.kl_div(x, y, reduction=red)),
    # zeros in the target contribute 0 (0 log 0 = 0); PyTorch's gradient there is nan, not tested
    "kl_div zeros in target": (lambda r, s: [(np.log(r.dirichlet(np.ones(s[-1]), s[:-1] or None).reshape(s)), True),
                                             (r.dirichlet(np.ones(s[-1]), s[:-1] or None).reshape(s)
                                              * (r.random(s) > 0.3), False)],
                               lambda f, x, y, red: f.kl_div(x, y, reduction=red)),
    "kl_div log_target": (lambda r, s: [(r.standard_normal(s), True), (r.standard_normal(s) - 1, True)],
                          lambda f, x, y, red: f.kl_div(x, y, reduction=red, log_target=True)),
    "soft_margin": (lambda r, s: [(r.standard_normal(s) * 3, True), (_signs(r, s), False)],
                    lambda f, x, y, red: f.soft_margin_loss(x, y, reduction=red)),
    "multilabel_soft_margin": (lambda r, s: [(r.standard_normal(s) * 3, True), ((r.random(s) < 0.5) * 1.0, False),
                                             (r.uniform(0.5, 2, s[-1:]), False)],
                               lambda f, x, y, w, red: f.multilabel_soft_margin_loss(x, y, w, reduction=red)),
    "margin_ranking": (lambda r, s: [(r.standard_normal(s), True), (r.standard_normal(s), True), (_signs(r, s), False)],
                       lambda f, a, b, y, red: f.margin_ranking_loss(a, b, y, margin=0.3, reduction=red)),
    "hinge_embedding": (lambda r, s: [(r.uniform(0, 2, s), True), (_signs(r, s), False)],
                        lambda f, x, y, red: f.hinge_embedding_loss(x, y, margin=1.2, reduction=red)),
    "cosine_embedding": (lambda r, s: [(r.standard_normal(s), True), (r.standard_normal(s), True),
                                       (_signs(r, s[:-1]), False)],
                         lambda f, a, b, y, red: f.cosine_embedding_loss(a, b, y, margin=0.2, reduction=red)),
    "triplet": (lambda r, s: [(r.standard_normal(s), True), (r.standard_normal(s), True), (r.standard_normal(s), True)],
                lambda f, a, p, n, red: f.triplet_margin_loss(a, p, n, margin=1.5, reduction=red)),
    "triplet p=1 swap": (lambda r, s: [(r.standard_normal(s), True), (r.standard_normal(s), True),
                                       (r.standard_normal(s), True)],
                         lambda f, a, p, n, red: f.triplet_margin_loss(a, p, n, margin=1.0, p=1, swap=True,
                                                                     reduction=red)),
}
TWO_D = {"kl_div", "kl_div zeros in target", "multilabel_soft_margin", "cosine_embedding", "triplet", "triplet p=1 swap"}


def _run(lib_f, tensor, make, call, arrays, reduction, dtype):
    ts = [tensor(a.astype(dtype), requires_grad=g) for a, g in arrays]
    out = call(lib_f, *ts, reduction)
    (out * 1.7).sum().backward() if reduction == "none" else (out * 1.7).backward()
    return out.detach().numpy(), [t.grad.numpy() if g else None for t, (_, g) in zip(ts, arrays)]


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides")  # kl_div, both libraries
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (2, 7)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch_values_and_gradients(name, shape, reduction):
    make, call = CASES[name]
    # a seed that is the same in every process (hash() of a str is salted per process: CI once drew
    # (1, 1) inputs whose exact-zero cosine gradient PyTorch rounds to -1.9e-6, over atol)
    arrays = make(np.random.default_rng(zlib.crc32(f"{name} {shape}".encode())), shape)
    got = _run(F, md.tensor, make, call, arrays, reduction, np.float32)
    want = _run(TF, torch.tensor, make, call, arrays, reduction, np.float32)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    # atol 1e-5: a gradient that is exactly 0 (cosine_embedding of 1-element vectors: two terms
    # ~1/|a| that cancel) comes out as float32 noise, +-9.5e-7 in either library
    for g, w in zip(got[1], want[1]):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides")  # kl_div, both libraries
@pytest.mark.parametrize("shape", [(4,), (3, 4, 5)])
@pytest.mark.parametrize("name", sorted(set(CASES) - TWO_D))
def test_pointwise_losses_on_other_ranks(name, shape):
    make, call = CASES[name]
    arrays = make(np.random.default_rng(1), shape)
    got = _run(F, md.tensor, make, call, arrays, "mean", np.float32)
    want = _run(TF, torch.tensor, make, call, arrays, "mean", np.float32)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)


def test_kl_div_batchmean_is_the_sum_over_the_batch_size():
    rng = np.random.default_rng(2)
    q, p = np.log(rng.dirichlet(np.ones(5), 4)), rng.dirichlet(np.ones(5), 4)
    got = F.kl_div(md.tensor(q), md.tensor(p), reduction="batchmean")
    want = TF.kl_div(torch.tensor(q), torch.tensor(p), reduction="batchmean")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_gradcheck(name):
    make, call = CASES[name]
    arrays = make(np.random.default_rng(3), (3, 4))
    inputs = [md.tensor(a.astype(np.float64), requires_grad=g) for a, g in arrays]
    with_grad = [i for i, (_, g) in enumerate(arrays) if g]

    def f(*xs):
        ts = list(inputs)
        for i, x in zip(with_grad, xs):
            ts[i] = x
        return call(F, *ts, "sum")
    assert md.autograd.gradcheck(f, tuple(inputs[i] for i in with_grad), eps=1e-6, atol=1e-5)


def test_modules_match_the_functions():
    rng = np.random.default_rng(4)
    x, y = md.tensor(rng.standard_normal((3, 4))), md.tensor(rng.standard_normal((3, 4)))
    s = md.tensor(_signs(rng, (3, 4)))
    assert float(md.nn.SmoothL1Loss(beta=0.5)(x, y)) == float(F.smooth_l1_loss(x, y, beta=0.5))
    assert float(md.nn.HuberLoss(delta=2.0)(x, y)) == float(F.huber_loss(x, y, delta=2.0))
    assert float(md.nn.SoftMarginLoss(reduction="sum")(x, s)) == float(F.soft_margin_loss(x, s, reduction="sum"))
    assert float(md.nn.KLDivLoss(reduction="batchmean", log_target=True)(x, y)) == float(
        F.kl_div(x, y, reduction="batchmean", log_target=True))
    assert md.nn.TripletMarginLoss(reduction="none")(x, y, x * 2).shape == (3,)


def test_bad_arguments_raise_like_pytorch():
    x = md.ones(3)
    with pytest.raises(RuntimeError, match="negative values for beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.kl_div(x, x, reduction="average")
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        md.nn.HuberLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.smooth_l1_loss(md.ones(3), md.ones(2))
    with pytest.raises(RuntimeError, match="same dimension"):
        F.margin_ranking_loss(md.ones(3), md.ones(3), md.ones(1, 3))


def test_kl_div_mean_warns_as_pytorch_does():
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(md.zeros(2, 3), md.ones(2, 3) / 3)


# --- Gaussian NLL, multi-margin, multilabel margin ----------------------------------------------
def _both(fn_md, fn_torch, arrays, grads):
    out = []
    for lib, fn in ((md, fn_md), (torch, fn_torch)):
        ts = [lib.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
        y = fn(*ts)
        (y * 1.3).sum().backward()
        out.append((y.detach().numpy(), [t.grad.numpy() if g else None for t, g in zip(ts, grads)]))
    (vm, gm), (vt, gt) = out
    np.testing.assert_allclose(vm, vt, rtol=1e-5, atol=1e-6)
    for a, b in zip(gm, gt):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1)])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gaussian_nll_matches_pytorch(var_shape, full, reduction):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    v = rng.uniform(0, 2, var_shape).astype(np.float32)
    v.flat[0] = 1e-9  # below eps: clamped outside autograd in both
    _both(lambda a, b, c: F.gaussian_nll_loss(a, b, c, full=full, reduction=reduction),
          lambda a, b, c: torch.nn.functional.gaussian_nll_loss(a, b, c, full=full, reduction=reduction),
          [x, y, v], [True, True, True])


def test_gaussian_nll_bad_input():
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(md.zeros(4, 3), md.zeros(4, 3), md.ones(3, 4))
    with pytest.raises(ValueError, match="negative entry"):
        F.gaussian_nll_loss(md.zeros(2), md.zeros(2), md.tensor([1.0, -1.0]))


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(5, 4), (1, 3), (6,)])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_multi_margin_matches_pytorch(p, weighted, shape, reduction):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(np.float32)
    C = shape[-1]
    y = rng.integers(0, C, shape[:-1] or ())
    w = rng.uniform(0.5, 2, C).astype(np.float32) if weighted else None
    out = []
    for lib in (md, torch):
        xt = lib.tensor(x, requires_grad=True)
        loss = lib.nn.functional.multi_margin_loss(xt, lib.tensor(y), p=p, margin=0.7,
                                                   weight=None if w is None else lib.tensor(w), reduction=reduction)
        (loss * 1.3).sum().backward()
        out.append((loss.detach().numpy(), xt.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("target", [[[3, 0, -1, 1], [1, 2, 3, 0]], [[-1, 0, 1, 2], [2, -1, 0, 0]], [[0, 1, 2, 3], [3, 1, -1, -1]]])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_matches_pytorch(target, reduction):
    x = np.random.default_rng(7).standard_normal((2, 4)).astype(np.float32)
    _both(lambda a: F.multilabel_margin_loss(a, md.tensor(target), reduction=reduction),
          lambda a: torch.nn.functional.multilabel_margin_loss(a, torch.tensor(target), reduction=reduction),
          [x], [True])


def test_margin_losses_gradcheck_and_bad_input():
    rng = np.random.default_rng(8)
    x = md.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = md.tensor([0, 3, 1])
    assert md.autograd.gradcheck(lambda a: F.multi_margin_loss(a, y, p=2, margin=2.0), (x,), eps=1e-6, atol=1e-5)
    assert md.autograd.gradcheck(lambda a: F.multilabel_margin_loss(a, md.tensor([[1, -1, 0, 0]] * 3)), (x,),
                                 eps=1e-6, atol=1e-5)
    with pytest.raises(IndexError, match="out of bounds"):
        F.multi_margin_loss(md.zeros(2, 3), md.tensor([0, 3]))
    with pytest.raises(RuntimeError, match="target.long"):
        F.multi_margin_loss(md.zeros(2, 3), md.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        F.multi_margin_loss(md.zeros(2, 3), md.tensor([0, 1]), p=3)
