"""x ** s for a number s (cpp/ops/elementwise/elementwise.cpp pow_scalar_special): the
exponents PyTorch computes without pow (2, 3, 0.5, -0.5, -1, -2) give PyTorch's values,
special values included, in and out of place, for float32, float64, strided and bfloat16
tensors, with PyTorch's gradients; other exponents still go through pow."""
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
