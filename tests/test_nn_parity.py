"""nn modules vs torch.nn: same weights and inputs -> same outputs and gradients; state_dict
keys; load_state_dict errors; init distributions."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F
from conftest import assert_close, from_torch, pair, require, to_torch

torch = require("torch")


def _copy_weights(t_module, m_module):
    """torch -> minidl through NumPy (load_state_dict)."""
    m_module.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in t_module.state_dict().items()})


def _compare_module(rng, m_mod, t_mod, *shape, low=None, high=None):
    x_m, x_t = pair(rng, *shape, low=low, high=high)
    out_m, out_t = m_mod(x_m), t_mod(x_t)
    assert_close(out_m, out_t)
    w = rng.standard_normal(tuple(out_t.shape)).astype(np.float32)
    (out_m * md.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    assert_close(x_m.grad, x_t.grad)
    tp = dict(t_mod.named_parameters())
    for name, p in m_mod.named_parameters():
        assert_close(p.grad, tp[name].grad, atol=1e-4)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5), (1, 5)])
def test_linear(rng, bias, shape):
    m, t = nn.Linear(5, 3, bias=bias), torch.nn.Linear(5, 3, bias=bias)
    _copy_weights(t, m)
    assert (m.bias is None) == (not bias)
    _compare_module(rng, m, t, *shape)


_ACTS = [("ReLU", {}), ("LeakyReLU", {}), ("LeakyReLU", dict(negative_slope=0.2)), ("Sigmoid", {}), ("Tanh", {}),
         ("GELU", {}), ("GELU", dict(approximate="tanh")), ("Softmax", dict(dim=1)), ("Softmax", dict(dim=-1)),
         ("LogSoftmax", dict(dim=1)), ("LogSoftmax", dict(dim=0)), ("Identity", {}), ("Flatten", {}),
         ("Flatten", dict(start_dim=0))]


@pytest.mark.parametrize("name,kwargs", _ACTS, ids=[f"{n}{k}" for n, k in _ACTS])
def test_activation_modules(rng, name, kwargs):
    _compare_module(rng, getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), 3, 4, 5, low=-4, high=4)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_stable_at_extremes(name):
    a = np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1000.0]], dtype=np.float32)
    m, t = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    om, ot = getattr(F, name)(m, 1), getattr(torch.nn.functional, name)(t, 1)
    assert np.all(np.isfinite(om.detach().numpy()))
    assert_close(om, ot)
    om.sum().backward()
    ot.sum().backward()
    assert np.all(np.isfinite(m.grad.numpy()))
    assert_close(m.grad, t.grad)
    assert_close(m.logsumexp(1), t.logsumexp(1))


@pytest.mark.parametrize("cls", ["MSELoss", "L1Loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(rng, cls, reduction):
    x_m, x_t = pair(rng, 4, 3)
    y_m, y_t = pair(rng, 4, 3, requires_grad=False)
    lm, lt = getattr(nn, cls)(reduction=reduction)(x_m, y_m), getattr(torch.nn, cls)(reduction=reduction)(x_t, y_t)
    assert_close(lm, lt)
    lm.sum().backward()
    lt.sum().backward()
    assert_close(x_m.grad, x_t.grad)


_CE_CASES = [dict(), dict(weight=[0.2, 1.0, 3.0, 0.5]), dict(ignore_index=2), dict(ignore_index=-100),
             dict(weight=[0.2, 1.0, 3.0, 0.5], ignore_index=1)]


@pytest.mark.parametrize("kwargs", _CE_CASES, ids=[str(k) for k in _CE_CASES])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("cls", ["CrossEntropyLoss", "NLLLoss"])
def test_classification_losses(rng, cls, kwargs, reduction):
    target = np.array([0, 2, 3, 1, 2, 2])
    if kwargs.get("ignore_index") == -100:
        target = np.array([0, -100, 3, 1, -100, 2])
    x_m, x_t = pair(rng, 6, 4)
    mk, tk = dict(kwargs), dict(kwargs)
    if "weight" in kwargs:
        mk["weight"], tk["weight"] = md.tensor(kwargs["weight"]), torch.tensor(kwargs["weight"])
    inp_m, inp_t = (x_m, x_t) if cls == "CrossEntropyLoss" else (F.log_softmax(x_m, 1), x_t.log_softmax(1))
    lm = getattr(nn, cls)(reduction=reduction, **mk)(inp_m, md.tensor(target))
    lt = getattr(torch.nn, cls)(reduction=reduction, **tk)(inp_t, torch.tensor(target))
    assert_close(lm, lt)
    lm.sum().backward()
    lt.sum().backward()
    assert_close(x_m.grad, x_t.grad)


def test_cross_entropy_spatial_and_unbatched(rng):
    x_m, x_t = pair(rng, 2, 3, 4)
    tgt = np.array([[0, 1, 2, 2], [1, 1, 0, 2]])
    lm = F.cross_entropy(x_m, md.tensor(tgt))
    lt = torch.nn.functional.cross_entropy(x_t, torch.tensor(tgt))
    assert_close(lm, lt)
    lm.backward()
    lt.backward()
    assert_close(x_m.grad, x_t.grad)
    v_m, v_t = pair(rng, 5)
    assert_close(F.cross_entropy(v_m, md.tensor(3)), torch.nn.functional.cross_entropy(v_t, torch.tensor(3)))


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.ReLU(), lib.nn.Linear(8, 2))


def test_state_dict_keys_and_shapes_match_torch():
    m, t = _mlp(md), _mlp(torch)
    assert list(m.state_dict().keys()) == list(t.state_dict().keys()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for (km, vm), (kt, vt) in zip(m.state_dict().items(), t.state_dict().items()):
        assert tuple(vm.shape) == tuple(vt.shape)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3, bias=False)])
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Identity()})

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 3, bias=False)])
            self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 1), "b": torch.nn.Identity()})
    assert list(Net().state_dict()) == list(TNet().state_dict())
    assert len(list(Net().parameters())) == len(list(TNet().parameters())) == 5


def test_torch_weights_loaded_give_same_forward_backward(rng):
    m, t = _mlp(md), _mlp(torch)
    _copy_weights(t, m)
    _compare_module(rng, m, t, 7, 4)
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_load_state_dict_errors():
    m = _mlp(md)
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    missing = dict(sd)
    del missing["2.bias"]
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*2\.bias"):
        m.load_state_dict(missing)
    extra = dict(sd, **{"3.weight": md.zeros(1)})
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\).*3\.weight"):
        m.load_state_dict(extra)
    bad = dict(sd, **{"0.weight": md.zeros(8, 5)})
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight.*\[8, 5\].*\[8, 4\]"):
        m.load_state_dict(bad)
    res = m.load_state_dict(extra, strict=False)
    assert res.unexpected_keys == ["3.weight"] and res.missing_keys == []
    before = m[0].weight.detach().clone()
    sd["0.weight"] = sd["0.weight"] + 1.0
    m.load_state_dict(sd)
    assert_close(m[0].weight, before + 1.0)


def test_train_eval_and_containers():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.ReLU()))
    assert m.training and all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert m[1][0].training
    assert len(m) == 2 and isinstance(m[-1], nn.Sequential) and len(list(m.children())) == 2
    assert len(list(m.modules())) == 5
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh())
    assert len(ml) == 2 and isinstance(ml[1], nn.Tanh)
    md_ = nn.ModuleDict({"x": nn.ReLU()})
    assert "x" in md_ and list(md_.keys()) == ["x"]
    x = md.tensor([[-1.0, 2.0]])
    assert md_["x"](x).tolist() == [[0.0, 2.0]]
    assert nn.Identity(3, foo=1)(x) is x


def test_dropout_train_eval():
    d = nn.Dropout(0.5)
    x = md.ones(1000)
    md.manual_seed(0)
    y = d(x)
    kept = (y != 0).float().mean().item()
    assert 0.4 < kept < 0.6 and set(np.unique(y.numpy()).tolist()) <= {0.0, 2.0}
    d.eval()
    assert d(x) is x or np.array_equal(d(x).numpy(), x.numpy())


def test_parameters_and_requires_grad_():
    m = _mlp(md)
    params = list(m.parameters())
    assert len(params) == 4 and all(p.requires_grad for p in params)
    assert [tuple(p.shape) for p in params] == [(8, 4), (8,), (2, 8), (2,)]
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_zero_grad_set_to_none_false():
    m = nn.Linear(3, 2)
    m(md.ones(1, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and np.all(m.weight.grad.numpy() == 0)


def test_linear_init_distribution():
    md.manual_seed(0)
    fan_in = 400
    lin = nn.Linear(fan_in, 300)
    w = lin.weight.detach().numpy()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound + 1e-7
    assert abs(w.mean()) < 0.02 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # std of U(-b, b) is b / sqrt(3)
    assert np.abs(lin.bias.detach().numpy()).max() <= bound
    assert np.abs(lin.bias.detach().numpy()).max() > 0.5 * bound


def test_kaiming_and_xavier_bounds():
    md.manual_seed(1)
    w = md.empty(256, 128)
    nn.init.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 128)
    a = w.numpy()
    assert np.abs(a).max() <= bound + 1e-6 and np.abs(a).max() > 0.95 * bound
    assert abs(a.std() - bound / math.sqrt(3)) < 0.03 * bound
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2.0 / 128)) < 0.03 * math.sqrt(2.0 / 128)
    nn.init.xavier_uniform_(w)
    xb = math.sqrt(6.0 / (128 + 256))
    assert np.abs(w.numpy()).max() <= xb + 1e-6
    assert nn.init.calculate_gain("tanh") == torch.nn.init.calculate_gain("tanh")
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))


def test_module_to_dtype():
    m = _mlp(md).to(md.float64)
    assert all(p.dtype is md.float64 for p in m.parameters())
    out = m(md.ones(2, 4, dtype=md.float64))
    assert out.dtype is md.float64
    out.sum().backward()
    assert m[0].weight.grad.dtype is md.float64


def test_clip_grad_norm_and_value_match_torch():
    grads = {}
    for lib in (md, torch):
        p, q = lib.zeros(2, requires_grad=True), lib.zeros(1, requires_grad=True)
        p.grad, q.grad = lib.tensor([3.0, 4.0]), lib.tensor([12.0])
        norm = lib.nn.utils.clip_grad_norm_([p, q], 1.0)
        lib.nn.utils.clip_grad_value_([q], 0.5)
        grads[lib.__name__] = (float(norm), p.grad.tolist(), q.grad.tolist())
    assert grads["minidl"][0] == pytest.approx(grads["torch"][0])
    np.testing.assert_allclose(grads["minidl"][1], grads["torch"][1], rtol=1e-6)
    np.testing.assert_allclose(grads["minidl"][2], grads["torch"][2], rtol=1e-6)


@pytest.mark.parametrize("dt,tol", [("float16", 1e-2), ("bfloat16", 3e-2), ("float64", 1e-6)])
def test_low_precision_mlp_forward_backward(rng, dt, tol):
    m, t = _mlp(md), _mlp(torch)
    _copy_weights(t, m)
    m.to(getattr(md, dt))
    t.to(getattr(torch, dt))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    xm, xt = md.tensor(x).to(getattr(md, dt)), torch.tensor(x).to(getattr(torch, dt))
    om, ot = m(xm), t(xt)
    assert om.dtype is getattr(md, dt)
    assert_close(om, ot, rtol=tol, atol=tol)
    F.cross_entropy(om, md.tensor([0, 1, 1, 0, 1])).backward()
    torch.nn.functional.cross_entropy(ot, torch.tensor([0, 1, 1, 0, 1])).backward()
    for (name, pm), pt in zip(m.named_parameters(), t.parameters()):
        assert pm.grad.dtype is getattr(md, dt), name
        assert_close(pm.grad, pt.grad, rtol=tol, atol=tol)
