"""Every differentiable op: same inputs in minidl and torch -> same outputs and gradients."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import assert_close, pair, require

torch = require("torch")
require("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _check(rng, fn, *shapes, low=None, high=None, rtol=1e-4, atol=1e-5, dtype=np.float32, fn_t=None):
    """Runs fn on minidl and torch leaves of the given shapes; compares outputs and grads
    (upstream gradient: fixed random weights, so every output element matters)."""
    ms, ts = [], []
    for s in shapes:
        m, t = pair(rng, *s, dtype=dtype, low=low, high=high)
        ms.append(m)
        ts.append(t)
    out_m, out_t = fn(*ms), (fn_t or fn)(*ts)
    assert_close(out_m, out_t, rtol=rtol, atol=atol)
    w = rng.standard_normal(tuple(out_t.shape)).astype(dtype)
    (out_m * md.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    for m, t in zip(ms, ts):
        assert m.grad is not None, "no gradient reached an input"
        assert_close(m.grad, t.grad, rtol=rtol, atol=atol)


_BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 1, 5), (4, 1)), ((1,), (2, 3)), ((2, 3), ()), ((5, 1), (1, 7)),
                  ((1, 1, 1), (3, 1, 2)), ((), ())]


@pytest.mark.parametrize("shapes", _BINARY_SHAPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_broadcast(rng, op, shapes):
    fns = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
           "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
           "maximum": lambda a, b: a.maximum(b), "minimum": lambda a, b: a.minimum(b)}
    low, high = (0.5, 2.0) if op in ("div", "pow") else (-2.0, 2.0)
    _check(rng, fns[op], *shapes, low=low, high=high)


@pytest.mark.parametrize("fn", [
    lambda a: a + 2, lambda a: 2 + a, lambda a: a - 1.5, lambda a: 1.5 - a, lambda a: a * -3,
    lambda a: 0.5 * a, lambda a: a / 4, lambda a: 3 / a, lambda a: a ** 2, lambda a: a ** 3,
    lambda a: a ** 0.5, lambda a: a ** -1.5, lambda a: 2 ** a, lambda a: a ** 0, lambda a: -a,
])
def test_scalar_ops(rng, fn):
    _check(rng, fn, (3, 5), low=0.5, high=2.0)


@pytest.mark.parametrize("name,low,high", [
    ("neg", -2, 2), ("abs", -2, 2), ("exp", -2, 2), ("log", 0.2, 3), ("sqrt", 0.2, 3), ("rsqrt", 0.2, 3),
    ("square", -2, 2), ("reciprocal", 0.5, 2), ("sin", -3, 3), ("cos", -3, 3), ("log1p", -0.5, 2),
    ("expm1", -2, 2), ("relu", -2, 2), ("sigmoid", -4, 4), ("tanh", -3, 3),
])
def test_unary(rng, name, low, high):
    _check(rng, lambda x: getattr(x, name)(), (4, 7), low=low, high=high)


@pytest.mark.parametrize("kwargs", [dict(min=-0.5), dict(max=0.3), dict(min=-0.5, max=0.5)])
def test_clamp(rng, kwargs):
    _check(rng, lambda x: x.clamp(**kwargs), (5, 6))


def test_clamp_with_tensor_bounds(rng):
    _check(rng, lambda x, lo: x.clamp(min=lo), (4, 5), (5,))


@pytest.mark.parametrize("sa,sb", [((5,), (5,)), ((3, 4), (4,)), ((4,), (4, 3)), ((3, 4), (4, 2)),
                                   ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((1, 7), (7, 1)), ((2, 3, 4), (4,))])
def test_matmul(rng, sa, sb):
    _check(rng, lambda a, b: a @ b, sa, sb)
    _check(rng, lambda a, b: a.matmul(b), sa, sb)


def test_matmul_transposed_operands(rng):
    _check(rng, lambda a, b: a.T @ b.T, (4, 3), (5, 4))
    _check(rng, lambda a, b: a.transpose(1, 2) @ b, (2, 4, 3), (2, 4, 5))


def test_bmm_mm(rng):
    _check(rng, lambda a, b: a.bmm(b), (3, 2, 4), (3, 4, 5))
    _check(rng, lambda a, b: md.bmm(a, b) if isinstance(a, md.Tensor) else torch.bmm(a, b), (1, 1, 1), (1, 1, 3))
    _check(rng, lambda a, b: a.mm(b), (3, 4), (4, 2))


_RED_SHAPE = (3, 1, 5)


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False),
                                         ((0, 2), True), (-3, True)])
def test_sum_mean(rng, name, dim, keepdim):
    if dim is None:
        _check(rng, lambda x: getattr(x, name)(), _RED_SHAPE)
    else:
        _check(rng, lambda x: getattr(x, name)(dim, keepdim=keepdim), _RED_SHAPE)


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("kwargs", [{}, dict(dim=0), dict(dim=-1, keepdim=True), dict(dim=(0, 2)),
                                    dict(dim=1, unbiased=False), dict(dim=2, correction=0)])
def test_var_std(rng, name, kwargs):
    shape = (4, 3, 5) if kwargs.get("dim") != 1 else (4, 3, 5)
    _check(rng, lambda x: getattr(x, name)(**kwargs), shape)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_without_dim(rng, name):
    _check(rng, lambda x: getattr(x, name)(), (4, 6))


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False), (2, True)])
def test_max_min_with_dim(rng, name, dim, keepdim):
    _check(rng, lambda x: getattr(x, name)(dim, keepdim=keepdim)[0], (3, 4, 5))
    m = md.tensor(np.asarray(rng.standard_normal((3, 4, 5)), dtype=np.float32))
    t = torch.tensor(m.numpy())
    assert_close(getattr(m, name)(dim, keepdim)[1], getattr(t, name)(dim, keepdim)[1])
    assert_close(getattr(m, "arg" + name)(dim, keepdim), getattr(t, "arg" + name)(dim, keepdim))


def test_max_ties_split_gradient_like_torch():
    m = md.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    t = torch.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    m.max().backward()
    t.max().backward()
    assert_close(m.grad, t.grad)
    assert_close(md.tensor([[1.0, 5.0, 5.0]]).argmax(1), torch.tensor([[1.0, 5.0, 5.0]]).argmax(1))


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin(rng, name):
    _check(rng, lambda x: getattr(x, name)(dim=(0, 2)), (3, 4, 5))


@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False), ((0, 1), False)])
def test_logsumexp(rng, dim, keepdim):
    _check(rng, lambda x: x.logsumexp(dim, keepdim=keepdim), (3, 4, 5))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(rng, name, dim):
    _check(rng, lambda x: getattr(x, name)(dim), (3, 4, 5))


def test_prod(rng):
    _check(rng, lambda x: x.prod(1), (3, 4), low=0.5, high=1.5)


@pytest.mark.parametrize("fn", [
    lambda x: x[1], lambda x: x[:, 1:3], lambda x: x[..., ::2], lambda x: x[None, 0, :, -1],
    lambda x: x[[0, 2, 0]], lambda x: x[:, [3, 3, 1]], lambda x: x[x > 0],
    lambda x: x.reshape(12, 4), lambda x: x.view(-1), lambda x: x.flatten(1), lambda x: x.permute(2, 0, 1),
    lambda x: x.transpose(0, 1), lambda x: x.unsqueeze(1), lambda x: x[:, :1].expand(3, 4, 4),
    lambda x: x[:, :1].squeeze(1), lambda x: x.T, lambda x: x.clone(), lambda x: x.T.contiguous(),
    lambda x: x.split(1, 1)[1], lambda x: x.chunk(2, 2)[0] * x.chunk(2, 2)[1],
    lambda x: x.repeat(1, 2, 1), lambda x: x.flip(0), lambda x: x.narrow(1, 1, 2),
    lambda x: x.unbind(0)[2],
])
@pytest.mark.filterwarnings("ignore:The use of `x.T`")
def test_view_and_index_ops(rng, fn):
    _check(rng, fn, (3, 4, 4))


def test_cat_stack_grads(rng):
    _check(rng, lambda a, b: (torch if isinstance(a, torch.Tensor) else md).cat([a, b, a], 1), (2, 3), (2, 1))
    _check(rng, lambda a, b: (torch if isinstance(a, torch.Tensor) else md).stack([a, b], -1), (2, 3), (2, 3))


def test_where_masked_fill_grads(rng):
    mask = np.array([[True, False, True]])

    def where(a, b):
        lib = torch if isinstance(a, torch.Tensor) else md
        return lib.where(lib.tensor(mask), a, b)
    _check(rng, where, (2, 3), (3,))
    _check(rng, lambda a: a.masked_fill((md if isinstance(a, md.Tensor) else torch).tensor(mask), 0.0), (4, 3))


def test_cast_and_mixed_dtype_grads(rng):
    _check(rng, lambda a, b: a.double() * b, (3,), (3,), fn_t=lambda a, b: a.double() * b)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_hypothesis_broadcast_mul_add(shape, data):
    # a second shape broadcastable to the first: each dim kept, set to 1, or dropped from the left
    other = [data.draw(st.sampled_from([s, 1])) for s in shape][data.draw(st.integers(0, len(shape) - 1)):]
    rng = np.random.default_rng(len(shape) * 7 + sum(shape))
    _check(rng, lambda a, b: (a * b + b).sum(0), tuple(shape), tuple(other))


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3))
def test_hypothesis_matmul_shapes(m, k, n, b):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    _check(rng, lambda x, y: x @ y, (b, m, k), (k, n))


# --- autograd mechanics -------------------------------------------------------------------------
def test_no_grad_context_and_decorator():
    x = md.ones(3, requires_grad=True)
    with md.no_grad():
        y = x * 2
        assert not md.is_grad_enabled()
        with md.enable_grad():
            z = x * 2
    assert md.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @md.no_grad()
    def f(t):
        return t * 3
    assert not f(x).requires_grad and md.is_grad_enabled()

    @md.enable_grad()
    def g(t):
        return t * 3
    with md.no_grad():
        assert g(x).requires_grad
    with md.set_grad_enabled(False):
        assert not (x + 1).requires_grad
    assert (x + 1).requires_grad


def test_requires_grad_propagation():
    a = md.ones(2, requires_grad=True)
    b = md.ones(2)
    assert (a + b).requires_grad and not (b + b).requires_grad
    assert not a.detach().requires_grad
    assert a.is_leaf and not (a * 2).is_leaf
    assert not (a > 0).requires_grad  # comparisons are not differentiable
    c = md.zeros(2).requires_grad_()
    assert c.requires_grad and c.is_leaf
    with pytest.raises(RuntimeError):
        (a * 2).requires_grad = False


def test_grad_accumulates_over_two_backwards_and_retain_graph():
    x = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y, ty = (x * x).sum(), (tx * tx).sum()
    y.backward(retain_graph=True)
    ty.backward(retain_graph=True)
    y.backward()
    ty.backward()
    assert_close(x.grad, tx.grad)
    assert x.grad.tolist() == [4.0, 8.0, 12.0]
    (x * 1.0).sum().backward()
    assert x.grad.tolist() == [5.0, 9.0, 13.0]


def test_shared_subexpression_and_diamond_graph():
    x = md.tensor([0.5, -1.0], requires_grad=True)
    tx = torch.tensor([0.5, -1.0], requires_grad=True)
    for lib, v in ((md, x), (torch, tx)):
        h = v.exp()
        out = (h * h + h.sin() * v).sum()
        out.backward()
    assert_close(x.grad, tx.grad)


def test_autograd_grad_and_allow_unused():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    u = md.tensor([3.0], requires_grad=True)
    y = (x ** 3).sum()
    (gx,) = md.autograd.grad(y, x, retain_graph=True)
    assert gx.tolist() == [3.0, 12.0]
    assert x.grad is None  # grad() leaves .grad alone
    gx2, gu = md.autograd.grad(y, [x, u], allow_unused=True)
    assert gu is None and gx2.tolist() == [3.0, 12.0]
    with pytest.raises(RuntimeError, match="allow_unused"):
        md.autograd.grad((x * 2).sum(), [x, u])


def test_backward_with_gradient_on_non_scalar():
    x = md.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    tx = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    g = np.array([[1.0, -1.0], [0.5, 2.0]], dtype=np.float32)
    (x * x).backward(gradient=md.tensor(g))
    (tx * tx).backward(gradient=torch.tensor(g))
    assert_close(x.grad, tx.grad)


def test_register_hook_and_retain_grad():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    outs = []
    for v in (x, tx):
        h = v * 3
        h.retain_grad()
        h.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
        (h * h).sum().backward()
        outs.append(h)
    assert seen[0] == seen[1] == [6.0, 12.0]
    assert_close(outs[0].grad, outs[1].grad)
    assert_close(x.grad, tx.grad)
    leaf = md.tensor([1.0], requires_grad=True)
    handle = leaf.register_hook(lambda g: g * 10)
    (leaf * 2).sum().backward()
    assert leaf.grad.tolist() == [20.0]
    handle.remove()
    (leaf * 2).sum().backward()
    assert leaf.grad.tolist() == [22.0]


class _Cube(md.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x * x * x * k

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return g * 3 * x * x * ctx.k, None


def test_custom_function():
    x = md.tensor([1.0, -2.0, 0.5], requires_grad=True)
    y = _Cube.apply(x, 2.0)
    assert y.requires_grad and y.grad_fn is not None
    assert y.tolist() == [2.0, -16.0, 0.25]
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0, 1.5]
    with md.no_grad():
        assert not _Cube.apply(x, 1.0).requires_grad


class _TwoInputs(md.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.flags = ctx.needs_input_grad
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (g * b if ctx.needs_input_grad[0] else None), (g * a if ctx.needs_input_grad[1] else None)


def test_custom_function_needs_input_grad():
    a = md.tensor([2.0], requires_grad=True)
    b = md.tensor([5.0])
    out = _TwoInputs.apply(a, b)
    out.backward()
    assert a.grad.tolist() == [5.0] and b.grad is None
    assert out.grad_fn.ctx.flags == (True, False)


def test_std_of_constant_has_zero_gradient_like_torch():
    m = md.tensor([2.0, 2.0, 2.0], requires_grad=True)
    t = torch.tensor([2.0, 2.0, 2.0], requires_grad=True)
    m.std().backward()
    t.std().backward()
    assert_close(m.grad, t.grad)


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_ties_share_gradient_like_torch(name):
    a = np.array([[1.0, 1.0, 2.0], [3.0, 3.0, 3.0]], dtype=np.float32)
    m, t = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    getattr(m, name)(1).sum().backward()
    getattr(t, name)(1).sum().backward()
    assert_close(m.grad, t.grad)
    m.grad = None
    t.grad = None
    getattr(m, name)((0, 1), keepdim=True).sum().backward()
    getattr(t, name)((0, 1), keepdim=True).sum().backward()
    assert_close(m.grad, t.grad)


def test_grad_hands_over_a_fresh_gradient_and_copies_a_shared_one():
    """``autograd.grad`` returns a gradient without copying it only when nothing else holds
    that array (PyTorch's use_count test); a result shared with the caller's grad_outputs,
    with another returned gradient, or a broadcast view comes back as a writable copy."""
    x = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = md.tensor([1.0, 1.0, 1.0])
    (g,) = md.autograd.grad(x * 2.0, x, grad_outputs=v)
    g.add_(1.0)                                   # writable, and v is not touched
    np.testing.assert_array_equal(g.numpy(), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0, 1.0])
    (g,) = md.autograd.grad(x.clone(), x, grad_outputs=v)   # the clone's backward passes v on
    g.add_(1.0)
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0, 1.0])
    a = md.tensor([1.0, 2.0], requires_grad=True)
    b = md.tensor([3.0, 4.0], requires_grad=True)
    ga, gb = md.autograd.grad(a + b, [a, b], grad_outputs=md.tensor([5.0, 6.0]))  # one array for both
    ga.add_(1.0)
    np.testing.assert_array_equal(gb.numpy(), [5.0, 6.0])
    g1, g2 = md.autograd.grad((x * 3.0).sum(), [x, x])      # the same input twice
    g1.zero_()
    np.testing.assert_array_equal(g2.numpy(), [3.0, 3.0, 3.0])
    (g,) = md.autograd.grad(x.sum(), x)                     # the sum's backward is a broadcast view
    g.mul_(2.0)
    np.testing.assert_array_equal(g.numpy(), [2.0, 2.0, 2.0])
