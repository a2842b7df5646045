"""SGD vs torch.optim.SGD step for step; param groups; state_dict; argument errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import assert_close, require

torch = require("torch")


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    b0 = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    return w0, b0, x, y


def _run_both(kwargs_list, steps=20, groups=False):
    """Same least-squares problem in both libraries; compare the parameters after each step."""
    w0, b0, x, y = _problem()
    mw, mb = md.tensor(w0, requires_grad=True), md.tensor(b0, requires_grad=True)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    if groups:
        mopt = md.optim.SGD([dict(params=[mw], **kwargs_list[0]), dict(params=[mb], **kwargs_list[1])], lr=0.05)
        topt = torch.optim.SGD([dict(params=[tw], **kwargs_list[0]), dict(params=[tb], **kwargs_list[1])], lr=0.05)
    else:
        mopt, topt = md.optim.SGD([mw, mb], **kwargs_list), torch.optim.SGD([tw, tb], **kwargs_list)
    xm, ym, xt, yt = md.tensor(x), md.tensor(y), torch.tensor(x), torch.tensor(y)
    for _ in range(steps):
        mopt.zero_grad()
        topt.zero_grad()
        ((xm @ mw.T + mb - ym) ** 2).mean().backward()
        ((xt @ tw.T + tb - yt) ** 2).mean().backward()
        mopt.step()
        topt.step()
        assert_close(mw, tw, rtol=1e-4, atol=1e-5)
        assert_close(mb, tb, rtol=1e-4, atol=1e-5)
    return mopt, topt, (mw, mb), (tw, tb)


_CONFIGS = [
    dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True), dict(lr=0.01, maximize=True),
    dict(lr=0.02, momentum=0.5, maximize=True, weight_decay=0.05),
]


@pytest.mark.parametrize("kwargs", _CONFIGS, ids=[str(c) for c in _CONFIGS])
def test_sgd_matches_torch(kwargs):
    _run_both(kwargs)


def test_param_groups_with_own_lr():
    mopt, topt, _, _ = _run_both([dict(lr=0.2, momentum=0.9), dict(weight_decay=0.1)], groups=True)
    assert [g["lr"] for g in mopt.param_groups] == [0.2, 0.05]
    assert mopt.param_groups[1]["momentum"] == 0
    mopt.param_groups[0]["lr"] = 0.0
    w = mopt.param_groups[0]["params"][0]
    before = w.detach().clone()
    w.grad = md.ones(*w.shape)
    mopt.step()
    assert np.allclose(w.detach().numpy(), before.numpy())  # lr 0 -> no move (momentum*0)


def test_closure_is_called_with_grad_enabled():
    p = md.tensor([1.0], requires_grad=True)
    opt = md.optim.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    loss = opt.step(closure)
    assert loss.item() == 1.0 and p.item() == 0.0


def test_state_dict_round_trip():
    mopt, topt, (mw, mb), _ = _run_both(dict(lr=0.05, momentum=0.9), steps=3)
    sd = mopt.state_dict()
    tsd = topt.state_dict()
    assert sorted(sd["state"].keys()) == sorted(tsd["state"].keys()) == [0, 1]
    assert set(sd["state"][0]) == set(tsd["state"][0]) == {"momentum_buffer"}
    assert_close(sd["state"][0]["momentum_buffer"], tsd["state"][0]["momentum_buffer"])
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"] == [0, 1]
    assert {k for k in sd["param_groups"][0]} <= set(tsd["param_groups"][0]) | {"maximize"}
    # a fresh optimizer loaded from the state dict continues identically
    mw2, mb2 = md.tensor(mw.detach().numpy().copy(), requires_grad=True), md.tensor(mb.detach().numpy().copy(), requires_grad=True)
    opt2 = md.optim.SGD([mw2, mb2], lr=1.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.05
    for a, b, opt in ((mw, mb, mopt), (mw2, mb2, opt2)):
        opt.zero_grad()
        (a.sum() + b.sum()).backward()
        opt.step()
    assert_close(mw2, mw.detach().numpy())
    # the state dict is a snapshot, not a view of the live buffers
    buf = sd["state"][0]["momentum_buffer"].clone()
    mopt.step()
    assert np.array_equal(sd["state"][0]["momentum_buffer"].numpy(), buf.numpy())


def test_sgd_argument_errors():
    p = md.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="learning rate"):
        md.optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        md.optim.SGD([p], lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match="weight_decay"):
        md.optim.SGD([p], lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        md.optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        md.optim.SGD([dict(params=[p]), dict(params=[p])], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        md.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        md.optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        md.optim.SGD([p * 2], lr=0.1)


def test_zero_grad_and_skipping_params_without_grad():
    a, b = md.ones(2, requires_grad=True), md.ones(2, requires_grad=True)
    opt = md.optim.SGD([a, b], lr=1.0)
    (a * 3).sum().backward()
    opt.step()
    assert a.tolist() == [-2.0, -2.0] and b.tolist() == [1.0, 1.0]
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0] and b.grad is None
    opt.zero_grad()
    assert a.grad is None
