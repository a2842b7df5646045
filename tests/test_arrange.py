"""ops/arrange.py (movedim, broadcast_to, broadcast_tensors, meshgrid, tile, roll, rot90,
repeat_interleave, Tensor.unfold) and shape.py's t and unflatten, now md functions (issue 15
group 6), against PyTorch: values, shapes and gradients on odd sizes, size 1, non-contiguous
inputs and negative dims, float64 gradcheck, and the bad inputs PyTorch refuses."""
import numpy as np
import pytest

from conftest import require

import minidl as md

torch = require("torch")


def pair(shape, seed=0, transpose=False):
    x = np.random.default_rng(seed).standard_normal(shape)
    if transpose and len(shape) >= 2:
        xt = np.swapaxes(x, 0, -1).copy()
        return (md.tensor(xt).transpose(0, -1).requires_grad_(), torch.tensor(xt).transpose(0, -1).requires_grad_())
    return md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def outputs(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


# name -> [(shape, call(lib, x))]
CASES = {
    "movedim": [((2, 3, 4), lambda t, x: t.movedim(x, 0, -1)), ((2, 3, 4), lambda t, x: t.movedim(x, (0, -1), (2, 0))),
                ((1, 5), lambda t, x: x.movedim(1, 0)), ((3,), lambda t, x: t.moveaxis(x, 0, 0))],
    "broadcast_to": [((3, 1), lambda t, x: t.broadcast_to(x, (2, 3, 5))), ((1,), lambda t, x: x.broadcast_to((4,))),
                     ((2, 3), lambda t, x: t.broadcast_to(x, (-1, 3)))],
    "broadcast_tensors": [((3, 1), lambda t, x: t.broadcast_tensors(x, x.reshape(1, 3) * 2, t.ones(2, 1, 1,
                                                                                                 dtype=x.dtype)))],
    "meshgrid": [((3,), lambda t, x: t.meshgrid(x, x[:2] * 2, indexing="ij")),
                 ((3,), lambda t, x: t.meshgrid(x, x[:2] * 2, x[:1], indexing="xy")),
                 ((4,), lambda t, x: t.meshgrid([x, x], indexing="xy")),
                 ((1,), lambda t, x: t.meshgrid(x.reshape(()), x, indexing="ij"))],
    "tile": [((2, 3), lambda t, x: t.tile(x, (2, 1))), ((2, 3), lambda t, x: x.tile((3,))),
             ((3,), lambda t, x: t.tile(x, (2, 1, 2))), ((1, 1), lambda t, x: t.tile(x, (1, 1)))],
    "roll": [((5,), lambda t, x: t.roll(x, 2)), ((3, 4), lambda t, x: t.roll(x, -5)),
             ((3, 4), lambda t, x: t.roll(x, (1, -1), (0, -1))), ((3, 4), lambda t, x: x.roll(7, 1)),
             ((2, 3), lambda t, x: t.roll(x, (1, 1), (1, 1))), ((1,), lambda t, x: t.roll(x, 3, 0))],
    "rot90": [((2, 3), lambda t, x: t.rot90(x)), ((2, 3), lambda t, x: t.rot90(x, 2)),
              ((2, 3, 4), lambda t, x: t.rot90(x, -1, (2, 0))), ((2, 3), lambda t, x: x.rot90(3, (-1, -2))),
              ((2, 3), lambda t, x: t.rot90(x, 4)), ((1, 1), lambda t, x: t.rot90(x, 5))],
    "repeat_interleave": [((2, 3), lambda t, x: t.repeat_interleave(x, 2)),
                          ((2, 3), lambda t, x: t.repeat_interleave(x, t.tensor([1, 0, 3]), dim=-1)),
                          ((3, 2), lambda t, x: x.repeat_interleave(t.tensor([2]), 0)),
                          ((), lambda t, x: t.repeat_interleave(x, 3)),
                          ((1, 4), lambda t, x: t.repeat_interleave(x, 2, dim=0, output_size=2))],
    "unfold": [((7,), lambda t, x: x.unfold(0, 3, 2)), ((2, 5, 3), lambda t, x: x.unfold(1, 2, 1)),
               ((2, 5, 3), lambda t, x: x.unfold(-1, 3, 5)), ((4, 6), lambda t, x: x.unfold(0, 1, 3)),
               ((5,), lambda t, x: x.unfold(0, 5, 1)), ((), lambda t, x: x.unfold(0, 1, 1))],
}
ALL = [(name, i) for name, cases in CASES.items() for i in range(len(cases))]


@pytest.mark.parametrize("name,i", ALL)
@pytest.mark.parametrize("transpose", [False, True])
def test_matches_torch_values_and_gradients(name, i, transpose):
    shape, call = CASES[name][i]
    a, b = pair(shape, i, transpose)
    ya, yb = outputs(call(md, a)), outputs(call(torch, b))
    assert len(ya) == len(yb)
    for u, v in zip(ya, yb):
        assert tuple(u.shape) == tuple(v.shape)
        np.testing.assert_array_equal(u.detach().numpy(), v.detach().numpy())
    rng = np.random.default_rng(9)
    gs = [rng.standard_normal(tuple(v.shape)) for v in yb]
    sum((u * md.tensor(g)).sum() for u, g in zip(ya, gs)).backward()
    sum((v * torch.tensor(g)).sum() for v, g in zip(yb, gs)).backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,i", ALL)
def test_gradcheck_float64(name, i):
    shape, call = CASES[name][i]
    a, _ = pair(shape, i)
    assert md.autograd.gradcheck(lambda x: tuple(outputs(call(md, x))), (a,))


def test_results_are_views_or_copies_as_torch():
    x = md.arange(6.0).reshape(2, 3)
    x.movedim(0, 1)[0, 0] = 100.0  # movedim, broadcast_to: views
    assert x[0, 0].item() == 100.0
    for fn in (lambda v: md.roll(v, 1), lambda v: md.rot90(v), lambda v: md.tile(v, (1, 1)),
               lambda v: md.roll(v, 0), lambda v: md.rot90(v, 0)):
        y = fn(x)
        y.view(-1)[0] = -1.0
        assert x[0, 0].item() == 100.0


def test_repeat_interleave_counts_only_form():
    np.testing.assert_array_equal(md.repeat_interleave(md.tensor([2, 0, 1])).numpy(),
                                  torch.repeat_interleave(torch.tensor([2, 0, 1])).numpy())
    assert md.repeat_interleave(md.tensor([2, 0, 1])).dtype == md.int64


def test_bad_inputs_raise_as_torch():
    x = md.zeros(2, 3)
    cases = [
        (lambda: md.movedim(x, (0, 1), (0,)), RuntimeError, "should contain the same number of dims"),
        (lambda: md.movedim(x, (0, 0), (0, 1)), RuntimeError, r"repeated dim in `source` \(\[0, 0\]\)"),
        (lambda: md.movedim(x, 2, 0), IndexError, "Dimension out of range"),
        (lambda: md.broadcast_to(x, (3, 3)), RuntimeError, "must match the existing size"),
        (lambda: md.broadcast_tensors(md.zeros(2, 3), md.zeros(4)), RuntimeError,
         r"The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1"),
        (lambda: md.meshgrid(md.zeros(2), indexing="yx"), RuntimeError, 'indexing must be one of "xy" or "ij"'),
        (lambda: md.meshgrid(md.zeros(2, 2), indexing="ij"), RuntimeError, "Expected 0D or 1D tensor"),
        (lambda: md.meshgrid(md.zeros(2), md.zeros(2, dtype=md.int64), indexing="ij"), RuntimeError,
         "same dtype"),
        (lambda: md.roll(x, (1, 2), 0), RuntimeError, "shifts and dimensions must align. shifts: 2, dims:1"),
        (lambda: md.rot90(x, 1, (0,)), RuntimeError, "expected total rotation dims == 2, but got dims = 1"),
        (lambda: md.rot90(md.zeros(3)), RuntimeError, "expected total dims >= 2, but got total dims = 1"),
        (lambda: md.rot90(x, 1, (1, -1)), RuntimeError, "expected rotation dims to be different"),
        (lambda: md.repeat_interleave(x, -1), RuntimeError, "repeats can not be negative"),
        (lambda: md.repeat_interleave(x, md.tensor([1, 2]), dim=1), RuntimeError,
         r"repeats must have the same size as input along dim, but got repeats.size\(0\) = 2 and input.size\(1\) = 3"),
        (lambda: md.repeat_interleave(x, md.tensor([[1, 2, 3]]), dim=1), RuntimeError, "only accept 1D vector"),
        (lambda: md.repeat_interleave(x, 2, dim=0, output_size=3), RuntimeError, "does not match"),
        (lambda: x.unfold(1, 4, 1), RuntimeError, "maximum size for tensor at dimension 1 is 3 but size is 4"),
        (lambda: x.unfold(0, 1, 0), RuntimeError, "step is 0 but must be > 0"),
        (lambda: x.unfold(2, 1, 1), IndexError, "Dimension out of range"),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            fn()
    # the same inputs raise in torch too
    tx = torch.zeros(2, 3)
    for fn in (lambda: torch.movedim(tx, (0, 1), (0,)), lambda: torch.broadcast_to(tx, (3, 3)),
               lambda: torch.roll(tx, (1, 2), 0), lambda: torch.rot90(torch.zeros(3)),
               lambda: torch.repeat_interleave(tx, -1), lambda: torch.meshgrid(torch.zeros(2), indexing="yx"),
               lambda: torch.repeat_interleave(tx, torch.tensor([1, 2]), dim=1)):
        with pytest.raises(RuntimeError):
            fn()


@pytest.mark.parametrize("shape,dim,sizes", [((2, 6), 1, (2, 3)), ((2, 6), -1, (-1, 2)), ((12,), 0, (2, 2, 3)),
                                             ((3, 4, 5), 0, (3, 1)), ((2, 6, 1), 1, (6,))])
def test_unflatten_and_t_match_torch(shape, dim, sizes):
    a, b = pair(shape, 4, transpose=True)
    ya, yb = md.unflatten(a, dim, sizes), torch.unflatten(b, dim, sizes)
    assert tuple(ya.shape) == tuple(yb.shape)
    np.testing.assert_array_equal(ya.detach().numpy(), yb.detach().numpy())
    g = np.random.default_rng(1).standard_normal(tuple(yb.shape))
    (ya * md.tensor(g)).sum().backward()
    (yb * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    assert md.autograd.gradcheck(lambda x: md.unflatten(x, dim, sizes), (a.detach().contiguous().requires_grad_(),))
    m = md.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(md.t(m).detach().numpy(), torch.t(torch.arange(6.0).reshape(2, 3)).numpy())
    assert md.autograd.gradcheck(md.t, (m.double().detach().requires_grad_(),))
    with pytest.raises(RuntimeError, match=r"unflatten: Provided sizes \[4, 2\] don't multiply up to the size of dim 1"):
        md.unflatten(md.zeros(2, 6), 1, (4, 2))
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        md.t(md.zeros(1, 2, 3))


def test_roll_has_its_own_backward_and_second_derivative():
    # roll's backward is one roll of the gradient by -shifts (RollBackward), not the slices and
    # cat of its forward; create_graph goes through the same roll, recorded
    x = md.tensor(np.random.default_rng(3).standard_normal((4, 5)), requires_grad=True)
    y = md.roll(x, (2, -1), (0, 1))
    assert type(y.grad_fn).__name__ == "RollBackward"
    assert md.autograd.gradgradcheck(lambda v: md.roll(v, (2, -1), (0, 1)) ** 2, (x,))
    assert md.autograd.gradgradcheck(lambda v: md.roll(v, 3) ** 3, (x,))  # dims=None: flattened
