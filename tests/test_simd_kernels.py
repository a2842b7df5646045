"""The SIMD kernel sets (avx2, avx512) agree with the scalar reference set and with float64
math, on odd sizes, unaligned and non-contiguous inputs. NumPy (and ml_dtypes for bfloat16)
are the oracle only; every op runs through minidl._C."""
import math

import numpy as np
import pytest

from minidl import _C

SIMD_ISAS = [isa for isa in _C.available_isas() if isa != "scalar"]
# a million elements run every SIMD main loop and the threads' split, but take 1-16 s per case on
# 2 busy cores (pytest --durations): slow
MILLION = pytest.mark.slow
SIZES = [1, 7, 33, pytest.param(1000003, marks=MILLION)]
# the C++ enums by name (the kernels refuse plain ints); int(op) only seeds the data
B = _C.BinaryOp
ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM = B.add, B.sub, B.mul, B.div, B.maximum, B.minimum
UNARY = {name: getattr(_C.UnaryOp, name) for name in ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "square",
                                                      "reciprocal", "floor", "ceil", "trunc", "round", "sign",
                                                      "erf", "sin", "cos")}
ACTS = {name: getattr(_C.Activation, name) for name in ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh")}
F32, F16, BF16 = _C.DType.f32, _C.DType.f16, _C.DType.bf16
SUM, MAX, MIN = _C.ReduceOp.sum, _C.ReduceOp.max, _C.ReduceOp.min

pytestmark = pytest.mark.skipif(not SIMD_ISAS, reason="no SIMD kernel set on this CPU")


@pytest.fixture(autouse=True)
def restore_isa():
    before = _C.isa_name()
    yield
    _C.set_isa(before)


def on(isa, fn):
    _C.set_isa(isa)
    return fn()


def scalar_and(isa, fn):
    """(reference result, SIMD result) of the same call."""
    return on("scalar", fn), on(isa, fn)


def layouts(n, rng, scale=3.0):
    """The same kind of data as a contiguous, an unaligned (offset by one float) and a
    strided (every other element) float32 array of n elements."""
    big = (rng.standard_normal(2 * n + 2) * scale).astype(np.float32)
    return {
        "contiguous": big[:n].copy(),
        "unaligned": _C.contiguous(big[1:n + 1]),
        "strided": big[::2][:n],
    }


def erf64(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


# ---------------------------------------------------------------- binary ops, broadcasting
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("op", [ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM])
@pytest.mark.parametrize("n", SIZES)
def test_binary_same_shape(isa, op, n):
    rng = np.random.default_rng(n + int(op))
    for name, a in layouts(n, rng).items():
        b = layouts(n, np.random.default_rng(7 * n))[name]
        if op in (MAXIMUM, MINIMUM) and n > 2:
            a = a.copy(); a[1] = np.nan; b = b.copy(); b[-1] = np.nan
        ref, got = scalar_and(isa, lambda: _C.binary(op, a, b))
        # IEEE +-*/ and max/min are exact: the two kernel sets agree bit for bit
        np.testing.assert_array_equal(got, ref, err_msg=f"{name}")
        if op in (MAXIMUM, MINIMUM) and n > 2:
            assert np.isnan(got[1]) and np.isnan(got[-1])


@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("op", [ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM])
@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (33, 7), pytest.param((3, 1000003), marks=MILLION)])
def test_binary_broadcast(isa, op, shape):
    rng = np.random.default_rng(sum(shape) + int(op))
    a = rng.standard_normal(shape).astype(np.float32)
    R, C = shape
    others = {
        "scalar": np.array(0.75, dtype=np.float32),
        "row": rng.standard_normal(C).astype(np.float32),
        "column": rng.standard_normal((R, 1)).astype(np.float32),
    }
    with np.errstate(all="ignore"):
        for name, b in others.items():
            for lhs, rhs in ((a, b), (b, a)):
                ref, got = scalar_and(isa, lambda: _C.binary(op, lhs, rhs))
                np.testing.assert_array_equal(got, ref, err_msg=name)
            # transposed (non-contiguous) operand
            at = np.ascontiguousarray(a.T).T
            ref, got = scalar_and(isa, lambda: _C.binary(op, at, b))
            np.testing.assert_array_equal(got, ref, err_msg=name + " transposed")
        ref, got = scalar_and(isa, lambda: _C.binary_scalar(op, a, 1.5, True))
        np.testing.assert_array_equal(got, ref)
    oracle = {ADD: np.add, SUB: np.subtract, MUL: np.multiply, DIV: np.divide,
              MAXIMUM: np.maximum, MINIMUM: np.minimum}[op]
    np.testing.assert_array_equal(on(isa, lambda: _C.binary(op, a, others["row"])), oracle(a, others["row"]))


