"""relu(batch_norm(x)): the backward the engine fuses into one kernel (graph/engine.py
``fused_with_producer``, nn/batchnorm.py ``BatchNormBackward.apply_through_relu``).

The fusion must be invisible: the same gradients as the two nodes run one by one (bit for
bit: the kernel recomputes the ReLU's mask with the forward's arithmetic) and as PyTorch,
on every kernel set and thread count; and wherever something could tell the difference (a
hook or retain_grad on the BatchNorm output, a second consumer, autograd.grad asking for it,
create_graph, anomaly mode, an in-place ReLU, a write to the output) the engine runs the
two nodes as before. Each test says which path ran, through a spy on apply_through_relu.
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from minidl import _C
from minidl.nn.activation import ActivationBackward
from minidl.nn.batchnorm import BatchNormBackward
from conftest import assert_close, require

torch = require("torch")
TF = torch.nn.functional


@pytest.fixture
def fusions(monkeypatch):
    """The list of apply_through_relu outcomes (True: fused) while the test runs."""
    seen = []
    through = BatchNormBackward.apply_through_relu

    def spy(self, *args):
        r = through(self, *args)
        seen.append(r is not None)
        return r
    monkeypatch.setattr(BatchNormBackward, "apply_through_relu", spy)
    return seen


def _unfused(monkeypatch):
    monkeypatch.setattr(ActivationBackward, "fuse_with_producer", None)


def _data(rng, shape, dtype=np.float32):
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(C).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    rm = rng.standard_normal(C).astype(dtype)
    rv = (rng.random(C) + 0.5).astype(dtype)
    return x, g, w, b, rm, rv


def _grads(lib, data, training, affine=True, dtype=None):
    """(dx, dweight, dbias) of relu(batch_norm(x)) for the output gradient g."""
    x, g, w, b, rm, rv = data
    X = lib.tensor(x, requires_grad=True)
    W = lib.tensor(w, requires_grad=True) if affine else None
    B = lib.tensor(b, requires_grad=True) if affine else None
    y = lib.nn.functional.batch_norm(X, lib.tensor(rm.copy()), lib.tensor(rv.copy()), W, B, training=training)
    lib.nn.functional.relu(y).backward(lib.tensor(g))
    return [t.grad.numpy() for t in (X, W, B) if t is not None]


SHAPES = [(8, 1, 6, 5), (4, 3, 7, 9), (3, 17, 33), (16, 17), (2, 3, 32, 32)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_fused_equals_unfused_and_torch(rng, kernel_set, fusions, monkeypatch, shape, training, affine):
    data = _data(rng, shape)
    fused = _grads(md, data, training, affine)
    assert fusions == [True]
    expected = _grads(torch, data, training, affine)
    for a, e in zip(fused, expected):
        assert_close(a, e, atol=1e-4, rtol=1e-4)
    _unfused(monkeypatch)
    for a, u in zip(fused, _grads(md, data, training, affine)):
        np.testing.assert_array_equal(a, u)  # the same arithmetic, mask included
    assert fusions == [True]  # the unfused run did not ask


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_with_threads(rng, fusions, monkeypatch, threads):
    md.set_num_threads(threads)
    data = _data(rng, (8, 17, 12, 12))
    fused = _grads(md, data, True)
    for a, e in zip(fused, _grads(torch, data, True)):
        assert_close(a, e, atol=1e-4, rtol=1e-4)
    _unfused(monkeypatch)
    for a, u in zip(fused, _grads(md, data, True)):
        np.testing.assert_array_equal(a, u)
    assert fusions == [True]


def test_mask_at_zero_and_nan_as_the_relu(rng, fusions, monkeypatch):
    """y exactly 0 (a zero weight and bias, a constant channel) passes no gradient; a NaN
    output gradient stays NaN where y > 0 and gives 0 where y <= 0, as the ReLU's own backward
    (a select, as PyTorch's threshold_backward)."""
    x, g, w, b, rm, rv = _data(rng, (6, 4, 5, 5))
    w[1] = b[1] = 0.0  # y = 0 in channel 1
    x[:, 2] = 3.0  # constant channel: x - mean = 0, y = bias
    b[2] = 0.0
    g[0, 3, 0, 0] = np.nan
    data = (x, g, w, b, rm, rv)
    fused = _grads(md, data, True)
    assert fusions == [True]
    _unfused(monkeypatch)
    for a, u in zip(fused, _grads(md, data, True)):
        np.testing.assert_array_equal(a, u)


def test_kernel_set_switched_between_forward_and_backward(rng, fusions, monkeypatch):
    """The mask comes from the forward's record of how it computed y, not from the kernel set
    running the backward."""
    if "scalar" not in md.backend.available() or len(md.backend.available()) < 2:
        pytest.skip("needs a SIMD kernel set besides the scalar one")
    x, g, w, b, rm, rv = _data(rng, (4, 5, 8, 8))
    results = []
    for fuse in (True, False):
        if not fuse:
            _unfused(monkeypatch)
        X = md.tensor(x, requires_grad=True)
        out = F.relu(F.batch_norm(X, None, None, md.tensor(w), md.tensor(b), training=True))
        with md.backend.using("scalar"):
            out.backward(md.tensor(g))
        results.append(X.grad.numpy())
    assert fusions == [True]
    np.testing.assert_array_equal(*results)


def test_resnet_block_pattern_and_module_forms(rng, fusions):
    """nn.BatchNorm2d then nn.ReLU, x.relu() and md.relu fuse; a ReLU after the residual add
    does not (its producer is the add)."""
    bn1, bn2 = md.nn.BatchNorm2d(3), md.nn.BatchNorm2d(3)
    tbn1, tbn2 = torch.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    X, TX = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for lib, inp, b1, b2, out in ((md, X, bn1, bn2, []), (torch, TX, tbn1, tbn2, [])):
        h = lib.nn.ReLU()(b1(inp))
        h = lib.relu(b2(h)) + b1(h).relu()
        h = lib.nn.functional.relu(b2(h) + inp)
        h.sum().backward()
    assert fusions == [True, True, True]  # bn1 -> ReLU, bn2 -> relu, bn1 -> .relu(); not the add
    assert_close(X.grad, TX.grad, atol=1e-4)
    assert_close(bn1.weight.grad, tbn1.weight.grad, atol=1e-3)
    assert_close(bn2.bias.grad, tbn2.bias.grad, atol=1e-3)


def test_float64_gradcheck_through_the_fused_path(rng, fusions):
    x = md.tensor(rng.standard_normal((4, 3, 3, 2)) + 0.3, requires_grad=True)
    w = md.tensor(rng.standard_normal(3), requires_grad=True)
    b = md.tensor(rng.standard_normal(3), requires_grad=True)
    assert md.autograd.gradcheck(lambda x, w, b: F.relu(F.batch_norm(x, None, None, w, b, training=True)),
                                 (x, w, b), eps=1e-6, atol=1e-5)
    assert fusions and all(fusions)


# --- where the two nodes run one by one -----------------------------------------------------
def _pair(rng, shape=(4, 3, 5, 5)):
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(shape[1]).astype(np.float32)
    return ((md.tensor(x, requires_grad=True), md.tensor(w, requires_grad=True)),
            (torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)))


