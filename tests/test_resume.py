"""Checkpoints resume training exactly: model, optimizer and scheduler state dicts saved with
md.save mid-run and loaded into fresh objects continue the same trajectory, bit for bit."""
import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F


def _setup(opt_name):
    md.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    if opt_name == "sgd":
        opt = md.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    elif opt_name == "adamw":
        opt = md.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
    else:
        opt = md.optim.LAMB(model.parameters(), lr=0.01, weight_decay=0.01)
    sched = md.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=40)
    return model, opt, sched


def _train(model, opt, sched, steps, data):
    x, y = data
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("opt_name", ["sgd", "adamw", "lamb"])
def test_resume_mid_training_gives_the_same_trajectory(tmp_path, opt_name):
    rng = np.random.default_rng(0)
    data = (md.tensor(rng.standard_normal((32, 6)).astype(np.float32)), md.tensor(rng.integers(0, 3, 32)))
    model, opt, sched = _setup(opt_name)
    straight = _train(model, opt, sched, 30, data)
    final = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, sched = _setup(opt_name)
    first = _train(model, opt, sched, 15, data)
    path = tmp_path / "ckpt.mdl"
    md.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "epoch": 15}, path)
    model, opt, sched = _setup(opt_name)  # fresh objects, different state
    ckpt = md.load(path)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    assert ckpt["epoch"] == 15
    rest = _train(model, opt, sched, 15, data)
    assert first + rest == straight
    for k, v in model.state_dict().items():
        assert np.array_equal(v.numpy(), final[k]), k