# ---------------------------------------------------------------- unary ops
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("n", SIZES)
def test_unary(isa, name, n):
    code = UNARY[name]
    rng = np.random.default_rng(n + int(code))
    for layout, x in layouts(n, rng).items():
        if name in ("log", "sqrt", "rsqrt"):
            x = np.abs(x) + np.float32(1e-3)
        ref, got = scalar_and(isa, lambda: _C.unary(code, x))
        if name in ("floor", "ceil", "trunc", "round"):  # halves, integers, large values too
            x = np.concatenate([x, np.array([0.5, 1.5, 2.5, -0.5, -2.5, -0.0, 1e9, -3e38, np.inf, np.nan],
                                            np.float32)])
            ref, got = scalar_and(isa, lambda: _C.unary(code, x))
        if name in ("sin", "cos"):  # ~1 ulp of the result's scale; the C library past |x| = 8192
            x = np.concatenate([x * 100, np.array([0, -0.0, 1e-30, np.pi, -np.pi / 2, 8191.9, 8192.5, -3e5, 1e30,
                                                   np.inf, -np.inf, np.nan], np.float32)])
            ref, got = scalar_and(isa, lambda: _C.unary(code, x))
            with np.errstate(invalid="ignore"):
                oracle = getattr(np, name)(x.astype(np.float64))
            np.testing.assert_allclose(got, oracle, rtol=0, atol=2.5e-7, err_msg=layout)
            np.testing.assert_allclose(got, ref, rtol=0, atol=2.5e-7, err_msg=layout)
            far = ~(np.abs(x) <= 8192)
            np.testing.assert_array_equal(got[far], ref[far])  # the C library's values there
            continue
        if name in ("exp", "log", "erf"):  # polynomial approximations: a few ulp
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-37, err_msg=layout)
            oracle = {"exp": np.exp, "log": np.log, "erf": erf64}[name](x.astype(np.float64))
            np.testing.assert_allclose(got, oracle, rtol=1e-6, atol=0, err_msg=layout)
        else:  # correctly rounded in both sets (rsqrt is 1/sqrt, not the estimate)
            np.testing.assert_array_equal(got, ref, err_msg=layout)


@pytest.mark.parametrize("isa", SIMD_ISAS)
def test_exp_underflow_lanes(isa):
    """exp below -104 is 0 (those lanes skip the scaling that underflowed through a microcode
    assist), subnormal results above it stay, NaN stays NaN: lanes of every kind mixed in the
    same vectors, in every position."""
    vals = np.array([-np.inf, -1e9, -1000.0, -104.5, -104.0, -103.98, -103.9, -100.0, -90.0, -87.4, -87.0,
                     0.0, 1.5, 88.0, np.nan, -3e38], np.float32)
    x = np.concatenate([np.roll(vals, k) for k in range(len(vals))] + [vals[:5]])
    ref, got = scalar_and(isa, lambda: _C.unary(UNARY["exp"], x))
    with np.errstate(over="ignore", invalid="ignore"):
        oracle = np.exp(x.astype(np.float64))
    assert np.all(got[x <= -104.0] == 0.0) and np.all(np.isnan(got) == np.isnan(x))
    ok = ~np.isnan(x)
    # a subnormal result keeps an absolute error of about one subnormal step (2^-149)
    assert np.all(np.abs(got[ok] - oracle[ok]) <= 2e-6 * oracle[ok] + 2.0 ** -148)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=2e-6, atol=2.0 ** -148)


