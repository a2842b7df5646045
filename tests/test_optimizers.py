"""Optimizers against PyTorch (SGD, Adam, AdamW) and a NumPy reference of API.md's LAMB:
same initial weights, same gradients at every step, parameters compared after each step;
on every kernel set (SIMD and the scalar reference)."""
import copy

import numpy as np
import pytest

import minidl as md
from minidl import _C

from conftest import require
torch = require("torch")

# odd sizes and one tensor above the multi-thread threshold (65536 elements in a call)
SHAPES = [(7, 5), (5,), (33,), (3, 4, 5), (1,), (70001,)]
STEPS = 20
BACKENDS = md.backend.available()


def make_problem(dtype=np.float32, shapes=SHAPES, seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return init, grads


def md_params(init):
    return [md.nn.Parameter(md.tensor(a.copy())) for a in init]


def torch_params(init):
    return [torch.nn.Parameter(torch.tensor(a.copy())) for a in init]


def set_grads(params, grads, lib):
    for p, g in zip(params, grads):
        p.grad = md.tensor(g.copy()) if lib == "md" else torch.tensor(g.copy())


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True),
    dict(lr=0.05, weight_decay=0.1),
]
ADAM_CONFIGS = [
    dict(lr=1e-2),
    dict(lr=1e-2, amsgrad=True),
    dict(lr=1e-2, weight_decay=0.1),
    dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
    dict(lr=1e-2, maximize=True),
    dict(lr=3e-2, betas=(0.3, 0.9), eps=1e-6),   # beta1 < 0.5: torch's other lerp form
]
ADAMW_CONFIGS = [dict(lr=1e-2), dict(lr=1e-2, amsgrad=True), dict(lr=1e-2, weight_decay=0.1, maximize=True)]

CASES = ([("SGD", c) for c in SGD_CONFIGS] + [("Adam", c) for c in ADAM_CONFIGS]
         + [("AdamW", c) for c in ADAMW_CONFIGS])


@pytest.fixture(params=BACKENDS)
def backend(request):
    with md.backend.using(request.param):
        yield request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,cfg", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch_every_step(name, cfg, dtype, backend):
    init, grads = make_problem(dtype)
    mp, tp = md_params(init), torch_params(init)
    mo = getattr(md.optim, name)(mp, **cfg)
    to = getattr(torch.optim, name)(tp, **cfg)
    for step in range(STEPS):
        set_grads(mp, grads[step], "md")
        set_grads(tp, grads[step], "torch")
        mo.step()
        to.step()
        for a, b in zip(mp, tp):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **tol(dtype), err_msg=f"step {step}")
    # state keys and values as torch's
    for a, b in zip(mp, tp):
        sa, sb = mo.state[a], to.state[b]
        assert set(sa) == set(sb)
        for k in sb:
            np.testing.assert_allclose(np.asarray(sa[k].detach().numpy()), sb[k].numpy(), **tol(dtype))


def test_param_groups_own_lr_and_weight_decay(backend):
    init, grads = make_problem()
    mp, tp = md_params(init), torch_params(init)
    for name, extra in [("SGD", dict(momentum=0.9)), ("Adam", {}), ("AdamW", {})]:
        mp, tp = md_params(init), torch_params(init)
        groups = lambda ps: [dict(params=ps[:3], lr=0.02, weight_decay=0.05), dict(params=ps[3:])]
        mo = getattr(md.optim, name)(groups(mp), lr=0.1, **extra)
        to = getattr(torch.optim, name)(groups(tp), lr=0.1, **extra)
        for step in range(STEPS):
            set_grads(mp, grads[step], "md")
            set_grads(tp, grads[step], "torch")
            mo.step()
            to.step()
        for a, b in zip(mp, tp):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


# ---- LAMB against a NumPy reference of API.md's formula -----------------------------------