def _bn(lib, x, w):
    return lib.nn.functional.batch_norm(x, None, None, w, None, training=True)


def test_hook_on_the_batchnorm_output_sees_its_gradient(rng, fusions):
    (mx, mw), (tx, tw) = _pair(rng)
    seen = {}
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        y = _bn(lib, x, w)
        y.register_hook(lambda g, lib=lib: seen.__setitem__(lib.__name__, g.numpy().copy()))
        lib.relu(y).sum().backward()
    assert fusions == []
    assert_close(seen["minidl"], seen["torch"], atol=1e-5)
    assert_close(mx.grad, tx.grad, atol=1e-4)


def test_hook_that_changes_the_gradient(rng, fusions):
    (mx, mw), (tx, tw) = _pair(rng)
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        y = _bn(lib, x, w)
        y.register_hook(lambda g: g * 3.0)
        lib.relu(y).sum().backward()
    assert fusions == []
    assert_close(mx.grad, tx.grad, atol=1e-4)


def test_removed_hook_fuses_again(rng, fusions):
    (mx, mw), _ = _pair(rng)
    y = _bn(md, mx, mw)
    y.register_hook(lambda g: g * 3.0).remove()
    md.relu(y).sum().backward()
    assert fusions == [True]


def test_retain_grad_on_the_batchnorm_output(rng, fusions):
    (mx, mw), (tx, tw) = _pair(rng)
    ys = []
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        y = _bn(lib, x, w)
        y.retain_grad()
        lib.relu(y).sum().backward()
        ys.append(y)
    assert fusions == []
    assert_close(ys[0].grad, ys[1].grad, atol=1e-5)
    assert_close(mx.grad, tx.grad, atol=1e-4)


def test_hook_and_retain_grad_on_the_relu_output_still_fuse(rng, fusions):
    """Those see the ReLU's output gradient, which the fused step starts from."""
    (mx, mw), (tx, tw) = _pair(rng)
    outs = []
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        r = lib.relu(_bn(lib, x, w))
        r.retain_grad()
        r.register_hook(lambda g: g * 2.0)
        (r * r).sum().backward()
        outs.append(r)
    assert fusions == [True]
    assert_close(outs[0].grad, outs[1].grad, atol=1e-5)
    assert_close(mx.grad, tx.grad, atol=1e-4)
    assert_close(mw.grad, tw.grad, atol=1e-3)


