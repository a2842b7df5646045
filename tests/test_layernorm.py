"""LayerNorm / F.layer_norm: parity with PyTorch (values and gradients of input, weight and
bias; elementwise_affine and bias flags; multi-dim normalized_shape), float64 gradcheck,
scalar vs SIMD kernel sets on odd row lengths, state_dict keys, bad input."""
import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import assert_close, require, to_torch

torch = require("torch")


def _run_both(rng, shape, normalized_shape, affine=True, bias=True, dtype=np.float32, eps=1e-5):
    x = rng.standard_normal(shape).astype(dtype) * 3 + 1
    g = rng.standard_normal(shape).astype(dtype)
    m = md.nn.LayerNorm(normalized_shape, eps=eps, elementwise_affine=affine, bias=bias,
                        dtype=md.float64 if dtype == np.float64 else None)
    t = torch.nn.LayerNorm(normalized_shape, eps=eps, elementwise_affine=affine, bias=bias,
                           dtype=torch.float64 if dtype == np.float64 else None)
    if affine:  # non-trivial weights so their gradients and effect are visible
        w = rng.standard_normal(m.weight.shape).astype(dtype)
        m.weight.data = md.tensor(w)
        t.weight.data = torch.tensor(w)
        if bias:
            b = rng.standard_normal(m.bias.shape).astype(dtype)
            m.bias.data = md.tensor(b)
            t.bias.data = torch.tensor(b)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = m(xm), t(xt)
    ym.backward(md.tensor(g))
    yt.backward(torch.tensor(g))
    return m, t, xm, xt, ym, yt


@pytest.mark.parametrize("shape,ns", [((4, 7, 33), 33), ((2, 3, 4, 5), (4, 5)), ((5, 1), 1), ((3, 256), 256),
                                      ((2, 2, 1000), 1000)])
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, False)])
def test_layer_norm_matches_torch(rng, shape, ns, affine, bias):
    m, t, xm, xt, ym, yt = _run_both(rng, shape, ns, affine, bias)
    assert_close(ym, yt, rtol=1e-4, atol=2e-5)
    assert_close(xm.grad, xt.grad, rtol=1e-3, atol=5e-5)
    if affine:
        assert_close(m.weight.grad, t.weight.grad, rtol=1e-3, atol=1e-4)
        if bias:
            assert_close(m.bias.grad, t.bias.grad, rtol=1e-4, atol=1e-4)
    assert sorted(m.state_dict().keys()) == sorted(t.state_dict().keys())


def test_layer_norm_float64_and_eps(rng):
    m, t, xm, xt, ym, yt = _run_both(rng, (3, 5, 9), 9, dtype=np.float64, eps=0.5)
    assert ym.dtype == md.float64
    assert_close(ym, yt, rtol=1e-12, atol=1e-12)
    assert_close(xm.grad, xt.grad, rtol=1e-10, atol=1e-12)
    assert_close(m.weight.grad, t.weight.grad, rtol=1e-10, atol=1e-12)


def test_functional_layer_norm_weight_only(rng):
    x = rng.standard_normal((6, 10)).astype(np.float32)
    w = rng.standard_normal(10).astype(np.float32)
    xm, wm = md.tensor(x, requires_grad=True), md.tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ym = F.layer_norm(xm, (10,), wm, None)
    yt = torch.nn.functional.layer_norm(xt, (10,), wt, None)
    (ym * ym).sum().backward()
    (yt * yt).sum().backward()
    assert_close(ym, yt)
    assert_close(wm.grad, wt.grad, rtol=1e-4, atol=1e-4)
    assert_close(xm.grad, xt.grad, rtol=1e-3, atol=1e-4)


def test_layer_norm_normalizes_rows(rng):
    x = md.tensor(rng.standard_normal((50, 64)).astype(np.float32) * 10 + 5)
    y = F.layer_norm(x, (64,)).numpy()
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-3)


def test_gradcheck_layer_norm(rng):
    x = md.tensor(rng.standard_normal((3, 2, 5)), dtype=md.float64, requires_grad=True)
    w = md.tensor(rng.standard_normal((2, 5)), dtype=md.float64, requires_grad=True)
    b = md.tensor(rng.standard_normal((2, 5)), dtype=md.float64, requires_grad=True)
    assert md.autograd.gradcheck(lambda a, c, d: F.layer_norm(a, (2, 5), c, d, eps=1e-3), (x, w, b))
    assert md.autograd.gradcheck(lambda a: F.layer_norm(a, (5,)), (x,))