@pytest.mark.parametrize("isa", SIMD_ISAS)
def test_exp_log_special_values(isa):
    x = np.array([-np.inf, -1000, -104, -103.9, -88, 0, -0.0, 1e-40, 88.7, 88.8, 1000, np.inf, np.nan], np.float32)
    with np.errstate(all="ignore"):
        e = on(isa, lambda: _C.unary(UNARY["exp"], x))
        np.testing.assert_allclose(e, np.exp(x.astype(np.float64)).astype(np.float32), rtol=1e-6, atol=1e-44)
        xl = np.array([0, -0.0, -1, 1e-45, 1e-40, 1.17e-38, 1, 3.4e38, np.inf, np.nan, -np.inf], np.float32)
        lg = on(isa, lambda: _C.unary(UNARY["log"], xl))
        np.testing.assert_allclose(lg, np.log(xl.astype(np.float64)), rtol=1e-6)


# ---------------------------------------------------------------- activations
def act_ref64(name, x, slope=0.01):
    x = x.astype(np.float64)
    c = math.sqrt(2 / math.pi)
    if name == "relu": return np.maximum(x, 0)
    if name == "leaky_relu": return np.where(x > 0, x, slope * x)
    if name == "sigmoid": return 0.5 * (1 + np.tanh(0.5 * x))
    if name == "tanh": return np.tanh(x)
    if name == "gelu": return 0.5 * x * (1 + erf64(x / math.sqrt(2)))
    return 0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x ** 3)))


def act_grad64(name, x, slope=0.01):
    """f'(x) in float64"""
    x = x.astype(np.float64)
    c = math.sqrt(2 / math.pi)
    if name == "relu": return (x > 0).astype(np.float64)
    if name == "leaky_relu": return np.where(x > 0, 1.0, slope)
    if name == "sigmoid": s = act_ref64("sigmoid", x); return s * (1 - s)
    if name == "tanh": return 1 - np.tanh(x) ** 2
    if name == "gelu": return 0.5 * (1 + erf64(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    t = np.tanh(c * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)


@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize("n", SIZES)
def test_activation_forward_backward(isa, name, n):
    code = ACTS[name]
    rng = np.random.default_rng(n + int(code))
    for layout, x in layouts(n, rng).items():
        g = layouts(n, np.random.default_rng(n))[layout]
        ref, got = scalar_and(isa, lambda: _C.activation(code, x, 0.01))
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6, err_msg=f"forward {layout}")
        np.testing.assert_allclose(got, act_ref64(name, x), rtol=1e-5, atol=1e-6, err_msg=f"forward {layout}")
        saved = got if _C.activation_backward_uses_output(code) else x
        gref, ggot = scalar_and(isa, lambda: _C.activation_backward(code, g, saved, 0.01))
        # The reference's float32 gelu_tanh derivative, 0.5 (1 + t) + 0.5 x (1 - t^2) u', cancels
        # where t -> -1 (errors up to ~5e-6); the SIMD form (sigmoid products) does not, so it is
        # held to the float64 oracle below at the tight tolerance and to the reference loosely.
        # The SIMD exact GELU uses the rational erf (vec.h erf_rational, abs. error 4.5e-7, no exp,
        # so it stays memory-bound): Phi is off by up to 2.3e-7, times |g| (up to ~5 here).
        atol = {"gelu_tanh": 1e-5, "gelu": 1.5e-6}.get(name, 1e-6)
        np.testing.assert_allclose(ggot, gref, rtol=1e-5, atol=atol, err_msg=f"backward {layout}")
        if not _C.activation_backward_uses_output(code):
            np.testing.assert_allclose(ggot, g * act_grad64(name, x), rtol=1e-5, atol=1.5e-6 if name == "gelu" else 1e-6,
                                       err_msg=f"backward {layout}")


@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("name", list(ACTS))
def test_activation_accuracy_float64(isa, name):
    """Dense sweep over the range where the formulas change (polynomial / exp branches,
    erfc tails) against float64 math."""
    code = ACTS[name]
    x = np.concatenate([np.linspace(-12, 12, 48001), np.linspace(-0.7, 0.7, 2001)]).astype(np.float32)
    y = on(isa, lambda: _C.activation(code, x, 0.01))
    np.testing.assert_allclose(y, act_ref64(name, x), rtol=1e-5, atol=1e-6)
    ones = np.ones_like(x)
    saved = y if _C.activation_backward_uses_output(code) else x
    gx = on(isa, lambda: _C.activation_backward(code, ones, saved, 0.01))
    if _C.activation_backward_uses_output(code):  # f' from the float32 output, as the kernel
        s = y.astype(np.float64)
        expect = s * (1 - s) if name == "sigmoid" else 1 - s * s
    else:
        expect = act_grad64(name, x)
    np.testing.assert_allclose(gx, expect, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("isa", SIMD_ISAS)
def test_activation_special_values(isa):
    x = np.array([-np.inf, -1000, -100, -88.8, 0, 88.8, 100, 1000, np.inf], np.float32)
    sig = on(isa, lambda: _C.activation(ACTS["sigmoid"], x, 0))
    np.testing.assert_allclose(sig, act_ref64("sigmoid", x), rtol=1e-6, atol=1e-30)
    assert sig[0] == 0 and sig[1] == 0 and sig[-1] == 1 and sig[-2] == 1
    th = on(isa, lambda: _C.activation(ACTS["tanh"], x, 0))
    np.testing.assert_array_equal(th[[0, 1, -2, -1]], [-1, -1, 1, 1])
    for name, code in ACTS.items():
        y = on(isa, lambda: _C.activation(code, np.array([np.nan] * 17, np.float32), 0.01))
        assert np.isnan(y).all() or name == "relu", name  # relu(NaN) = 0, as the reference's x > 0 ? x : 0
    big = np.array([-1000, -30, 30, 1000], np.float32)
    for name in ("gelu", "gelu_tanh"):
        y = on(isa, lambda: _C.activation(ACTS[name], big, 0))
        np.testing.assert_allclose(y, [0, 0, 30, 1000], atol=1e-6)


# ---------------------------------------------------------------- softmax
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 33), (4, 1000), pytest.param((2, 1000003), marks=MILLION),
                                   (33, 17)])
