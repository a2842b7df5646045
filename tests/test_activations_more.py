"""The activations of issue 15 group 7 (nn/activation_pointwise.py, nn/activation_composed.py)
against PyTorch: values and gradients on random shapes (size 1, odd sizes, non-contiguous
inputs, negative dims), float64 gradcheck, the SIMD kernels against the scalar reference and
float64 torch, in-place forms, modules, and the bad inputs PyTorch refuses."""
import numpy as np
import pytest

from conftest import require

import minidl as md
import minidl.nn.functional as F
from minidl import _C, nn

torch = require("torch")
TF = torch.nn.functional

# name -> call(F-module, x): the same call for minidl's F and torch's
POINTWISE = {
    "silu": lambda f, x: f.silu(x),
    "mish": lambda f, x: f.mish(x),
    "elu": lambda f, x: f.elu(x, 0.7),
    "selu": lambda f, x: f.selu(x),
    "celu": lambda f, x: f.celu(x, 1.3),
    "softplus": lambda f, x: f.softplus(x, 1.5, 2.0),
    "softsign": lambda f, x: f.softsign(x),
    "hardtanh": lambda f, x: f.hardtanh(x, -0.8, 1.2),
    "relu6": lambda f, x: f.relu6(x * 4),
    "hardswish": lambda f, x: f.hardswish(x * 2),
    "hardsigmoid": lambda f, x: f.hardsigmoid(x * 2),
    "logsigmoid": lambda f, x: f.logsigmoid(x),
    "softshrink": lambda f, x: f.softshrink(x, 0.4),
    "hardshrink": lambda f, x: f.hardshrink(x, 0.4),
    "threshold": lambda f, x: f.threshold(x, 0.3, -2.0),
    "tanhshrink": lambda f, x: f.tanhshrink(x),
    "rrelu_eval": lambda f, x: f.rrelu(x, 0.1, 0.4),
}
ALONG_DIM = {
    "softmin": lambda f, x, d: f.softmin(x, dim=d),
    "glu": lambda f, x, d: f.glu(x, d),
}
SHAPES = [(1,), (7,), (3, 5), (2, 3, 4), ()]