@pytest.mark.parametrize("cols", [1, 7, 16, 33, 130, 1000])
def test_layer_norm_simd_matches_scalar(rng, kernel_set, cols):
    x = rng.standard_normal((37, cols)).astype(np.float32) * 2 - 1
    w = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    g = rng.standard_normal((37, cols)).astype(np.float32)

    def run():
        xm, wm, bm = (md.tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.layer_norm(xm, (cols,), wm, bm)
        y.backward(md.tensor(g))
        return [a.numpy() if not a.requires_grad else a.detach().numpy() for a in (y, xm.grad, wm.grad, bm.grad)]

    got = run()
    prev = md.backend.name
    md.backend.use("scalar")
    ref = run()
    md.backend.use(prev)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)


def test_layer_norm_low_precision_input(rng):
    x = md.tensor(rng.standard_normal((4, 16)).astype(np.float32)).bfloat16()
    y = F.layer_norm(x, (16,))
    assert y.dtype == md.bfloat16
    ref = torch.nn.functional.layer_norm(to_torch(x), (16,))
    assert_close(y, ref, rtol=2e-2, atol=2e-2)


def test_layer_norm_bad_input():
    x = md.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"normalized_shape=\[5\].*\[2, 3, 4\]"):
        F.layer_norm(x, (5,))
    with pytest.raises(ValueError, match=r"weight of shape \[3\].*\[4\]"):
        F.layer_norm(x, (4,), md.ones(3))
    with pytest.raises(ValueError, match="normalized_shape"):
        md.nn.LayerNorm((3, 5))(x)
    with pytest.raises(TypeError, match="floating point"):
        F.layer_norm(md.tensor(np.arange(8).reshape(2, 4)), (4,))


# --- issue 14 item 3: ill-conditioned rows and 16-bit statistics ---------------------------------
def _layer_norm_float64(x):
    x = x.astype(np.float64)
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-5)


@pytest.mark.parametrize("value", [1000.3, -77.7, 3.0e6, 0.1])
@pytest.mark.parametrize("cols", [7, 33, 1024])
def test_constant_row_normalizes_to_exactly_zero(kernel_set, value, cols):
    """issue 14 item 3: F.layer_norm(md.full((1, 7), 1000.3), (7,)) gave 0.0193 everywhere."""
    x = md.full((3, cols), value)
    assert np.array_equal(F.layer_norm(x, (cols,)).numpy(), np.zeros((3, cols), np.float32))
    b = md.arange(cols, dtype=md.float32)
    assert np.array_equal(F.layer_norm(x, (cols,), md.ones(cols), b).numpy(), np.broadcast_to(b.numpy(), (3, cols)))
    assert np.array_equal(F.layer_norm(x.double(), (cols,)).numpy(), np.zeros((3, cols)))


@pytest.mark.parametrize("shape", [(64, 7), (64, 100), (32, 768), (8, 4096), (4, 2)])
@pytest.mark.parametrize("mean,spread", [(1000.0, 1e-2), (1.0e4, 1.0), (300.0, 1e-3)])
def test_large_mean_tiny_spread_error_at_most_torchs(kernel_set, shape, mean, spread):
    """issue 14 item 3: against a float64 reference, minidl's float32 error was > 4x PyTorch's
    on rows with a large mean and a small spread. Both errors are measured here, on 3 seeds."""
    for seed in range(3):
        x = (mean + spread * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)
        ref = _layer_norm_float64(x)
        err_md = np.abs(F.layer_norm(md.tensor(x), shape[-1:]).numpy() - ref).max()
        err_torch = np.abs(torch.nn.functional.layer_norm(torch.tensor(x), shape[-1:]).numpy() - ref).max()
        assert err_md <= err_torch, (seed, err_md, err_torch)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(4, 2), (3, 5), (2, 3, 4)])
