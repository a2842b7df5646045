"""Issue 15 group 6, the small ones: x.new_zeros/new_ones/new_full/new_empty/new_tensor,
x.type_as, x.nbytes, md.clamp_min/clamp_max, md.tan, md.logspace, md.erf/erfinv, against PyTorch."""
import numpy as np
import pytest

from conftest import require

import minidl as md

torch = require("torch")


def name(dtype):
    return str(dtype).split(".")[-1]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_new_constructors_match_torch(dtype):
    a = md.tensor([1, 0, 1]).to(getattr(md, dtype))
    b = torch.tensor([1, 0, 1]).to(getattr(torch, dtype))
    calls = [lambda x: x.new_zeros(2, 3), lambda x: x.new_zeros((2,)), lambda x: x.new_ones([1, 2]),
             lambda x: x.new_ones(3, dtype=x.new_zeros(1, dtype=None).dtype), lambda x: x.new_full((2, 2), 1),
             lambda x: x.new_tensor([[1, 0], [2, 3]]), lambda x: x.new_tensor(x * 0 + 1)]
    for call in calls:
        u, v = call(a), call(b)
        assert name(u.dtype) == name(v.dtype) and tuple(u.shape) == tuple(v.shape)
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    e = a.new_empty(2, 0)
    assert tuple(e.shape) == (2, 0) and name(e.dtype) == dtype
    assert name(a.new_zeros(2, dtype=md.float64).dtype) == "float64"
    assert a.nbytes == b.nbytes and a.new_zeros(4, 5).nbytes == b.new_zeros(4, 5).nbytes


def test_new_tensor_copies_and_detaches_and_requires_grad():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = x.new_tensor(x)
    assert not y.requires_grad and y.grad_fn is None
    y[0] = 5.0
    assert x[0].item() == 1.0
    assert x.new_zeros(2, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        md.tensor([1]).new_ones(2, requires_grad=True)


def test_type_as():
    a, b = md.tensor([1.7, -2.2]), torch.tensor([1.7, -2.2])
    for other in ("int64", "float64", "bool"):
        u = a.type_as(md.zeros(1, dtype=getattr(md, other)))
        v = b.type_as(torch.zeros(1, dtype=getattr(torch, other)))
        assert name(u.dtype) == name(v.dtype)
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert a.type_as(md.zeros(1)) is a  # same dtype: no copy, as PyTorch's .to


@pytest.mark.parametrize("fn", ["clamp_min", "clamp_max"])
def test_clamp_min_max_match_torch(fn):
    x = np.random.default_rng(0).standard_normal((3, 5))
    a, b = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for bound in (0.3, -0.2):
        ya, yb = getattr(md, fn)(a, bound), getattr(torch, fn)(b, bound)
        np.testing.assert_array_equal(ya.detach().numpy(), yb.detach().numpy())
        np.testing.assert_array_equal(getattr(a, fn)(bound).detach().numpy(), yb.detach().numpy())
        ya.sum().backward()
        yb.sum().backward()
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    t = np.random.default_rng(1).standard_normal(5)
    np.testing.assert_array_equal(getattr(md, fn)(md.tensor(x), md.tensor(t)).numpy(),
                                  getattr(torch, fn)(torch.tensor(x), torch.tensor(t)).numpy())
    assert md.autograd.gradcheck(lambda v: getattr(md, fn)(v, 0.1), (md.tensor(x + 0.01, requires_grad=True),))


def test_tan_matches_torch_with_gradient():
    x = np.concatenate([np.linspace(-1.5, 1.5, 101), [0.0, 1e-30, -3.0, 10.0]])
    for dtype, rtol in ((np.float64, 1e-14), (np.float32, 1e-6)):
        a, b = md.tensor(x.astype(dtype), requires_grad=True), torch.tensor(x.astype(dtype), requires_grad=True)
        ya, yb = md.tan(a), torch.tan(b)
        assert name(ya.dtype) == name(yb.dtype)
        np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=rtol, atol=1e-30)
        ya.sum().backward()
        yb.sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=4 * rtol)
    xt = md.tensor(x[::3].reshape(5, 7).T, dtype=md.float64)  # non-contiguous
    np.testing.assert_allclose(xt.tan().numpy(), np.tan(xt.numpy()), rtol=1e-14)
    assert md.autograd.gradcheck(md.tan, (md.tensor(x[:50], requires_grad=True),))
    assert name(md.tan(md.tensor([1, 2])).dtype) == name(torch.tan(torch.tensor([1, 2])).dtype)
    with pytest.raises(TypeError):
        md.tan(1.0)


