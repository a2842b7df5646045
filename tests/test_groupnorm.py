"""GroupNorm, InstanceNorm1d/2d, RMSNorm, F.normalize (issue 15 group 8) against PyTorch:
values and gradients (input, weight, bias), running statistics, eval mode, unbatched input,
float64 gradcheck and errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import assert_close, require, to_torch

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


# --- the fused kernels (cpp/ops/groupnorm, cpp/ops/rmsnorm): odd shapes, kernel sets, accuracy ---
def _params(rng, c, which):
    w = rng.standard_normal(c).astype(np.float32) if which in ("both", "weight") else None
    b = rng.standard_normal(c).astype(np.float32) if which in ("both", "bias") else None
    return [w, b]


@pytest.mark.parametrize("shape,groups", [((2, 21, 5, 3), 7), ((1, 21, 37), 3), ((4, 6, 1, 1), 2), ((3, 6), 6),
                                          ((2, 34, 17), 17), ((1, 64, 8, 8), 8), ((5, 51), 3)])
@pytest.mark.parametrize("which", ["both", "weight", "bias", "none"])
def test_group_norm_odd_shapes_match_pytorch(shape, groups, which):
    """C not a multiple of the SIMD width, S = 1, N = 1, groups of one value (where dx is a
    cancellation to 0: both libraries leave float32 rounding, hence atol 1e-4)."""
    rng = np.random.default_rng(10)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    w, b = _params(rng, shape[1], which)
    if which == "bias":  # PyTorch 2.13's backward fails with a bias and no weight ("tensor does not have a
        # device"): against it with a weight of ones, which is the same function
        _grads_match(lambda lib, t, bt: lib.nn.functional.group_norm(
            t, groups, lib.ones(shape[1]) if lib is torch else None, bt), x, [b], atol=1e-4)
    else:
        _grads_match(lambda lib, t, wt, bt: lib.nn.functional.group_norm(t, groups, wt, bt), x, [w, b], atol=1e-4)


def test_group_norm_of_empty_groups():
    """(N, C, 0): an empty output, and weight and bias gradients that are sums of nothing, 0
    (PyTorch gives NaN for the weight's: its formula multiplies by the rstd of no values)."""
    x, w, b = md.zeros(2, 4, 0, requires_grad=True), md.ones(4, requires_grad=True), md.zeros(4, requires_grad=True)
    y = F.group_norm(x, 2, w, b)
    assert tuple(y.shape) == (2, 4, 0)
    y.sum().backward()
    assert x.grad.shape == (2, 4, 0) and np.all(w.grad.numpy() == 0) and np.all(b.grad.numpy() == 0)


def test_group_norm_non_contiguous_input_matches_pytorch():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 9, 6, 3)).astype(np.float32)
    w, b = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    # (N, H, C, W) viewed as (N, C, H, W) and a strided slice: neither is contiguous
    _grads_match(lambda lib, t, wt, bt: lib.nn.functional.group_norm(t.permute(0, 2, 1, 3)[:, :, ::2], 3, wt, bt),
                 x, [w, b])


@pytest.mark.parametrize("shape,ns", [((3, 33), (33,)), ((2, 5, 7), (5, 7)), ((1, 1), (1,)), ((4, 768), (768,)),
                                      ((2, 3, 17), (17,))])
def test_rms_norm_odd_shapes_match_pytorch(shape, ns):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    _grads_match(lambda lib, t, wt: lib.nn.functional.rms_norm(t, ns, wt, 1e-6), x,
                 [rng.standard_normal(ns).astype(np.float32)])
    # a non-contiguous input: every other row of a transposed matrix
    _grads_match(lambda lib, t: lib.nn.functional.rms_norm(t.transpose(0, 1)[::2], ns[-1:]),
                 x.reshape(-1, shape[-1]).T.copy(), [])


def _norms_with_grads(x, w, b, g):
    """group_norm (3 groups), instance_norm and rms_norm outputs and gradients on one draw."""
    out = []
    fns = [lambda t, wt, bt: F.group_norm(t, 3, wt, bt), lambda t, wt, bt: F.rms_norm(t, (t.shape[-1],), None) * 2]
    if x.shape[-1] > 1:  # (instance norm refuses one value per channel, as PyTorch)
        fns.append(lambda t, wt, bt: F.instance_norm(t, weight=wt, bias=bt))
    for f in fns:
        xm, wm, bm = (md.tensor(a, requires_grad=True) for a in (x, w, b))
        y = f(xm, wm, bm)
        y.backward(md.tensor(g))
        out += [y.detach().numpy()] + [a.grad.numpy() for a in (xm, wm, bm) if a.grad is not None]
    return out