def test_16bit_forward_backward_match_torch_16bit(dtype, shape):
    """issue 14 item 3: a float16 LayerNorm backward on (4, 2) differed from PyTorch's float16
    result by 1e-2 (bfloat16: by > 100): PyTorch's backward reads the mean and rstd rounded
    to 16 bits. Now the results agree within one 16-bit rounding of each value."""
    ulp = 2.0 ** -10 if dtype == "float16" else 2.0 ** -7
    tdt, mdt = getattr(torch, dtype), getattr(md, dtype)
    for seed in range(10):
        r = np.random.default_rng(seed)
        x, gy = (torch.tensor(r.standard_normal(shape), dtype=tdt) for _ in range(2))
        w, b = (torch.tensor(r.standard_normal(shape[-1]), dtype=tdt) for _ in range(2))
        leaves_t = [t.clone().requires_grad_() for t in (x, w, b)]
        y_t = torch.nn.functional.layer_norm(leaves_t[0], shape[-1:], leaves_t[1], leaves_t[2])
        y_t.backward(gy)
        leaves_m = [md.tensor(t.float().numpy()).to(mdt).requires_grad_() for t in (x, w, b)]
        y_m = F.layer_norm(leaves_m[0], shape[-1:], leaves_m[1], leaves_m[2])
        y_m.backward(md.tensor(gy.float().numpy()).to(mdt))
        assert y_m.dtype == mdt and leaves_m[0].grad.dtype == mdt
        for name, got, want in [("y", y_m, y_t)] + [(n, m.grad, t.grad) for n, m, t in zip("xwb", leaves_m, leaves_t)]:
            got, want = got.detach().float().numpy(), want.detach().float().numpy()
            # weight/bias grads sum over rows: PyTorch adds the rows in 16 bits, minidl in float32
            tol = ulp * (1 + np.abs(want)) * (1 if name in "yx" else 2)
            assert np.all(np.abs(got - want) <= tol), (seed, name, got, want)


@pytest.mark.parametrize("kind", ["outlier_first", "outlier_middle", "heavy_tails"])
def test_heavy_tailed_rows_error_within_4x_torchs(kernel_set, kind):
    """issue 14 item 3, the other side of the shifted mean: rows whose first value is an
    outlier (the shift), or with heavy tails, on 4096 values. Measured max error / PyTorch's
    over these cases: main 19.6x (one float32 running sum per lane), now <= 3.3x (blocked
    sums, row_stats_simd.h), i.e. 1-2 ulps of the largest output."""
    for seed in range(3):
        r = np.random.default_rng(seed)
        if kind == "heavy_tails":
            x = (r.standard_normal((16, 4096)) * np.exp(3 * r.standard_normal((16, 4096)))).astype(np.float32)
        else:
            x = (1000 + 0.01 * r.standard_normal((16, 4096))).astype(np.float32)
            x[:, 0 if kind == "outlier_first" else 2048] = -1.0e4
        ref = _layer_norm_float64(x)
        err_md = np.abs(F.layer_norm(md.tensor(x), (4096,)).numpy() - ref).max()
        err_torch = np.abs(torch.nn.functional.layer_norm(torch.tensor(x), (4096,)).numpy() - ref).max()
        assert err_md <= 4 * err_torch, (seed, err_md, err_torch)


@pytest.mark.parametrize("shape", [(1000, 130), (300, 256), (64, 1024)])
def test_layer_norm_backward_threads(rng, kernel_set, shape):
    """The backward splits the rows between threads: dx is each row's own (the same bits on
    any thread count); dweight / dbias are per-thread column sums added in a fixed order, so
    the one-thread sums within float32 rounding and the same bits on every run at a fixed
    thread count."""
    x = rng.standard_normal(shape).astype(np.float32) * 2 + 1
    g = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(shape[1]).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)

    def grads(threads):
        md.set_num_threads(threads)
        xm, wm, bm = (md.tensor(a, requires_grad=True) for a in (x, w, b))
        F.layer_norm(xm, (shape[1],), wm, bm).backward(md.tensor(g))
        return [t.grad.numpy().copy() for t in (xm, wm, bm)]

    one = grads(1)
    for threads in (2, 3):
        got = grads(threads)
        np.testing.assert_array_equal(got[0], one[0])
        for a, r in zip(got[1:], one[1:]):
            np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5 * np.sqrt(shape[0]))
        for a, r in zip(grads(threads), got):
            np.testing.assert_array_equal(a, r)
