"""float16 / bfloat16 tensors through the non-GEMM ops: they read and write the 16-bit
format and compute in float32 inside, so each result is the float32 result on the widened
inputs rounded once to nearest even (checked bit for bit), and within one 16-bit ulp of
PyTorch's own bf16/fp16 CPU ops. Gradients of 16-bit leaves come back in their dtype."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import require, to_numpy

torch = require("torch")
F = md.nn.functional
TF = torch.nn.functional

CASES = {
    "add": (lambda L, Fn, a, b: a + b),
    "mul": (lambda L, Fn, a, b: a * b),
    "exp": (lambda L, Fn, a, b: a.exp()),
    "relu": (lambda L, Fn, a, b: Fn.relu(a)),
    "gelu": (lambda L, Fn, a, b: Fn.gelu(a)),
    "sigmoid": (lambda L, Fn, a, b: Fn.sigmoid(a)),
    "tanh": (lambda L, Fn, a, b: Fn.tanh(a)),
    "softmax": (lambda L, Fn, a, b: Fn.softmax(a, dim=1)),
    "log_softmax": (lambda L, Fn, a, b: Fn.log_softmax(a, dim=1)),
    "sum": (lambda L, Fn, a, b: a.sum(dim=1)),
    "mean": (lambda L, Fn, a, b: a.mean(dim=0)),
    "batch_norm": (lambda L, Fn, a, b: Fn.batch_norm(a, None, None, training=True)),
    "linear": (lambda L, Fn, a, b: Fn.linear(a, b)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mdt,tdt,ulp", [(md.bfloat16, torch.bfloat16, 2.0 ** -8),
                                          (md.float16, torch.float16, 2.0 ** -11)], ids=["bf16", "fp16"])
def test_low_precision_op(rng, name, mdt, tdt, ulp):
    f = CASES[name]
    a32 = rng.standard_normal((9, 33)).astype(np.float32)
    b32 = rng.standard_normal((9, 33)).astype(np.float32)
    a, b = md.tensor(a32).to(mdt), md.tensor(b32).to(mdt)
    got = f(md, F, a, b)
    assert got.dtype is mdt
    # float32 op on the widened inputs, rounded once
    ref32 = f(md, F, a.float(), b.float())
    np.testing.assert_array_equal(to_numpy(got), to_numpy(ref32.to(mdt)))
    ta, tb = torch.from_numpy(a.float().numpy()).to(tdt), torch.from_numpy(b.float().numpy()).to(tdt)
    exp = f(torch, TF, ta, tb)
    scale = 1.0 if name not in ("sum", "log_softmax", "linear") else np.abs(to_numpy(exp)).max()
    np.testing.assert_allclose(to_numpy(got), to_numpy(exp), rtol=ulp, atol=2 * ulp * scale, err_msg=name)


def test_gradients_of_16bit_leaves_keep_their_dtype(rng):
    for mdt in (md.bfloat16, md.float16):
        x = md.tensor(rng.standard_normal((4, 6)).astype(np.float32)).to(mdt).requires_grad_()
        w = md.tensor(rng.standard_normal((3, 6)).astype(np.float32)).to(mdt).requires_grad_()
        F.log_softmax(F.linear(F.gelu(x), w), dim=1).sum().backward()
        assert x.grad.dtype is mdt and w.grad.dtype is mdt
        assert np.isfinite(to_numpy(x.grad)).all()


@pytest.mark.parametrize("name", ["relu", "gelu", "sigmoid", "tanh"])
def test_activation_backward_16bit(rng, kernel_set, name):
    """16-bit activations run in C++ on blocks widened to float32: forward and backward each
    equal the float32 op on the widened values rounded once, bit for bit, on every kernel set
    (10000 values: several 4096-value blocks and a partial one)."""
    f = CASES[name]
    for mdt in (md.bfloat16, md.float16):
        x = md.tensor(rng.standard_normal((100, 100)).astype(np.float32) * 3).to(mdt).requires_grad_()
        g = md.tensor(rng.standard_normal((100, 100)).astype(np.float32)).to(mdt)
        y = f(md, F, x, None)
        y.backward(g)
        x32 = x.detach().float().requires_grad_()
        y32 = f(md, F, x32, None)
        y32.backward(g.float())
        assert y.dtype is mdt and x.grad.dtype is mdt
        np.testing.assert_array_equal(to_numpy(y), to_numpy(y32.detach().to(mdt)))
        if name in ("sigmoid", "tanh"):  # their backward reads the 16-bit output: compare on it
            y32 = y.detach().float()
            d = y32 * (1 - y32) if name == "sigmoid" else 1 - y32 * y32
            np.testing.assert_array_equal(to_numpy(x.grad), to_numpy((g.float() * d).to(mdt)))
        else:
            np.testing.assert_array_equal(to_numpy(x.grad), to_numpy(x32.grad.to(mdt)))


@pytest.mark.parametrize("geom", [(2, 2, 0), (3, 1, 1), (3, 2, 1)], ids=["k2s2", "k3s1p1", "k3s2p1"])
def test_max_pool2d_16bit(rng, kernel_set, geom):
    """max_pool2d keeps 16-bit tensors 16-bit (C++ pools chunks of planes widened to float32):
    output and arg-max equal the float32 pooling of the same values, and the input gradient
    equals the float32 one rounded once (overlapping windows add several gradients to one input;
    values drawn from 8 levels, so there are ties)."""
    k, st, p = geom
    for mdt in (md.bfloat16, md.float16):
        x = md.tensor(rng.integers(-4, 4, (5, 3, 11, 9)).astype(np.float32) * 0.37).to(mdt).requires_grad_()
        y, idx = F.max_pool2d(x, k, st, p, return_indices=True)
        g = md.tensor(rng.standard_normal(tuple(y.shape)).astype(np.float32)).to(mdt)
        y.backward(g)
        x32 = x.detach().float().requires_grad_()
        y32, idx32 = F.max_pool2d(x32, k, st, p, return_indices=True)
        y32.backward(g.float())
        assert y.dtype is mdt and x.grad.dtype is mdt
        np.testing.assert_array_equal(to_numpy(y), to_numpy(y32.detach().to(mdt)))
        np.testing.assert_array_equal(to_numpy(idx), to_numpy(idx32))
        np.testing.assert_array_equal(to_numpy(x.grad), to_numpy(x32.grad.to(mdt)))


def test_conv2d_low_precision(rng):
    x = md.tensor(rng.standard_normal((2, 3, 7, 7)).astype(np.float32))
    w = md.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    for mdt in (md.bfloat16, md.float16):
        y = F.conv2d(x.to(mdt), w.to(mdt), padding=1)
        assert y.dtype is mdt
        ref = F.conv2d(x.to(mdt).float(), w.to(mdt).float(), padding=1).to(mdt)
        np.testing.assert_array_equal(to_numpy(y), to_numpy(ref))


def test_cross_casts_between_16bit_formats_all_patterns():
    """float16 <-> bfloat16 for all 65536 bit patterns of the source format, bitwise equal to
    ml_dtypes (the widening to float32 is exact, so there is one rounding, to nearest even)."""
    import ml_dtypes  # a run-time dependency of minidl (bfloat16 for NumPy)
    bf = np.dtype(ml_dtypes.bfloat16)
    bits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    for src, dst, mdst in ((np.dtype(np.float16), bf, md.bfloat16), (bf, np.dtype(np.float16), md.float16)):
        x = bits.view(src)
        got = md.from_numpy(x).to(mdst).numpy()
        with np.errstate(all="ignore"):
            exp = x.astype(dst)  # ml_dtypes' own direct conversion
        nan = np.isnan(x.astype(np.float32))
        np.testing.assert_array_equal(got.view(np.uint16)[~nan], exp.view(np.uint16)[~nan])
        assert np.isnan(got[nan].astype(np.float32)).all()


@pytest.mark.parametrize("shape,dim", [((4096, 70), 0), ((300, 1024), 0), ((3, 5000), 1), ((6, 130, 17), 1),
                                       ((2, 0, 5), 1), ((40, 30), (0, 1))],
                         ids=["bias-grad", "wide", "rows", "middle", "empty", "all"])
def test_sum_16bit_reads_16bit(rng, kernel_set, shape, dim):
    """A 16-bit sum (a Linear layer's bias gradient under autocast) is summed straight from the
    16-bit values (cpp/ops/reduce: widened in registers, no float32 copy in memory) with the
    float32 sum's order: on every kernel set it equals the float32 sum (and mean) of the widened
    values rounded once, bit for bit, for long columns, partial vectors, rows and empty dims; a
    transposed (non-contiguous) input gives the same."""
    for mdt in (md.bfloat16, md.float16):
        x = md.tensor(rng.standard_normal(shape).astype(np.float32)).to(mdt)
        for op in ("sum", "mean"):
            if op == "mean" and 0 in shape:
                continue
            got = getattr(x, op)(dim=dim)
            ref = getattr(x.float(), op)(dim=dim).to(mdt)
            assert got.dtype is mdt
            np.testing.assert_array_equal(to_numpy(got), to_numpy(ref), err_msg=f"{op} {shape} {dim}")
        if len(shape) == 2 and 0 not in shape:   # the same sums of a transposed view
            xt, dt = x.t(), 1 - dim if isinstance(dim, int) else dim
            np.testing.assert_array_equal(to_numpy(xt.sum(dim=dt)), to_numpy(xt.float().sum(dim=dt).to(mdt)))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "lt"])
def test_binary_16bit_in_blocks_equals_float32_rounded_once(rng, kernel_set, op):
    """16-bit binary ops run in C++ on blocks widened to float32 (cpp/ops/elementwise,
    binary_lowp; the residual add of a ResNet block under autocast): bit for bit the float32
    op on the widened operands rounded once, for contiguous operands longer than a block
    (3000 values), a broadcast row and a broadcast scalar, a transposed (strided) operand,
    and in place (a += b)."""
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "maximum": md.maximum, "lt": lambda a, b: a < b}[op]
    for mdt in (md.bfloat16, md.float16):
        a = md.tensor(rng.standard_normal((30, 100)).astype(np.float32)).to(mdt)
        pairs = [(a, md.tensor(rng.standard_normal((30, 100)).astype(np.float32)).to(mdt)),
                 (a, md.tensor(rng.standard_normal((1, 100)).astype(np.float32)).to(mdt)),
                 (md.tensor(np.float32(1.7)).to(mdt), a),
                 (a, md.tensor(rng.standard_normal((100, 30)).astype(np.float32)).to(mdt).t())]
        for x, y in pairs:
            got = fn(x, y)
            exp = fn(x.float(), y.float())
            if op != "lt":
                assert got.dtype is mdt
                exp = exp.to(mdt)
            np.testing.assert_array_equal(to_numpy(got), to_numpy(exp))
    a = md.tensor(rng.standard_normal((5, 333)).astype(np.float32)).to(md.bfloat16)
    b = md.tensor(rng.standard_normal((333,)).astype(np.float32)).to(md.bfloat16)
    exp = (a.float() + b.float()).to(md.bfloat16)
    a += b
    np.testing.assert_array_equal(to_numpy(a), to_numpy(exp))
