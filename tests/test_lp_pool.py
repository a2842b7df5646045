"""LPPool1d/2d (issue 15 group 9) against PyTorch: values and gradients for several p,
kernel, stride and ceil_mode, gradcheck."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("fn,shape,kernel,stride,ceil", [("lp_pool1d", (2, 3, 9), 3, None, False),
                                                         ("lp_pool1d", (2, 3, 8), 3, 2, True),
                                                         ("lp_pool2d", (2, 2, 6, 7), 2, None, False),
                                                         ("lp_pool2d", (1, 3, 7, 5), (3, 2), (2, 1), True)])
def test_lp_pool_matches_pytorch(p, fn, shape, kernel, stride, ceil):
    x = np.random.default_rng(0).uniform(0.1, 2.0, shape).astype(np.float32)
    out = []
    for lib in (md, torch):
        t = lib.tensor(x, requires_grad=True)
        y = getattr(lib.nn.functional, fn)(t, p, kernel, stride, ceil)
        y.pow(2).sum().backward()
        out.append((y.detach().numpy(), t.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-4, atol=1e-6)


def test_lp_pool_modules_and_gradcheck():
    x = md.tensor(np.random.default_rng(1).uniform(0.1, 2.0, (1, 2, 4, 4)), requires_grad=True)
    assert md.autograd.gradcheck(lambda t: F.lp_pool2d(t, 2.0, 2), (x,), eps=1e-6, atol=1e-5)
    assert np.allclose(md.nn.LPPool2d(3, 2)(x).detach().numpy(), F.lp_pool2d(x, 3, 2).detach().numpy())


# --- adaptive pooling: AdaptiveAvgPool1d, AdaptiveMaxPool1d/2d (issue 15 group 9) ---------------
@pytest.mark.parametrize("fn,shape,size", [("adaptive_max_pool2d", (2, 3, 7, 5), (3, 2)),
                                           ("adaptive_max_pool2d", (3, 6, 6), 4),
                                           ("adaptive_max_pool2d", (1, 2, 5, 4), (None, 3)),
                                           ("adaptive_max_pool1d", (2, 3, 9), 4),
                                           ("adaptive_max_pool1d", (3, 5), 5),
                                           ("adaptive_avg_pool1d", (2, 3, 9), 4), ("adaptive_avg_pool1d", (3, 7), 1)])
def test_adaptive_pools_match_pytorch(fn, shape, size):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    out = []
    for lib in (md, torch):
        t = lib.tensor(x, requires_grad=True)
        kwargs = {"return_indices": True} if "max" in fn else {}
        r = getattr(lib.nn.functional, fn)(t, size, **kwargs)
        y, idx = r if isinstance(r, tuple) else (r, None)
        y.pow(2).sum().backward()
        out.append((y.detach().numpy(), None if idx is None else idx.numpy(), t.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-7)
    if out[1][1] is not None:
        np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_allclose(out[0][2], out[1][2], rtol=1e-5, atol=1e-6)


def test_adaptive_pool_modules_and_errors():
    x = md.randn(2, 3, 8, 8)
    assert md.nn.AdaptiveMaxPool2d(1)(x).shape == (2, 3, 1, 1)
    assert md.nn.AdaptiveAvgPool1d(2)(md.ones(3, 4)).shape == (3, 2)
    with pytest.raises(RuntimeError, match="Expected 2D or 3D tensor"):
        F.adaptive_avg_pool1d(md.zeros(1, 2, 3, 4), 2)
    with pytest.raises(RuntimeError, match="Expected 3D or 4D tensor"):
        F.adaptive_max_pool2d(md.zeros(4, 4), 2)


# --- MaxUnpool1d/2d (issue 15 group 9) ----------------------------------------------------------
@pytest.mark.parametrize("dims,shape,kernel,stride,padding", [(2, (2, 3, 6, 8), 2, None, 0), (2, (1, 2, 7, 7), 3, 2, 1),
                                                              (1, (2, 3, 10), 2, None, 0), (1, (3, 9), 3, 2, 1)])
def test_max_unpool_matches_pytorch(dims, shape, kernel, stride, padding):
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    out = []
    for lib in (md, torch):
        f = lib.nn.functional
        pool, unpool = (f.max_pool2d, f.max_unpool2d) if dims == 2 else (f.max_pool1d, f.max_unpool1d)
        y, idx = pool(lib.tensor(x), kernel, stride, padding, return_indices=True)
        yt = lib.tensor(y.detach().numpy(), requires_grad=True)
        z = unpool(yt, idx, kernel, stride, padding)
        (z * lib.tensor(np.cos(np.arange(z.numel())).astype(np.float32).reshape(tuple(z.shape)))).sum().backward()
        out.append((z.detach().numpy(), yt.grad.numpy()))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-6)


def test_max_unpool_output_size_and_errors():
    y, idx = F.max_pool2d(md.randn(1, 1, 5, 5), 2, return_indices=True)
    assert F.max_unpool2d(y, idx, 2, output_size=(5, 5)).shape == (1, 1, 5, 5)
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d(y, idx, 2, output_size=(9, 9))
    with pytest.raises(RuntimeError, match="invalid max index"):
        F.max_unpool2d(y, idx * 0 + 99, 2)
