"""Kernel sets: the scalar reference and every SIMD set agree (odd sizes, unaligned and
non-contiguous inputs); switching and threads."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F

SIZES = [1, 7, 33, 1000003]
SIMD = [b for b in md.backend.available() if b != "scalar"]


def _under(name, fn, *args):
    with md.backend.using(name):
        out = fn(*args)
    return out


def _inputs(n, seed=0, positive=False):
    rng = np.random.default_rng(seed + n)
    a = rng.uniform(0.1, 3.0, n) if positive else rng.standard_normal(n) * 2
    return a.astype(np.float32)


def _views(a):
    """The contiguous tensor, an unaligned one (offset by one float), a strided one x[::2]
    and a transposed one (x.T of a 2-D reshape when the size allows it)."""
    t = md.from_numpy(a)
    out = {"contiguous": t, "unaligned": md.from_numpy(a[1:]) if a.size > 1 else t, "strided": t[::2]}
    if a.size % 7 == 0 and a.size > 7:
        out["transposed"] = t.reshape(7, -1).T
    elif a.size == 1000003:
        out["transposed"] = md.from_numpy(a[:1000000]).reshape(1000, 1000).T
    return out


_ELEMENTWISE = {
    "add": lambda x: x + x * 0.5, "sub": lambda x: x - 1.25, "mul": lambda x: x * x, "div": lambda x: x / 3.0,
    "rdiv": lambda x: 1.0 / (x.abs() + 0.5), "pow": lambda x: x.abs() ** 1.5, "maximum": lambda x: x.maximum(x * -1),
    "neg": lambda x: -x, "abs": lambda x: x.abs(), "exp": lambda x: x.exp(), "log": lambda x: (x.abs() + 0.1).log(),
    "sqrt": lambda x: x.abs().sqrt(), "rsqrt": lambda x: (x.abs() + 0.1).rsqrt(), "clamp": lambda x: x.clamp(-1, 1),
    "relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.1), "sigmoid": F.sigmoid, "tanh": F.tanh,
    "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "gt": lambda x: x > 0.3,
    "cast_bf16": lambda x: x.bfloat16().float(), "cast_f16": lambda x: x.half().float(),
    "cast_f64": lambda x: x.double(), "where": lambda x: md.where(x > 0, x, x * 0.1),
}


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", sorted(_ELEMENTWISE))
def test_elementwise_scalar_vs_simd(simd, n, op):
    a = _inputs(n)
    for kind, x in _views(a).items():
        ref = _under("scalar", _ELEMENTWISE[op], x).numpy()
        got = _under(simd, _ELEMENTWISE[op], x).numpy()
        assert got.shape == ref.shape and got.dtype == ref.dtype, kind
        # exact GELU's SIMD erf is a rational fit with abs. error 4.5e-7 (vec.h erf_rational)
        atol = 1e-6 if op == "gelu" else 1e-7
        np.testing.assert_allclose(got, ref, rtol=2e-6, atol=atol, err_msg=f"{op} {kind} n={n}")


_REDUCTIONS = {
    "sum": lambda x: x.sum(), "mean": lambda x: x.mean(), "max": lambda x: x.max(), "min": lambda x: x.min(),
    "argmax": lambda x: x.argmax(), "var": lambda x: x.var(), "logsumexp": lambda x: x.logsumexp(0),
    "softmax": lambda x: F.softmax(x, 0), "log_softmax": lambda x: F.log_softmax(x, 0),
    "dot": lambda x: x @ x,
}


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", sorted(_REDUCTIONS))
def test_reductions_scalar_vs_simd(simd, n, op):
    a = _inputs(n, seed=1)
    for kind, x in _views(a).items():
        if x.ndim > 1:
            x = x.reshape(-1)  # a copy in the transposed order
        ref = _under("scalar", _REDUCTIONS[op], x).numpy()
        got = _under(simd, _REDUCTIONS[op], x).numpy()
        assert got.shape == ref.shape and got.dtype == ref.dtype
        # summation order may differ: float32 rounding scaled by the magnitude summed
        scale = float(np.abs(x.numpy()).sum()) if op in ("sum", "mean", "dot", "var") else 1.0
        if op == "mean":
            scale /= x.numel()
        if op in ("var", "dot"):
            scale = float((x.numpy().astype(np.float64) ** 2).sum()) / (x.numel() if op == "var" else 1)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * scale + 1e-7, err_msg=f"{op} {kind} n={n}")


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 33, 5), (33, 7, 65), (2, 64, 17)])
def test_matmul_and_axis_reductions_scalar_vs_simd(simd, shape):
    m, k, n = shape
    rng = np.random.default_rng(m * k * n)
    a = md.tensor(rng.standard_normal((m, k)).astype(np.float32))
    b = md.tensor(rng.standard_normal((k, n)).astype(np.float32))
    for f in (lambda: a @ b, lambda: a.T.contiguous().T @ b, lambda: (a @ b).sum(0), lambda: (a @ b).max(1)[0],
              lambda: F.softmax(a @ b, 1), lambda: F.softmax(a @ b, 0), lambda: (a @ b).var(1)):
        ref, got = _under("scalar", f).numpy(), _under(simd, f).numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))


def _model_step():
    md.manual_seed(0)
    model = md.nn.Sequential(md.nn.Linear(13, 33), md.nn.GELU(), md.nn.Linear(33, 7), md.nn.Tanh(),
                             md.nn.Linear(7, 5))
    x = md.randn(9, 13)
    y = md.tensor([0, 4, 2, 1, 3, 3, 0, 1, 2])
    loss = md.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return [loss.detach().numpy()] + [p.grad.numpy() for p in model.parameters()]


def test_model_forward_backward_same_on_every_kernel_set(kernel_set):
    got = _model_step()
    ref = _under("scalar", _model_step)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    assert md.backend.name == kernel_set


def test_backend_use_and_errors():
    assert md.backend.name in md.backend.available()
    assert "scalar" in md.backend.available()
    with pytest.raises(ValueError, match="nope"):
        md.backend.use("nope")
    prev = md.backend.name
    with md.backend.using("scalar"):
        assert md.backend.name == "scalar"
    assert md.backend.name == prev
    with pytest.raises(ZeroDivisionError):
        with md.backend.using("scalar"):
            1 / 0
    assert md.backend.name == prev


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_gives_same_results(threads):
    a = _inputs(1000003, seed=3)
    x = md.from_numpy(a)
    md.set_num_threads(2)
    ref = [x.sum().numpy(), (x * 2).exp().numpy(), F.softmax(x.reshape(1000003, 1)[:1000000].reshape(1000, 1000), 1).numpy()]
    md.set_num_threads(threads)
    assert md.get_num_threads() == threads
    got = [x.sum().numpy(), (x * 2).exp().numpy(), F.softmax(x.reshape(1000003, 1)[:1000000].reshape(1000, 1000), 1).numpy()]
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-6)
    with pytest.raises(ValueError):
        md.set_num_threads(0)
