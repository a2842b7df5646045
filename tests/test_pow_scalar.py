"""x ** s for a number s (cpp/ops/elementwise/elementwise.cpp pow_scalar_special): the
exponents PyTorch computes without pow (2, 3, 0.5, -0.5, -1, -2) give PyTorch's values,
special values included, in and out of place, for float32, float64, strided and bfloat16
tensors, with PyTorch's gradients; other exponents go through the general pow: float32 in
double-precision SIMD lanes (core/math_f64.h pow_f64), rounded once."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import require

import minidl as md

torch = require("torch")

SPECIAL = [2, 2.0, 3, 0.5, -0.5, -1, -2.0]
OTHER = [0, 1, 4, 1.5, -3, 2.5]
EDGES = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e30, 3.0, -4.0, 1e20]


def _values(rng, dtype):
    a = rng.standard_normal((37, 53)).astype(dtype) * 3
    a.reshape(-1)[:len(EDGES)] = EDGES
    return a


def _same(got, want, exact):
    got, want = np.asarray(got), np.asarray(want)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    if exact:
        np.testing.assert_array_equal(got[ok], want[ok])
        assert np.array_equal(np.signbit(got[ok]), np.signbit(want[ok]))  # -0 and +0 too
    else:
        np.testing.assert_allclose(got[ok], want[ok], rtol=4e-7 if got.dtype == np.float32 else 1e-15, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("e", SPECIAL + OTHER)
def test_pow_scalar_matches_torch(rng, dtype, e):
    a = _values(rng, dtype)
    # 0.5: minidl's sqrt is correctly rounded, PyTorch's vectorised path is within 1 ulp of it
    exact = e in SPECIAL and e != 0.5
    _same((md.tensor(a) ** e).numpy(), (torch.tensor(a) ** e).numpy(), exact)
    x, tx = md.tensor(a), torch.tensor(a)                      # in place, x.pow_(3) included
    x.pow_(e)
    tx.pow_(e)
    _same(x.numpy(), tx.numpy(), exact)
    strided = a.T                                              # a transposed view
    _same((md.tensor(a).T ** e).numpy(), (torch.tensor(a).T ** e).numpy(), exact)
    assert strided.shape == (53, 37)


@pytest.mark.parametrize("e", SPECIAL)
def test_pow_scalar_bfloat16_and_gradients_match_torch(rng, e):
    a = np.abs(rng.standard_normal((9, 11))).astype(np.float32) + 0.5
    got = (md.tensor(a).to(md.bfloat16) ** e).float().numpy()
    want = (torch.tensor(a).to(torch.bfloat16) ** e).float().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-2)
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    g = rng.standard_normal(a.shape).astype(np.float32)
    (x ** e).backward(md.tensor(g))
    (tx ** e).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_scalar_base_is_unchanged(rng):
    a = rng.standard_normal(100).astype(np.float32)
    for base in (2.0, 0.5, 3):
        np.testing.assert_allclose((base ** md.tensor(a)).numpy(), (base ** torch.tensor(a)).numpy(), rtol=1e-6)


# --- the general float32 pow (core/math_f64.h pow_f64 on the SIMD sets, std::pow on scalar) ---
POW_X = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 3e38, -3e38, 1e-20, 7.0,
         -7.0, 0.999, 1.001]
POW_Y = [0.0, -0.0, 1.0, -1.0, 2.0, 3.0, -3.0, 0.5, 1.5, -1.5, 2.5, np.inf, -np.inf, np.nan, 100.0, -100.0, 1e10,
         1e-10, 7.0, 2.0 ** 24, 2.0 ** 24 + 2, 0.1]


def _same_special(got, want):
    # the special outcomes exactly (NaN, +-0, +-inf, +-1, the sign of every result), the finite
    # ones within an ulp: PyTorch's vectorised float32 pow is not correctly rounded (1e-40 ** 0.1)
    got, want = np.asarray(got), np.asarray(want)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(np.signbit(got[ok]), np.signbit(want[ok]))
    special = ok & (np.isinf(want) | (want == 0) | (np.abs(want) == 1))
    np.testing.assert_array_equal(got[special], want[special])
    np.testing.assert_allclose(got[ok], want[ok], rtol=2.4e-7, atol=0)


def test_general_pow_special_values_match_torch_on_every_kernel_set(kernel_set):
    # C99 pow's special values (zeros and infinities of either sign, NaN, 1, -1, odd and even
    # integer exponents, subnormal results), elementwise (tensor ** tensor) and with a scalar
    # exponent; 440 pairs, so the vector loops and their tails both run
    xs, ys = (a.ravel().astype(np.float32) for a in np.meshgrid(POW_X, POW_Y))
    _same_special((md.tensor(xs) ** md.tensor(ys)).numpy(), (torch.tensor(xs) ** torch.tensor(ys)).numpy())
    for y in (1.5, -2.5, 7.0, 0.1, np.inf):
        _same_special((md.tensor(xs) ** y).numpy(), (torch.tensor(xs) ** y).numpy())
    for x in (2.0, -2.0, 0.0, -0.0):  # a scalar base: the exponents are the tensor
        _same_special(md.pow(x, md.tensor(ys)).numpy(), torch.pow(x, torch.tensor(ys)).numpy())


@pytest.mark.parametrize("y", [1.5, 0.75, -2.5, 3.3, 11.0, -0.3])
def test_general_pow_is_within_an_ulp_of_the_double_result(rng, kernel_set, y):
    # computed in double and rounded once (SIMD sets) or glibc's powf (scalar): at most one
    # float32 ulp from the float64 power of the same float32 values, where PyTorch's vectorised
    # float32 pow is too; odd lengths leave vector tails
    x = np.abs(rng.standard_normal(100003).astype(np.float32)) * 10
    ref = np.power(x.astype(np.float64), np.float64(np.float32(y))).astype(np.float32)
    got = (md.tensor(x) ** y).numpy()
    fin = np.isfinite(ref) & (ref != 0)
    ulps = np.abs(got[fin].astype(np.float64) - ref[fin]) / np.spacing(np.abs(ref[fin]))
    assert ulps.max() <= 1.0
    e = rng.uniform(-3, 3, 100003).astype(np.float32)  # a tensor of exponents
    ref = np.power(x.astype(np.float64), e.astype(np.float64)).astype(np.float32)
    got = (md.tensor(x) ** md.tensor(e)).numpy()
    fin = np.isfinite(ref) & (ref != 0)
    assert (np.abs(got[fin].astype(np.float64) - ref[fin]) / np.spacing(np.abs(ref[fin]))).max() <= 1.0
