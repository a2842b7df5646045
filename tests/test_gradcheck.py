"""Finite differences in float64 for every differentiable op (tiny shapes), and gradcheck
itself catching a wrong backward."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F


def _inputs(*shapes, low=-1.0, high=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(md.tensor(rng.uniform(low, high, s), dtype=md.float64, requires_grad=True) for s in shapes)


_UNARY = {
    "neg": lambda x: -x, "abs": lambda x: x.abs(), "exp": lambda x: x.exp(), "sin": lambda x: x.sin(),
    "cos": lambda x: x.cos(), "square": lambda x: x.square(), "expm1": lambda x: x.expm1(),
    "relu": lambda x: F.relu(x), "leaky_relu": lambda x: F.leaky_relu(x, 0.2), "sigmoid": lambda x: F.sigmoid(x),
    "tanh": lambda x: F.tanh(x), "gelu": lambda x: F.gelu(x), "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "clamp": lambda x: x.clamp(-0.5, 0.4), "softmax0": lambda x: F.softmax(x, 0),
    "softmax1": lambda x: F.softmax(x, 1), "log_softmax": lambda x: F.log_softmax(x, -1),
    "sum": lambda x: x.sum(), "sum_dim": lambda x: x.sum(1, keepdim=True), "mean": lambda x: x.mean(0),
    "var": lambda x: x.var(1), "std": lambda x: x.std(), "var_biased": lambda x: x.var(0, unbiased=False),
    "max": lambda x: x.max(), "max_dim": lambda x: x.max(1)[0], "min_dim": lambda x: x.min(0)[0],
    "amax": lambda x: x.amax((0, 1)), "logsumexp": lambda x: x.logsumexp(1), "logsumexp2": lambda x: x.logsumexp((0, 1)),
    "index": lambda x: x[1:, [0, 2, 2]], "mask": lambda x: x[x > 0], "T": lambda x: x.T * 1.0,
    "reshape": lambda x: x.reshape(-1), "expand": lambda x: x[:, :1].expand(3, 4), "flip": lambda x: x.flip(1),
    "split": lambda x: x.split(2, 1)[1], "unsqueeze": lambda x: x.unsqueeze(1).squeeze(1).permute(1, 0),
    "masked_fill": lambda x: x.masked_fill(x > 0.5, 0.0), "where": lambda x: md.where(x > 0, x, x * x),
    "pow_scalar": lambda x: x ** 3, "rpow": lambda x: 2.0 ** x, "rdiv": lambda x: 1.0 / (x + 2.0),
    "repeat": lambda x: x.repeat(2, 1), "prod": lambda x: (x + 2.0).prod(1),
}


@pytest.mark.parametrize("name", sorted(_UNARY))
def test_gradcheck_unary(name):
    (x,) = _inputs((3, 4), seed=zlib.crc32(name.encode()) % 1000)  # hash() of a str differs per process
    assert md.autograd.gradcheck(_UNARY[name], (x,))


_POSITIVE = {
    "log": lambda x: x.log(), "sqrt": lambda x: x.sqrt(), "rsqrt": lambda x: x.rsqrt(),
    "reciprocal": lambda x: x.reciprocal(), "log1p": lambda x: x.log1p(), "pow_frac": lambda x: x ** 1.5,
}


@pytest.mark.parametrize("name", sorted(_POSITIVE))
def test_gradcheck_positive_domain(name):
    (x,) = _inputs((2, 3), low=0.5, high=2.0)
    assert md.autograd.gradcheck(_POSITIVE[name], (x,))


_BINARY = {
    "add": (lambda a, b: a + b, (2, 3), (3,)), "sub": (lambda a, b: a - b, (2, 1), (1, 3)),
    "mul": (lambda a, b: a * b, (3, 1, 2), (4, 1)), "div": (lambda a, b: a / (b + 3.0), (2, 3), (2, 3)),
    "pow": (lambda a, b: (a + 2.0) ** b, (2, 3), (3,)), "maximum": (lambda a, b: a.maximum(b), (2, 3), (2, 3)),
    "minimum": (lambda a, b: a.minimum(b), (3,), (2, 3)), "matmul_2d": (lambda a, b: a @ b, (2, 3), (3, 4)),
    "matmul_1d": (lambda a, b: a @ b, (3,), (3,)), "matmul_vec_mat": (lambda a, b: a @ b, (3,), (3, 2)),
    "matmul_mat_vec": (lambda a, b: a @ b, (2, 3), (3,)),
    "matmul_batched": (lambda a, b: a @ b, (2, 2, 3), (3, 2)),
    "matmul_broadcast": (lambda a, b: a @ b, (2, 1, 2, 3), (3, 3, 2)),
    "bmm": (lambda a, b: md.bmm(a, b), (2, 2, 3), (2, 3, 2)),
    "cat": (lambda a, b: md.cat([a, b], 1), (2, 3), (2, 1)), "stack": (lambda a, b: md.stack([a, b * 2]), (2, 3), (2, 3)),
    "linear": (lambda x, w: F.linear(x, w), (4, 3), (2, 3)),
    "where2": (lambda a, b: md.where(a > 0, a, b), (2, 3), (3,)),
    "clamp_tensor": (lambda a, b: a.clamp(min=b), (2, 3), (3,)),
}


@pytest.mark.parametrize("name", sorted(_BINARY))
def test_gradcheck_binary(name):
    fn, sa, sb = _BINARY[name]
    a, b = _inputs(sa, sb, seed=len(name))
    assert md.autograd.gradcheck(fn, (a, b))


def test_gradcheck_linear_with_bias_and_losses():
    x, w, b = _inputs((4, 3), (2, 3), (2,))
    assert md.autograd.gradcheck(lambda x, w, b: F.linear(x, w, b), (x, w, b))
    target = md.tensor([1, 0, 1, 1])
    weight = md.tensor([0.3, 2.0], dtype=md.float64)
    for red in ("mean", "sum", "none"):
        assert md.autograd.gradcheck(lambda x: F.cross_entropy(x, target, reduction=red), (x[:, :2].detach().contiguous().requires_grad_(),))
    z = x[:, :2].detach().contiguous().requires_grad_()
    assert md.autograd.gradcheck(lambda z: F.cross_entropy(z, target, weight=weight), (z,))
    assert md.autograd.gradcheck(lambda z: F.nll_loss(F.log_softmax(z, 1), md.tensor([1, -100, 0, 1])), (z,))
    t = md.tensor(np.random.default_rng(5).uniform(-1, 1, (4, 3)))
    assert md.autograd.gradcheck(lambda x: F.mse_loss(x, t), (x,))
    assert md.autograd.gradcheck(lambda x: F.l1_loss(x, t + 0.05, reduction="sum"), (x,))


class _WrongExp(md.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * 1.1  # 10% off


class _RightExp(_WrongExp):
    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


def test_gradcheck_catches_wrong_backward():
    (x,) = _inputs((2, 3))
    assert md.autograd.gradcheck(_RightExp.apply, (x,))
    assert md.autograd.gradcheck(_WrongExp.apply, (x,), raise_exception=False) is False
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        md.autograd.gradcheck(_WrongExp.apply, (x,))


def test_gradcheck_requires_a_differentiable_input():
    with pytest.raises(ValueError):
        md.autograd.gradcheck(lambda x: x * 2, (md.ones(2, dtype=md.float64),))
