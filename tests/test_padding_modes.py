"""F.pad's reflect / replicate / circular modes and the padding modules (issue 15 group 10)
against PyTorch: values, gradients (scatter-add back to the copied elements), gradcheck and
PyTorch's errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")

CASES = [((3, 4, 5), (1, 2)), ((2, 3, 5), (4, 0)), ((2, 3, 4, 5), (2, 1, 3, 0)), ((3, 4, 5), (0, 0, 1, 1)),
         ((2, 3, 4, 5, 6), (1, 1, 2, 0, 1, 2)), ((1, 1, 1), (0, 1))]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", CASES)
def test_pad_modes_match_pytorch(mode, shape, pad):
    if mode == "reflect" and shape == (1, 1, 1):
        pad = (0, 0)  # reflect needs pad < size
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = []
    for lib in (md, torch):
        t = lib.tensor(x, requires_grad=True)
        y = lib.nn.functional.pad(t, pad, mode=mode)
        w = lib.tensor(np.arange(y.numel(), dtype=np.float32).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        out.append((y.detach().numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-6)


def test_pad_modes_gradcheck():
    x = md.tensor(np.random.default_rng(1).standard_normal((2, 3, 4)), requires_grad=True)
    for mode in ("reflect", "replicate", "circular"):
        assert md.autograd.gradcheck(lambda t: F.pad(t, (2, 3), mode=mode), (x,), eps=1e-6, atol=1e-6)


MODULES = [("ZeroPad1d", (1, 2), (2, 5)), ("ZeroPad2d", (1, 0, 2, 1), (1, 3, 4)), ("ConstantPad1d", 2, (2, 3, 4)),
           ("ConstantPad2d", (0, 1, 1, 0), (2, 3, 4)), ("ReflectionPad1d", (2, 1), (2, 3, 4)),
           ("ReflectionPad2d", 1, (1, 2, 3, 4)), ("ReplicationPad1d", 3, (2, 3, 4)),
           ("ReplicationPad2d", (1, 2, 0, 3), (2, 3, 4)), ("CircularPad1d", (1, 3), (2, 3, 4)),
           ("CircularPad2d", 2, (1, 2, 3, 4))]


@pytest.mark.parametrize("name,padding,shape", MODULES)
def test_padding_modules_match_pytorch(name, padding, shape):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    extra = (1.5,) if name.startswith("Constant") else ()
    got = getattr(md.nn, name)(padding, *extra)(md.tensor(x))
    want = getattr(torch.nn, name)(padding, *extra)(torch.tensor(x))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_pad_mode_errors_like_pytorch():
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        F.pad(md.zeros(1, 2, 3), (3, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match="inputs are supported"):
        F.pad(md.zeros(2, 3, 4, 5), (1, 1), mode="replicate")
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        F.pad(md.zeros(1, 2, 3), (4, 0), mode="circular")
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode"):
        F.pad(md.zeros(1, 2, 3), (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="padding must be an int or 4 ints"):
        md.nn.ZeroPad2d((1, 2))