@pytest.mark.parametrize("shape", [(2, 6, 1), (3, 51, 1), (3, 6, 7), (2, 51, 5), (2, 6, 33), (1, 12, 130), (2, 6, 1000)])
def test_simd_kernels_match_scalar(kernel_set, shape):
    rng = np.random.default_rng(13)
    x = (rng.standard_normal(shape) * 2 - 1).astype(np.float32)
    w, b = (rng.standard_normal(shape[1]).astype(np.float32) for _ in range(2))
    g = rng.standard_normal(shape).astype(np.float32)
    got = _norms_with_grads(x, w, b, g)
    md.backend.use("scalar")
    ref = _norms_with_grads(x, w, b, g)
    for a, r in zip(got, ref):  # atol: dx of one-value groups (S = 1) is a cancellation to 0
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("value", [1000.3, -77.7, 3.0e6])
def test_constant_group_normalizes_to_exactly_zero(kernel_set, value):
    y = F.group_norm(md.full((2, 6, 33), value), 3, md.ones(6) * 2, None)
    assert np.all(y.numpy() == 0.0)


def test_group_norm_large_mean_small_spread_is_accurate(kernel_set):
    """The subtraction (x - mean) comes before the scale: PyTorch folds the mean into the
    shift, x a + (b - mean a), and loses the low digits of such a group."""
    rng = np.random.default_rng(14)
    x = (1000.0 + 0.01 * rng.standard_normal((2, 4, 257))).astype(np.float32)
    x64 = x.astype(np.float64).reshape(2, 2, -1)
    want = ((x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    got = F.group_norm(md.tensor(x), 2).numpy()
    assert np.abs(got - want).max() < 1e-5  # measured: minidl 1.8e-7, PyTorch 5.8e-3


def test_float64_gradcheck_of_the_fused_kernels():
    rng = np.random.default_rng(15)
    x = md.tensor(rng.standard_normal((2, 6, 5)), requires_grad=True)
    w, b = (md.tensor(rng.standard_normal(6), requires_grad=True) for _ in range(2))
    assert md.autograd.gradcheck(lambda t, a, c: F.group_norm(t, 3, a, c), (x, w, b), eps=1e-6, atol=1e-5)
    assert md.autograd.gradcheck(lambda t, a: F.group_norm(t, 6, a), (x, w), eps=1e-6, atol=1e-5)
    assert md.autograd.gradcheck(lambda t, c: F.instance_norm(t, weight=None, bias=c), (x, b), eps=1e-6, atol=1e-5)
    v = md.tensor(rng.standard_normal(5), requires_grad=True)
    assert md.autograd.gradcheck(lambda t, a: F.rms_norm(t, (5,), a, 1e-3), (x, v), eps=1e-6, atol=1e-5)
    assert md.autograd.gradcheck(lambda t: F.rms_norm(t, (6, 5)), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_inputs_match_pytorch(dtype):
    rng = np.random.default_rng(16)
    x = md.tensor(rng.standard_normal((2, 6, 9)).astype(np.float32)).to(getattr(md, dtype))
    y = F.group_norm(x, 3)
    assert y.dtype == getattr(md, dtype)
    assert_close(y, torch.nn.functional.group_norm(to_torch(x), 3), rtol=2e-2, atol=2e-2)
    r = F.rms_norm(x, (9,))
    assert r.dtype == getattr(md, dtype)
    assert_close(r, torch.nn.functional.rms_norm(to_torch(x), (9,)), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 50.0])
def test_instance_norm_running_stats_from_the_kernel_statistics(scale):
    """running_var comes from the kernel's rstd (var = rstd^-2 - eps): accurate also where the
    variance is far below eps (scale 1e-3: var 1e-6, eps 1e-5)."""
    x = (np.random.default_rng(17).standard_normal((4, 5, 6, 7)) * scale + 3).astype(np.float32)
    m, t = md.nn.InstanceNorm2d(5, track_running_stats=True), torch.nn.InstanceNorm2d(5, track_running_stats=True)
    m(md.tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(m.running_mean.numpy(), t.running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(m.running_var.numpy(), t.running_var.numpy(), rtol=1e-4)


def test_fused_kernel_errors_like_pytorch():
    x = md.zeros(2, 6, 3)
    with pytest.raises(RuntimeError, match=r"Expected weight to be a vector of size equal to the number of channels"
                                           r" in input, but got weight of shape \[5\]"):
        F.group_norm(x, 3, md.ones(5))
    with pytest.raises(RuntimeError, match=r"Expected bias to be a vector .* bias of shape \[2, 3\]"):
        F.group_norm(x, 3, None, md.ones(2, 3))
    with pytest.raises(RuntimeError, match="Expected at least 2 dimensions"):
        F.group_norm(md.zeros(6), 3)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(x, 0)
    with pytest.raises(TypeError, match="floating point"):
        F.group_norm(md.tensor(np.zeros((2, 6, 3), np.int64)), 3)
    with pytest.raises(ValueError, match=r"Expected more than 1 spatial element when training, got input size "
                                         r"\[2, 6, 1\]"):
        F.instance_norm(md.zeros(2, 6, 1))
    with pytest.raises(RuntimeError, match="weight should contain 6 elements not 4"):
        F.instance_norm(x, weight=md.ones(4))
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as normalized_shape, but got weight "
                                           r"of shape \[4\] and normalized_shape = \[3\]"):
        F.rms_norm(x, (3,), md.ones(4))
    with pytest.raises(TypeError, match="floating point"):
        F.rms_norm(md.tensor(np.zeros((2, 3), np.int64)), (3,))
    with pytest.raises(RuntimeError, match="normalized_shape to be at least 1-dimensional"):
        F.rms_norm(x, [])


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
