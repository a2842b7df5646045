"""cumsum, cumprod, cummax, cummin, logcumsumexp, diff vs PyTorch: values, indices (ties,
NaN), gradients on random shapes (size 1, odd sizes, non-contiguous input, negative dims),
cumprod's gradient with zeros, float64 gradcheck, the threaded one-line cumsum, bad input.

No SIMD kernel set exists for the scans (cpp/ops/scan/scan.cpp says why): no scalar-vs-SIMD
test."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import assert_close, require

torch = require("torch")

SHAPES_DIMS = [((1,), 0), ((7,), -1), ((3, 33), 1), ((5, 4), 0), ((2, 3, 9), 1), ((4, 1, 6), -3), ((2, 5, 3), -1)]
FLOAT_OPS = ["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"]



@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("op", FLOAT_OPS)
@pytest.mark.parametrize("transposed", [False, True])
def test_scan_matches_torch(shape, dim, op, transposed):
    rng = np.random.default_rng(len(shape) * 10 + dim)
    x = rng.standard_normal(shape).astype(np.float32)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    vm, vt = (xm.transpose(0, -1), xt.transpose(0, -1)) if transposed else (xm, xt)
    rm, rt = getattr(md, op)(vm, dim), getattr(torch, op)(vt, dim)
    if op in ("cummax", "cummin"):
        assert type(rm).__name__ == op and rm._fields == ("values", "indices")
        assert_close(rm.indices, rt.indices)
        rm, rt = rm.values, rt.values
    assert_close(rm, rt)
    assert_close(getattr(vm, op)(dim)[0] if op in ("cummax", "cummin") else getattr(vm, op)(dim), rt)
    w = rng.standard_normal(tuple(rt.shape)).astype(np.float32)
    (rm * md.tensor(w)).sum().backward()
    (rt * torch.tensor(w)).sum().backward()
    assert_close(xm.grad, xt.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", FLOAT_OPS)
def test_gradcheck_float64(op):
    x = md.tensor(np.random.default_rng(1).standard_normal((3, 6)), requires_grad=True)
    f = (lambda t: getattr(md, op)(t, 1)[0]) if op in ("cummax", "cummin") else (lambda t: getattr(md, op)(t, -1))
    assert md.autograd.gradcheck(f, (x,))


def test_cumprod_gradient_with_zeros_matches_torch():
    x = np.array([[2., 0., 3., 4.], [0., 5., 0., 2.], [1., 2., 3., 0.], [0., 0., 0., 0.]], np.float64)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    w = np.arange(1., 17.).reshape(4, 4)
    (md.cumprod(xm, 1) * md.tensor(w)).sum().backward()
    (torch.cumprod(xt, 1) * torch.tensor(w)).sum().backward()
    assert_close(xm.grad, xt.grad)
    assert md.autograd.gradcheck(lambda t: md.cumprod(t, 1), (md.tensor(x, requires_grad=True),))


def test_ties_nan_inf():
    x = np.array([1., 3., 3., 2., np.nan, 5., np.nan, -np.inf], np.float32)
    for op in ("cummax", "cummin"):
        rm, rt = getattr(md, op)(md.tensor(x), 0), getattr(torch, op)(torch.tensor(x), 0)
        assert_close(rm.values, rt.values)
        assert_close(rm.indices, rt.indices)
    y = np.array([-np.inf, -np.inf, 0., 1000., -1000., np.inf], np.float32)
    assert_close(md.logcumsumexp(md.tensor(y), 0), torch.logcumsumexp(torch.tensor(y), 0))
    assert_close(md.cumsum(md.tensor(x), 0), torch.cumsum(torch.tensor(x), 0))


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_integer_inputs(dtype):
    x = np.random.default_rng(2).integers(0, 3, (3, 7)).astype(dtype)
    for op in ("cumsum", "cumprod", "cummax", "cummin"):
        rm, rt = getattr(md, op)(md.tensor(x), 1), getattr(torch, op)(torch.tensor(x), 1)
        if op in ("cummax", "cummin"):
            assert_close(rm.indices, rt.indices)
            rm, rt = rm.values, rt.values
        assert_close(rm, rt)
    assert_close(md.cumsum(md.tensor(x), 0, dtype=md.float64), torch.cumsum(torch.tensor(x), 0, dtype=torch.float64))


def test_zero_d_and_empty():
    for op in ("cumsum", "cumprod", "logcumsumexp"):
        assert_close(getattr(md, op)(md.tensor(2.0), 0), getattr(torch, op)(torch.tensor(2.0), 0))
        assert tuple(getattr(md, op)(md.zeros(3, 0), 1).shape) == (3, 0)
    rm, rt = md.cummax(md.tensor(2.0), -1), torch.cummax(torch.tensor(2.0), -1)
    assert_close(rm.values, rt.values)
    assert_close(rm.indices, rt.indices)


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_rows_path_equals_line_path(op):
    """Over a dim that is not the last, cumsum / cumprod step whole rows (scan_rows); the same
    lines scanned one by one (dim=-1 of the transposed copy) give identical bits, also for the
    reversed scan of cumsum's backward."""
    x = np.random.default_rng(7).uniform(0.5, 1.5, (3, 41, 1030)).astype(np.float32)
    rows = getattr(md, op)(md.tensor(x), 1).numpy()
    lines = getattr(md, op)(md.tensor(np.ascontiguousarray(x.transpose(0, 2, 1))), 2).numpy().transpose(0, 2, 1)
    np.testing.assert_array_equal(rows, lines)
    assert_close(md.tensor(rows), getattr(torch, op)(torch.tensor(x), 1))
    a, b = md.tensor(x, requires_grad=True), md.tensor(np.ascontiguousarray(x.transpose(0, 2, 1)), requires_grad=True)
    w = np.random.default_rng(8).standard_normal(x.shape).astype(np.float32)
    (getattr(md, op)(a, 1) * md.tensor(w)).sum().backward()
    (getattr(md, op)(b, 2) * md.tensor(np.ascontiguousarray(w.transpose(0, 2, 1)))).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy().transpose(0, 2, 1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_long_single_line_cumsum(threads):
    """One line of 2M elements: the same result on 1 and 2 threads (one line runs on one thread)."""
    x = np.random.default_rng(3).standard_normal(2_000_003).astype(np.float32)
    before = md.get_num_threads()
    md.set_num_threads(threads)
    try:
        ym = md.cumsum(md.tensor(x), 0)
    finally:
        md.set_num_threads(before)
    assert_close(ym, torch.cumsum(torch.tensor(x), 0), rtol=1e-5, atol=1e-3)
    xm = md.tensor(x, requires_grad=True)
    md.cumsum(xm, 0).sum().backward()  # reverse scan: g_i = n - i
    assert_close(xm.grad[:3], np.array([2_000_003., 2_000_002., 2_000_001.], np.float32))


@pytest.mark.parametrize("shape,dim,n", [((7,), -1, 1), ((3, 6), 1, 2), ((5, 4), 0, 3), ((2, 3), 1, 5), ((4, 3, 2), -2, 1)])
@pytest.mark.parametrize("ends", [False, True])
def test_diff_matches_torch(shape, dim, n, ends):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(np.float32)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kw_m, kw_t = {}, {}
    if ends:
        side = list(shape)
        side[dim] = 2
        p = rng.standard_normal(side).astype(np.float32)
        kw_m, kw_t = {"prepend": md.tensor(p), "append": md.tensor(p)}, {"prepend": torch.tensor(p), "append": torch.tensor(p)}
    ym, yt = md.diff(xm, n, dim, **kw_m), torch.diff(xt, n, dim, **kw_t)
    assert_close(ym, yt)
    if yt.numel():
        ym.sum().backward()
        yt.sum().backward()
        assert_close(xm.grad, xt.grad)
    b = x > 0
    assert_close(md.tensor(b).diff(dim=dim), torch.tensor(b).diff(dim=dim))
    assert md.autograd.gradcheck(lambda t: md.diff(t, n, dim), (md.tensor(x.astype(np.float64), requires_grad=True),))


@pytest.mark.parametrize("op", ["cumsum_", "cumprod_"])
def test_inplace_variants(op):
    x = np.random.default_rng(5).standard_normal((3, 5)).astype(np.float32)
    am, at = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    bm, bt = am * 2, at * 2
    assert getattr(bm, op)(1) is bm and getattr(bt, op)(1) is bt
    assert_close(bm, bt)
    w = np.random.default_rng(6).standard_normal((3, 5)).astype(np.float32)
    (bm * md.tensor(w)).sum().backward()
    (bt * torch.tensor(w)).sum().backward()
    assert_close(am.grad, at.grad)
    cm = md.tensor(x)
    getattr(cm, op)(0)
    assert_close(cm, getattr(torch.tensor(x), op)(0))


def test_bad_input():
    with pytest.raises(NotImplementedError, match="logcumsumexp_out_cpu"):
        md.logcumsumexp(md.tensor([1, 2]), 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        md.cumsum(md.ones(2, 3), 2)
    with pytest.raises(TypeError):
        md.cumsum(md.ones(3))
    with pytest.raises(RuntimeError, match="diff expects input to be at least one-dimensional"):
        md.diff(md.tensor(1.0))
    with pytest.raises(RuntimeError, match="order must be non-negative but got -1"):
        md.diff(md.ones(3), -1)
    with pytest.raises(RuntimeError, match="same dimension as input"):
        md.diff(md.ones(2, 3), prepend=md.ones(3))