def lamb_reference(init, grads, lr, betas, eps, weight_decay):
    """API.md: bias-corrected Adam moments, u = m_hat/(sqrt(v_hat)+eps) + wd*w,
    w -= lr * r * u with r = ||w||/||u|| (1 if either is 0). Float64 throughout."""
    b1, b2 = betas
    w = [a.astype(np.float64) for a in init]
    m = [np.zeros_like(a) for a in w]
    v = [np.zeros_like(a) for a in w]
    history = []
    for t, gs in enumerate(grads, start=1):
        for i, g in enumerate(gs):
            g = g.astype(np.float64)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1 ** t)
            v_hat = v[i] / (1 - b2 ** t)
            u = m_hat / (np.sqrt(v_hat) + eps) + weight_decay * w[i]
            wn, un = np.linalg.norm(w[i]), np.linalg.norm(u)
            r = wn / un if wn > 0 and un > 0 else 1.0
            w[i] = w[i] - lr * r * u
        history.append([a.copy() for a in w])
    return history


LAMB_CONFIGS = [dict(lr=1e-2), dict(lr=1e-2, weight_decay=0.01), dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-8,
                                                                         weight_decay=0.1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", LAMB_CONFIGS)
def test_lamb_matches_reference(cfg, dtype, backend):
    init, grads = make_problem(dtype)
    init[4][:] = 0   # a zero tensor: ||w|| = 0 -> r = 1
    full = dict(dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0), **cfg)
    ref = lamb_reference(init, grads, **full)
    mp = md_params(init)
    opt = md.optim.LAMB(mp, **cfg)
    for step in range(STEPS):
        set_grads(mp, grads[step], "md")
        opt.step()
        for a, b in zip(mp, ref[step]):
            np.testing.assert_allclose(a.detach().numpy(), b, **tol(dtype), err_msg=f"step {step}")
    assert set(opt.state[mp[0]]) == {"step", "exp_avg", "exp_avg_sq"}
    assert float(opt.state[mp[0]]["step"].item()) == STEPS


def test_lamb_trust_ratio_is_one_for_zero_update():
    p = md.nn.Parameter(md.tensor(np.ones(10, np.float32)))
    opt = md.optim.LAMB([p], lr=0.1)
    p.grad = md.zeros(10)   # m = v = 0 -> u = 0 -> r = 1, no change
    opt.step()
    assert opt.last_trust_ratios == [1.0]
    np.testing.assert_array_equal(p.detach().numpy(), np.ones(10, np.float32))


# ---- kernel sets agree ---------------------------------------------------------------------

@pytest.mark.skipif(len(BACKENDS) < 2, reason="only the scalar kernel set on this CPU")
@pytest.mark.parametrize("name,cfg", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
                                      ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
                                      ("AdamW", dict(lr=1e-2)), ("LAMB", dict(lr=1e-2, weight_decay=0.1))])
def test_simd_matches_scalar_on_odd_sizes(name, cfg):
    shapes = [(1,), (7,), (33,), (1000003,)]
    init, grads = make_problem(shapes=shapes, steps=3)
    results = {}
    for b in BACKENDS:
        with md.backend.using(b):
            ps = md_params(init)
            opt = getattr(md.optim, name)(ps, **cfg)
            for g in grads:
                set_grads(ps, g, "md")
                opt.step()
            results[b] = [p.detach().numpy().copy() for p in ps]
    for b in BACKENDS[1:]:
        for x, y in zip(results[BACKENDS[0]], results[b]):
            np.testing.assert_allclose(x, y, rtol=2e-6, atol=1e-6)   # FMA vs mul+add: float32 rounding of O(1) terms


# ---- state_dict round trip -----------------------------------------------------------------

OPTS = [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=1e-2, amsgrad=True)), ("AdamW", dict(lr=1e-2)),
        ("LAMB", dict(lr=1e-2, weight_decay=0.01))]


