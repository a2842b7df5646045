"""Transfer-learning helpers in md.nn.utils: freeze/unfreeze, ProgressiveUnfreezer, set_bn_eval,
param_groups_by_depth (with md.nn.Linear models; BatchNorm stand-ins detected by class name)."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import nn
from minidl.nn.utils import (ProgressiveUnfreezer, freeze, is_frozen, param_groups_by_depth, set_bn_eval,
                             unfreeze)

from conftest import require


def make_model():
    md.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


def batch(seed=0):
    r = np.random.default_rng(seed)
    return md.tensor(r.standard_normal((16, 6)).astype(np.float32)), md.tensor(r.integers(0, 3, 16))


def loss_of(model, seed=0):
    x, y = batch(seed)
    return nn.functional.cross_entropy(model(x), y)


def snapshot(module):
    return [p.detach().numpy().copy() for p in module.parameters()]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_freeze_sets_flags_and_returns_module():
    m = make_model()
    assert freeze(m[0]) is m[0]
    assert [p.requires_grad for p in m.parameters()] == [False, False, True, True, True, True]
    assert is_frozen(m[0]) and not is_frozen(m)
    assert unfreeze(m[0]) is m[0]
    assert all(p.requires_grad for p in m.parameters())
    # also a list of modules and single parameters
    freeze([m[0], m[2].weight])
    assert [p.requires_grad for p in m.parameters()] == [False, False, False, True, True, True]


def test_frozen_parameter_gets_no_gradient():
    m = make_model()
    freeze(m[0])
    loss_of(m).backward()
    assert m[0].weight.grad is None and m[0].bias.grad is None
    assert m[2].weight.grad is not None and m[4].bias.grad is not None


def test_freeze_drops_stale_gradients():
    m = make_model()
    loss_of(m).backward()
    assert m[0].weight.grad is not None
    freeze(m[0])
    assert m[0].weight.grad is None and m[0].bias.grad is None


OPTIMIZERS = {
    "sgd": lambda ps: md.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    "sgd_nesterov": lambda ps: md.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    "adam": lambda ps: md.optim.Adam(ps, lr=0.01, weight_decay=0.1),
    "adamw": lambda ps: md.optim.AdamW(ps, lr=0.01, weight_decay=0.5),
    "lamb": lambda ps: md.optim.LAMB(ps, lr=0.01, weight_decay=0.5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_frozen_part_not_updated_by_optimizer_even_with_weight_decay(name):
    m = make_model()
    opt = OPTIMIZERS[name](m.parameters())
    # a few ordinary steps first, so momentum / Adam moments exist for every parameter
    for i in range(2):
        opt.zero_grad()
        loss_of(m, i).backward()
        opt.step()
    freeze(m[0])
    frozen_before, head_before = snapshot(m[0]), snapshot(m[4])
    for i in range(3):
        opt.zero_grad(set_to_none=False)  # zeroing (not dropping) grads must not revive frozen ones
        loss_of(m, 10 + i).backward()
        opt.step()
        assert m[0].weight.grad is None
    assert same(snapshot(m[0]), frozen_before), f"{name} changed a frozen parameter"
    assert not same(snapshot(m[4]), head_before), f"{name} did not train the unfrozen head"
    # unfreeze restores training
    unfreeze(m[0])
    opt.zero_grad()
    loss_of(m, 20).backward()
    assert m[0].weight.grad is not None
    opt.step()
    assert not same(snapshot(m[0]), frozen_before)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_frozen_from_the_start_never_moves(name):
    m = make_model()
    freeze(m[0])
    before = snapshot(m[0])
    opt = OPTIMIZERS[name](m.parameters())  # frozen parameters may sit in the optimizer
    for i in range(3):
        opt.zero_grad()
        loss_of(m, i).backward()
        opt.step()
    assert same(snapshot(m[0]), before)


def test_frozen_backbone_matches_head_only_training():
    """Training with a frozen backbone = training an optimizer that only holds the head."""
    a, b = make_model(), make_model()
    freeze(a[0]), freeze(a[2])
    opt_a = md.optim.AdamW(a.parameters(), lr=0.01, weight_decay=0.1)
    opt_b = md.optim.AdamW(b[4].parameters(), lr=0.01, weight_decay=0.1)
    for i in range(3):
        for m, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            loss_of(m, i).backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), rtol=1e-6, atol=1e-7)


def flags(stages):
    return [all(p.requires_grad for p in s.parameters()) for s in stages]


def test_progressive_unfreezer_every_1():
    m = make_model()
    stages = [m[4], m[2], m[0]]  # head first
    u = ProgressiveUnfreezer(stages)
    assert flags(stages) == [False, False, False]  # everything frozen until the first step
    assert u.step(0) == [m[4]] and flags(stages) == [True, False, False]
    assert u.step(1) == [m[4], m[2]] and flags(stages) == [True, True, False]
    assert u.step(2) == stages and flags(stages) == [True, True, True]
    assert u.step(7) == stages
    assert u.unfrozen == stages


def test_progressive_unfreezer_every_2_and_skipped_epochs():
    m = make_model()
    stages = [m[4], m[2], m[0]]
    u = ProgressiveUnfreezer(stages, every=2)
    got = [len(u.step(e)) for e in range(7)]
    assert got == [1, 1, 2, 2, 3, 3, 3]
    u2 = ProgressiveUnfreezer([m[4], m[2], m[0]], every=2)
    assert flags(stages) == [False, False, False]
    assert u2.step(4) == stages  # a late first call catches up
    assert flags(stages) == [True, True, True]
    with pytest.raises(ValueError):
        ProgressiveUnfreezer(stages, every=0)


def test_progressive_unfreezing_in_a_training_loop():
    m = make_model()
    stages = [m[4], m[2], m[0]]
    u = ProgressiveUnfreezer(stages, every=1)
    opt = md.optim.SGD(param_groups_by_depth(stages, 0.1), lr=0.1)
    for epoch in range(3):
        u.step(epoch)
        before = [snapshot(s) for s in stages]
        opt.zero_grad()
        loss_of(m, epoch).backward()
        opt.step()
        changed = [not same(snapshot(s), b) for s, b in zip(stages, before)]
        assert changed == [k <= epoch for k in range(3)], (epoch, changed)


def test_param_groups_by_depth_lrs():
    m = make_model()
    stages = [m[4], m[2], m[0]]
    groups = param_groups_by_depth(stages, base_lr=0.1)
    assert [g["lr"] for g in groups] == pytest.approx([0.1, 0.05, 0.025])
    assert [len(g["params"]) for g in groups] == [2, 2, 2]
    assert groups[0]["params"][0] is m[4].weight and groups[2]["params"][1] is m[0].bias
    assert [g["lr"] for g in param_groups_by_depth(stages, 1e-3, decay=0.1)] == pytest.approx([1e-3, 1e-4, 1e-5])
    opt = md.optim.Adam(groups, lr=0.5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.05, 0.025])
    # a shared parameter lands only in the first (head-most) stage that lists it
    g2 = param_groups_by_depth([m[4], m, m[0]], 0.1)
    assert [len(g["params"]) for g in g2] == [2, 4, 0]
    # the per-group lrs scale with schedulers like any other groups
    sched = md.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.step(), sched.step()
    assert sched.get_last_lr() == pytest.approx([0.05, 0.025, 0.0125])


def test_param_groups_by_depth_updates_scale_with_lr():
    """With plain SGD the update of each stage is lr_k * grad: depth decay shows in the steps."""
    m = make_model()
    stages = [m[4], m[2], m[0]]
    opt = md.optim.SGD(param_groups_by_depth(stages, 0.1, decay=0.5), lr=0.1)
    before = [s.weight.detach().numpy().copy() for s in stages]
    loss_of(m).backward()
    grads = [s.weight.grad.numpy().copy() for s in stages]
    opt.step()
    for k, (s, b, g) in enumerate(zip(stages, before, grads)):
        np.testing.assert_allclose(b - s.weight.detach().numpy(), 0.1 * 0.5 ** k * g, rtol=1e-5, atol=1e-7)


class FakeBatchNorm2d(nn.Module):
    """Stands in for nn.BatchNorm2d (not in this branch): set_bn_eval goes by class name."""

    def __init__(self, n, affine=True):
        super().__init__()
        if affine:
            self.weight = nn.Parameter(md.ones(n))

    def forward(self, x):
        return x


class Block(nn.Module):
    def __init__(self, affine=True):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = FakeBatchNorm2d(4, affine=affine)


def test_set_bn_eval_only_in_frozen_parts():
    model = nn.Sequential(Block(), Block(), Block(affine=False), Block(affine=False))
    freeze(model[0]), freeze(model[2])
    model.train()
    assert set_bn_eval(model) is model
    assert [b.bn.training for b in model] == [False, True, False, True]
    assert all(b.fc.training for b in model) and model.training
    model.train()  # train() switches them back: call set_bn_eval after every train()
    assert all(b.bn.training for b in model)
    set_bn_eval(model, frozen_only=False)
    assert [b.bn.training for b in model] == [False] * 4 and all(b.fc.training for b in model)


def test_set_bn_eval_on_torch_modules():
    torch = require("torch")
    tnn = torch.nn
    model = tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.BatchNorm2d(4), tnn.Sequential(tnn.Conv2d(4, 4, 3),
                                                                                     tnn.BatchNorm2d(4)))
    freeze(model[2])
    model.train()
    set_bn_eval(model)
    assert model[1].training and not model[2][1].training
    assert all(p.grad is None and not p.requires_grad for p in model[2].parameters())
