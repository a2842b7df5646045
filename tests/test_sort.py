"""sort, argsort, msort, topk, kthvalue, median vs PyTorch: values, indices (ties, NaN), gradients on random
shapes (size 1, odd sizes, non-contiguous input, negative dims), float64 gradcheck, bad input.

No SIMD kernel set exists for these ops (cpp/ops/sort/sort.h says why), so there is no
scalar-vs-SIMD test; the scalar set runs the same code."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import assert_close, require

torch = require("torch")

SHAPES_DIMS = [((1,), 0), ((7,), -1), ((3, 33), 1), ((5, 4), 0), ((2, 3, 9), 1), ((4, 1, 6), -3), ((2, 5, 3), -1)]


def _leaf_pair(x: np.ndarray, transposed: bool = False):
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if transposed:  # non-contiguous views of the same values
        return xm, xt, xm.transpose(0, -1), xt.transpose(0, -1)
    return xm, xt, xm, xt


def _check_grad(xm, xt, ym, yt, rng):
    w = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (ym * md.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    assert_close(xm.grad, xt.grad)


@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("transposed", [False, True])
def test_sort_matches_torch(shape, dim, descending, transposed):
    rng = np.random.default_rng(len(shape) * 10 + dim)
    xm, xt, vm, vt = _leaf_pair(rng.standard_normal(shape).astype(np.float32), transposed)
    rm, rt = md.sort(vm, dim=dim, descending=descending), torch.sort(vt, dim=dim, descending=descending)
    assert type(rm).__name__ == "sort" and rm._fields == ("values", "indices")
    assert_close(rm.values, rt.values)
    assert_close(rm.indices, rt.indices)
    assert_close(vm.argsort(dim, descending=descending), vt.argsort(dim, descending=descending))
    _check_grad(xm, xt, rm.values, rt.values, rng)


@pytest.mark.parametrize("descending", [False, True])
def test_sort_ties_and_nan_in_torch_order(descending):
    x = np.array([[2, 1, 2, np.nan, 1, -np.inf, 2, np.nan, np.inf, 0]], np.float32)
    rm = md.sort(md.tensor(x), descending=descending, stable=True)
    rt = torch.sort(torch.tensor(x), descending=descending, stable=True)
    assert_close(rm.values, rt.values)
    assert_close(rm.indices, rt.indices)
    # without stable=True minidl still keeps the input order of ties
    assert_close(md.sort(md.tensor(x), descending=descending).indices, rt.indices)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("transposed", [False, True])
def test_long_float32_lines_radix_path(descending, transposed):
    """float32 lines of 256+ take the radix sort: its order must be stable_sort's and torch's,
    with many ties, NaN of both signs, +-0.0 (equal: input order), +-inf and subnormals."""
    rng = np.random.default_rng(8)
    x = rng.integers(-20, 20, (3, 999)).astype(np.float32) / 4
    x[:, ::97] = np.nan
    x[0, 5::101] = -np.nan
    x[:, 3::50] = -0.0
    x[:, 7::61] = np.inf
    x[:, 8::67] = -np.inf
    x[1, ::13] = np.float32(1e-40)
    x[2, ::17] = np.float32(-1e-40)
    xm, xt = (md.tensor(x).transpose(0, 1), torch.tensor(x).transpose(0, 1)) if transposed else (md.tensor(x), torch.tensor(x))
    dim = 0 if transposed else 1
    rm = md.sort(xm, dim=dim, descending=descending)
    rt = torch.sort(xt, dim=dim, descending=descending, stable=True)
    assert_close(rm.values, rt.values)
    assert_close(rm.indices, rt.indices)
    # the same order as the comparison sort minidl runs on float64 lines
    r64 = md.sort(md.tensor(x.astype(np.float64)), dim=1, descending=descending)
    if not transposed:
        assert_close(rm.indices, r64.indices)


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.bool_])
def test_sort_other_dtypes(dtype):
    x = np.random.default_rng(1).integers(0, 3, (4, 9)).astype(dtype)
    for descending in (False, True):
        rm = md.sort(md.tensor(x), dim=1, descending=descending, stable=True)
        rt = torch.sort(torch.tensor(x), dim=1, descending=descending, stable=True)
        assert_close(rm.values, rt.values)
        assert_close(rm.indices, rt.indices)
        assert_close(md.argsort(md.tensor(x), 0, stable=True), torch.argsort(torch.tensor(x), dim=0, stable=True))


def test_sort_zero_d_and_empty_and_msort():
    rm, rt = md.sort(md.tensor(3.0)), torch.sort(torch.tensor(3.0))
    assert_close(rm.values, rt.values)
    assert_close(rm.indices, rt.indices)
    e = md.sort(md.zeros(2, 0), dim=1)
    assert tuple(e.values.shape) == (2, 0) and tuple(e.indices.shape) == (2, 0)
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    xm, xt, _, _ = _leaf_pair(x)
    ym, yt = md.msort(xm), torch.msort(xt)
    assert_close(ym, yt)
    _check_grad(xm, xt, ym, yt, np.random.default_rng(3))
    assert_close(xm.msort(), xt.detach().msort())


@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("transposed", [False, True])
def test_topk_matches_torch(shape, dim, largest, transposed):
    rng = np.random.default_rng(len(shape) * 7 + dim)
    xm, xt, vm, vt = _leaf_pair(rng.standard_normal(shape).astype(np.float32), transposed)
    n = vt.shape[dim]
    for k in sorted({0, 1, (n + 1) // 2, n}):
        rm, rt = md.topk(vm, k, dim, largest), torch.topk(vt, k, dim, largest)
        assert type(rm).__name__ == "topk"
        assert_close(rm.values, rt.values)
        assert_close(rm.indices, rt.indices)
    k = (n + 1) // 2
    _check_grad(xm, xt, vm.topk(k, dim, largest).values, vt.topk(k, dim, largest).values, rng)


def test_topk_ties_nan_sorted_false_and_ints():
    # Ties: PyTorch does not define which of equal values comes first (here it returns the 3s
    # at [1, 5, 2]); minidl takes the smaller index first. Values agree, indices point at them.
    x = np.array([[1, 3, 3, np.nan, 0, 3, 1]], np.float32)
    for largest in (True, False):
        rm, rt = md.topk(md.tensor(x), 4, largest=largest), torch.topk(torch.tensor(x), 4, largest=largest)
        assert_close(rm.values, rt.values)
        np.testing.assert_array_equal(x[0, rm.indices.numpy()[0]], rm.values.numpy()[0])
        want = [3, 1, 2, 5] if largest else [4, 0, 6, 1]
        np.testing.assert_array_equal(rm.indices.numpy()[0], want)
    # sorted=False: torch's order is unspecified; the same set of values
    y = np.random.default_rng(4).standard_normal((3, 50)).astype(np.float32)
    rm, rt = md.topk(md.tensor(y), 10, sorted=False), torch.topk(torch.tensor(y), 10, sorted=False)
    assert_close(np.sort(rm.values.numpy(), 1), np.sort(rt.values.numpy(), 1))
    z = np.random.default_rng(5).permutation(20).reshape(2, 10)
    assert_close(md.topk(md.tensor(z), 3).indices, torch.topk(torch.tensor(z), 3).indices)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_topk_heap_path_equals_stable_sort_prefix(dtype):
    """k <= n/8 takes the heap path: with ties and NaN its result is the first k of the stable
    sort (ties: smaller index first), the same as the nth_element path for larger k."""
    x = np.random.default_rng(9).integers(-5, 5, (4, 203)).astype(dtype)
    if dtype != np.int64:
        x[:, ::31] = np.nan
    for largest in (True, False):
        s = md.sort(md.tensor(x), dim=1, descending=largest)
        for k in (1, 7, 25, 101):
            r = md.topk(md.tensor(x), k, largest=largest)
            assert_close(r.indices, s.indices[:, :k])
            assert_close(r.values, s.values[:, :k])


def test_topk_large_rows_match_torch():
    """Rows of 50k logits (the benchmark's shape, fewer rows): k = 10 and k = 1000."""
    x = np.random.default_rng(6).standard_normal((3, 50000)).astype(np.float32)
    for k in (10, 1000):
        rm, rt = md.topk(md.tensor(x), k), torch.topk(torch.tensor(x), k)
        assert_close(rm.values, rt.values)
        assert_close(rm.indices, rt.indices)
    assert_close(md.sort(md.tensor(x)).indices, torch.sort(torch.tensor(x), stable=True).indices)


@pytest.mark.parametrize("op", ["sort", "topk", "msort", "kthvalue", "median_dim", "median"])
def test_gradcheck_float64(op):
    x = md.tensor(np.random.default_rng(7).standard_normal((3, 5)), requires_grad=True)
    f = {"sort": lambda t: md.sort(t, dim=0, descending=True).values,
         "topk": lambda t: md.topk(t, 2, dim=-1, largest=False).values,
         "msort": md.msort,
         "kthvalue": lambda t: md.kthvalue(t, 2, dim=0).values,
         "median_dim": lambda t: md.median(t, -1, keepdim=True).values,
         "median": md.median}[op]
    assert md.autograd.gradcheck(f, (x,))


@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("transposed", [False, True])
def test_kthvalue_median_match_torch(shape, dim, keepdim, transposed):
    rng = np.random.default_rng(len(shape) * 5 + dim)
    xm, xt, vm, vt = _leaf_pair(rng.standard_normal(shape).astype(np.float32), transposed)
    n = vt.shape[dim]
    for k in sorted({1, (n + 1) // 2, n}):
        rm, rt = md.kthvalue(vm, k, dim, keepdim), torch.kthvalue(vt, k, dim, keepdim)
        assert type(rm).__name__ == "kthvalue"
        assert_close(rm.values, rt.values)
        assert_close(rm.indices, rt.indices)
    rm, rt = md.median(vm, dim, keepdim), torch.median(vt, dim, keepdim)
    assert type(rm).__name__ == "median"
    assert_close(rm.values, rt.values)
    assert_close(rm.indices, rt.indices)
    _check_grad(xm, xt, rm.values, rt.values, rng)


def test_median_global_ties_nan_and_empty():
    x = np.array([1., 2., 2., 3., 2., 0.], np.float32)  # lower median 2, shared by three 2s
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = md.median(xm), torch.median(xt)
    assert_close(ym, yt)
    ym.backward()
    yt.backward()
    assert_close(xm.grad, xt.grad)
    y = np.array([[1., np.nan, 2., np.nan], [4., 2., 2., 4.]], np.float32)
    rm, rt = md.median(md.tensor(y), 1), torch.median(torch.tensor(y), 1)
    assert_close(rm.values, rt.values)
    assert rm.indices.numpy()[0] == rt.indices.numpy()[0] == 1  # the first NaN
    # ties: the lower median of [4, 2, 2, 4] is the 2nd smallest, the 2 at index 2 in stable order
    assert rm.indices.numpy()[1] == rt.indices.numpy()[1] == 2
    # where PyTorch's index among equal values differs: kthvalue(k=2) of [3, 1, 3, 2, 1, 3] is a 1
    # at index 4 in both, but k=5 is the 3 at index 0 for PyTorch and at index 2 (stable) here
    t = np.array([[3., 1., 3., 2., 1., 3.]], np.float32)
    assert md.kthvalue(md.tensor(t), 2).indices.numpy()[0] == torch.kthvalue(torch.tensor(t), 2).indices.numpy()[0] == 4
    assert md.kthvalue(md.tensor(t), 5).indices.numpy()[0] == 2 and md.kthvalue(md.tensor(t), 5).values.numpy()[0] == 3
    assert_close(md.median(md.tensor(y)), torch.median(torch.tensor(y)))
    assert_close(md.median(md.zeros(0)), torch.median(torch.zeros(0)))
    assert_close(md.median(md.tensor([3, 1, 2])), torch.median(torch.tensor([3, 1, 2])))
    rm, rt = md.median(md.tensor(5.0), 0), torch.median(torch.tensor(5.0), 0)
    assert_close(rm.values, rt.values)
    assert_close(rm.indices, rt.indices)
    rm, rt = md.kthvalue(md.tensor(y), 3, 1), torch.kthvalue(torch.tensor(y), 3, 1)
    assert_close(rm.values, rt.values)  # NaN is the largest for kthvalue (no NaN rule)


def test_bad_input():
    x = md.randn(3, 4)
    with pytest.raises(RuntimeError, match="kthvalue\\(\\): selected number k out of range for dimension 1"):
        md.kthvalue(x, 5)
    with pytest.raises(RuntimeError, match="selected number k out of range"):
        md.kthvalue(x, 0, dim=0)
    with pytest.raises(IndexError, match="median\\(\\): Expected reduction dim 1 to have non-zero size."):
        md.median(md.zeros(2, 0), 1)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        md.topk(x, 5)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        md.topk(x, -1)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        md.sort(x, dim=2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        md.topk(x, 1, dim=-3)