@pytest.mark.parametrize("name,cfg", OPTS)
def test_state_dict_round_trip_resumes_identically(name, cfg):
    init, grads = make_problem()
    straight = md_params(init)
    opt = getattr(md.optim, name)(straight, **cfg)
    for step in range(STEPS):
        set_grads(straight, grads[step], "md")
        opt.step()

    first = md_params(init)
    opt1 = getattr(md.optim, name)(first, **cfg)
    for step in range(10):
        set_grads(first, grads[step], "md")
        opt1.step()
    saved = copy.deepcopy(opt1.state_dict())
    del opt1
    resumed = [md.nn.Parameter(md.tensor(p.detach().numpy().copy())) for p in first]
    opt2 = getattr(md.optim, name)(resumed, lr=123.0)   # hyper-parameters come from the state dict
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == cfg["lr"]
    for step in range(10, STEPS):
        set_grads(resumed, grads[step], "md")
        opt2.step()
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_state_dict_format_like_torch():
    init, grads = make_problem()
    mp, tp = md_params(init), torch_params(init)
    mo, to = md.optim.Adam(mp, lr=1e-2), torch.optim.Adam(tp, lr=1e-2)
    set_grads(mp, grads[0], "md")
    set_grads(tp, grads[0], "torch")
    mo.step()
    to.step()
    ms, ts = mo.state_dict(), to.state_dict()
    assert set(ms["param_groups"][0]) == set(ts["param_groups"][0])
    assert ms["param_groups"][0]["params"] == ts["param_groups"][0]["params"]
    assert set(ms["state"]) == set(ts["state"])
    assert set(ms["state"][0]) == set(ts["state"][0])
    assert ms["state"][0]["step"].dtype == md.float32 and ms["state"][0]["step"].item() == ts["state"][0]["step"].item()


# ---- API behaviour -------------------------------------------------------------------------

@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    ps = md_params(make_problem()[0])
    opt = md.optim.SGD(ps, lr=0.1)
    for p in ps:
        p.grad = md.ones(*p.shape)
    opt.zero_grad(set_to_none=set_to_none)
    for p in ps:
        if set_to_none:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad.numpy(), 0)


def test_closure_matches_torch():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)
    w0 = rng.standard_normal((4, 2)).astype(np.float32)
    mw, tw = md.nn.Parameter(md.tensor(w0.copy())), torch.nn.Parameter(torch.tensor(w0.copy()))
    mo, to = md.optim.Adam([mw], lr=0.05), torch.optim.Adam([tw], lr=0.05)
    mx, my, tx, ty = md.tensor(x), md.tensor(y), torch.tensor(x), torch.tensor(y)

    def mclosure():
        mo.zero_grad()
        loss = ((mx @ mw - my) ** 2).mean()
        loss.backward()
        return loss

    def tclosure():
        to.zero_grad()
        loss = ((tx @ tw - ty) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(10):
        ml, tl = mo.step(mclosure), to.step(tclosure)
        np.testing.assert_allclose(ml.item(), tl.item(), rtol=1e-5)
        np.testing.assert_allclose(mw.detach().numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_params_without_grad_are_skipped_and_frozen_with_grad_updated():
    a, b, c = (md.nn.Parameter(md.tensor(np.ones(3, np.float32))) for _ in range(3))
    c.requires_grad_(False)
    opt = md.optim.Adam([a, b, c], lr=0.1)
    a.grad = md.ones(3)
    c.grad = md.ones(3)   # torch updates any parameter that has a .grad
    opt.step()
    assert not np.allclose(a.detach().numpy(), 1) and not np.allclose(c.detach().numpy(), 1)
    np.testing.assert_array_equal(b.detach().numpy(), 1)
    assert len(opt.state[b]) == 0


def test_non_contiguous_grad_and_float64_grad_on_float32_param():
    p = md.nn.Parameter(md.tensor(np.ones((3, 4), np.float32)))
    g = np.arange(12, dtype=np.float64).reshape(4, 3).T   # non-contiguous, float64
    t = torch.nn.Parameter(torch.ones(3, 4))
    p._grad = md.Tensor._wrap(g)
    t.grad = torch.tensor(np.ascontiguousarray(g), dtype=torch.float32)
    md.optim.SGD([p], lr=0.1, momentum=0.9).step()
    torch.optim.SGD([t], lr=0.1, momentum=0.9).step()
    np.testing.assert_allclose(p.detach().numpy(), t.detach().numpy(), rtol=1e-6)


# ---- bad input -----------------------------------------------------------------------------

def one_param():
    return [md.nn.Parameter(md.tensor(np.ones(3, np.float32)))]


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "LAMB"])
def test_negative_lr(name):
    with pytest.raises(ValueError, match="Invalid learning rate"):
        getattr(md.optim, name)(one_param(), lr=-0.1)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "LAMB"])