def test_batchnorm_output_used_twice(rng, fusions):
    (mx, mw), (tx, tw) = _pair(rng)
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        y = _bn(lib, x, w)
        (lib.relu(y) * 2.0 + y * y).sum().backward()
    assert fusions == []
    assert_close(mx.grad, tx.grad, atol=1e-4)
    assert_close(mw.grad, tw.grad, atol=1e-3)


def test_second_consumer_without_gradient_still_fuses(rng, fusions):
    """y.detach() is a use of y that sends no gradient back: the ReLU's is the whole of it."""
    (mx, mw), (tx, tw) = _pair(rng)
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        y = _bn(lib, x, w)
        (lib.relu(y) * y.detach()).sum().backward()
    assert fusions == [True]
    assert_close(mx.grad, tx.grad, atol=1e-4)


def test_autograd_grad_asking_for_the_batchnorm_output(rng, fusions):
    (mx, mw), (tx, tw) = _pair(rng)
    got = []
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        y = _bn(lib, x, w)
        got.append(lib.autograd.grad(lib.relu(y).sum(), [y, x]))
    assert fusions == []
    for a, e in zip(*got):
        assert_close(a, e, atol=1e-4)


def test_create_graph_double_backward(rng, fusions):
    """The create_graph pass runs the nodes one by one; the second backward reaches the
    ReLU's output again (d(r^2)/dr = 2 r records r) and may fuse, being first order."""
    (mx, mw), (tx, tw) = _pair(rng, (3, 2, 4, 4))
    got = []
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        (gx,) = lib.autograd.grad((lib.relu(_bn(lib, x, w)) ** 2).sum(), [x], create_graph=True)
        if lib is md:
            assert fusions == []
        (gx * gx).sum().backward()
        got.append((gx, w.grad))
    assert_close(got[0][0], got[1][0], atol=1e-4)
    assert_close(got[0][1], got[1][1], atol=1e-3, rtol=1e-3)


def test_anomaly_mode_runs_the_nodes_one_by_one(rng, fusions):
    (mx, mw), (tx, tw) = _pair(rng)
    with md.autograd.detect_anomaly():
        md.relu(_bn(md, mx, mw)).sum().backward()
    TF.relu(_bn(torch, tx, tw)).sum().backward()
    assert fusions == []
    assert_close(mx.grad, tx.grad, atol=1e-4)


def _relu_inplace(lib, y, form):
    if form == "module":
        return lib.nn.ReLU(inplace=True)(y)
    if form == "functional":
        return lib.nn.functional.relu(y, inplace=True)
    return y.relu_()


@pytest.mark.parametrize("form", ["module", "functional", "method"])
def test_inplace_relu_fuses(rng, fusions, monkeypatch, form):
    """An in-place ReLU saves its output, written over the BatchNorm's (the one write the
    fusion accepts); the gradients are the unfused ones and PyTorch's."""
    (mx, mw), (tx, tw) = _pair(rng)
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        r = _relu_inplace(lib, _bn(lib, x, w), form)
        (r * r).sum().backward()
    assert fusions == [True]
    assert_close(mx.grad, tx.grad, atol=1e-4)
    assert_close(mw.grad, tw.grad, atol=1e-3)
    _unfused(monkeypatch)
    x2, w2 = md.tensor(mx.detach().numpy(), requires_grad=True), md.tensor(mw.detach().numpy(), requires_grad=True)
    r = _relu_inplace(md, _bn(md, x2, w2), form)
    (r * r).sum().backward()
    np.testing.assert_array_equal(x2.grad.numpy(), mx.grad.numpy())
    np.testing.assert_array_equal(w2.grad.numpy(), mw.grad.numpy())


def test_inplace_relu_output_written_later_raises(rng, fusions):
    (mx, mw), (tx, tw) = _pair(rng)
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        r = _bn(lib, x, w).relu_()
        loss = (r * 2.0).sum()
        with lib.no_grad():
            r.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_inplace_relu_after_a_write_falls_back(rng, fusions):
    (mx, mw), (tx, tw) = _pair(rng)
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        y = _bn(lib, x, w)
        with lib.no_grad():
            y.mul_(-1.0)
        (y.relu_() * 3.0).sum().backward()
    assert fusions == [False]
    assert_close(mx.grad, tx.grad, atol=1e-4)


