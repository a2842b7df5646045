"""md.callbacks.EarlyStopping: when it stops, what it counts, and the weights it restores."""
import math

import numpy as np
import pytest

import minidl as md
from minidl.callbacks import EarlyStopping


def make_model():
    md.manual_seed(0)
    return md.nn.Sequential(md.nn.Linear(3, 4), md.nn.ReLU(), md.nn.Linear(4, 1))


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def perturb(model, epoch):
    """A stand-in for one epoch of training: every parameter changes."""
    with md.no_grad():
        for p in model.parameters():
            p.add_(0.01 * (epoch + 1))


def run(losses, model=None, **kw):
    early = EarlyStopping(**kw)
    stopped_at = None
    for i, loss in enumerate(losses):
        if model is not None:
            perturb(model, i)
        if early(loss, model):
            stopped_at = i
            break
    return early, stopped_at


def test_scripted_sequence_stops_at_the_right_call():
    #          0    1    2    3     4     5     6    7
    losses = [1.0, 0.8, 0.9, 0.7, 0.75, 0.71, 0.72, 0.5]
    early, stopped = run(losses, patience=3)
    assert stopped == 6
    assert early.best == 0.7 and early.best_epoch == 3 and early.counter == 3


def test_counter_values_call_by_call():
    early = EarlyStopping(patience=2)
    seen = []
    for loss in [5.0, 4.0, 4.0, 3.0, 3.5, 3.5]:
        stop = early(loss)
        seen.append((early.counter, early.best, early.best_epoch, stop))
    assert seen == [(0, 5.0, 0, False), (0, 4.0, 1, False), (1, 4.0, 1, False), (0, 3.0, 3, False),
                    (1, 3.0, 3, False), (2, 3.0, 3, True)]


def test_restores_best_weights():
    model = make_model()
    losses = [1.0, 0.6, 0.7, 0.8, 0.9]
    snapshots = []
    early = EarlyStopping(patience=3)
    for i, loss in enumerate(losses):
        perturb(model, i)
        snapshots.append(weights(model))
        if early(loss, model):
            break
    assert i == 4 and early.best_epoch == 1
    now = weights(model)
    for k in now:
        np.testing.assert_array_equal(now[k], snapshots[1][k])
        assert not np.array_equal(snapshots[4][k], snapshots[1][k])


def test_best_copy_is_deep():
    model = make_model()
    early = EarlyStopping(patience=1)
    early(1.0, model)
    kept = {k: v.numpy().copy() for k, v in early.best_state.items()}
    perturb(model, 5)  # in-place updates must not leak into the saved copy
    for k, v in early.best_state.items():
        np.testing.assert_array_equal(v.numpy(), kept[k])
    assert early(2.0, model)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), kept[k])


def test_restore_best_false_leaves_model_alone():
    model = make_model()
    early, stopped = run([1.0, 2.0, 3.0], model=model, patience=2, restore_best=False)
    assert stopped == 2 and early.best_state is None
    last = weights(model)
    model2 = make_model()
    for i in range(3):
        perturb(model2, i)
    for k, v in weights(model2).items():
        np.testing.assert_array_equal(last[k], v)


def test_min_delta():
    # 0.95 beats 1.0 by 0.05, not by more than 0.1: no improvement
    early, stopped = run([1.0, 0.95, 0.92, 0.85, 0.8], patience=2, min_delta=0.1)
    assert stopped == 2 and early.best == 1.0 and early.best_epoch == 0
    early, stopped = run([1.0, 0.85, 0.7, 0.55], patience=1, min_delta=0.1)
    assert stopped is None and early.best == 0.55 and early.best_epoch == 3
    # equal is not an improvement even with min_delta=0
    early, stopped = run([1.0, 1.0], patience=1)
    assert stopped == 1


def test_mode_max():
    #          0    1     2     3     4
    accs = [0.50, 0.60, 0.59, 0.605, 0.58]
    early, stopped = run(accs, patience=2, mode="max", min_delta=0.01)
    assert stopped == 3 and early.best == 0.60 and early.best_epoch == 1
    early, stopped = run(accs, patience=2, mode="max")
    assert stopped is None and early.best == 0.605 and early.best_epoch == 3 and early.counter == 1


def test_nan_never_improves():
    early, stopped = run([float("nan"), 1.0, float("nan"), float("nan")], patience=2)
    assert stopped == 3 and early.best == 1.0 and early.best_epoch == 1
    early = EarlyStopping(patience=1)
    assert early(float("nan")) and early.best_epoch is None and early.best == math.inf
    early = EarlyStopping(patience=5, mode="max")
    early(float("nan"))
    assert early.best == -math.inf and early.counter == 1


def test_accepts_tensors_and_numpy_scalars():
    early = EarlyStopping(patience=1)
    assert not early(md.tensor([2.0]))
    assert not early(np.float32(1.0))
    assert early.best == 1.0
    with pytest.raises(ValueError, match="one value"):
        early(md.tensor([1.0, 2.0]))
    with pytest.raises(TypeError):
        early("0.5")


def test_keeps_returning_true_after_stopping():
    early, _ = run([1.0, 2.0], patience=1)
    assert early(3.0) and early.counter == 2
    assert not early(0.5) and early.counter == 0  # an improvement resets it


@pytest.mark.parametrize("kw, word", [({"patience": 0}, "patience"), ({"patience": -1}, "patience"),
                                      ({"patience": 2.5}, "patience"), ({"patience": True}, "patience"),
                                      ({"patience": 2, "mode": "minimum"}, "mode"),
                                      ({"patience": 2, "min_delta": -0.1}, "min_delta"),
                                      ({"patience": 2, "min_delta": float("nan")}, "min_delta")])
def test_bad_arguments(kw, word):
    with pytest.raises(ValueError, match=word):
        EarlyStopping(**kw)


def test_state_dict_resume_through_md_save(tmp_path):
    model = make_model()
    early = EarlyStopping(patience=3)
    for i, loss in enumerate([1.0, 0.5, 0.7]):
        perturb(model, i)
        early(loss, model)
    best = {k: v.numpy().copy() for k, v in early.best_state.items()}
    md.save({"early": early.state_dict(), "model": model.state_dict()}, tmp_path / "ckpt.mdl")
    ckpt = md.load(tmp_path / "ckpt.mdl")
    resumed = EarlyStopping(patience=99)
    resumed.load_state_dict(ckpt["early"])
    assert (resumed.patience, resumed.best, resumed.best_epoch, resumed.counter) == (3, 0.5, 1, 1)
    assert not resumed(0.8, model)
    assert resumed(0.9, model)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), best[k])
