"""GroupNorm, InstanceNorm1d/2d, RMSNorm, F.normalize (issue 15 group 8) against PyTorch:
values and gradients (input, weight, bias), running statistics, eval mode, unbatched input,
float64 gradcheck and errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")


def _grads_match(make, x, params, rtol=1e-4, atol=1e-5):
    out = []
    for lib in (md, torch):
        xt = lib.tensor(x, requires_grad=True)
        ps = [None if p is None else lib.tensor(p, requires_grad=True) for p in params]
        y = make(lib, xt, *ps)
        w = lib.tensor(np.cos(np.arange(y.numel())).astype(np.float32).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        out.append([y.detach().numpy(), xt.grad.numpy()] + [None if p is None else p.grad.numpy() for p in ps])
    for got, want in zip(*out):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape,groups", [((2, 6, 5, 5), 3), ((3, 4, 7), 2), ((1, 8, 3, 3), 8), ((2, 6, 1), 1),
                                          ((2, 4), 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_matches_pytorch(shape, groups, affine):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    c = shape[1]
    params = [rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)] if affine \
        else [None, None]
    _grads_match(lambda lib, t, w, b: lib.nn.functional.group_norm(t, groups, w, b, eps=1e-4), x, params)


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (3, 4, 9)), ("InstanceNorm2d", (2, 3, 5, 6)),
                                       ("InstanceNorm1d", (4, 9)), ("InstanceNorm2d", (3, 5, 6))])
@pytest.mark.parametrize("affine,track", [(False, False), (True, True), (True, False)])
def test_instance_norm_modules_match_pytorch(cls, shape, affine, track):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 2 - 1).astype(np.float32)
    unbatched = len(shape) == (2 if cls == "InstanceNorm1d" else 3)
    m = getattr(md.nn, cls)(shape[0] if unbatched else shape[1], affine=affine, track_running_stats=track)
    t = getattr(torch.nn, cls)(m.num_features, affine=affine, track_running_stats=track)
    if affine:
        w, b = rng.standard_normal(m.num_features).astype(np.float32), rng.standard_normal(m.num_features).astype(np.float32)
        m.weight.data = md.tensor(w)
        m.bias.data = md.tensor(b)
        with torch.no_grad():
            t.weight.copy_(torch.tensor(w))
            t.bias.copy_(torch.tensor(b))
    for _ in range(2):  # train mode twice: the running statistics move
        mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        my, ty = m(mx), t(tx)
        np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        my.pow(2).sum().backward()
        ty.pow(2).sum().backward()
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)
    if track:
        np.testing.assert_allclose(m.running_mean.numpy(), t.running_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m.running_var.numpy(), t.running_var.numpy(), rtol=1e-5, atol=1e-6)
        m.eval(), t.eval()
        np.testing.assert_allclose(m(md.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-4,
                                   atol=1e-5)


@pytest.mark.parametrize("shape,ns", [((3, 8), (8,)), ((2, 3, 4), (3, 4)), ((5,), (5,))])
@pytest.mark.parametrize("with_weight", [True, False])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm_matches_pytorch(shape, ns, with_weight, eps):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(np.float32)
    w = [rng.standard_normal(ns).astype(np.float32) if with_weight else None]
    _grads_match(lambda lib, t, wt: lib.nn.functional.rms_norm(t, ns, wt, eps), x, w)


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, -1), (3.0, 0)])
def test_normalize_matches_pytorch_including_a_zero_row(p, dim):
    x = np.random.default_rng(3).standard_normal((4, 5)).astype(np.float32)
    x[1] = 0.0
    x[:, 2] = 0.0
    _grads_match(lambda lib, t: lib.nn.functional.normalize(t, p=p, dim=dim), x, [])


def test_float64_gradcheck():
    rng = np.random.default_rng(4)
    x = md.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    w, b = (md.tensor(rng.standard_normal(4), requires_grad=True) for _ in range(2))
    assert md.autograd.gradcheck(lambda t, a, c: F.group_norm(t, 2, a, c), (x, w, b), eps=1e-6, atol=1e-5)
    assert md.autograd.gradcheck(lambda t: F.instance_norm(t), (x,), eps=1e-6, atol=1e-5)
    assert md.autograd.gradcheck(lambda t: F.rms_norm(t, (3,)), (x,), eps=1e-6, atol=1e-5)
    assert md.autograd.gradcheck(lambda t: F.normalize(t, dim=2), (x,), eps=1e-6, atol=1e-5)


def test_errors_like_pytorch():
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(md.zeros(2, 6, 3), 4)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        md.nn.GroupNorm(4, 6)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        F.rms_norm(md.zeros(2, 3), (4,))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        md.nn.InstanceNorm2d(3)(md.zeros(3, 4))


@pytest.mark.parametrize("shape,size", [((2, 7, 5), 3), ((2, 6, 3, 4), 5), ((1, 4, 2), 2), ((2, 3, 2, 2, 2), 4)])
def test_local_response_norm_matches_pytorch(shape, size):
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32) * 2
    _grads_match(lambda lib, t: lib.nn.functional.local_response_norm(t, size, alpha=0.3, beta=0.6, k=1.5), x, [])


# --- nn.init.trunc_normal_, eye_, dirac_ (issue 15 group 12: every function of torch.nn.init) ---
def test_init_eye_and_dirac_match_pytorch():
    for shape in [(2, 3), (4, 4), (5, 2)]:
        np.testing.assert_array_equal(md.nn.init.eye_(md.empty(*shape)).numpy(),
                                      torch.nn.init.eye_(torch.empty(*shape)).numpy())
    for shape, groups in [((3, 4, 3), 1), ((4, 2, 3, 3), 2), ((2, 2, 1, 3, 3), 1), ((5, 3, 2), 1)]:
        np.testing.assert_array_equal(md.nn.init.dirac_(md.empty(*shape), groups).numpy(),
                                      torch.nn.init.dirac_(torch.empty(*shape), groups).numpy())
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        md.nn.init.eye_(md.empty(2, 2, 2))


def test_init_trunc_normal_has_the_truncated_law():
    md.manual_seed(0)
    w = md.nn.init.trunc_normal_(md.empty(200_000), mean=1.0, std=2.0, a=0.0, b=3.0).numpy()
    assert w.min() >= 0.0 and w.max() <= 3.0
    t = torch.nn.init.trunc_normal_(torch.empty(200_000), mean=1.0, std=2.0, a=0.0, b=3.0).numpy()
    assert abs(w.mean() - t.mean()) < 0.02 and abs(w.std() - t.std()) < 0.02  # same law, other draws