def pair(shape, seed, dtype=np.float64, transpose=False, scale=3.0):
    """The same values as a minidl and a torch leaf that require grad; kinks avoided (no |x|
    within 1e-3 of 0, +-0.3, +-0.4, +-0.8, 1.2, +-3, 6: the finite differences and the two
    libraries' side of a kink must not matter)."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    for k in (0, 0.3, -0.3, 0.4, -0.4, -0.8, 1.2, 3, -3, 6, 1.5, -1.5):
        x = np.where(np.abs(x - k) < 1e-3, k + 0.01, x)
    x = x.astype(dtype)
    if transpose and x.ndim >= 2:
        xt = np.swapaxes(x, 0, -1).copy()
        m, t = md.tensor(xt).transpose(0, -1), torch.tensor(xt).transpose(0, -1)  # non-contiguous views
        assert not m.is_contiguous() or 1 in x.shape
        m, t = m.detach().requires_grad_(), t.detach().requires_grad_()
        return m, t
    return md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def check_parity(call, shape, seed, dtype=np.float64, transpose=False, rtol=1e-6, atol=1e-7):
    a, b = pair(shape, seed, dtype, transpose)
    ya, yb = call(F, a), call(TF, b)
    assert tuple(ya.shape) == tuple(yb.shape) and str(ya.dtype).split(".")[-1] == str(yb.dtype).split(".")[-1]
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(seed + 1).standard_normal(tuple(yb.shape)).astype(dtype)
    ya.backward(md.tensor(g))
    yb.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("shape", SHAPES)
def test_pointwise_matches_torch(name, shape):
    check_parity(POINTWISE[name], shape, len(shape) * 7 + len(name))
    check_parity(POINTWISE[name], shape, 3, np.float32, rtol=2e-5, atol=2e-6)
    check_parity(POINTWISE[name], shape, 5, transpose=True)


@pytest.mark.parametrize("name", list(ALONG_DIM))
@pytest.mark.parametrize("shape,dim", [((2,), 0), ((3, 4), -1), ((4, 3), 0), ((2, 6, 3), 1), ((2, 4, 2), -3),
                                       ((1, 2), -1)])
def test_along_dim_matches_torch(name, shape, dim):
    call = lambda f, x: ALONG_DIM[name](f, x, dim)  # noqa: E731
    check_parity(call, shape, 11)
    check_parity(call, shape, 12, transpose=True)
    check_parity(call, shape, 13, np.float32, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("shape,channels", [((2, 3), 3), ((2, 3, 5), 3), ((4, 2, 3, 3), 1), ((5,), 1), ((), 1),
                                            ((1, 4, 1), 4)])
def test_prelu_matches_torch_with_weight_gradient(shape, channels):
    a, b = pair(shape, 21)
    w = np.random.default_rng(2).uniform(0.05, 0.5, channels)
    wa, wb = md.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    ya, yb = F.prelu(a, wa), TF.prelu(b, wb)
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-12)
    (ya * ya).sum().backward()
    (yb * yb).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(wa.grad.numpy(), wb.grad.numpy(), rtol=1e-10)
    # a 0-d weight and the module
    np.testing.assert_allclose(F.prelu(a, md.tensor(0.2, dtype=md.float64)).detach().numpy(),
                               TF.prelu(b, torch.tensor(0.2, dtype=torch.float64)).detach().numpy())
    m = nn.PReLU(channels, init=0.1)
    assert tuple(m.weight.shape) == (channels,) and repr(m) == f"PReLU(num_parameters={channels})"
    assert [n for n, _ in m.named_parameters()] == ["weight"]


@pytest.mark.parametrize("name", list(POINTWISE) + list(ALONG_DIM) + ["prelu", "rrelu_train"])
def test_gradcheck_float64(name):
    x, _ = pair((3, 4), 31, scale=2.0)
    if name in ALONG_DIM:
        fn = lambda t: ALONG_DIM[name](F, t, 1)  # noqa: E731
        assert md.autograd.gradcheck(fn, (x,))
    elif name == "prelu":
        w = md.tensor([0.1, 0.2, 0.3], dtype=md.float64, requires_grad=True)
        assert md.autograd.gradcheck(F.prelu, (md.tensor(x.detach().numpy().reshape(2, 3, 2),
                                                         requires_grad=True), w))
    elif name == "rrelu_train":
        md.manual_seed(3)
        y = F.rrelu(x, 0.1, 0.3, training=True)  # the gradient is the drawn slope r (or 1)
        y.sum().backward()
        xv = x.detach().numpy()
        slopes = np.where(xv <= 0, y.detach().numpy() / np.where(xv == 0, 1, xv), 1.0)
        np.testing.assert_allclose(x.grad.numpy(), slopes, rtol=1e-12)
        assert ((slopes[xv < 0] >= 0.1) & (slopes[xv < 0] <= 0.3)).all()
    else:
        assert md.autograd.gradcheck(lambda t: POINTWISE[name](F, t), (x,))


def test_rrelu_training_draws_from_minidls_generator():
    x = md.tensor(-np.ones(1000, np.float32))
    md.manual_seed(7)
    y1 = F.rrelu(x, 0.2, 0.5, training=True)
    md.manual_seed(7)
    y2 = nn.RReLU(0.2, 0.5)(x)  # a module in training mode
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    r = -y1.numpy()
    assert r.min() >= 0.2 and r.max() <= 0.5 and abs(r.mean() - 0.35) < 0.02 and len(set(r.tolist())) > 100
    pos = md.tensor([1.0, 2.0])
    np.testing.assert_array_equal(F.rrelu(pos, training=True).numpy(), [1.0, 2.0])
    np.testing.assert_allclose(nn.RReLU(0.2, 0.4).eval()(x).numpy(), -0.3 * np.ones(1000), rtol=1e-6)
    # in place in training: the input is overwritten, the gradient is the drawn slope
    leaf = md.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    y = leaf * 1
    md.manual_seed(3)
    out = F.rrelu(y, 0.1, 0.3, training=True, inplace=True)
    assert out is y
    out.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), [-out[0].item(), 1.0, -out[2].item() / 3], rtol=1e-6)


# ------------------------------------------------------------------ in place, modules, dtypes
INPLACE = {"silu": {}, "mish": {}, "elu": {"alpha": 0.5}, "selu": {}, "celu": {"alpha": 2.0},
           "hardtanh": {"min_val": -0.5, "max_val": 0.5}, "relu6": {}, "hardswish": {}, "hardsigmoid": {},
           "threshold": {"threshold": 0.1, "value": 3.0}, "rrelu": {}}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_matches_torch(name):
    a, b = pair((4, 3), 41)
    kw = INPLACE[name]
    ya = getattr(F, name)(a * 1, inplace=True, **kw)
    yb = getattr(TF, name)(b * 1, inplace=True, **kw)
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-12)
    ya.sum().backward()
    yb.sum().backward()
    # rtol 1e-7: PyTorch's float64 hardsigmoid backward multiplies by float32(1/6)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-7)
    plain = md.tensor([-1.0, 0.5, 2.0])
    out = getattr(F, name)(plain, inplace=True, **kw)
    assert out is plain
    leaf = md.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        getattr(F, name)(leaf, inplace=True, **kw)


MODULES = [("SiLU", (), "silu", {}), ("Mish", (), "mish", {}), ("ELU", (0.5,), "elu", {"alpha": 0.5}),
           ("SELU", (), "selu", {}), ("CELU", (2.0,), "celu", {"alpha": 2.0}),
           ("Softplus", (2.0, 3.0), "softplus", {"beta": 2.0, "threshold": 3.0}), ("Softsign", (), "softsign", {}),
           ("Hardtanh", (-0.5, 0.7), "hardtanh", {"min_val": -0.5, "max_val": 0.7}), ("ReLU6", (), "relu6", {}),
           ("Hardswish", (), "hardswish", {}), ("Hardsigmoid", (), "hardsigmoid", {}),
           ("LogSigmoid", (), "logsigmoid", {}), ("Softmin", (1,), "softmin", {"dim": 1}), ("GLU", (), "glu", {}),
           ("Threshold", (0.1, 2.0), "threshold", {"threshold": 0.1, "value": 2.0}),
           ("Tanhshrink", (), "tanhshrink", {}), ("Softshrink", (0.3,), "softshrink", {"lambd": 0.3}),
           ("Hardshrink", (0.3,), "hardshrink", {"lambd": 0.3}), ("RReLU", (0.1, 0.3), "rrelu", {"lower": 0.1, "upper": 0.3})]


@pytest.mark.parametrize("cls,args,fn,kw", MODULES)
def test_modules_match_torch_and_their_function(cls, args, fn, kw):
    a, b = pair((2, 4), 51)
    m, t = getattr(nn, cls)(*args).eval(), getattr(torch.nn, cls)(*args).eval()
    assert repr(m) == repr(t)
    np.testing.assert_allclose(m(a).detach().numpy(), t(b).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(m(a).detach().numpy(), getattr(F, fn)(a, **kw).detach().numpy())
    if "inplace" in torch.nn.__dict__[cls].__init__.__code__.co_varnames:
        assert repr(getattr(nn, cls)(*args, inplace=True)) == repr(getattr(torch.nn, cls)(*args, inplace=True))


@pytest.mark.parametrize("name", [n for n in POINTWISE if n != "rrelu_eval"])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_16bit_inputs_compute_in_float32(name, dtype):
    x = np.random.default_rng(61).standard_normal(33).astype(np.float32)
    a = md.tensor(x).to(getattr(md, dtype)).requires_grad_()
    b = torch.tensor(x).to(getattr(torch, dtype)).requires_grad_()
    ya, yb = POINTWISE[name](F, a), POINTWISE[name](TF, b)
    assert str(ya.dtype) == str(yb.dtype).replace("torch", "minidl")
    np.testing.assert_allclose(ya.float().detach().numpy(), yb.float().detach().numpy(), rtol=1e-2, atol=1e-2)
    ya.sum().backward()
    yb.sum().backward()
    np.testing.assert_allclose(a.grad.float().numpy(), b.grad.float().numpy(), rtol=1e-2, atol=1e-2)


def test_special_values_match_torch():
    x = [-np.inf, -1e4, -100.0, -20.0, -1e-30, 0.0, 1e-30, 20.0, 100.0, 1e4, np.inf, np.nan]
    for dtype in (np.float32, np.float64):
        for name, call in POINTWISE.items():
            a, b = md.tensor(np.array(x, dtype)), torch.tensor(np.array(x, dtype))
            np.testing.assert_allclose(call(F, a).numpy(), call(TF, b).numpy(), rtol=1e-6, atol=1e-30,
                                       err_msg=f"{name} {dtype.__name__}")


# Where a piecewise activation's derivative is the constant 0, PyTorch's backward selects 0
# (threshold_backward, hardtanh_backward, ...) instead of multiplying: an inf or NaN upstream
# gradient gives 0 there. (A NaN input is left out: PyTorch's own vectorized and scalar-tail
# loops disagree on it for hardshrink and hardtanh.)
CUT_OFF = {"relu": lambda f, x: f.relu(x), **{k: POINTWISE[k] for k in
           ("hardtanh", "relu6", "hardswish", "hardsigmoid", "softshrink", "hardshrink", "threshold")}}


@pytest.mark.parametrize("isa", [i for i in _C.available_isas()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, "bfloat16"])
@pytest.mark.parametrize("name", list(CUT_OFF))
def test_cut_off_region_selects_zero_for_inf_and_nan_gradients(name, dtype, isa):
    x = np.array([-5.0, -3.0, -2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 2.0, 5.0] * 3)
    g = np.array([np.nan] * 12 + [np.inf] * 12 + [-np.inf] * 12)
    before = _C.isa_name()
    _C.set_isa(isa)
    try:
        grads = []
        for lib, f in ((md, F), (torch, TF)):
            a = lib.tensor(x.astype(np.float32 if dtype == "bfloat16" else dtype))
            if dtype == "bfloat16":
                a = a.to(lib.bfloat16)
            a.requires_grad_()
            CUT_OFF[name](f, a).backward(lib.tensor(g).to(a.dtype))
            grads.append(a.grad.float().numpy())
    finally:
        _C.set_isa(before)
    np.testing.assert_array_equal(grads[0], grads[1], err_msg=f"{name} {dtype} {isa}")


# ------------------------------------------------------------------ SIMD against the reference
KERNELS = {  # kernel name -> (p, q, torch float64 f)
    "silu": (0, 0, TF.silu), "mish": (0, 0, TF.mish), "elu": (0.7, 1.0, lambda t: TF.elu(t, 0.7)),
    "selu": (1.6732632423543772, 1.0507009873554805, TF.selu), "celu": (1.3, 0, lambda t: TF.celu(t, 1.3)),
    "softplus": (1.5, 2.0, lambda t: TF.softplus(t, 1.5, 2.0)), "softsign": (0, 0, TF.softsign),
    "hardtanh": (-0.8, 1.2, lambda t: TF.hardtanh(t, -0.8, 1.2)), "hardswish": (0, 0, TF.hardswish),
    "hardsigmoid": (0, 0, TF.hardsigmoid), "logsigmoid": (0, 0, TF.logsigmoid),
    "softshrink": (0.4, 0, lambda t: TF.softshrink(t, 0.4)), "hardshrink": (0.4, 0, lambda t: TF.hardshrink(t, 0.4)),
    "threshold": (0.3, -2.0, lambda t: TF.threshold(t, 0.3, -2.0)),
}
SIMD_ISAS = [isa for isa in _C.available_isas() if isa != "scalar"]


@pytest.mark.skipif(not SIMD_ISAS, reason="no SIMD kernel set on this CPU")
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("name", list(KERNELS))
def test_simd_agrees_with_scalar_and_float64(isa, name):
    p, q, torch_f = KERNELS[name]
    code = getattr(_C.Activation, "elu" if name == "selu" else name)
    x = np.concatenate([np.linspace(-25, 25, 20001), np.linspace(-3.5, 3.5, 7001),
                        np.random.default_rng(0).standard_normal(1003) * 4]).astype(np.float32)
    # away from the kinks: float32(0.3) > 0.3, so the float64 oracle takes the other side there
    for kink in (0.0, p, -p, q, -q, 3.0, -3.0):
        x = x[np.abs(x - kink) > 1e-5]
    g = np.random.default_rng(1).standard_normal(x.size).astype(np.float32)
    before = _C.isa_name()
    try:
        out = {}
        for which in ("scalar", isa):
            _C.set_isa(which)
            out[which] = (_C.activation(code, x, p, q), _C.activation_backward(code, g, x, p, q))
    finally:
        _C.set_isa(before)
    t = torch.tensor(x.astype(np.float64), requires_grad=True)
    y64 = torch_f(t)
    y64.backward(torch.tensor(g.astype(np.float64)))
    for which, (y, gx) in out.items():
        np.testing.assert_allclose(y, y64.detach().numpy(), rtol=2e-6, atol=1e-6, err_msg=f"{which} forward")
        np.testing.assert_allclose(gx, t.grad.numpy(), rtol=2e-6, atol=2e-6, err_msg=f"{which} backward")
    np.testing.assert_allclose(out[isa][0], out["scalar"][0], rtol=2e-6, atol=1e-6)
    # NaN passes through every kernel, as in PyTorch
    nan = np.full(17, np.nan, np.float32)
    _C.set_isa(isa)
    try:
        assert np.isnan(_C.activation(code, nan, p, q)).all(), name
    finally:
        _C.set_isa(before)


# ------------------------------------------------------------------ bad input
def test_bad_inputs_raise_as_torch():
    x = md.randn(4, 3)
    with pytest.raises(RuntimeError, match="alpha cannot be 0 for CELU"):
        F.celu(x, alpha=0.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(ValueError, match="must be greater than min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(RuntimeError, match=r"lambda must be in range \[0, 3.40282e\+38\] for input dtype Float, but found -1"):
        F.softshrink(x, -1.0)
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is size 3"):
        F.glu(x, -1)
    with pytest.raises(RuntimeError, match="glu does not support scalars"):
        F.glu(md.tensor(1.0))
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.glu(x, 2)
    with pytest.raises(RuntimeError, match="Found parameter numbers = 2 and channel size = 3"):
        F.prelu(x, md.ones(2))
    with pytest.raises(RuntimeError, match="Found parameter numbers = 3 and channel size = 1"):
        F.prelu(md.randn(3), md.ones(3))
    with pytest.raises(RuntimeError, match="Expected `weight` to be a scalar or 1D tensor, but got: ndim = 2"):
        F.prelu(x, md.ones(1, 3))
    for training in (False, True):
        with pytest.raises(RuntimeError, match="Lower bound should be less than or equal to the upper bound"):
            F.rrelu(x, 0.5, 0.1, training=training)
    for fn in (F.silu, F.softplus, F.elu, F.hardswish, F.logsigmoid, F.softsign):
        with pytest.raises(RuntimeError, match="floating point"):
            fn(md.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="floating point"):
        F.rrelu(md.tensor([1, 2]), training=True)


# --- issue 18: the backward of an activation whose output gradient is a sum -------------------
# _C.activation_backward_sum(act, ga, gb, x) and the engine's _Sum (graph/engine.py): a ResNet
# block's output ReLU gets the next block's convolution gradient plus its shortcut's, and the
# ReLU backward reads both instead of an add writing their sum first.
SUM_ACTS = [("relu", 0.0, 0.0), ("leaky_relu", 0.1, 0.0), ("sigmoid", 0.0, 0.0), ("gelu", 0.0, 0.0),
            ("hardtanh", -0.5, 0.7), ("silu", 0.0, 0.0)]


@pytest.mark.parametrize("n", [1, 7, 33, 1000003])
@pytest.mark.parametrize("act,p,q", SUM_ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_sum_kernel_is_the_backward_of_the_sum(rng, kernel_set, n, act, p, q, dtype):
    x, ga, gb = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    x[::5] = 0.0  # the ReLU's boundary: no gradient at 0
    a = getattr(_C.Activation, act)
    saved = _C.activation(a, x, p, q) if _C.activation_backward_uses_output(a) else x
    got = _C.activation_backward_sum(a, ga, gb, saved, p, q)
    want = _C.activation_backward(a, ga + gb, saved, p, q)
    np.testing.assert_array_equal(got, want)


def test_backward_sum_kernel_bad_input():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="do not match"):
        _C.activation_backward_sum(_C.Activation.relu, x, np.ones(3, np.float32), x, 0.0)
    with pytest.raises((TypeError, ValueError), match="float"):
        _C.activation_backward_sum(_C.Activation.relu, x, x, np.ones(4, np.int64), 0.0)


@pytest.mark.parametrize("consumers", [2, 3])
@pytest.mark.parametrize("act", ["relu", "sigmoid", "gelu"])
def test_two_consumers_gradient_matches_torch_and_unfused(rng, kernel_set, act, consumers):
    x0 = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)

    def run(lib, observe=False):
        x = lib.tensor(x0, requires_grad=True)
        h = x * 1.5
        y = getattr(lib, act)(h) if act != "gelu" else (F if lib is md else TF).gelu(h)
        if observe:  # a hook sees the summed gradient: the engine adds first, then the backward
            y.register_hook(lambda g: g)
        # two consumers: a block's convolution and its shortcut
        out = (y * lib.tensor(w)).sum() + (y * 2.0).sum()
        if consumers == 3:  # a third gradient: the engine adds (a + b) + c, as unfused
            out = out + (y * y).sum()
        out.backward()
        return x.grad.detach().numpy() if lib is torch else x.grad.numpy()

    fused, unfused = run(md), run(md, observe=True)
    np.testing.assert_array_equal(fused, unfused)
    np.testing.assert_allclose(fused, run(torch), rtol=1e-5, atol=1e-6)


def test_resnet_block_output_relu_takes_the_sum(rng, monkeypatch):
    """In a ResNet block chain the output ReLUs take their two gradients unsummed."""
    from minidl.models import resnet
    model = resnet(20)
    calls = []
    real = _C.activation_backward_sum
    monkeypatch.setattr(_C, "activation_backward_sum", lambda *a: calls.append(a[0]) or real(*a))
    x = md.tensor(rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    model(x).sum().backward()
    assert calls == [_C.Activation.relu] * 8  # 9 blocks; the first's input ReLU fuses into its BatchNorm


# ------------------------------------------------ the gradient of y.sum(): one value, not copied
ONE_VALUE = {"relu": lambda f, x: f.relu(x), "sigmoid": lambda f, x: f.sigmoid(x), "tanh": lambda f, x: f.tanh(x),
             "gelu": lambda f, x: f.gelu(x), "gelu_tanh": lambda f, x: f.gelu(x, approximate="tanh"), **POINTWISE}


@pytest.mark.parametrize("isa", [i for i in _C.available_isas()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, "bfloat16"])
def test_gradient_of_a_sum_or_mean_is_read_as_one_value(isa, dtype):
    # y.sum() and y.mean() pass back one value broadcast over y's shape; the activation's backward
    # reads it as that value (activation_backward's gy_stride 0): the gradients are those of an
    # explicit, materialized gradient of that value and PyTorch's. 1000 values: vector loops and
    # their tail; the bfloat16 blocks too
    x = np.random.default_rng(3).standard_normal(1000) * 3
    before = _C.isa_name()
    _C.set_isa(isa)
    try:
        for name, call in ONE_VALUE.items():
            for reduce, scale in (("sum", 1.0), ("mean", 1.0 / x.size)):
                grads = []
                for lib, f, explicit in ((md, F, False), (md, F, True), (torch, TF, False)):
                    a = lib.tensor(x.astype(np.float32 if dtype == "bfloat16" else dtype))
                    if dtype == "bfloat16":
                        a = a.to(lib.bfloat16)
                    a.requires_grad_()
                    y = call(f, a)
                    if explicit:
                        y.backward(lib.full(tuple(y.shape), scale, dtype=y.dtype))
                    else:
                        getattr(y, reduce)().backward()
                    grads.append(a.grad.float().numpy())
                np.testing.assert_array_equal(grads[0], grads[1], err_msg=f"{name} {reduce} {dtype} {isa}")
                if dtype != "bfloat16":  # (PyTorch's bfloat16 softsign backward rounds each step: 5% off)
                    np.testing.assert_allclose(grads[0], grads[2], rtol=2e-5, atol=1e-5,
                                               err_msg=f"{name} {reduce} {dtype} {isa}")
    finally:
        _C.set_isa(before)
