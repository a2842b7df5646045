"""md.amp.GradScaler against torch.amp.GradScaler("cpu"): the same scale trajectory and the
same skipped steps on a run with injected infs and NaNs, the same parameters after it; the
one-pass C++ unscale kernel on every kernel set; PyTorch's errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import _C

from conftest import require
torch = require("torch")


def _pair_models(seed=0):
    md.manual_seed(seed)
    m = md.nn.Sequential(md.nn.Linear(6, 5), md.nn.Tanh(), md.nn.Linear(5, 3))
    t = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    for pm, pt in zip(m.parameters(), t.parameters()):
        pt.data.copy_(torch.from_numpy(pm.detach().numpy().copy()))
    return m, t


def test_trajectory_equals_torch_with_injected_infs(rng):
    m, t = _pair_models()
    kw = dict(init_scale=2.0 ** 10, growth_factor=2.0, backoff_factor=0.25, growth_interval=3)
    sm, st = md.amp.GradScaler("cpu", **kw), torch.amp.GradScaler("cpu", **kw)
    om, ot = md.optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(t.parameters(), lr=0.1)
    bad = {2: np.inf, 3: np.nan, 9: -np.inf, 10: np.inf, 11: np.inf}   # step -> injected value
    scales_m, scales_t, stepped_m, stepped_t = [], [], [], []
    for step in range(16):
        x = rng.standard_normal((8, 6)).astype(np.float32)
        y = rng.integers(0, 3, 8)
        for model, opt, scaler, lib, T, scales, stepped in (
                (m, om, sm, md, md.tensor, scales_m, stepped_m),
                (t, ot, st, torch, torch.from_numpy, scales_t, stepped_t)):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(T(x)), T(y))
            scaler.scale(loss).backward()
            if step in bad:  # one bad element in one gradient
                list(model.parameters())[step % 4].grad[0].fill_(float(bad[step]))
            before = [p.detach().numpy().copy() for p in model.parameters()]
            if step % 2:  # half the steps unscale explicitly first (as for gradient clipping)
                scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
            stepped.append(any((p.detach().numpy() != b).any() for p, b in zip(model.parameters(), before)))
            scales.append(scaler.get_scale())
    assert scales_m == scales_t
    assert stepped_m == stepped_t == [s not in bad for s in range(16)]
    assert sm.state_dict() == st.state_dict()
    for pm, pt in zip(m.parameters(), t.parameters()):
        np.testing.assert_allclose(pm.detach().numpy(), pt.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_growth_never_overflows_and_nan_loss_skips():
    p = md.nn.Parameter(md.ones(3))
    opt = md.optim.SGD([p], lr=1.0)
    s = md.amp.GradScaler(init_scale=2.0 ** 127, growth_interval=1)
    (p.sum() * 0).backward()
    s.step(opt)
    s.update()
    assert s.get_scale() == 2.0 ** 127   # 2^128 is inf in float32: kept
    p.grad = None
    loss = (p * float("nan")).sum()
    s.scale(loss).backward()
    assert s.step(opt) is None
    s.update()
    assert s.get_scale() == 2.0 ** 126
    np.testing.assert_array_equal(p.detach().numpy(), np.ones(3, np.float32))


def test_unscale_kernel_one_pass(kernel_set, rng):
    sizes = [1, 7, 33, 1000, 70001]
    for dt in (np.float32, np.float64):
        gs = [rng.standard_normal(n).astype(dt) for n in sizes]
        ref = [g * dt(0.125) for g in gs]
        assert _C.amp_unscale_(gs, 0.125) is False
        for g, r in zip(gs, ref):
            np.testing.assert_array_equal(g, r)
        for where in (0, 5, 32, 999, 70000):
            k = sizes.index(next(n for n in sizes if n > where))
            gs = [rng.standard_normal(n).astype(dt) for n in sizes]
            gs[k][where] = np.nan if where % 2 else -np.inf
            assert _C.amp_unscale_(gs, 0.5) is True
        assert _C.amp_unscale_([np.full(17, 3.0e38, dt)], 1.0) is False   # finite, not scaled


def test_state_dict_round_trip_and_disabled():
    s = md.amp.GradScaler(init_scale=512.0, growth_interval=7)
    sd = s.state_dict()
    assert sd == torch.amp.GradScaler("cpu", init_scale=512.0, growth_interval=7).state_dict()
    s2 = md.amp.GradScaler()
    s2.load_state_dict(sd)
    assert s2.get_scale() == 512.0 and s2.get_growth_interval() == 7
    off = md.amp.GradScaler(enabled=False)
    assert not off.is_enabled() and off.get_scale() == 1.0 and off.state_dict() == {}
    x = md.ones(2, requires_grad=True)
    assert off.scale(x) is x
    with pytest.raises(RuntimeError, match="empty"):
        s2.load_state_dict({})


def test_errors():
    p = md.nn.Parameter(md.ones(3))
    opt = md.optim.SGD([p], lr=0.1)
    s = md.amp.GradScaler()
    s.scale(p.sum()).backward()
    s.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        s.unscale_(opt)
    s.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        s.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called since the last update"):
        s.step(opt)
    s.update()
    with pytest.raises(RuntimeError, match="No inf checks"):
        s.update()
    h = md.nn.Parameter(md.ones(3).half())
    (h.float().sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        md.amp.GradScaler().unscale_(md.optim.SGD([h], lr=0.1))
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        _C.amp_unscale_([np.ones(3, np.float16)], 0.5)
    with pytest.raises(TypeError, match="dtype"):
        _C.amp_unscale_([np.ones(3, np.float32), np.ones(3)], 0.5)
    with pytest.raises(ValueError, match="growth_factor"):
        md.amp.GradScaler(growth_factor=0.5)
    with pytest.raises(ValueError, match="backoff_factor"):
        md.amp.GradScaler(backoff_factor=1.5)
    with pytest.raises(ValueError, match="'tpu' is not supported"):
        md.amp.GradScaler("tpu")
    with pytest.warns(UserWarning, match="CUDA is not available.  Disabling"):
        disabled = md.amp.GradScaler("cuda")  # as on a CPU-only PyTorch
    assert not disabled.is_enabled() and disabled.scale(md.tensor(3.0)).item() == 3.0
    with pytest.raises(RuntimeError, match="Closure"):
        md.amp.GradScaler().step(opt, closure=lambda: 0)
    with pytest.raises(ValueError, match="Tensor"):
        md.amp.GradScaler().scale(3.0)