@pytest.mark.parametrize("betas,idx", [((1.0, 0.999), 0), ((-0.1, 0.999), 0), ((0.9, 1.0), 1)])
def test_invalid_betas(name, betas, idx):
    with pytest.raises(ValueError, match=f"Invalid beta parameter at index {idx}"):
        getattr(md.optim, name)(one_param(), betas=betas)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "LAMB"])
def test_invalid_eps_and_weight_decay(name):
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        getattr(md.optim, name)(one_param(), eps=-1e-8)
    with pytest.raises(ValueError, match="Invalid weight_decay value"):
        getattr(md.optim, name)(one_param(), weight_decay=-0.1)


def test_sgd_invalid_arguments():
    with pytest.raises(ValueError, match="Invalid momentum value"):
        md.optim.SGD(one_param(), lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="Invalid weight_decay value"):
        md.optim.SGD(one_param(), lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        md.optim.SGD(one_param(), lr=0.1, nesterov=True)


def test_parameter_in_two_groups():
    p = one_param()
    with pytest.raises(ValueError, match="more than one parameter group"):
        md.optim.Adam([dict(params=p), dict(params=p)])
    opt = md.optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group(dict(params=p))


def test_empty_parameter_list():
    with pytest.raises(ValueError, match="empty parameter list"):
        md.optim.Adam([])


def test_half_precision_parameter_rejected():
    p = md.nn.Parameter(md.tensor(np.ones(3, np.float32)).half())
    p.grad = md.tensor(np.ones(3, np.float32)).half()
    with pytest.raises(TypeError, match="float16"):
        md.optim.Adam([p]).step()


def test_kernel_binding_checks():
    p, g = np.ones(5, np.float32), np.ones(5, np.float32)
    m, v = np.zeros(5, np.float32), np.zeros(5, np.float32)
    args = (1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(4\)|grads\[0\] has shape"):
        _C.adam_step([p], [np.ones(4, np.float32)], [m], [v], [], [1.0], *args)
    with pytest.raises(TypeError, match=r"grads\[0\] has dtype float64"):
        _C.adam_step([p], [np.ones(5)], [m], [v], [], [1.0], *args)
    with pytest.raises(TypeError, match=r"params\[0\] has dtype int64"):
        _C.sgd_step([np.ones(5, np.int64)], [g], [], [], 0.1, 0.0, 0.0, 0.0, False, False)
    with pytest.raises(TypeError, match=r"exp_avgs\[0\] is a list"):
        _C.adam_step([p], [g], [[0.0] * 5], [v], [], [1.0], *args)
    with pytest.raises(ValueError, match=r"got 2 exp_avg_sqs for 1 params"):
        _C.adam_step([p], [g], [m], [v, v], [], [1.0], *args)
    with pytest.raises(ValueError, match="not C-contiguous"):
        _C.sgd_step([np.ones(10, np.float32)[::2]], [g], [], [], 0.1, 0.0, 0.0, 0.0, False, False)
    ro = np.ones(5, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.sgd_step([ro], [g], [], [], 0.1, 0.0, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match="steps"):
        _C.lamb_step([p], [g], [m], [v], [], 1e-3, 0.9, 0.999, 1e-6, 0.0)
