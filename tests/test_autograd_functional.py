"""md.autograd.functional (vjp, jvp, jacobian, hessian, vhp, hvp) against
torch.autograd.functional on small functions, tuple and Tensor arguments, create_graph and
strict, the Hessian of a small MLP's loss, and the bad inputs PyTorch refuses."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import require

import minidl as md
import minidl.nn.functional as F

torch = require("torch")
TAF = torch.autograd.functional
MF = md.autograd.functional
rng = np.random.default_rng(3)
A3, B23 = rng.standard_normal(3), rng.standard_normal((2, 3))


def two_outputs(t):
    return lambda x, y: ((x.exp() * y).sum(0).tanh(), (x * x).sum())


def scalar(x, y):
    return (x.exp() * y).sum() ** 2 + (x ** 3).sum()


def _np(v):
    if isinstance(v, tuple):
        return tuple(_np(i) for i in v)
    return v.detach().numpy()


def _close(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for i, j in zip(a, b):
            _close(i, j)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def _both(call):
    return _np(call(md, MF)), _np(call(torch, TAF))


def _t(lib, a):
    return lib.tensor(a)


CALLS = {
    "vjp_tuple": lambda t, f: f.vjp(two_outputs(t), (_t(t, A3), _t(t, B23)), (_t(t, A3 * 0 + 1.5), _t(t, np.array(2.0)))),
    "vjp_scalar_v_none": lambda t, f: f.vjp(lambda x: (x ** 3).sum(), _t(t, A3)),
    "jvp_tuple": lambda t, f: f.jvp(two_outputs(t), (_t(t, A3), _t(t, B23)), (_t(t, A3[::-1].copy()), _t(t, B23 * 2))),
    "jvp_single": lambda t, f: f.jvp(lambda x: x.sin() * x, _t(t, A3), _t(t, A3 + 1)),
    "jacobian_single": lambda t, f: f.jacobian(lambda x: x.sin() * x.sum(), _t(t, A3)),
    "jacobian_tuple": lambda t, f: f.jacobian(two_outputs(t), (_t(t, A3), _t(t, B23))),
    "jacobian_tuple_in": lambda t, f: f.jacobian(lambda x, y: x * y.sum(), (_t(t, A3), _t(t, B23))),
    "hessian_single": lambda t, f: f.hessian(lambda x: (x.exp() * x).sum() * x.sum(), _t(t, A3)),
    "hessian_tuple": lambda t, f: f.hessian(scalar, (_t(t, A3), _t(t, B23))),
    "vhp": lambda t, f: f.vhp(scalar, (_t(t, A3), _t(t, B23)), (_t(t, A3 + 1), _t(t, B23 - 1))),
    "hvp": lambda t, f: f.hvp(scalar, (_t(t, A3), _t(t, B23)), (_t(t, A3 + 1), _t(t, B23 - 1))),
    "hvp_single": lambda t, f: f.hvp(lambda x: x.tanh().prod(), _t(t, A3), _t(t, A3 * 2)),
    "unused_input_zeros": lambda t, f: f.jacobian(lambda x, y: x * 2.0, (_t(t, A3), _t(t, B23))),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_matches_torch(name):
    got, want = _both(CALLS[name])
    _close(got, want)


def test_hessian_of_a_small_mlp_loss_matches_torch():
    x, target = rng.standard_normal((6, 3)), np.array([0, 1, 2, 1, 0, 2])
    w1, b1, w2, b2 = (rng.standard_normal(s) * 0.5 for s in ((4, 3), (4,), (3, 4), (3,)))

    def loss_fn(lib, Fl):
        def loss(w1, b1, w2, b2):
            h = Fl.gelu(Fl.linear(lib.tensor(x), w1, b1))
            return Fl.cross_entropy(Fl.linear(h, w2, b2), lib.tensor(target)) + 0.01 * (w1 ** 2).sum()
        return loss

    params = (w1, b1, w2, b2)
    got = MF.hessian(loss_fn(md, F), tuple(md.tensor(p) for p in params))
    want = TAF.hessian(loss_fn(torch, torch.nn.functional), tuple(torch.tensor(p) for p in params))
    _close(_np(got), _np(want))


def test_create_graph_keeps_the_graph_and_leaves_inputs_alone():
    x = md.tensor(A3, requires_grad=True)
    out, g = MF.vjp(lambda x: (x ** 3).sum(), x, create_graph=True)
    assert g.requires_grad and x.grad is None
    (g.sum()).backward()  # d/dx sum(3 x^2) = 6 x
    np.testing.assert_allclose(x.grad.numpy(), 6 * A3)
    _, jv = MF.jvp(lambda x: x ** 2, x, md.tensor(A3))
    assert not jv.requires_grad


def test_strict_raises_for_an_independent_input():
    with pytest.raises(RuntimeError, match="independent of input 1"):
        MF.jacobian(lambda x, y: x * 2.0, (md.tensor(A3), md.tensor(B23)), strict=True)
    with pytest.raises(RuntimeError, match="independent"):
        MF.vhp(lambda x: md.tensor(1.0), md.tensor(A3), md.tensor(A3), strict=True)


def test_bad_input():
    with pytest.raises(TypeError, match="Tensor or a tuple of Tensors"):
        MF.vjp(lambda x: x, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="v can only be None"):
        MF.vjp(lambda x: x * 2, md.tensor(A3))
    with pytest.raises(RuntimeError, match="invalid size"):
        MF.jvp(lambda x: x * 2, md.tensor(A3), md.tensor(B23))
    with pytest.raises(RuntimeError, match="single element"):
        MF.hessian(lambda x: x * 2, md.tensor(A3))
    with pytest.raises(ValueError, match="strategy"):
        MF.jacobian(lambda x: x, md.tensor(A3), strategy="sideways")


def test_hessian_sharpness_example():
    """examples/hessian_sharpness.py: power iteration with hvp finds lambda_max; gradient descent
    with lr below 2 / lambda_max lowers the loss, above it the loss grows (about 1 s)."""
    from conftest import load_example

    res = load_example("hessian_sharpness").main(["--warmup", "600"])
    assert abs(res["lambda_max"] - 2 / 0.25) < 0.25 * 8  # the edge of stability of the warm-up's lr
    stable, unstable = res[0.8], res[1.5]
    assert max(stable[1:]) < stable[0]
    assert max(unstable) > 5 * unstable[0]


def test_power_iteration_agrees_with_the_full_hessian():
    from conftest import load_example

    ex = load_example("hessian_sharpness")
    x, y, params = ex.make_problem(1)
    loss = ex.loss_of(x[:32], y[:32])
    lam = ex.top_eigenvalue(loss, params, iterations=60)
    H = MF.hessian(loss, params)
    n = [p.numel() for p in params]
    full = np.block([[H[i][j].numpy().reshape(n[i], n[j]) for j in range(4)] for i in range(4)])
    top = np.linalg.eigvalsh(full)
    assert abs(lam - top[np.argmax(np.abs(top))]) < 1e-3 * abs(top).max()