def test_softmax(isa, log, shape):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 20).astype(np.float32)
    x[0, 0] = 1000
    x[-1, -1] = -1000
    if shape[1] > 2:
        x[-1, 1] = 1000
    gy = rng.standard_normal(shape).astype(np.float32)
    for xin in (x, _C.contiguous(np.concatenate([[0], x.ravel()]).astype(np.float32)[1:].reshape(shape))):
        y_ref, y = scalar_and(isa, lambda: _C.softmax(xin, 1, log))
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
        x64 = xin.astype(np.float64)
        lse = x64.max(1, keepdims=True) + np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1, keepdims=True))
        # log: x - lse cancels when x is near lse; the float32 lse itself is off by up to
        # half an ulp of |lse| (6e-5 at 1000), in the reference as here
        atol = 1e-6 + (2.4e-7 * np.abs(x64).max(1, keepdims=True) if log else 0)
        assert np.all(np.abs(y - ((x64 - lse) if log else np.exp(x64 - lse))) <= atol + 1e-5 * np.abs(y))
        g_ref, g = scalar_and(isa, lambda: _C.softmax_backward(gy, y, 1, log))
        y64 = y.astype(np.float64)
        if log:
            expect = gy - np.exp(y64) * gy.sum(1, keepdims=True, dtype=np.float64)
            tol = 1e-6 * np.abs(gy).sum(1, keepdims=True)  # float32 rounding of exp(y) * sum
        else:
            expect = y64 * (gy - (gy * y64).sum(1, keepdims=True))
            tol = 1e-6
        assert np.all(np.abs(g - expect) <= tol + 1e-5 * np.abs(expect))
        assert np.all(np.abs(g - g_ref) <= tol + 1e-5 * np.abs(g_ref))


@pytest.mark.parametrize("isa", SIMD_ISAS)
def test_softmax_non_last_dim_and_transposed(isa):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((33, 7)) * 5).astype(np.float32)
    for xin, dim in ((x, 0), (x.T, 1), (x.T, 0)):
        for log in (False, True):
            ref, got = scalar_and(isa, lambda: _C.softmax(xin, dim, log))
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("op", [SUM, MAX, MIN])
@pytest.mark.parametrize("shape,dims", [((1, 1), [1]), ((7, 33), [1]), ((7, 33), [0]), ((33, 7), [0]),
                                        ((1, 1000003), [1]), ((1000003, 3), [0]), ((1000, 129), [0]),
                                        ((3, 5, 37), [1]), ((4, 77, 6), [1]), ((5, 6, 7), [2])])