def test_inplace_relu_elsewhere_is_unchanged(rng):
    """Saving the output instead of a copy of the input: same values, gradients, grad_fn
    name and double backward as PyTorch."""
    a = rng.standard_normal((5, 7))
    m, t = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    outs = []
    for lib, x in ((md, m), (torch, t)):
        h = x * 2.0
        r = lib.nn.functional.relu(h, inplace=True)
        (gx,) = lib.autograd.grad((r * r).sum(), [x], create_graph=True)
        gx.sum().backward()
        outs.append((r, gx))
    assert repr(outs[0][0].grad_fn) == "<ActivationBackward>"
    assert_close(outs[0][0], outs[1][0])
    assert_close(outs[0][1], outs[1][1])
    assert_close(m.grad, t.grad)


def test_output_written_before_the_relu_falls_back(rng, fusions):
    """A write to y under no_grad between the BatchNorm and the ReLU: the ReLU saw the new
    values, which x no longer gives, so the mask must come from the ReLU's saved input."""
    (mx, mw), (tx, tw) = _pair(rng)
    for lib, x, w in ((md, mx, mw), (torch, tx, tw)):
        y = _bn(lib, x, w)
        with lib.no_grad():
            y.mul_(-1.0)
        lib.relu(y).sum().backward()
    assert fusions == [False]
    assert_close(mx.grad, tx.grad, atol=1e-4)


def test_output_written_after_the_relu_raises_as_unfused(rng, fusions):
    (mx, mw), _ = _pair(rng)
    y = _bn(md, mx, mw)
    r = md.relu(y)
    with md.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        r.sum().backward()


def test_second_backward_without_retain_graph_raises(rng, fusions):
    (mx, mw), _ = _pair(rng)
    r = md.relu(_bn(md, mx, mw))
    r.sum().backward(retain_graph=True)
    r.sum().backward()  # retained: runs (fused) again
    assert fusions == [True, True]
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        r.sum().backward()


def _grads16(data, dtype, training):
    """(dx, dweight, dbias) of relu(batch_norm(x)) for a 16-bit x and g with float32 weight, bias
    and statistics (BatchNorm2d under autocast)."""
    x, g, w, b, rm, rv = data
    X = md.tensor(x).to(dtype).requires_grad_()
    W, B = md.tensor(w, requires_grad=True), md.tensor(b, requires_grad=True)
    y = F.batch_norm(X, md.tensor(rm.copy()), md.tensor(rv.copy()), W, B, training=training)
    assert y.dtype == dtype
    md.relu(y).backward(md.tensor(g).to(dtype))
    return [t.grad.float().numpy() if t.grad.dtype == dtype else t.grad.numpy() for t in (X, W, B)]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (3, 17, 33)])
def test_16bit_input_fused_equals_unfused(rng, kernel_set, fusions, monkeypatch, dtype, training, shape):
    dtype = getattr(md, dtype)
    data = _data(rng, shape)
    fused = _grads16(data, dtype, training)
    assert fusions == [True]
    _unfused(monkeypatch)
    for a, u in zip(fused, _grads16(data, dtype, training)):
        np.testing.assert_array_equal(a, u)


@pytest.mark.parametrize("dtype,tiny,small", [("bfloat16", 2e-41, 1e-39), ("float16", 2e-8, 1e-7)])
def test_16bit_mask_of_outputs_rounded_to_zero(kernel_set, fusions, monkeypatch, dtype, tiny, small):
    """The ReLU saw y rounded to 16 bits: a float32 y of 2e-41 is a bfloat16 0 (2e-8 a float16
    0) and passes no gradient; 1e-39 (1e-7) stays positive and passes it. The fused kernel
    recomputes y in float32, so it must apply the rounding's floor (relu_floor_of) too."""
    dtype = getattr(md, dtype)
    x = np.zeros((2, 2, 3, 3), np.float32)  # y = bias in evaluation with mean 0, var 1 - eps
    g = np.ones_like(x)
    w = np.ones(2, np.float32)
    b = np.array([tiny, small], np.float32)
    rm, rv = np.zeros(2, np.float32), np.full(2, 1 - 1e-5, np.float32)
    data = (x, g, w, b, rm, rv)
    fused = _grads16(data, dtype, False)
    assert fusions == [True]
    assert (fused[2] == [0.0, 18.0]).all()  # the bias gradient: sum of the gradients that passed
    _unfused(monkeypatch)
    for a, u in zip(fused, _grads16(data, dtype, False)):
        np.testing.assert_array_equal(a, u)


def test_bad_relu_record_raises(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    y, mean, invstd, affine = _C.batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    assert affine.shape == (3, 4) and affine.dtype == np.float64
    with pytest.raises(ValueError, match="relu_affine"):
        _C.batch_norm_backward(x, x, None, mean, invstd, True, True, False, False, affine[:2])
    with pytest.raises(ValueError, match="relu_affine"):
        _C.batch_norm_backward(x, x, None, mean, invstd, True, True, False, False, affine.astype(np.float32))
