"""Column reductions over the leading axis (a Linear layer's bias gradient, sum over the rows of
(rows, features)) split over the threads (cpp/ops/reduce/reduce.cpp, column_reduce_split):
each thread sums a share of whole row blocks, and the shares are added in a fixed order.

On every kernel set: the split sum is the one-thread sum (within float32 rounding; in fact bit
for bit on these shapes) and the float64 sum (within the compensated sum's error), runs give
the same bits again at a fixed thread count, max / min are the one-thread bits (NaN included),
and a 16-bit sum equals the float32 sum of the widened values rounded once."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import to_numpy

# (shape, dim): one slab of 2^18.. values and more (the split starts at 2 x 131072 values),
# partial vectors (70, 33 columns), a narrow slab (16 columns), a leading block of dims
# (0, 1) and outer slabs fewer than the threads ((2, rows, cols) on 4 threads)
CASES = [((4096, 256), 0), ((6001, 70), 0), ((70000, 16), 0), ((12000, 33), 0), ((64, 100, 70), (0, 1)),
         ((2, 4000, 70), 1)]


def _reduce(x, op, dim, threads):
    md.set_num_threads(threads)
    t = md.from_numpy(x)
    return to_numpy(getattr(t, op)(dim=dim))


@pytest.mark.parametrize("shape,dim", CASES, ids=[str(c[0]) for c in CASES])
def test_column_sum_on_threads_equals_one_thread(rng, kernel_set, shape, dim):
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    exact = x.astype(np.float64).sum(axis=dim)
    rows = x.size // exact.size
    magnitude = np.abs(x).astype(np.float64).sum(axis=dim)
    for op, scale in (("sum", 1.0), ("mean", 1.0 / rows)):
        one = _reduce(x, op, dim, 1)
        # float32 rounding scaled by the magnitude summed (as tests/test_backends.py)
        assert np.all(np.abs(one - exact * scale) <= 1e-6 * magnitude * scale), op
        for threads in (2, 3, 4):
            got = _reduce(x, op, dim, threads)
            np.testing.assert_allclose(got, one, rtol=2**-22, atol=0, err_msg=f"{op} {threads} threads")
            np.testing.assert_array_equal(_reduce(x, op, dim, threads), got, err_msg=f"{op} {threads} again")


@pytest.mark.parametrize("shape,dim", CASES[:4], ids=[str(c[0]) for c in CASES[:4]])
def test_column_max_min_on_threads_are_one_thread_bits(rng, kernel_set, shape, dim):
    x = rng.standard_normal(shape).astype(np.float32)
    x[shape[0] - 3, 5] = np.nan  # a NaN in the last share: it wins (as PyTorch)
    x[shape[0] // 2 + 1, 7] = np.nan  # and in a middle share
    for op in ("amax", "amin"):
        one = _reduce(x, op, dim, 1)
        assert np.isnan(one[5]) and np.isnan(one[7])
        np.testing.assert_array_equal(one, getattr(np, op)(x, axis=dim))
        for threads in (2, 3):
            np.testing.assert_array_equal(_reduce(x, op, dim, threads), one, err_msg=f"{op} {threads} threads")


def test_column_sum_split_keeps_cancellation(kernel_set):
    """Shares whose sums cancel (1e8 in the first row block, -1e8 in the last): the block sums
    go into compensated pairs, and the pairs of the shares are added in double, so the small
    terms survive on any thread count."""
    x = np.full((8192, 40), 0.25, dtype=np.float32)
    x[:64] = 0
    x[-64:] = 0
    x[0] = 1e8
    x[-1] = -1e8
    for threads in (1, 2, 4):
        np.testing.assert_array_equal(_reduce(x, "sum", 0, threads), np.full(40, 0.25 * (8192 - 128), np.float32))


@pytest.mark.parametrize("threads", [2, 3])
def test_column_sum_16bit_on_threads(rng, kernel_set, threads):
    """A 16-bit bias gradient split over the threads: the float32 sum of the widened values
    rounded once (the same split runs for both)."""
    md.set_num_threads(threads)
    for mdt in (md.bfloat16, md.float16):
        x = md.tensor(rng.standard_normal((6001, 70)).astype(np.float32)).to(mdt)
        got = x.sum(dim=0)
        assert got.dtype is mdt
        np.testing.assert_array_equal(to_numpy(got), to_numpy(x.float().sum(dim=0).to(mdt)))


@pytest.mark.parametrize("shape,dim", [((1024, 1), 0), ((37, 255), 0), ((37, 256), 0), ((37, 257), 0),
                                       ((3, 50, 600), 1), ((2, 5000, 3), 1), ((4, 6, 7, 9), 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_variance_over_a_middle_axis_matches_float64(shape, dim, dtype):
    # var / std over an axis with columns after it walk blocks of neighbouring columns row by
    # row (reduce.cpp variance_columns): the same double sums as the per-column loop
    rng = np.random.default_rng(9)
    a = (rng.standard_normal(shape) * 5 + 1000).astype(dtype)        # an offset: the two passes matter
    for correction in (0, 1, 2):
        got = md.tensor(a).var(dim, correction=correction).numpy()
        want = a.astype(np.float64).var(dim, ddof=correction)
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(md.tensor(a).std(dim).numpy(), a.astype(np.float64).std(dim, ddof=1),
                               rtol=1e-6 if dtype == np.float32 else 1e-12)
    one = a.take([0], axis=dim)                                        # len 1 - correction 1 <= 0: NaN
    assert np.isnan(md.tensor(one).var(dim).numpy()).all()


@pytest.mark.parametrize("shape,dim", [((1024, 1024), 1), ((1024, 1024), 0), ((7, 1), 1), ((1, 37), 0),
                                       ((3, 101, 45), 1), ((5, 17), 1), ((2, 300, 70), 1), ((4, 9, 65), 2)])
def test_argmax_argmin_are_the_references_first_index(kernel_set, shape, dim):
    # the two-pass SIMD argmax / argmin (reduce_simd.cpp arg_extremes), on every kernel set,
    # against the reference's rule, the first index of the extreme: ties everywhere (small integers), -0.0 and 0.0, infinities,
    # and a NaN (the first NaN wins) in some rows and columns
    rng = np.random.default_rng(11)
    a = rng.integers(-3, 4, shape).astype(np.float32)
    flat = a.reshape(-1)
    flat[rng.integers(0, flat.size, 8)] = -0.0
    flat[rng.integers(0, flat.size, 3)] = np.inf
    flat[rng.integers(0, flat.size, 3)] = -np.inf
    with_nan = a.copy()
    with_nan.reshape(-1)[rng.integers(0, flat.size, 4)] = np.nan
    for x in (a, with_nan):
        for name in ("argmax", "argmin"):
            got = getattr(md.tensor(x), name)(dim).numpy()
            want = getattr(np, name)(x, axis=dim)                     # NumPy: the first index too, NaN first
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {shape} {dim}")
        values, idx = md.tensor(x).max(dim)
        np.testing.assert_array_equal(idx.numpy(), np.argmax(x, axis=dim))
        np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, np.expand_dims(idx.numpy(), dim), dim)
                                      .squeeze(dim))