def test_reduce(isa, op, shape, dims):
    rng = np.random.default_rng(sum(shape) + int(op))
    x = (rng.standard_normal(shape) + 0.5).astype(np.float32)
    for xin in (x, np.ascontiguousarray(np.swapaxes(x, 0, -1)).swapaxes(0, -1)):
        scale = 0.5 if op == SUM else 1.0
        ref, got = scalar_and(isa, lambda: _C.reduce(op, xin, dims, False, scale, 0.0, False))
        if op == SUM:
            mag = np.abs(xin.astype(np.float64)).sum(axis=tuple(dims)) * scale
            oracle = xin.astype(np.float64).sum(axis=tuple(dims)) * scale
            assert np.all(np.abs(got - oracle) <= 1e-6 * mag + 1e-6)
            assert np.all(np.abs(got - ref) <= 1e-6 * mag + 1e-6)
        else:
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_array_equal(got, (np.max if op == MAX else np.min)(xin, axis=tuple(dims)))


@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("op", [MAX, MIN])
def test_reduce_nan_propagates(isa, op):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 70)).astype(np.float32)
    x[2, 5] = np.nan
    x[6, 69] = np.nan
    x[8, 0] = np.nan
    for dims in ([0], [1]):
        ref, got = scalar_and(isa, lambda: _C.reduce(op, x, dims, False, 1.0, 0.0, False))
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(got, (np.max if op == MAX else np.min)(x, axis=dims[0]))
    long_row = rng.standard_normal(1000003).astype(np.float32)
    long_row[777777] = np.nan
    assert np.isnan(on(isa, lambda: _C.reduce(op, long_row, [0], False, 1.0, 0.0, False)))


# ---------------------------------------------------------------- float16 / bfloat16 casts
@pytest.fixture(scope="module")
def bf16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    _C._register_bfloat16(np.dtype(ml_dtypes.bfloat16))
    return ml_dtypes.bfloat16


ALL16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)


@pytest.mark.parametrize("isa", SIMD_ISAS)
def test_all_float16_patterns(isa):
    h = ALL16.view(np.float16)
    for hin in (h, h[1:]):  # unaligned too
        ref, got = scalar_and(isa, lambda: _C.cast(hin, F32))
        np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
        np.testing.assert_array_equal(got.view(np.uint32), hin.astype(np.float32).view(np.uint32))
        back = on(isa, lambda: _C.cast(got, F16)).view(np.uint16)
        nan = np.isnan(hin)
        np.testing.assert_array_equal(back[~nan], hin.view(np.uint16)[~nan])  # exact round trip
        assert np.isnan(back.view(np.float16)[nan]).all()


@pytest.mark.parametrize("isa", SIMD_ISAS)
def test_all_bfloat16_patterns(isa, bf16):
    b = ALL16.view(bf16)
    for bin_ in (b, b[1:]):
        ref, got = scalar_and(isa, lambda: _C.cast(bin_, F32))
        np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
        np.testing.assert_array_equal(got.view(np.uint32), bin_.astype(np.float32).view(np.uint32))
        back = on(isa, lambda: _C.cast(got, BF16)).view(np.uint16)
        nan = np.isnan(got)
        np.testing.assert_array_equal(back[~nan], bin_.view(np.uint16)[~nan])
        assert np.isnan(back.view(bf16)[nan].astype(np.float32)).all()


def float32_test_values(rng):
    """Random bit patterns (every exponent, NaNs with payloads, subnormals), exact ties of both
    16-bit formats, the float16 subnormal range and its ties, and specials."""
    u = [rng.integers(0, 2**32, 400000, dtype=np.uint64).astype(np.uint32)]
    top = rng.integers(0, 2**32, 50000, dtype=np.uint64).astype(np.uint32)
    u.append((top & ~np.uint32(0x1fff)) | np.uint32(0x1000))   # float16 normal ties (13 dropped bits)
    u.append((top & ~np.uint32(0xffff)) | np.uint32(0x8000))   # bfloat16 ties (16 dropped bits)
    u.append(top & np.uint32(0x807fffff))                      # float32 subnormals
    k = rng.integers(0, 2048, 20000)
    ties = ((k + 0.5) * 2.0 ** -24).astype(np.float32)          # float16 subnormal ties
    sub16 = (rng.uniform(-1, 1, 20000) * 2.0 ** -14).astype(np.float32)
    special = np.array([0, -0.0, np.inf, -np.inf, np.nan, 65504, 65519.99, 65520, -65520, 6e-8, 2.0 ** -25,
                        2.0 ** -25 * 1.0000001, 3.4e38, 1e-45], np.float32)
    return np.concatenate([v.view(np.float32) for v in u] + [ties, -ties, sub16, special])