@pytest.mark.parametrize("args", [(0, 3, 4), (-2.0, 2.0, 9), (1, 1, 1), (0, 1, 0), (0, 4, 5, 2.0), (3, -1, 7, 0.5)])
def test_logspace_matches_torch(args):
    for dtype in (None, "float64"):
        kw = {} if dtype is None else {"dtype": getattr(md, dtype)}
        u = md.logspace(*args, **kw)
        v = torch.logspace(*args, **({} if dtype is None else {"dtype": getattr(torch, dtype)}))
        assert name(u.dtype) == name(v.dtype) and tuple(u.shape) == tuple(v.shape)
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-6 if dtype is None else 1e-14)
    with pytest.raises(RuntimeError, match="number of steps must be non-negative"):
        md.logspace(0, 1, -1)


@pytest.mark.parametrize("fn", ["erf", "erfinv"])
def test_erf_erfinv_match_torch_with_gradient(fn):
    lim = 6.0 if fn == "erf" else 0.999
    x = np.concatenate([np.linspace(-lim, lim, 2001), [0.0, 1e-300, -1e-30, 0.5, -0.5]])
    for dtype, rtol in ((np.float64, 1e-14), (np.float32, 1e-6)):
        a, b = md.tensor(x.astype(dtype), requires_grad=True), torch.tensor(x.astype(dtype), requires_grad=True)
        ya, yb = getattr(md, fn)(a), getattr(torch, fn)(b)
        assert name(ya.dtype) == name(yb.dtype)
        np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=rtol, atol=1e-300)
        np.testing.assert_allclose(getattr(a, fn)().detach().numpy(), yb.detach().numpy(), rtol=rtol, atol=1e-300)
        ya.sum().backward()
        yb.sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=4 * rtol)
    xt = md.tensor((x[:2000] * 0.9).reshape(40, 50).T)  # non-contiguous
    np.testing.assert_allclose(getattr(xt, fn)().numpy(), getattr(torch, fn)(torch.tensor(xt.numpy())).numpy(),
                               rtol=1e-14)
    assert md.autograd.gradcheck(getattr(md, fn), (md.tensor(x[::40] * 0.9, requires_grad=True),))
    ints = md.tensor([0, 1, -1])
    np.testing.assert_array_equal(getattr(md, fn)(ints).numpy(), getattr(torch, fn)(torch.tensor([0, 1, -1])).numpy())


def test_erfinv_edges_match_torch():
    y = np.array([-1.0, 1.0, 1.5, -2.0, np.nan, -0.0, 1 - 1e-16, -1 + 1e-16, 1e-300, 0.999999])
    a, b = md.erfinv(md.tensor(y)).numpy(), torch.erfinv(torch.tensor(y)).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-14)
    assert np.signbit(a[5])  # erfinv(-0) = -0
    z = np.array([-np.inf, np.inf, np.nan, -0.0, 30.0])
    np.testing.assert_array_equal(md.erf(md.tensor(z)).numpy(), torch.erf(torch.tensor(z)).numpy())
    for dtype in ("bfloat16", "float16"):
        v = np.array([-0.9, -0.1, 0.3, 0.99], np.float32)
        for fn in ("erf", "erfinv"):
            u = getattr(md, fn)(md.tensor(v).to(getattr(md, dtype)))
            w = getattr(torch, fn)(torch.tensor(v).to(getattr(torch, dtype)))
            assert name(u.dtype) == name(w.dtype)
            np.testing.assert_allclose(u.float().numpy(), w.float().numpy(), rtol=1e-2)


@pytest.mark.parametrize("method,args", [("erf_", ()), ("erfinv_", ()), ("tan_", ()), ("clamp_min_", (0.1,)),
                                         ("clamp_max_", (-0.1,))])
def test_inplace_variants_match_torch(method, args):
    x = np.random.default_rng(5).uniform(-0.9, 0.9, (3, 4))
    a, b = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = a * 1, b * 1
    assert getattr(ya, method)(*args) is ya
    getattr(yb, method)(*args)
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-14)
    ya.sum().backward()
    yb.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-13)
    plain = md.tensor(x)
    getattr(plain, method)(*args)
    np.testing.assert_allclose(plain.numpy(), yb.detach().numpy(), rtol=1e-14)
    if method in ("erf_", "erfinv_", "tan_"):
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            getattr(md.tensor([1, 2]), method)()
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            getattr(torch.tensor([1, 2]), method)()
