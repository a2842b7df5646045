"""In-place ops and autograd (issue 14 item 1): the version counter, and PyTorch's rules for
in-place writes to tensors in the graph, checked by running the same program in minidl and
in PyTorch: both raise the same error, or both give the same values and gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import minidl as md
import minidl.nn.functional as F
from conftest import assert_close

MODIFIED = "one of the variables needed for gradient computation has been modified by an inplace operation"
LEAF = "a leaf Variable that requires grad is being used in an in-place operation."
LEAF_VIEW = "a view of a leaf Variable that requires grad is being used in an in-place operation."


def _leaves(lib, seed=0, shapes=((3,), (3,))):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(0.5, 1.5, size=s).astype(np.float32) for s in shapes]
    return [lib.tensor(a, requires_grad=True) for a in arrays]


def _run(program, shapes=((3,), (3,))):
    """program(lib, *leaves) -> loss. Returns ("raised", message) or ("ok", loss, grads)."""
    out = {}
    for lib in (md, torch):
        leaves = _leaves(lib, shapes=shapes)
        try:
            loss = program(lib, *leaves)
            loss.backward()
        except RuntimeError as e:
            out[lib.__name__] = ("raised", str(e))
            continue
        out[lib.__name__] = ("ok", loss.detach().numpy(),
                             [None if t.grad is None else t.grad.numpy() for t in leaves])
    return out["minidl"], out["torch"]


def _same(program, shapes=((3,), (3,))):
    got, want = _run(program, shapes)
    assert got[0] == want[0], f"minidl {got}, torch {want}"
    if want[0] == "raised":
        return got[1], want[1]
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
    for g, e in zip(got[2], want[2]):
        assert (g is None) == (e is None)
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    return None


# --- a saved tensor modified in place: both raise ---------------------------------------------
def test_the_issue_example_raises_like_pytorch():
    def program(lib, x, w):
        y = (x * w).sum()
        with lib.no_grad():
            w.mul_(10)
        return y
    got, want = _same(program)
    assert got.startswith(MODIFIED) and want.startswith(MODIFIED)
    assert "is at version 1; expected version 0 instead" in got


def test_optimizer_step_between_two_backwards_raises_like_pytorch():
    results = {}
    for lib in (md, torch):
        x, w = _leaves(lib)
        y = (x * w).sum()
        y.backward(retain_graph=True)
        lib.optim.SGD([w], lr=0.1).step()  # writes w in place
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as e:
            y.backward()
        results[lib.__name__] = str(e.value)
    assert "version 1; expected version 0" in results["minidl"]


PROGRAMS_THAT_RAISE = {
    "write through detach": lambda lib, x, w: (_tap(lib, x * w, lambda y: y.detach().zero_(), x)),
    "mul saved input, then add_": lambda lib, x, w: _after(lib, x * 2, lambda y: (y * w, y.add_(1))[0]),
    "write through a view": lambda lib, x, w: _after(lib, x * 2, lambda y: (y * w, y[1:].mul_(3))[0]),
    "log saves its input": lambda lib, x, w: _after(lib, x + w, lambda y: (y.log(), y.mul_(2))[0]),
    "sqrt_ saves its result, then neg_ changes it": lambda lib, x, w: (x * w).sqrt_().neg_().sum(),
    "exp_ saves its result, then add_": lambda lib, x, w: (x * w).exp_().add_(1).sum(),
    "setitem on a saved tensor": lambda lib, x, w: _after(lib, x + 0, lambda y: (y * w, y.__setitem__(0, 5.0))[0]),
}


def _after(lib, y, step):
    return step(y).sum()


def _tap(lib, y, write, x):
    out = (y * x).sum()  # y saved by the multiplication ...
    write(y)             # ... then changed through another tensor sharing its memory
    return out


@pytest.mark.parametrize("name", sorted(PROGRAMS_THAT_RAISE))
def test_saved_tensor_modified_raises_like_pytorch(name):
    got, want = _same(PROGRAMS_THAT_RAISE[name])
    assert got.startswith(MODIFIED), got


# --- what PyTorch allows, minidl allows, with the same gradients ------------------------------
PROGRAMS_THAT_WORK = {
    "add_ where no backward needs y": lambda lib, x, w: (lambda y: (y.add_(1) * w).sum())(x * 2),
    "y += other (residual)": lambda lib, x, w: (lambda y: _iadd(y, w * x).exp().sum())(x * w),
    "y -= other, y *= other, y /= other": lambda lib, x, w: _arith(x * 1.5, w).sum(),
    "exp then exp_ (exp saves its result only)": lambda lib, x, w: (lambda y: (y.exp() + y.exp_()).sum())(x * w),
    "pow_, then sqrt_": lambda lib, x, w: (x * w).pow_(2).sqrt_().sum(),
    "neg_, abs_": lambda lib, x, w: (x * w - 1).neg_().abs_().sum(),
    "clamp_": lambda lib, x, w: (x * w * 2).clamp_(1.0, 2.0).sum(),
    "masked_fill_": lambda lib, x, w: (x * w).masked_fill_(x > 1.0, 0.5).sum(),
    "zero_ keeps the tensor in the graph": lambda lib, x, w: ((x * w).zero_() + x).sum(),
    "fill_": lambda lib, x, w: ((x * w).fill_(2.0) * w).sum(),
    "copy_ from a tensor that requires grad": lambda lib, x, w: (lib.zeros(3).copy_(x * w) * w).sum(),
    "copy_ broadcasts its source": lambda lib, x, w: (lib.zeros(2, 3).copy_(x * w) * w).sum(),
    "buffer filled row by row (RNN outputs)": lambda lib, x, w: _rows(lib, x, w).sum(),
    "setitem with a mask": lambda lib, x, w: _masked(lib, x, w),
    "y[:, 1:] += w (a view written through its base)": lambda lib, x, w: _window_iadd(lib, x, w),
    "a view written through its base, then used": lambda lib, x, w: _stale_view(lib, x, w),
    "write to a view of a non-grad buffer": lambda lib, x, w: _buffer_view(lib, x, w),
    "add_ with alpha": lambda lib, x, w: (x * 1).add_(w, alpha=-2).pow(2).sum(),
    "relu(inplace=True) after a residual add": lambda lib, x, w: _relu_inplace(lib, x, w),
    "float32 += float64 casts back, gradient flows": lambda lib, x, w: _mixed(lib, x, w),
    "no_grad writes to a leaf are allowed": lambda lib, x, w: _no_grad_leaf(lib, x, w),
}


def _iadd(y, o):
    y += o
    return y


def _arith(y, w):
    y -= w
    y *= w
    y /= w + 1
    return y


def _rows(lib, x, w):
    buf = lib.zeros(3, 3)
    for i in range(3):
        buf[i] = x * (i + 1) + w[i]
    return buf * w


def _masked(lib, x, w):
    y = x * w
    y[y > 1.0] = 0.0
    return (y * x).sum()


def _window_iadd(lib, x, w):
    y = lib.stack([x, x * 2]) * 1
    y[:, 1:] += w[1:]
    return (y * y).sum()


def _stale_view(lib, x, w):
    y = x * 2
    a = y[1:]        # a view taken before the write ...
    y[1:] = w[1:] * 3
    return (a * a).sum() + y.sum()  # ... and used after it: its gradient goes to w


def _buffer_view(lib, x, w):
    buf = lib.zeros(2, 3)
    row = buf[0]
    row.add_(x * w)
    return (buf * w).sum()


def _relu_inplace(lib, x, w):
    out = (x - 1) * w
    out += x
    out = lib.nn.functional.relu(out, inplace=True)
    return (out * w).sum()


def _mixed(lib, x, w):
    y = x * w
    y += (w * 2).double()
    assert y.dtype == lib.float32
    return (y * y).sum()


def _no_grad_leaf(lib, x, w):
    with lib.no_grad():
        w.add_(1)
        w[0] = 3.0
    return (x * w).sum()


@pytest.mark.parametrize("name", sorted(PROGRAMS_THAT_WORK))
def test_inplace_in_the_graph_matches_pytorch(name):
    assert _same(PROGRAMS_THAT_WORK[name]) is None, "both libraries raised"


# --- what PyTorch refuses, minidl refuses with the same message ------------------------------
@pytest.mark.parametrize("write", [lambda w: w.add_(1), lambda w: w.mul_(2), lambda w: w.exp_(),
                                   lambda w: w.__setitem__(0, 1.0), lambda w: w.zero_(),
                                   lambda w: w.copy_(w * 2),
                                   lambda w: (md if isinstance(w, md.Tensor) else torch).nn.functional.relu(w, inplace=True)])
def test_inplace_on_a_leaf_that_requires_grad_raises(write):
    for lib in (md, torch):
        w = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match=LEAF.replace(".", r"\.")):
            write(w)


def test_inplace_on_a_view_of_a_leaf_raises():
    for lib in (md, torch):
        w = lib.ones(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
            w[0].add_(1)
        with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
            w[:, 1:][0].mul_(2)


def test_shape_mismatch_is_refused_like_pytorch():
    for lib in (md, torch):
        x, w = _leaves(lib)
        y = x * 2
        with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
            y += lib.ones(2, 3)


def test_view_made_by_reshape_is_refused_with_a_message():
    """minidl writes through views made by indexing; others raise rather than mis-record."""
    x, w = _leaves(md)
    y = (x * 2).reshape(3, 1)
    with pytest.raises(RuntimeError, match="shares memory with another one"):
        y.add_(w.reshape(3, 1))


# --- the counter itself -----------------------------------------------------------------------
def test_version_counter_counts_like_pytorch():
    seen = {}
    for lib in (md, torch):
        x = lib.zeros(4, 3)
        v = x[1]                  # views share the counter
        d = x.detach()
        steps = [x._version]
        x.add_(1); steps.append(x._version)
        v.mul_(2); steps.append(x._version)
        d[0, 0] = 5.0; steps.append(v._version)
        x.zero_(); steps.append(d._version)
        x += 1; steps.append(x._version)
        y = x + 1                 # a new tensor: a new counter
        steps.append(y._version)
        seen[lib.__name__] = steps
    assert seen["minidl"] == seen["torch"], seen


def test_optimizer_step_and_init_bump_the_version():
    p = md.nn.Parameter(md.ones(3))
    p.grad = md.ones(3)
    md.optim.Adam([p]).step()
    assert p._version == 1
    md.nn.init.normal_(p)
    assert p._version == 2


def test_custom_function_checks_its_saved_tensors():
    class Square(md.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = md.tensor([1., 2.], requires_grad=True)
    h = x * 1
    y = Square.apply(h)
    with md.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# --- a torchvision BasicBlock, written as PyTorch writes it ------------------------------------
def _block(nn, c):
    class BasicBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)
    return BasicBlock()


def test_torchvision_style_residual_block_trains_like_pytorch():
    torch.manual_seed(0)
    tb = _block(torch.nn, 4)
    mb = _block(md.nn, 4)
    mb.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in tb.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    tx, mx = torch.tensor(x, requires_grad=True), md.tensor(x, requires_grad=True)
    to, mo = tb(tx), mb(mx)
    assert_close(mo, to.detach(), rtol=1e-4, atol=1e-5)
    to.pow(2).sum().backward()
    mo.pow(2).sum().backward()
    assert_close(mx.grad, tx.grad, rtol=1e-3, atol=1e-4)
    for (name, mp), tp in zip(mb.named_parameters(), tb.parameters()):
        assert_close(mp.grad, tp.grad, rtol=1e-3, atol=1e-4)


# --- random programs: minidl and PyTorch agree on raising, values and gradients ---------------
def _random_program(seed):
    """A list of steps over a pool of tensors (two leaves first): out-of-place ops, views
    made by indexing, and in-place writes, in a random order."""
    rng = np.random.default_rng(seed)
    steps = []
    pool = 2
    for _ in range(rng.integers(3, 9)):
        kind = rng.choice(["mul", "add", "exp", "view", "add_", "mul_", "setitem", "exp_"])
        i, j = int(rng.integers(pool)), int(rng.integers(pool))
        lo = int(rng.integers(0, 2))
        steps.append((str(kind), i, j, lo))
        if kind in ("mul", "add", "exp", "view"):
            pool += 1
    return steps


def _play(lib, steps, x, w):
    pool = [x, w]
    with lib.no_grad():
        pool += [x * 1, w * 1]  # two non-leaves that can be written in place
    pool = [x, w, pool[2] + x * 0, pool[3] + w * 0]
    for kind, i, j, lo in steps:
        i, j = i % len(pool), j % len(pool)
        a, b = pool[i], pool[j]
        if kind in ("mul", "add") and a.shape != b.shape:
            b = b.sum()
        if kind == "mul":
            pool.append(a * b)
        elif kind == "add":
            pool.append(a + b)
        elif kind == "exp":
            pool.append((a * 0.1).exp())
        elif kind == "view":
            pool.append(a[lo:])
        elif a.requires_grad and a.grad_fn is None:
            continue  # in place on a leaf: tested above
        elif a.shape != b.shape and b.shape[0] > a.shape[0]:
            continue
        elif kind == "add_":
            a.add_(b[-a.shape[0]:])
        elif kind == "mul_":
            a.mul_(b[-a.shape[0]:] * 0.5)
        elif kind == "setitem":
            a[lo:] = b[-(a.shape[0] - lo):] * 2 if a.shape[0] - lo else a[lo:]
        elif kind == "exp_":
            a.mul_(0.1).exp_()
    return sum((t * (k + 1)).sum() for k, t in enumerate(pool))


@pytest.mark.parametrize("seed", range(120))
def test_random_inplace_programs_match_pytorch(seed):
    steps = _random_program(seed)
    _same(lambda lib, x, w: _play(lib, steps, x, w), shapes=((4,), (4,)))


def test_a_copy_of_a_view_owns_its_memory():
    """deepcopy keeps every field but the view link: writing the copy leaves the base alone."""
    import copy
    x = md.zeros(2, 3)
    c = copy.deepcopy(x[1])
    c.add_(1)
    assert float(x.sum()) == 0.0 and float(c.sum()) == 3.0
    assert getattr(c, "_view_of", None) is None


def test_clamp_without_autograd_is_one_pass_in_place(rng):
    # no grad and number bounds: the kernel writes x itself (same memory, version counted);
    # the results are PyTorch's, for both bounds, one bound, NaN and an integer tensor
    a = rng.standard_normal((33, 17)).astype(np.float32) * 3
    a[0, 0] = np.nan
    for lo, hi in ((-1.0, 2.0), (None, 0.5), (-0.25, None)):
        x, tx = md.tensor(a), torch.tensor(a)
        memory, version = x.numpy(), x._version
        assert x.clamp_(lo, hi) is x
        tx.clamp_(lo, hi)
        np.testing.assert_array_equal(x.numpy(), tx.numpy())
        assert np.shares_memory(x.numpy(), memory) and x._version == version + 1
    i, ti = md.tensor([-5, 0, 7]), torch.tensor([-5, 0, 7])
    np.testing.assert_array_equal(i.clamp_(-2, 3).numpy(), ti.clamp_(-2, 3).numpy())
    w = md.tensor(a[1:], requires_grad=True)
    with md.no_grad():
        w.clamp_(-0.01, 0.01)                                  # WGAN's weight clipping
    assert float(w.abs().max()) <= 0.01 and w.requires_grad
    y = md.tensor(a[1:], requires_grad=True) * 1.0
    saved = y * y                                              # saves y for its backward
    with md.no_grad():
        y.clamp_(-1.0, 1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        saved.sum().backward()
    with pytest.raises(ValueError, match="out must be the input itself"):
        md._C.clamp(a, -1.0, 1.0, a.copy())
    ro = md.tensor(a).expand(2, 33, 17)                        # a read-only view
    with pytest.raises(RuntimeError, match="read-only"):
        ro.clamp_(-1.0, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_alpha_and_lerp_without_autograd_are_fused_and_match_torch(rng, dtype):
    # p.add_(g, alpha=a) and ema.lerp_(p, w) without autograd run one fused pass with
    # PyTorch's FMAs: the same bits, in place, the version counted; a broadcast other, a
    # strided x (the reference row) and both branches of lerp (|w| < 0.5 and >= 0.5)
    a = rng.standard_normal((37, 53)).astype(dtype)
    b = rng.standard_normal((37, 53)).astype(dtype)
    cases = [(a, b), (a, b[0]), (a.T, b.T), (a.T, b[:, 0])]       # contiguous / strided x, broadcast rows
    for xa, other in cases:
        for alpha in (-0.37, 2.5):
            for name in ("add_", "sub_"):
                x, tx = md.tensor(xa.copy()), torch.tensor(xa.copy())
                memory, version = x.numpy(), x._version
                assert getattr(x, name)(md.tensor(other), alpha=alpha) is x
                getattr(tx, name)(torch.tensor(other), alpha=alpha)
                np.testing.assert_array_equal(x.numpy(), tx.numpy())
                assert np.shares_memory(x.numpy(), memory) and x._version == version + 1
        for w in (0.0, 0.001, 0.3, 0.5, 0.7, 1.0, -0.2, 1.5):
            x, tx = md.tensor(xa.copy()), torch.tensor(xa.copy())
            assert x.lerp_(md.tensor(other), w) is x
            tx.lerp_(torch.tensor(other), w)
            np.testing.assert_array_equal(x.numpy(), tx.numpy())
    y, ty = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)   # autograd: recorded
    (y * 1.0).add_(md.tensor(b), alpha=2.0).lerp_(md.tensor(b), 0.25).sum().backward()
    (ty * 1.0).add_(torch.tensor(b), alpha=2.0).lerp_(torch.tensor(b), 0.25).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy())
    e = md.tensor(a, requires_grad=True) * 1.0
    saved = e * e                                                   # saves e for its backward
    with md.no_grad():
        e.lerp_(md.tensor(b), 0.1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        saved.sum().backward()