@pytest.mark.parametrize("isa", SIMD_ISAS)
def test_float32_to_float16_rounding(isa):
    x = float32_test_values(np.random.default_rng(1))
    nan = np.isnan(x)
    for xin in (x, x[1:]):
        ref, got = scalar_and(isa, lambda: _C.cast(xin, F16))
        np.testing.assert_array_equal(got.view(np.uint16), ref.view(np.uint16))  # all inputs, NaNs too
    got = on(isa, lambda: _C.cast(x, F16)).view(np.uint16)
    with np.errstate(all="ignore"):
        expect = x.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(got[~nan], expect[~nan])
    # NaN: NaN with the same sign. (NumPy keeps a signalling NaN's payload unquieted,
    # 0x7f800001 -> 0x7c01; minidl, like F16C, gives the quiet 0x7e00. The canonical NaN agrees.)
    assert np.isnan(got[nan].view(np.float16)).all()
    np.testing.assert_array_equal(got[nan] >> 15, x[nan].view(np.uint32) >> 31)
    assert on(isa, lambda: _C.cast(np.array([np.nan], np.float32), F16)).view(np.uint16)[0] == \
        np.array([np.nan], np.float32).astype(np.float16).view(np.uint16)[0]


@pytest.mark.parametrize("isa", SIMD_ISAS)
def test_float32_to_bfloat16_rounding(isa, bf16):
    x = float32_test_values(np.random.default_rng(2))
    nan = np.isnan(x)
    for xin in (x, x[1:]):
        ref, got = scalar_and(isa, lambda: _C.cast(xin, BF16))
        np.testing.assert_array_equal(got.view(np.uint16), ref.view(np.uint16))
    got = on(isa, lambda: _C.cast(x, BF16)).view(np.uint16)
    with np.errstate(all="ignore"):
        expect = x.astype(bf16).view(np.uint16)
    np.testing.assert_array_equal(got[~nan], expect[~nan])
    # NaN: ml_dtypes gives the canonical 0x7fc0 / 0xffc0; minidl keeps the payload, quieted
    assert np.isnan(got[nan].view(bf16).astype(np.float32)).all()
    np.testing.assert_array_equal(got[nan] >> 15, x[nan].view(np.uint32) >> 31)
    np.testing.assert_array_equal(on(isa, lambda: _C.cast(np.array([np.nan, -np.nan], np.float32), BF16)).view(np.uint16),
                                  np.array([np.nan, -np.nan], np.float32).astype(bf16).view(np.uint16))


# ---------------------------------------------------------------- elementwise losses
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("kind", ["mse", "l1", "bce", "bce_with_logits"])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000, 70_001])
def test_pointwise_losses(isa, kind, n):
    """The float32 SIMD rows of the elementwise losses (loss_simd.cpp) against the double
    reference: each loss, the sum, and the gradient, with and without a weight and a single
    pos_weight, tails of any length, extreme logits and probabilities of exactly 0 and 1."""
    code = getattr(_C.PointwiseLoss, kind)
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    if kind == "bce":
        x = rng.random(n).astype(np.float32)
        x[:3] = [0.0, 1.0, 0.5][:n]
    elif kind == "bce_with_logits":
        x[:3] = [100.0, -100.0, 0.0][:n]
    y = (rng.random(n) > 0.5).astype(np.float32) if kind.startswith("bce") else rng.standard_normal(n).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    pw = np.array([2.5], np.float32) if kind == "bce_with_logits" else None
    g = rng.standard_normal(n).astype(np.float32)
    for weight in (None, w):
        (ref_out, ref_sum), (out, total) = scalar_and(isa, lambda: _C.pointwise_loss(code, x, y, weight, pw, True))
        np.testing.assert_allclose(out, ref_out, rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(total, ref_sum, rtol=1e-6, atol=1e-6)
        for grad in (g, g[:1]):
            ref, got = scalar_and(isa, lambda: _C.pointwise_loss_backward(code, x, y, weight, pw, grad, 0.5))
            np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-6)
