"""searchsorted, bucketize, bincount, histc, unique vs PyTorch (NaN, ties, sorter, N-D
sequences, scalars, empty input) and their bad input. None is differentiable (indices and
counts), so there is no gradcheck; no SIMD set exists for them (cpp/ops/sort/search.h)."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import assert_close, require

torch = require("torch")

NAN = float("nan")


def _both(x):
    return md.tensor(x), torch.tensor(x)


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_1d_matches_torch(right):
    rng = np.random.default_rng(0)
    seq = np.sort(rng.integers(0, 10, 33)).astype(np.float32)  # with repeats
    seq = np.concatenate([seq, [NAN]]).astype(np.float32)
    v = np.concatenate([rng.uniform(-1, 11, (5, 7)).ravel(), [0., 9., 3., NAN, np.inf]]).astype(np.float32)
    sm, st = _both(seq)
    vm, vt = _both(v.reshape(5, 8))
    assert_close(md.searchsorted(sm, vm, right=right), torch.searchsorted(st, vt, right=right))
    side = "right" if right else "left"
    assert_close(md.searchsorted(sm, vm, side=side), torch.searchsorted(st, vt, side=side))
    assert_close(md.searchsorted(sm, 3.0, right=right), torch.searchsorted(st, 3.0, right=right))
    # int sequence, float values: promoted as PyTorch does
    im, it = _both(np.array([1, 2, 2, 4]))
    assert_close(md.searchsorted(im, md.tensor([2.5, 2.0])), torch.searchsorted(it, torch.tensor([2.5, 2.0])))
    assert_close(md.searchsorted(md.zeros(0), md.tensor([1.])), torch.searchsorted(torch.zeros(0), torch.tensor([1.])))


def test_searchsorted_nd_and_sorter():
    rng = np.random.default_rng(1)
    seq = np.sort(rng.standard_normal((2, 3, 9)), axis=-1)
    v = rng.standard_normal((2, 3, 5))
    (sm, st), (vm, vt) = _both(seq), _both(v)
    for right in (False, True):
        assert_close(md.searchsorted(sm, vm, right=right), torch.searchsorted(st, vt, right=right))
    raw = rng.permutation(11).astype(np.float64)
    rm, rt = _both(raw)
    order_m, order_t = md.argsort(rm), torch.argsort(rt)
    assert_close(md.searchsorted(rm, md.tensor([3.5, 0., 10.]), sorter=order_m),
                 torch.searchsorted(rt, torch.tensor([3.5, 0., 10.], dtype=torch.float64), sorter=order_t))
    # non-contiguous values
    assert_close(md.searchsorted(sm[0, 0], vm.transpose(0, 2)), torch.searchsorted(st[0, 0], vt.transpose(0, 2).contiguous()))


@pytest.mark.parametrize("right", [False, True])
def test_bucketize_matches_torch(right):
    b = np.array([1., 2., 2., 3.], np.float32)
    x = np.array([[0.5, 1.0, 2.0], [2.5, 3.0, 9.0]], np.float32)
    (bm, bt), (xm, xt) = _both(b), _both(x)
    assert_close(md.bucketize(xm, bm, right=right), torch.bucketize(xt, bt, right=right))
    assert_close(md.bucketize(2.0, bm, right=right), torch.bucketize(2.0, bt, right=right))


def test_bincount_matches_torch():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 7, 40)
    xm, xt = _both(x)
    assert_close(md.bincount(xm), torch.bincount(xt))
    assert_close(xm.bincount(minlength=10), xt.bincount(minlength=10))
    for w in (rng.standard_normal(40).astype(np.float32), rng.standard_normal(40), rng.integers(0, 3, 40)):
        wm, wt = _both(w)
        assert_close(md.bincount(xm, wm), torch.bincount(xt, wt))
    assert_close(md.bincount(md.tensor(np.zeros(0, np.int64))), torch.bincount(torch.zeros(0, dtype=torch.long)))
    assert_close(md.bincount(md.tensor(np.zeros(0, np.int64)), minlength=3),
                 torch.bincount(torch.zeros(0, dtype=torch.long), minlength=3))


def test_histc_matches_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 25)).astype(np.float32)
    xm, xt = _both(x)
    assert_close(md.histc(xm), torch.histc(xt))
    assert_close(xm.histc(bins=7, min=-1, max=1), xt.histc(bins=7, min=-1, max=1))
    y = np.array([0., 1., NAN, 5., 4., -0.5], np.float64)
    assert_close(md.histc(md.tensor(y), bins=4, min=0, max=4), torch.histc(torch.tensor(y), bins=4, min=0, max=4))
    assert_close(md.histc(md.tensor([2., 2.]), bins=4), torch.histc(torch.tensor([2., 2.]), bins=4))
    assert_close(md.histc(md.zeros(0), bins=3), torch.histc(torch.zeros(0), bins=3))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_unique_matches_torch(dtype):
    x = np.random.default_rng(4).integers(0, 5, (3, 7)).astype(dtype)
    xm, xt = _both(x)
    for inv in (False, True):
        for cnt in (False, True):
            rm = md.unique(xm, return_inverse=inv, return_counts=cnt)
            rt = torch.unique(xt, return_inverse=inv, return_counts=cnt)
            for a, b in zip(rm if isinstance(rm, tuple) else (rm,), rt if isinstance(rt, tuple) else (rt,)):
                assert_close(a, b)
    assert_close(xm.unique(sorted=False), torch.unique(xt, sorted=True))  # minidl: always sorted


def test_unique_nan_and_empty():
    x = np.array([2., NAN, 1., NAN, 2.], np.float32)
    rm, rt = md.unique(md.tensor(x), return_inverse=True, return_counts=True), \
        torch.unique(torch.tensor(x), return_inverse=True, return_counts=True)
    for a, b in zip(rm, rt):
        assert_close(a, b)
    assert_close(md.unique(md.zeros(0)), torch.unique(torch.zeros(0)))


@pytest.mark.parametrize("shape,dim", [((7, 3), 0), ((7, 3), 1), ((4, 5, 2), 1), ((4, 5, 2), -1), ((1, 3), 0),
                                       ((6,), 0), ((0, 3), 0)])
@pytest.mark.parametrize("consecutive", [False, True])
def test_unique_dim_matches_torch(rng, shape, dim, consecutive):
    """Unique slices: few distinct values so that slices repeat, in runs and apart; the
    input is a non-contiguous (transposed back) view."""
    base = rng.integers(0, 2, size=shape[::-1]).astype(np.float32)
    a = np.ascontiguousarray(base.transpose())
    fm, ft = (md.unique_consecutive, torch.unique_consecutive) if consecutive else (md.unique, torch.unique)
    xm = md.tensor(base).permute(*reversed(range(base.ndim)))
    assert xm.ndim == 1 or min(shape) <= 1 or not xm.is_contiguous()
    rm = fm(xm, return_inverse=True, return_counts=True, dim=dim)
    rt = ft(torch.tensor(np.ascontiguousarray(a)), return_inverse=True, return_counts=True, dim=dim)
    for m, t in zip(rm, rt):
        assert_close(m, t)
    assert_close(fm(xm, dim=dim), ft(torch.tensor(np.ascontiguousarray(a)), dim=dim))


def test_unique_dim_nan_rows_are_distinct_and_consecutive_flat():
    a = np.array([[1., NAN], [0., 1.], [1., NAN], [0., 1.]], np.float32)
    for m, t in zip(md.unique(md.tensor(a), dim=0, return_inverse=True, return_counts=True),
                    torch.unique(torch.tensor(a), dim=0, return_inverse=True, return_counts=True)):
        assert_close(m, t)
    b = np.array([[1, 1, 2], [2, 2, 1]])
    for m, t in zip(md.unique_consecutive(md.tensor(b), return_inverse=True, return_counts=True),
                    torch.unique_consecutive(torch.tensor(b), return_inverse=True, return_counts=True)):
        assert_close(m, t)
    assert md.tensor(b).unique_consecutive().tolist() == [1, 2, 1]


def test_bad_input():
    s = md.tensor([1., 2.])
    with pytest.raises(RuntimeError, match="side and right can't be set to opposites"):
        md.searchsorted(s, md.tensor([1.]), side="left", right=True)
    with pytest.raises(RuntimeError, match="side can only be 'left' or 'right' but got up"):
        md.searchsorted(s, md.tensor([1.]), side="up")
    with pytest.raises(RuntimeError, match=r"first N-1 dimensions .* boundaries tensor \[2, 2\] and input value tensor \[3, 1\]"):
        md.searchsorted(md.ones(2, 2), md.ones(3, 1))
    with pytest.raises(RuntimeError, match="input value can be a scalar only when boundaries tensor dimension is 1"):
        md.searchsorted(md.ones(2, 2), 1.0)
    with pytest.raises(RuntimeError, match="sorter index out of range"):
        md.searchsorted(s, md.tensor([1.]), sorter=md.tensor([1, 5]))
    with pytest.raises(RuntimeError, match="boundary and sorter must have the same size"):
        md.searchsorted(s, md.tensor([1.]), sorter=md.tensor([1]))
    with pytest.raises(NotImplementedError, match="int32"):
        md.searchsorted(s, md.tensor([1.]), out_int32=True)
    with pytest.raises(RuntimeError, match=r"boundaries tensor must be 1 dimension, but got dim\(2\)"):
        md.bucketize(md.tensor([1.]), md.ones(1, 1))
    with pytest.raises(RuntimeError, match="bincount only supports 1-d non-negative integral inputs."):
        md.bincount(md.tensor([1, -1]))
    with pytest.raises(RuntimeError, match="bincount only supports 1-d non-negative integral inputs."):
        md.bincount(md.tensor([[1]]))
    with pytest.raises(NotImplementedError, match="bincount_cpu"):
        md.bincount(md.tensor([1.]))
    with pytest.raises(RuntimeError, match="minlength should be >= 0"):
        md.bincount(md.tensor([1]), minlength=-1)
    with pytest.raises(RuntimeError, match="weights should be 1-d and have the same length as input"):
        md.bincount(md.tensor([1, 1]), weights=md.tensor([1.]))
    with pytest.raises(RuntimeError, match="bins must be > 0, but got 0"):
        md.histc(md.tensor([1.]), bins=0)
    with pytest.raises(RuntimeError, match="torch.histc: max must be larger than min"):
        md.histc(md.tensor([1.]), min=2, max=1)
    with pytest.raises(RuntimeError, match=r"range of \[1, inf\] is not finite"):
        md.histc(md.tensor([1., float("inf")]))
    with pytest.raises(NotImplementedError, match="histogram_cpu"):
        md.histc(md.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="0 sized dimensions, and they aren't selected"):
        md.unique(md.ones(2, 0), dim=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        md.unique(md.ones(2, 2), dim=2)
