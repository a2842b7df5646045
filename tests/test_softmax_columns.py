"""Softmax, log-softmax and logsumexp over a dim that is not the last one (inner > 1: the
float32 column kernels of cpp/ops/softmax/softmax_simd.cpp), and over rows for logsumexp, on
every kernel set: forward and backward against PyTorch, long columns against float64, all
-inf and NaN columns, and cross-entropy on (N, C, H, W) logits."""
import numpy as np
import pytest

from conftest import require

import minidl as md
import minidl.nn.functional as F

torch = require("torch")
TF = torch.nn.functional

KERNEL_SETS = md.backend.available()
# inner sizes: below, at and above one vector of every set (8, 16 floats), plus 33
INNERS = list(range(1, 18)) + [33]


@pytest.fixture(autouse=True)
def restore_kernels():
    before = md.backend.name
    yield
    md.backend.use(before)


def _pair(x):
    return md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _fn(op, lib):
    if op == "logsumexp":
        return (lambda x, d: md.logsumexp(x, d)) if lib is md else (lambda x, d: torch.logsumexp(x, d))
    f = F if lib is md else TF
    return getattr(f, op)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_non_last_dim_matches_torch(kernels, op):
    md.backend.use(kernels)
    rng = np.random.default_rng(len(kernels) + len(op))
    for inner in INNERS:
        for shape, dim in (((3, 19, inner), 1), ((19, inner), 0), ((2, 5, 1, inner), 1)):
            x = (rng.standard_normal(shape) * 4).astype(np.float32)
            x.reshape(-1)[0] = 900.0  # large logits: the max shift must keep exp finite
            mx, tx = _pair(x)
            y, ty = _fn(op, md)(mx, dim), _fn(op, torch)(tx, dim)
            np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=2e-6,
                                       err_msg=f"{op} {shape} dim {dim}")
            g = rng.standard_normal(ty.shape).astype(np.float32)
            y.backward(md.tensor(g))
            ty.backward(torch.tensor(g))
            np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=2e-6,
                                       err_msg=f"{op} backward {shape} dim {dim}")


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_long_columns_against_float64(kernels):
    """5000 rows: the block sums are combined in double, so the float32 result stays within a
    few ulps of the float64 one (a plain float running sum of 5000 terms would drift)."""
    md.backend.use(kernels)
    rng = np.random.default_rng(5000)
    x = (rng.standard_normal((5000, 37)) * 3).astype(np.float32)
    x64 = x.astype(np.float64)
    m = x64.max(0)
    lse = m + np.log(np.exp(x64 - m).sum(0))
    got = md.logsumexp(md.tensor(x), 0).numpy()
    assert np.all(np.abs(got - lse) <= 4 * np.spacing(np.abs(lse).astype(np.float32)))
    sm = F.softmax(md.tensor(x), 0).numpy()
    np.testing.assert_allclose(sm, np.exp(x64 - lse), rtol=2e-6, atol=0)
    lsm = F.log_softmax(md.tensor(x), 0).numpy()
    np.testing.assert_allclose(lsm, x64 - lse, rtol=0, atol=4e-6 * np.abs(x64 - lse).max())
    # backward: sum_r gy y over 5000 rows
    gy = rng.standard_normal(x.shape).astype(np.float32)
    y = md.tensor(x, requires_grad=True)
    F.softmax(y, 0).backward(md.tensor(gy))
    p = np.exp(x64 - lse)
    dot = (gy * p).sum(0)
    # gy - dot cancels where gy is near dot: the bound is relative to the terms, not the result
    assert np.all(np.abs(y.grad.numpy() - p * (gy - dot)) <= 2e-6 * p * (np.abs(gy) + np.abs(dot)))


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_inf_and_nan_columns(kernels):
    """An all -inf column gives NaN (exp sums to 0), as PyTorch; a NaN makes its column NaN and
    leaves the others alone; +inf: logsumexp inf."""
    md.backend.use(kernels)
    x = np.random.default_rng(0).standard_normal((6, 3, 21)).astype(np.float32)
    x[:, :, 0] = -np.inf        # all -inf columns
    x[2, :, 5] = np.nan         # NaN columns
    x[4, :, 20] = np.inf        # +inf in a column
    x[:, :, 9] = -1000.0        # large negative, finite
    # dim 0: 63 columns per slab; dim 1 of the (21, 6, 3) transpose: slabs 3 wide (transposed
    # into rows by softmax.cpp)
    for xin, dim in ((x, 0), (np.ascontiguousarray(np.transpose(x, (2, 0, 1))), 1)):
        for op in ("softmax", "log_softmax", "logsumexp"):
            got = _fn(op, md)(md.tensor(xin), dim).numpy()
            ref = _fn(op, torch)(torch.tensor(xin), dim).numpy()
            np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=op)
            ok = ~np.isnan(ref)
            np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-5, atol=1e-6, err_msg=op)
        lse = md.logsumexp(md.tensor(xin), dim).numpy()
        if dim == 1:
            lse = np.moveaxis(lse, 0, -1)
        assert np.all(lse[..., 0] == -np.inf) and np.all(np.isnan(lse[..., 5])) and np.all(lse[..., 20] == np.inf)
    rows = md.logsumexp(md.tensor(np.ascontiguousarray(np.moveaxis(x, 0, -1))), -1).numpy()
    assert np.all(rows[:, 0] == -np.inf) and np.all(np.isnan(rows[:, 5])) and np.all(rows[:, 20] == np.inf)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_simd_columns_match_the_reference(kernels):
    """The same call on the scalar reference and on `kernels`: panels of 16 to 1024 columns,
    wide slabs cut into several panels (inner 1500), and 2 threads."""
    rng = np.random.default_rng(7)
    for shape, dim in (((300, 1500), 0), ((2, 640, 3, 7), 1), ((4, 3000, 5), 1)):
        x = (rng.standard_normal(shape) * 6).astype(np.float32)
        gy = rng.standard_normal(shape).astype(np.float32)
        for threads in (1, 2):
            md.set_num_threads(threads)
            out = {}
            for k in ("scalar", kernels):
                md.backend.use(k)
                res = []
                for op in ("softmax", "log_softmax"):
                    t = md.tensor(x, requires_grad=True)
                    y = _fn(op, md)(t, dim)
                    y.backward(md.tensor(gy))
                    res += [y.detach().numpy(), t.grad.numpy()]
                res.append(md.logsumexp(md.tensor(x), dim).numpy())
                out[k] = res
            for a, b in zip(out["scalar"], out[kernels]):
                np.testing.assert_allclose(b, a, rtol=2e-5, atol=1e-5 * max(1.0, float(np.abs(a).max())))
    md.set_num_threads(1)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_nchw(kernels, smoothing):
    md.backend.use(kernels)
    rng = np.random.default_rng(21)
    # the spatial kernels where the positions fill more than half a vector (_spatial_pays), the
    # rows (C moved last) below: 99, 33 and 15 positions spatial on every set, 1 rows on every
    # set, 6 rows on AVX-512 and spatial on AVX2 and scalar, 4 spatial on scalar only
    for shape in ((4, 21, 9, 11), (2, 5, 33), (3, 17, 1, 1), (2, 6, 3, 5), (2, 6, 2, 3), (3, 5, 4)):
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
        t.reshape(-1)[1] = -100  # ignored position
        w = rng.uniform(0.5, 2.0, shape[1]).astype(np.float32)
        for weight in (None, w):
            for reduction in ("mean", "none"):
                mx, tx = _pair(x)
                mw = None if weight is None else md.tensor(weight)
                tw = None if weight is None else torch.tensor(weight)
                y = F.cross_entropy(mx, md.tensor(t), weight=mw, reduction=reduction, label_smoothing=smoothing)
                ty = TF.cross_entropy(tx, torch.tensor(t), weight=tw, reduction=reduction, label_smoothing=smoothing)
                np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
                g = rng.standard_normal(ty.shape).astype(np.float32)
                y.backward(md.tensor(g))
                ty.backward(torch.tensor(g))
                np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_cross_entropy_takes_the_spatial_kernels_past_half_a_vector(kernels):
    from minidl.nn.loss_softmax import _spatial_pays
    md.backend.use(kernels)
    lanes = {"avx512": 16, "avx2": 8}.get(kernels, 1)
    assert not _spatial_pays(1)
    assert [d for d in range(2, 40) if not _spatial_pays(d)] == list(range(2, lanes // 2 + 1))


def test_gradcheck_float64_columns():
    """float64 runs the reference (the spec); its gradients over a non-last dim by finite
    differences."""
    rng = np.random.default_rng(3)
    x = md.tensor(rng.standard_normal((3, 4, 5)), dtype=md.float64, requires_grad=True)
    for f in (lambda t: F.softmax(t, 1), lambda t: F.log_softmax(t, 0), lambda t: md.logsumexp(t, 1)):
        assert md.autograd.gradcheck(f, (x,))


def test_cross_entropy_nchw_float64_gradcheck_and_double_backward():
    """(N, C, d) logits in float64 run the spatial reference; the double backward (the
    recorded-softmax gradient) takes the same positions as the kernels."""
    rng = np.random.default_rng(11)
    x = md.tensor(rng.standard_normal((2, 4, 3, 6)), dtype=md.float64, requires_grad=True)
    t = md.tensor(rng.integers(0, 4, (2, 3, 6)))
    w = md.tensor(rng.uniform(0.5, 2.0, 4), dtype=md.float64)
    assert md.autograd.gradcheck(lambda a: F.cross_entropy(a, t, weight=w, label_smoothing=0.1), (x,))
    xt = torch.tensor(x.detach().numpy(), requires_grad=True)
    v = rng.standard_normal(x.shape)
    g, = md.autograd.grad(F.cross_entropy(x, t, weight=w, label_smoothing=0.1), x, create_graph=True)
    hv, = md.autograd.grad((g * md.tensor(v)).sum(), x)
    gt, = torch.autograd.grad(TF.cross_entropy(xt, torch.tensor(t.numpy()), weight=torch.tensor(w.numpy()),
                                               label_smoothing=0.1), xt, create_graph=True)
    hvt, = torch.autograd.grad((gt * torch.tensor(v)).sum(), xt)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hv.numpy(), hvt.numpy(), rtol=1e-8, atol=1e-10)


def test_cross_entropy_nchw_bad_targets():
    x = md.randn(2, 3, 4, 5)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, md.full((2, 4, 5), 3, dtype=md.int64))
    with pytest.raises(ValueError, match="target"):
        F.cross_entropy(x, md.zeros((2, 4), dtype=md.int64))
