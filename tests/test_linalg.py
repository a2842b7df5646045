"""outer, dot, inner, tensordot, addmm, baddbmm, addcmul, addcdiv, lerp (+ in-place forms),
vector/matrix norms, norm and cdist against PyTorch: values, gradients, float64 gradcheck,
odd sizes, non-contiguous inputs, negative dims, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minidl as md

from _parity import check, torch

INF = math.inf


@pytest.mark.parametrize("n,m", [(1, 1), (3, 5), (7, 2)])
def test_outer_dot_inner(rng, n, m):
    check(rng, lambda t, a, b: t.outer(a, b), [(n,), (m,)])
    check(rng, lambda t, a, b: a.outer(b), [(n,), (m,)])
    check(rng, lambda t, a, b: t.dot(a, b), [(n,), (n,)])
    check(rng, lambda t, a, b: a.dot(b), [(m,), (m,)])
    check(rng, lambda t, a, b: t.inner(a, b), [(2, n, m), (3, m)], non_contiguous=True)
    check(rng, lambda t, a, b: a.inner(b), [(m,), (m,)])
    check(rng, lambda t, a, b: t.inner(a[0, 0], b), [(1, 1), (n, m)])


@pytest.mark.parametrize("dims", [0, 1, 2, ([1], [0]), ([0, 2], [2, 1]), ([-1, 0], [1, -1]), [[2], [1]]])
def test_tensordot(rng, dims):
    check(rng, lambda t, a, b: t.tensordot(a, b, dims), [(2, 3, 3), (3, 3, 2)], non_contiguous=True)


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (1, 0)])
@pytest.mark.parametrize("bias_shape", [(4, 5), (5,), (1, 1), (4, 1)])
def test_addmm_baddbmm(rng, beta, alpha, bias_shape):
    check(rng, lambda t, c, a, b: t.addmm(c, a, b, beta=beta, alpha=alpha), [bias_shape, (4, 3), (3, 5)],
          non_contiguous=True)
    check(rng, lambda t, c, a, b: c.addmm(a, b, beta=beta, alpha=alpha), [bias_shape, (4, 1), (1, 5)])
    check(rng, lambda t, c, a, b: t.baddbmm(c, a, b, beta=beta, alpha=alpha), [bias_shape, (2, 4, 3), (2, 3, 5)],
          non_contiguous=True)


def test_addmm_beta_zero_ignores_nan():
    c = md.full((2, 2), float("nan"))
    assert not md.isnan(md.addmm(c, md.ones(2, 3), md.ones(3, 2), beta=0)).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_addcmul_addcdiv_are_pytorchs_bits_on_every_kernel_set(rng, kernel_set, dtype):
    # one fused pass with PyTorch's arithmetic (fma(value t1, t2, x); x + (value t1) / t2):
    # contiguous rows (vector loops and tails), broadcast operands, a transposed one; in place
    # under no_grad (a hand-written optimizer's update) as well
    for shapes in ([(1001,), (1001,), (1001,)], [(37, 53), (53,), (37, 1)], [(1,), (64, 33), (33,)]):
        x, a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
        b = np.abs(b) + 0.25
        for name in ("addcmul", "addcdiv"):
            got = getattr(md, name)(md.tensor(x), md.tensor(a), md.tensor(b), value=0.3).numpy()
            want = getattr(torch, name)(torch.tensor(x), torch.tensor(a), torch.tensor(b), value=0.3).numpy()
            np.testing.assert_array_equal(got, want)
    x, a, b = (rng.standard_normal((40, 30)).astype(dtype) for _ in range(3))
    for name in ("addcmul_", "addcdiv_"):
        m, t = md.tensor(x), torch.tensor(x)
        with md.no_grad():
            assert getattr(m, name)(md.tensor(a).T.T, md.tensor(b.T).T, value=-0.7) is m
        getattr(t, name)(torch.tensor(a), torch.tensor(b), value=-0.7)
        np.testing.assert_array_equal(m.numpy(), t.numpy())


def test_addcmul_in_place_is_seen_by_saved_tensors():
    # the fused in-place pass bumps the version: a graph that saved the tensor refuses to backward
    w = md.ones(3, requires_grad=True)
    v = md.ones(3)
    y = (w * v).sum()
    v.addcmul_(md.ones(3), md.ones(3))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize("value", [1, -0.5])
@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4), (3, 4)], [(1,), (2, 1), (5,)], [(2, 3, 1), (3, 4), (1,)]])
def test_addcmul_addcdiv_lerp(rng, value, shapes):
    check(rng, lambda t, x, a, b: t.addcmul(x, a, b, value=value), shapes, non_contiguous=True)
    check(rng, lambda t, x, a, b: t.addcdiv(x, a, b.abs() + 0.5, value=value), shapes)
    check(rng, lambda t, x, a, w: t.lerp(x, a, w), shapes, non_contiguous=True)
    check(rng, lambda t, x, a, w: x.lerp(a, value), shapes[:2] + [(1,)])


@pytest.mark.parametrize("name,args", [("addmm_", [(3, 5), (3, 2), (2, 5)]), ("baddbmm_", [(2, 3, 5), (2, 3, 2), (2, 2, 5)]),
                                       ("addcmul_", [(3, 4), (3, 4), (4,)]), ("addcdiv_", [(3, 4), (3, 4), (4,)]),
                                       ("lerp_", [(3, 4), (3, 4), (1, 4)])])
def test_inplace_forms(rng, name, args):
    def fn(t, x, a, b):
        y = x * 1.0
        out = getattr(y, name)(a, b if name != "addcdiv_" else b.abs() + 1, **({"alpha": 0.5} if "mm" in name else {}))
        assert out is y
        return y
    check(rng, fn, args)


@pytest.mark.parametrize("ord", [2, 1, INF, -INF, 0, 3, 0.5, -1])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2), (-1, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_vector_norm(rng, ord, dim, keepdim):
    check(rng, lambda t, x: t.linalg.vector_norm(x, ord, dim, keepdim), [(3, 4, 5)], non_contiguous=True)


def test_vector_norm_zero_vector_gradient_is_zero_and_dtype():
    for ord in (2, 3, 1, INF):
        x = md.zeros(2, 3, dtype=md.float64, requires_grad=True)
        md.linalg.vector_norm(x, ord, dim=1).sum().backward()
        assert np.all(x.grad.numpy() == 0), ord
    assert md.linalg.vector_norm(md.ones(3), dtype=md.float64).dtype == md.float64


@pytest.mark.parametrize("ord", ["fro", 1, -1, INF, -INF])
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2), (2, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm(rng, ord, dim, keepdim):
    check(rng, lambda t, x: t.linalg.matrix_norm(x, ord, dim, keepdim), [(3, 4, 5)], non_contiguous=True)


@pytest.mark.parametrize("p,dim", [("fro", None), ("fro", 1), ("fro", (0, 1)), (2, None), (1, -1), (INF, 0),
                                   (3, (1, 2)), (None, None)])
def test_norm(rng, p, dim):
    check(rng, lambda t, x: t.norm(x, p, dim), [(2, 3, 4)], non_contiguous=True)
    check(rng, lambda t, x: x.norm(p=p, dim=dim, keepdim=True), [(2, 3, 4)])


@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, 3.0, INF])
@pytest.mark.parametrize("shapes", [[(5, 3), (4, 3)], [(2, 1, 7), (2, 6, 7)], [(1, 1), (1, 1)], [(3, 4, 2), (4, 2)],
                                    [(30, 5), (4, 5)], [(2, 3, 4), (1, 26, 4)]])  # > 25 rows: the GEMM path for p = 2
def test_cdist(rng, p, shapes):
    check(rng, lambda t, a, b: t.cdist(a, b, p), shapes, non_contiguous=True)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"])
def test_cdist_compute_modes(rng, mode):
    check(rng, lambda t, a, b: t.cdist(a, b, compute_mode=mode), [(40, 3), (7, 3)], non_contiguous=True)


@pytest.mark.parametrize("rows", [1, 30])
def test_cdist_zero_distance_has_zero_gradient(rows):
    x = md.tensor([[1.0, 2.0]] * rows, dtype=md.float64, requires_grad=True)
    d = md.cdist(x, md.tensor([[1.0, 2.0]], dtype=md.float64))
    d.sum().backward()
    assert d.tolist() == [[0.0]] * rows and x.grad.tolist() == [[0.0, 0.0]] * rows


@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: md.outer(a, b), [(3,), (2,)]), (lambda a, b: md.dot(a, b), [(4,), (4,)]),
    (lambda a, b: md.inner(a, b), [(2, 3), (4, 3)]), (lambda a, b: md.tensordot(a, b, ([0], [1])), [(3, 2), (4, 3)]),
    (lambda c, a, b: md.addmm(c, a, b, beta=0.3, alpha=2), [(3,), (2, 4), (4, 3)]),
    (lambda c, a, b: md.baddbmm(c, a, b, beta=0.3), [(1, 3), (2, 2, 4), (2, 4, 3)]),
    (lambda x, a, b: md.addcmul(x, a, b, value=2), [(3,), (2, 3), (3,)]),
    (lambda x, a, b: md.addcdiv(x, a, b * b + 1, value=2), [(3,), (2, 3), (3,)]),
    (lambda x, a, w: md.lerp(x, a, w), [(3,), (2, 3), (3,)]),
    (lambda x: md.linalg.vector_norm(x), [(3, 4)]), (lambda x: md.linalg.vector_norm(x, 3, 1), [(3, 4)]),
    (lambda x: md.linalg.vector_norm(x, INF, 0), [(3, 4)]), (lambda x: md.linalg.vector_norm(x, 1), [(3, 4)]),
    (lambda x: md.linalg.matrix_norm(x, 1), [(2, 3, 4)]), (lambda x: md.linalg.matrix_norm(x, -INF), [(2, 3, 4)]),
    (lambda x: md.norm(x, dim=1), [(3, 4)]), (lambda a, b: md.cdist(a, b), [(3, 2), (4, 2)]),
    (lambda a, b: md.cdist(a, b, 1.5), [(3, 2), (4, 2)]), (lambda a, b: md.cdist(a, b), [(27, 2), (3, 2)])])
def test_gradcheck(fn, shapes):
    rng = np.random.default_rng(5)
    xs = tuple(md.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)
    assert md.autograd.gradcheck(fn, xs)


def test_bad_input():
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 1D tensors"):
        md.dot(md.ones(2, 2), md.ones(2))
    with pytest.raises(RuntimeError, match="inconsistent tensor size, expected tensor \\[3\\] and src \\[4\\]"):
        md.dot(md.ones(3), md.ones(4))
    with pytest.raises(RuntimeError, match="same dtype"):
        md.dot(md.ones(3), md.ones(3, dtype=md.float64))
    with pytest.raises(RuntimeError, match="expected 1-D"):
        md.outer(md.ones(2, 2), md.ones(2))
    with pytest.raises(RuntimeError, match="the last dimension must match"):
        md.inner(md.ones(2, 3), md.ones(2))
    with pytest.raises(RuntimeError, match="contracted dimensions need to match"):
        md.tensordot(md.ones(2, 3), md.ones(2, 3), 1)
    with pytest.raises(RuntimeError, match="both dimension lists should have same length"):
        md.tensordot(md.ones(2, 3), md.ones(2, 3), ([0, 1], [0]))
    with pytest.raises(RuntimeError, match="mat1 must be a matrix, got 1-D"):
        md.addmm(md.ones(2), md.ones(2), md.ones(2, 2))
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied \\(2x3 and 4x2\\)"):
        md.addmm(md.ones(2), md.ones(2, 3), md.ones(4, 2))
    with pytest.raises(RuntimeError, match="does not broadcast"):
        md.addmm(md.ones(3), md.ones(2, 3), md.ones(3, 2))
    with pytest.raises(RuntimeError, match="same number of batches"):
        md.baddbmm(md.ones(1), md.ones(2, 2, 3), md.ones(3, 3, 2))
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        md.addcdiv(md.ones(2), md.tensor([1, 2]), md.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="expected dtype float32 for `end` but got dtype float64"):
        md.lerp(md.ones(2), md.ones(2, dtype=md.float64), 0.5)
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        md.linalg.vector_norm(md.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="Order 3 not supported"):  # 2, -2, 'nuc': tests/test_linalg_decompositions.py
        md.linalg.matrix_norm(md.ones(2, 2), 3)
    with pytest.raises(RuntimeError, match="dim must be a 2-tuple"):
        md.linalg.matrix_norm(md.ones(2, 2), dim=(0,))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        md.linalg.matrix_norm(md.ones(2))
    with pytest.raises(RuntimeError, match="X1 and X2 must have the same number of columns. X1: 3 X2: 4"):
        md.cdist(md.ones(2, 3), md.ones(2, 4))
    with pytest.raises(RuntimeError, match="at least 2D tensors, X1 got: 1D"):
        md.cdist(md.ones(3), md.ones(2, 3))
    with pytest.raises(RuntimeError, match="non-negative p"):
        md.cdist(md.ones(2, 3), md.ones(2, 3), -1)
    with pytest.raises(ValueError, match="not a valid value for compute_mode"):
        md.cdist(md.ones(2, 3), md.ones(2, 3), compute_mode="fast")


def test_addmm_baddbmm_under_autocast_give_the_low_dtype_like_pytorch():
    for t in (md, torch):
        with t.autocast(device_type="cpu", dtype=t.bfloat16):
            assert t.addmm(t.ones(3), t.ones(2, 4), t.ones(4, 3)).dtype == t.bfloat16
            assert t.baddbmm(t.ones(3), t.ones(2, 2, 4), t.ones(2, 4, 3)).dtype == t.bfloat16


@pytest.mark.parametrize("keepdim", [False, True])
def test_whole_tensor_two_norm_is_accurate_and_differentiable(keepdim):
    # the whole-tensor 2-norm of a float32 tensor sums x^2 in one pass (ReduceOp::sum_squares): the
    # value of a long same-signed sum stays within float32 rounding of the exact one (PyTorch's
    # is 2.6e-5 off here), and so does the gradient x / ||x||
    rng = np.random.default_rng(5)
    a = rng.random((3, 700, 1000)).astype(np.float32)
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    n, tn = md.linalg.vector_norm(x, keepdim=keepdim), torch.linalg.vector_norm(tx, keepdim=keepdim)
    assert tuple(n.shape) == tuple(tn.shape)
    exact = np.sqrt(np.dot(a.reshape(-1).astype(np.float64), a.reshape(-1).astype(np.float64)))
    np.testing.assert_allclose(float(n.reshape(-1)[0]), exact, rtol=1e-6)
    n.sum().backward()
    tn.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), a / exact, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4)
    assert float(md.zeros(0).norm()) == 0.0 and float(md.tensor(a).double().norm()) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape,dim", [((300, 1030), 1), ((300, 1030), 0), ((4, 37, 50), (0, 2)), ((2, 300000), 1),
                                       ((1, 600000), -1), ((6, 5, 70), 1)])
def test_two_norm_over_dims_sums_squares_in_one_pass(shape, dim, threads):
    # a 2-norm over some dims squares each value as it is read (ReduceOp::sum_squares: the row,
    # column and long-row paths of the reduce kernel); float32 values within float32 rounding of
    # the exact norm, the gradient x / ||x|| as PyTorch's
    old = md.get_num_threads()
    md.set_num_threads(threads)
    try:
        a = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
        x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        n, tn = md.linalg.vector_norm(x, 2, dim), torch.linalg.vector_norm(tx, 2, dim)
        exact = np.sqrt(np.sum(a.astype(np.float64) ** 2, axis=dim))
        np.testing.assert_allclose(n.detach().numpy(), exact, rtol=2e-6)
        g = np.random.default_rng(7).standard_normal(exact.shape).astype(np.float32)
        n.backward(md.tensor(g))
        tn.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-7)
        d = a.astype(np.float64)
        np.testing.assert_allclose(md.tensor(d).norm(dim=dim).numpy(), exact, rtol=1e-13)
    finally:
        md.set_num_threads(old)


def test_sum_squares_kernel_takes_floats_only():
    from minidl import _C
    with pytest.raises(TypeError, match="sum_squares takes float32 or float64"):
        _C.reduce(_C.ReduceOp.sum_squares, np.ones(3, np.int64), [0], False, 1.0, 0.0, False)
    np.testing.assert_array_equal(_C.reduce(_C.ReduceOp.sum_squares, np.zeros((2, 0), np.float32), [1], False, 1.0,
                                            0.0, False), [0.0, 0.0])


@pytest.mark.parametrize("weight", [0.0, 0.25, 0.5, 0.75, 1.0, -0.5, 1.5])
@pytest.mark.parametrize("shapes", [[(64, 33), (64, 33)], [(64, 33), (33,)], [(1, 33), (5, 1, 33)]])
def test_lerp_with_a_number_weight_is_one_fused_pass_with_pytorchs_bits(weight, shapes):
    # lerp(a, b, w) with a number w: scaled_update out of place (PyTorch's two formulas, split at
    # w = 0.5), so the float32 values are PyTorch's bit for bit; gradients g (1 - w) and g w
    rng = np.random.default_rng(8)
    a_np, b_np = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    a, b = md.tensor(a_np, requires_grad=True), md.tensor(b_np, requires_grad=True)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    y, ty = md.lerp(a, b, weight), torch.lerp(ta, tb, weight)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    y.backward(md.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-6, atol=1e-6)
    a64, b64 = (md.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)
    assert md.autograd.gradcheck(lambda u, v: md.lerp(u, v, weight), (a64, b64))
    assert md.autograd.gradgradcheck(lambda u, v: md.lerp(u, v, weight) ** 2, (a64, b64))


def test_lerp_with_a_number_weight_refuses_shapes_that_do_not_broadcast():
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)"):
        md.lerp(md.ones(3), md.ones(4), 0.5)
    with pytest.raises(RuntimeError, match="expected dtype float32 for `end`"):
        md.lerp(md.ones(3), md.ones(3, dtype=md.float64), 0.5)
