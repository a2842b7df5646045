"""Higher-order gradients (issue 16 item 5): ``create_graph=True`` through every op family
that has a differentiable backward, against PyTorch, plus gradgradcheck (float64 finite
differences of the first gradient), ``.grad`` with a graph, retain_graph, and the error for
an op without a double backward.

The value compared: with g = d f / d inputs (create_graph=True), the gradient of
s = sum_i sum(g_i^2) with respect to the inputs, a second derivative of f (H g)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import require

import minidl as md
import minidl.nn.functional as F

torch = require("torch")
TF = torch.nn.functional
rng = np.random.default_rng(0)
TGT = np.array([0, 3, 1, 4])
MASK = np.array([[True, False, True, True, False], [False] * 5, [True] * 5])  # row 1 attends to nothing
PROB = rng.uniform(0.05, 0.95, size=(4, 5))  # BCE targets (constants: minidl's BCE takes no target gradient)

# name -> (f(lib, F, *xs), input shapes, positive inputs?); ``lib`` is md or torch
CASES = {
    "add_sub_broadcast": (lambda t, F, a, b: ((a + b) * (a - b) - 2.0 * a + (1.0 - b)).pow(3).sum(), [(3, 4), (4,)], 0),
    "mul_div": (lambda t, F, a, b: (a * b / (b + 3.0) + 2.0 / a).pow(2).sum(), [(3, 1), (1, 4)], 1),
    "pow": (lambda t, F, a, b: (a ** b + a ** 2.5 + 3.0 ** a + a ** 2).sum(), [(3, 4), (3, 4)], 1),
    "neg_max_min": (lambda t, F, a, b: (t.maximum(-a, b) * t.minimum(a, b) + a.clamp(-0.3, 0.4) ** 2).sum(),
                    [(3, 4), (3, 4)], 0),
    "where": (lambda t, F, a, b: (t.where(a > 0, a, b) ** 3).sum(), [(3, 4), (4,)], 0),
    "unary": (lambda t, F, x: (x.exp() + x.log() + x.sqrt() + x.rsqrt() + x.abs() + x.sin() + x.cos() + x.log1p()
                               + x.expm1() + x.erf() + x.reciprocal() + x.square() + x.tan() + x.tanh()).pow(2).sum(),
              [(2, 5)], 1),
    "relu_leaky_hardtanh": (lambda t, F, x: (F.relu(x) * F.leaky_relu(x, 0.2) + F.hardtanh(x) ** 3).sum(), [(3, 5)], 0),
    "sigmoid_tanh_gelu": (lambda t, F, x: (F.sigmoid(x) * F.tanh(x) + F.gelu(x) ** 2).sum(), [(3, 5)], 0),
    "silu_softplus_elu": (lambda t, F, x: (F.silu(x) * F.softplus(x, beta=2.0) + F.elu(x, 0.7) ** 2 + F.selu(x) ** 2
                                           + F.logsigmoid(x) ** 2 + F.softsign(x) ** 2).sum(), [(3, 5)], 0),
    "gelu_tanh_mish_celu_hardswish": (lambda t, F, x: (F.gelu(x, approximate="tanh") * F.mish(x) + F.celu(x, 0.6) ** 2
                                       + F.hardswish(x * 2.0) ** 2 + F.relu6(x * 4) ** 3
                                       + F.softshrink(x, 0.3) ** 3 + F.hardshrink(x, 0.3) ** 3
                                       + F.threshold(x, 0.1, -1.0) ** 3).sum(), [(3, 5)], 0),
    "matmul_batched": (lambda t, F, a, b: ((a @ b).tanh() ** 2).sum(), [(2, 3, 4), (4, 5)], 0),
    "matmul_vectors": (lambda t, F, a, b: (t.matmul(a, b) ** 3).sum() + (b @ b) ** 2, [(3, 4), (4,)], 0),
    "mm_bmm": (lambda t, F, a, b: (t.mm(a, a.t()) ** 2).sum() + (t.bmm(b, b.transpose(1, 2)) ** 2).sum(),
               [(3, 4), (2, 3, 4)], 0),
    "linear": (lambda t, F, x, w, b: (F.linear(x, w, b).tanh() ** 2).sum(), [(2, 3, 4), (5, 4), (5,)], 0),
    "sum_mean": (lambda t, F, x: (x.sum(1) ** 3).sum() + (x.mean(0) ** 3).sum() + x.sum(-1, keepdim=True).pow(2).sum()
                 + x.mean() ** 2, [(3, 4)], 0),
    "var_std": (lambda t, F, x: x.var(1).pow(2).sum() + x.std() ** 3 + x.var(0, correction=0).pow(2).sum()
                + x.std(-1, keepdim=True).pow(2).sum(), [(3, 4)], 0),
    "max_min_amax": (lambda t, F, x: x.max() ** 2 + x.max(1)[0].pow(2).sum() + x.min(0, keepdim=True)[0].pow(2).sum()
                     + x.amax(1).pow(2).sum() + x.amin(-1).pow(2).sum(), [(3, 4)], 0),
    "prod_logsumexp": (lambda t, F, x: x.prod(1).pow(2).sum() + x.logsumexp(1).pow(2).sum()
                       + t.logsumexp(x, 0, keepdim=True).pow(2).sum(), [(3, 4)], 1),
    "shape_ops": (lambda t, F, x: (x.reshape(4, 3).t().permute(1, 0).flip(0).expand(2, 4, 3).unsqueeze(0).squeeze(0)
                                   .transpose(0, 2).reshape(3, 8)[1:, ::2] ** 3).sum() + (x[[0, 2, 0], 1:] ** 3).sum(), [(3, 4)], 0),
    "cat_split": (lambda t, F, x: sum((p ** 3).sum() for p in t.cat([x, x * 2], 1).split([3, 5], 1))
                  + (t.stack([x, x.exp()], 0) ** 2).sum(), [(3, 4)], 0),
    "gather_index_select": (lambda t, F, x: (t.gather(x, 1, t.tensor([[0, 0, 2], [1, 3, 3], [2, 1, 0]])) ** 3).sum()
                            + (t.index_select(x, 0, t.tensor([2, 0, 2])) ** 3).sum(), [(3, 4)], 0),
    "norm": (lambda t, F, x: t.linalg.vector_norm(x, 3, dim=1).pow(2).sum() + x.norm() ** 3
             + t.linalg.vector_norm(x, 1.5, dim=0, keepdim=True).pow(2).sum(), [(3, 4)], 0),
    "embedding": (lambda t, F, w: (F.embedding(t.tensor([[0, 2, 2], [3, 1, 0]]), w, padding_idx=1) ** 3).sum(),
                  [(4, 3)], 0),
    "cumsum_tril_triu": (lambda t, F, x: (x.cumsum(1) ** 3).sum() + (t.tril(x, -1) ** 3).sum()
                         + (t.triu(x, 1) * x).sum(), [(3, 4)], 0),
    "diagonal_diag_embed": (lambda t, F, x: (t.diagonal(x, 1, 0, 1) ** 3).sum() + (t.diag_embed(x, -1) ** 3).sum(),
                            [(3, 4)], 0),
    "sort_topk": (lambda t, F, x: (t.sort(x, 1)[0] * t.arange(4.0, dtype=t.float64)).pow(3).sum()
                  + (x.topk(2, 0)[0] ** 3).sum(), [(3, 4)], 0),
    "max_pool2d": (lambda t, F, x: (F.max_pool2d(x, 2, stride=1) ** 3).sum() + (F.max_pool2d(x[0], 3, 2, 1) ** 3)
                   .sum(), [(2, 3, 5, 5)], 0),
    "avg_pools": (lambda t, F, x: (F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False) ** 3).sum()
                  + (F.avg_pool2d(x[0], 2) ** 3).sum() + (F.adaptive_avg_pool2d(x, (2, 3)) ** 3).sum()
                  + (F.avg_pool1d(x[0], 2) ** 3).sum(), [(2, 3, 5, 5)], 0),
    "sdpa": (lambda t, F, q, k, v: (F.scaled_dot_product_attention(q, k, v) ** 2).sum()
             + (F.scaled_dot_product_attention(q, k, v, is_causal=True) ** 3).sum(), [(2, 2, 3, 4), (2, 2, 5, 4),
                                                                                   (2, 2, 5, 3)], 0),
    "sdpa_masks": (lambda t, F, q, k, v, m: (F.scaled_dot_product_attention(q, k, v, attn_mask=m.tanh()) ** 2).sum()
                   + (F.scaled_dot_product_attention(q, k, v, attn_mask=t.tensor(MASK), scale=0.3) ** 3).sum(),
                   [(2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)], 0),
    "scatter_index_add": (lambda t, F, x, s: (t.scatter(x, 1, t.tensor([[0, 2], [3, 1], [1, 0]]), s[:, :2]) ** 3).sum()
                          + (t.scatter_add(x, 0, t.tensor([[0, 2, 2], [1, 1, 0]]), s[:2, :3]) ** 3).sum()
                          + (t.index_add(x, 1, t.tensor([3, 0]), s[:, :2], alpha=0.5) ** 3).sum()
                          + (t.index_copy(x, 0, t.tensor([2]), s[:1, :4]) ** 3).sum()
                          + (x.index_fill(1, t.tensor([0, 2]), 0.5) ** 3).sum(), [(3, 4), (3, 5)], 0),
    "setitem_fill": (lambda t, F, x, v: _written(x, v) ** 3, [(3, 4), (2,)], 0),
    "cumprod_logcumsumexp_median": (lambda t, F, x: (x.cumprod(1) ** 2).sum() + (t.cumprod(x[0], 0) ** 2).sum()
                                    + (t.logcumsumexp(x, 0) ** 3).sum() + x.median() ** 3, [(3, 4)], 0),
    "softmax": (lambda t, F, x: (F.softmax(x, 1) ** 3).sum() + (F.softmax(x, -2) * x).sum(), [(4, 5)], 0),
    "log_softmax": (lambda t, F, x: (F.log_softmax(x, -1) ** 2).sum(), [(4, 5)], 0),
    "mse": (lambda t, F, x, y: F.mse_loss(x, y) + F.mse_loss(x.tanh(), y, reduction="sum"), [(4, 5), (4, 5)], 0),
    "cross_entropy": (lambda t, F, x: F.cross_entropy(x, t.tensor(TGT)), [(4, 5)], 0),
    "cross_entropy_options": (lambda t, F, x: F.cross_entropy(x, t.tensor([0, -100, 1, 4]), weight=t.arange(1.0, 6.0,
                              dtype=t.float64), label_smoothing=0.1), [(4, 5)], 0),
    "cross_entropy_nd_none": (lambda t, F, x: (F.cross_entropy(x, t.tensor(TGT.reshape(2, 2)), reduction="none")
                                               ** 2).sum(), [(2, 5, 2)], 0),
    "cross_entropy_probabilities": (lambda t, F, x, p: F.cross_entropy(x, F.softmax(p, 1).detach()), [(4, 5), (4, 5)],
                                    0),
    "nll": (lambda t, F, x: F.nll_loss(F.log_softmax(x, 1), t.tensor(TGT)) + (F.nll_loss(x, t.tensor(TGT),
            reduction="none") ** 2).sum(), [(4, 5)], 0),
    "bce_with_logits": (lambda t, F, x: F.binary_cross_entropy_with_logits(x, t.tensor(PROB),
                        pos_weight=t.tensor([1.0, 2.0, 0.5, 1.0, 3.0], dtype=t.float64)), [(4, 5)], 0),
    "conv2d": (lambda t, F, x, w, b: (F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)) ** 2).sum(),
               [(2, 4, 6, 5), (3, 4, 3, 2), (3,)], 0),
    "conv2d_groups_same": (lambda t, F, x, w: (F.conv2d(x, w, groups=2) ** 2).sum() + (F.conv2d(x[:, :2], w[:2],
                           padding="same") ** 2).sum(), [(1, 4, 5, 5), (6, 2, 2, 2)], 0),
    "conv1d": (lambda t, F, x, w, b: (F.conv1d(x, w, b, stride=2, padding=2) ** 2).sum() + (F.conv1d(x[0], w) ** 2)
               .sum(), [(2, 3, 7), (4, 3, 3), (4,)], 0),
    "conv_transpose": (lambda t, F, x, w, b: (F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                                                groups=2, dilation=(1, 2)) ** 2).sum()
                       + (F.conv_transpose1d(x[:, :, 0], w[:, :, 0], stride=2) ** 3).sum(),
                       [(2, 4, 3, 3), (4, 1, 2, 2), (2,)], 0),
    "layer_norm": (lambda t, F, x, w, b: (F.layer_norm(x, (3, 4), w, b) ** 3).sum() + (F.layer_norm(x, (4,)) ** 3)
                   .sum(), [(2, 3, 4), (3, 4), (3, 4)], 0),
    "batch_norm_train": (lambda t, F, x, w, b: (F.batch_norm(x, None, None, w, b, training=True) ** 3).sum(),
                         [(3, 2, 4), (2,), (2,)], 0),
    "batch_norm_eval": (lambda t, F, x, w, b: (F.batch_norm(x, t.tensor([0.1, -0.2], dtype=t.float64), t.tensor(
                        [1.5, 0.5], dtype=t.float64), w, b, training=False) ** 3).sum(), [(3, 2, 4), (2,), (2,)], 0),
    "group_norm": (lambda t, F, x, w, b: (F.group_norm(x, 2, w, b) ** 3).sum() + (F.group_norm(x, 4) ** 3).sum(),
                   [(2, 4, 3), (4,), (4,)], 0),
    "rms_norm": (lambda t, F, x, w: (F.rms_norm(x, (4,), w) ** 3).sum() + (F.rms_norm(x, (3, 4), eps=1e-3) ** 3)
                 .sum(), [(2, 3, 4), (4,)], 0),
    "bce": (lambda t, F, x: F.binary_cross_entropy(x.sigmoid(), t.tensor(PROB), reduction="sum"), [(4, 5)], 0),
}


def _written(x, v):
    y = x * 1.0
    y[1:, ::2] = v * 2.0  # basic key, v broadcast
    y[[0, 2], 1] = v  # advanced key
    z = x * 1.0
    z.fill_(3.0)
    return (y ** 2).sum() + (z * x).sum()


# the C++ mish / gelu-tanh kernels and PyTorch's round differently (~1e-8 relative in float64)
LOOSER = {"gelu_tanh_mish_celu_hardswish": 1e-6}


def _inputs(shapes, positive, lib):
    arrays = [rng.standard_normal(s) for s in shapes]
    if positive:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    return arrays


def _second(lib, Fl, f, arrays):
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = f(lib, Fl, *xs)
    gs = lib.autograd.grad(out, xs, create_graph=True, allow_unused=True)
    s = sum((g * g).sum() for g in gs if g is not None)
    hs = lib.autograd.grad(s, xs, allow_unused=True)
    return ([g.detach().numpy() if g is not None else None for g in gs],
            [h.detach().numpy() if h is not None else None for h in hs])


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_match_torch(name):
    f, shapes, positive = CASES[name]
    arrays = _inputs(shapes, positive, np)
    g_md, h_md = _second(md, F, f, arrays)
    g_t, h_t = _second(torch, TF, f, arrays)
    for a, b in zip(g_md + h_md, g_t + h_t):
        if a is None or b is None:
            assert (a is None or not a.any()) and (b is None or not b.any())
        else:
            np.testing.assert_allclose(a, b, rtol=LOOSER.get(name, 1e-8), atol=1e-8)


GRADGRAD = ["add_sub_broadcast", "mul_div", "unary", "sigmoid_tanh_gelu", "silu_softplus_elu",
            "gelu_tanh_mish_celu_hardswish", "gather_index_select", "norm", "embedding", "cumsum_tril_triu",
            "diagonal_diag_embed", "sort_topk", "avg_pools", "sdpa", "sdpa_masks", "scatter_index_add", "setitem_fill",
            "cumprod_logcumsumexp_median", "matmul_batched",
            "linear", "var_std", "prod_logsumexp", "shape_ops", "cat_split", "softmax", "log_softmax", "mse",
            "cross_entropy", "cross_entropy_options", "nll", "bce_with_logits", "bce", "layer_norm", "batch_norm_train",
            "batch_norm_eval", "conv1d", "group_norm", "rms_norm", "conv_transpose"]


@pytest.mark.parametrize("name", GRADGRAD)
def test_gradgradcheck(name):
    f, shapes, positive = CASES[name]
    xs = tuple(md.tensor(a, requires_grad=True) for a in _inputs(shapes, positive, np))
    assert md.autograd.gradgradcheck(lambda *xs: f(md, F, *xs), xs, atol=1e-5, rtol=1e-4)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class Cube(md.autograd.Function):  # backward without a graph: the second derivative is lost
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3.0 * md.tensor(x.detach().numpy() ** 2)

    x = md.tensor([0.5, 1.5], dtype=md.float64, requires_grad=True)
    with pytest.raises(RuntimeError):
        md.autograd.gradgradcheck(Cube.apply, (x,))


def test_non_contiguous_and_size_one_inputs():
    base = rng.standard_normal((5, 4))
    for arr in (base.T, base[::2], np.ones((1, 1)) * 0.3):
        x_md = md.tensor(np.ascontiguousarray(arr), requires_grad=True)
        x_t = torch.tensor(np.ascontiguousarray(arr), requires_grad=True)
        for lib, x in ((md, x_md), (torch, x_t)):
            xt = x.t()  # a non-contiguous view in the graph
            (g,) = lib.autograd.grad((xt.tanh() ** 3).sum(), x, create_graph=True)
            (g ** 2).sum().backward()
        np.testing.assert_allclose(x_md.grad.numpy(), x_t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_third_derivative_through_the_fused_slope_node(act):
    """sigmoid / tanh record their first derivative g s(y) as one kernel call with a backward
    of its own (OutputSlopeBackward); differentiating that backward again (third order) and
    mixing in g (a weighted sum) must match PyTorch."""
    arr, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    out = []
    for lib in (md, torch):
        x = lib.tensor(arr, requires_grad=True)
        y = getattr(x, act)()
        (g1,) = lib.autograd.grad((y * lib.tensor(w)).sum(), x, create_graph=True)
        (g2,) = lib.autograd.grad((g1 * g1).sum(), x, create_graph=True)
        (g3,) = lib.autograd.grad((g2 * lib.tensor(w)).sum(), x)
        out.append((g1.detach().numpy(), g2.detach().numpy(), g3.numpy()))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    x = md.tensor(arr[:2, :2], requires_grad=True)
    md.autograd.gradgradcheck(lambda v: md.autograd.grad(getattr(v, act)().sum(), v, create_graph=True)[0], (x,))


@pytest.mark.parametrize("x_shape", [(3, 4), (2, 3, 4)])
def test_third_derivative_through_linear(x_shape):
    """Linear's recorded first derivative (gx = g W, gW = g^T x as one WeightGradBackward
    node, gb = sum g) differentiated twice more, x and W both requiring grad: as PyTorch."""
    arrs = [rng.standard_normal(x_shape), rng.standard_normal((5, 4)), rng.standard_normal(5)]
    out = []
    for lib in (md, torch):
        x, w, b = (lib.tensor(a, requires_grad=True) for a in arrs)
        y = lib.nn.functional.linear(x, w, b).tanh()
        g1 = lib.autograd.grad((y ** 2).sum(), [x, w, b], create_graph=True)
        g2 = lib.autograd.grad(sum((g * g).sum() for g in g1), [x, w], create_graph=True)
        g3 = lib.autograd.grad(sum(g.sin().sum() for g in g2), [x, w, b])
        out.append([g.detach().numpy() for g in g1 + g2 + g3])
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_backward_create_graph_gives_grad_with_a_graph_and_accumulates():
    x = md.tensor([0.5, -1.0, 2.0], dtype=md.float64, requires_grad=True)
    xt = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    for v in (x, xt):
        (v ** 3).sum().backward(create_graph=True)
        assert v.grad.grad_fn is not None and v.grad.requires_grad
        (v.sin().sum()).backward(create_graph=True)  # accumulates: 3 x^2 + cos x
        penalty = (v.grad ** 2).sum()
        v.grad = None
        penalty.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_retain_graph_defaults_to_create_graph():
    x = md.tensor([1.0, 2.0], dtype=md.float64, requires_grad=True)
    y = (x.exp() * x).sum()
    (g,) = md.autograd.grad(y, x, create_graph=True)
    (g2,) = md.autograd.grad(y, x)  # the graph of y was kept; retain_graph=False frees it now
    np.testing.assert_allclose(g.detach().numpy(), g2.numpy())
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        md.autograd.grad(y, x)


def test_grad_options():
    x = md.tensor([1.0, 2.0], dtype=md.float64, requires_grad=True)
    unused = md.tensor([3.0], dtype=md.float64, requires_grad=True)
    y = x ** 2
    v = md.tensor([1.0, -1.0], dtype=md.float64, requires_grad=True)
    gx, gu = md.autograd.grad(y, [x, unused], grad_outputs=v, create_graph=True, allow_unused=True, only_inputs=True)
    assert gu is None
    np.testing.assert_allclose(gx.detach().numpy(), [2.0, -4.0])
    (dv,) = md.autograd.grad(gx.sum(), v)  # the grad_output stays in the graph: d/dv sum(2 x v) = 2 x
    np.testing.assert_allclose(dv.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        md.autograd.grad((x ** 2).sum(), [x, unused], create_graph=True)
    (z,) = md.autograd.grad((x ** 2).sum(), unused, create_graph=True, materialize_grads=True, allow_unused=True)
    assert z.numpy().tolist() == [0.0]


def test_gradgradcheck_conv2d():
    x = md.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    w = md.tensor(rng.standard_normal((2, 1, 2, 2)), requires_grad=True)
    assert md.autograd.gradgradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2), (x, w))


def test_op_without_double_backward_is_named():
    x = md.randn(1, 2, 6, 6, dtype=md.float64, requires_grad=True)
    y = F.ctc_loss(x.reshape(6, 2, 6).log_softmax(2), md.tensor([[1, 2], [3, 3]]), md.tensor([6, 6]),
                   md.tensor([2, 2]))
    with pytest.raises(RuntimeError, match=r"derivative for \w+ is not implemented for create_graph=True"):
        md.autograd.grad(y, x, create_graph=True)


def test_hooks_see_tensors_with_a_graph():
    x = md.tensor([1.0, 2.0], dtype=md.float64, requires_grad=True)
    seen = []
    y = x * x
    y.register_hook(lambda g: seen.append(g) or g * 2.0)
    (g,) = md.autograd.grad(y.sum(), x, create_graph=True)
    assert isinstance(seen[0], md.Tensor)
    np.testing.assert_allclose(g.detach().numpy(), [4.0, 8.0])
    (h,) = md.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [4.0, 4.0])


def test_ordinary_backward_is_unchanged():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_dropout_double_backward_uses_the_same_mask():
    x = md.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    y = F.dropout(x, 0.5)
    keep = (y.detach().numpy() != 0) * 2.0
    (g,) = md.autograd.grad((y ** 3).sum(), x, create_graph=True)  # 3 y^2 keep
    (h,) = md.autograd.grad(g.sum(), x)  # 6 y keep^2
    np.testing.assert_allclose(h.numpy(), 6 * y.detach().numpy() * keep ** 2, rtol=1e-12)


class Cube(md.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3.0 * x * x


def test_custom_function_backward_is_recorded():
    x = md.tensor([0.5, -1.5], dtype=md.float64, requires_grad=True)
    assert md.autograd.gradgradcheck(Cube.apply, (x,))
    (g,) = md.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    (h,) = md.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.detach().numpy())


def test_once_differentiable_refuses_double_backward():
    class Square(md.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @md.autograd.once_differentiable
        def backward(ctx, g):
            return g * 2.0 * ctx.saved_tensors[0]

    x = md.tensor([1.0, 2.0], requires_grad=True)
    Square.apply(x).sum().backward()  # once is fine
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="once_differentiable"):
        md.autograd.grad(Square.apply(x).sum(), x, create_graph=True)


def test_attention_with_dropout_refuses_double_backward():
    q = md.randn(1, 3, 4, dtype=md.float64, requires_grad=True)
    y = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).sum()
    with pytest.raises(RuntimeError, match="dropout_p > 0 is not implemented for create_graph=True"):
        md.autograd.grad(y, q, create_graph=True)


def test_multihead_attention_module_double_backward_matches_torch():
    md.manual_seed(0)
    mha = md.nn.MultiheadAttention(8, 2, batch_first=True).double()
    tmha = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    tmha.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in mha.state_dict().items()})
    x = rng.standard_normal((2, 3, 8))
    out = []
    for lib, m in ((md, mha), (torch, tmha)):
        xt = lib.tensor(x, requires_grad=True)
        (g,) = lib.autograd.grad((m(xt, xt, xt)[0] ** 2).sum(), xt, create_graph=True)
        (h,) = lib.autograd.grad((g ** 2).sum(), xt)
        out.append(h.detach().numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-8, atol=1e-10)


def test_backward_inputs_with_create_graph():
    x = md.tensor([1.0, 2.0], dtype=md.float64, requires_grad=True)
    w = md.tensor([3.0], dtype=md.float64, requires_grad=True)
    (w * x ** 3).sum().backward(inputs=[x], create_graph=True)
    assert w.grad is None and x.grad.grad_fn is not None
    (dw,) = md.autograd.grad(x.grad.sum(), w)  # d/dw sum(3 w x^2) = 3 sum(x^2)
    np.testing.assert_allclose(dw.numpy(), [15.0])


def test_float32_hvp_matches_torch():
    rng32 = np.random.default_rng(5)
    w, x, v = (rng32.standard_normal(s).astype(np.float32) for s in ((6, 5), (4, 5), (6, 5)))
    out = []
    for lib in (md, torch):
        W = lib.tensor(w, requires_grad=True)
        (g,) = lib.autograd.grad((lib.tensor(x) @ W.t()).tanh().pow(2).sum(), W, create_graph=True)
        (h,) = lib.autograd.grad((g * lib.tensor(v)).sum(), W)
        out.append(h.numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
def test_recurrent_layers_match_torch(kind):
    """Bidirectional, two layers; second derivatives with respect to the input and a weight."""
    cls, extra = {"RNN_TANH": ("RNN", {}), "RNN_RELU": ("RNN", {"nonlinearity": "relu"}), "LSTM": ("LSTM", {}),
                  "GRU": ("GRU", {})}[kind]
    md.manual_seed(0)
    m = getattr(md.nn, cls)(3, 4, num_layers=2, bidirectional=True, **extra).double()
    t = getattr(torch.nn, cls)(3, 4, num_layers=2, bidirectional=True, **extra).double()
    t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    x = rng.standard_normal((5, 2, 3))
    out = []
    for lib, net in ((md, m), (torch, t)):
        xt = lib.tensor(x, requires_grad=True)
        y, hidden = net(xt)
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden
        w = net.weight_hh_l0
        gx, gw = lib.autograd.grad((y ** 2).sum() + (h_n ** 3).sum(), (xt, w), create_graph=True)
        hx, hw = lib.autograd.grad((gx ** 2).sum() + (gw ** 2).sum(), (xt, w))
        out.append((hx.detach().numpy(), hw.detach().numpy()))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_packed_lstm_double_backward_matches_torch():
    md.manual_seed(1)
    m = md.nn.LSTM(2, 3, batch_first=True).double()
    t = torch.nn.LSTM(2, 3, batch_first=True).double()
    t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    x, lengths = rng.standard_normal((3, 4, 2)), [4, 2, 1]
    out = []
    for lib, net in ((md, m), (torch, t)):
        xt = lib.tensor(x, requires_grad=True)
        packed = lib.nn.utils.rnn.pack_padded_sequence(xt, lengths, batch_first=True)
        _, (h_n, c_n) = net(packed)
        (gx,) = lib.autograd.grad((h_n ** 2).sum() + c_n.sum(), xt, create_graph=True)
        (hx,) = lib.autograd.grad((gx ** 2).sum(), xt)
        out.append(hx.detach().numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-7, atol=1e-9)


def test_gradgradcheck_gru_layer():
    md.manual_seed(2)
    gru = md.nn.GRU(2, 2).double()
    x = md.tensor(rng.standard_normal((3, 1, 2)), requires_grad=True)
    assert md.autograd.gradgradcheck(lambda x: gru(x)[0], (x,))


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce, include_self):
    idx = md.tensor([[0, 2, 2], [1, 1, 0]])
    x = md.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    src = md.tensor(rng.standard_normal((2, 3)), requires_grad=True)

    def f(x, src):
        return md.scatter_reduce(x, 0, idx, src, reduce, include_self=include_self) ** 3
    assert md.autograd.gradgradcheck(f, (x, src))


def test_scatter_reduce_prod_refuses_double_backward():
    x = md.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = md.scatter_reduce(x, 0, md.tensor([[0, 2]]), x[:1, :2] * 2, "prod").sum()
    with pytest.raises(RuntimeError, match="reduce='prod' is not implemented for create_graph=True"):
        md.autograd.grad(y, x, create_graph=True)


@pytest.mark.parametrize("alpha, gamma, reduction", [(0.25, 2.0, "mean"), (None, 0.0, "sum"), ("tensor", 1.5, "none")])
def test_focal_loss(alpha, gamma, reduction):
    x = md.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    t = md.tensor([0, 2, 1, 2])
    a = md.tensor([0.2, 0.5, 0.3], dtype=md.float64) if alpha == "tensor" else alpha

    def f(x):
        out = F.focal_loss(x, t, alpha=a, gamma=gamma, reduction=reduction)
        return out if reduction != "none" else out ** 2
    assert md.autograd.gradgradcheck(f, (x,))


def test_zero_gradient_ops_give_zero_second_derivatives():
    x = md.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    mean = md.tensor(rng.standard_normal(3), requires_grad=True)
    sample = md.normal(mean.expand(2, 3), 1.0)  # not reparameterised: d sample / d mean = 0 (PyTorch)
    y = (sample * x).sum() + md.linalg.vector_norm(x, 0) + (x ** 3).sum()
    gx, gm = md.autograd.grad(y, (x, mean), create_graph=True)
    (h,) = md.autograd.grad((gx ** 2).sum() + gm.sum(), x)  # gx = sample + 3 x^2
    s, xv = sample.detach().numpy(), x.detach().numpy()
    np.testing.assert_allclose(h.numpy(), 12 * xv * (s + 3 * xv ** 2), rtol=1e-12)
    assert not gm.numpy().any()
