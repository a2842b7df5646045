"""The enums shared by Python and C++ (DType, BinaryOp, UnaryOp, ReduceOp, Activation,
PointwiseLoss, RnnMode) are exported by the bindings and used by name from Python.

Each exported enum must list exactly the members of its C++ declaration, with the same values
(read from the header here), each name must run the kernel it names (NumPy is the oracle),
the Python aliases must be the members they name, and the kernels must refuse a plain int, so
renumbering or dropping a member on either side fails here instead of running the wrong op.
"""
import copy
import math
import pathlib
import pickle
import re

import numpy as np
import pytest

from minidl import _C
from minidl import dtypes
from minidl.nn import loss as L
from minidl.nn import rnn as R
from minidl.ops import array as A

CPP = pathlib.Path(__file__).resolve().parent.parent / "cpp"
# exported name -> the header that declares the C++ enum
HEADERS = {
    "DType": "core/tensor_view.h",
    "BinaryOp": "ops/elementwise/elementwise.h",
    "UnaryOp": "ops/elementwise/elementwise.h",
    "ReduceOp": "ops/reduce/reduce.h",
    "Activation": "ops/activation/activation.h",
    "PointwiseLoss": "ops/loss/loss.h",
    "RnnMode": "ops/rnn/rnn.h",
}


def cpp_enum(name):
    """{member: value} of `enum class <name>` in its header (C++ numbering rules)."""
    text = (CPP / HEADERS[name]).read_text()
    body = re.search(r"enum class " + name + r"\b[^{]*\{(.*?)\};", text, re.S).group(1)
    body = re.sub(r"//[^\n]*", "", body)
    members, value = {}, -1
    for item in filter(None, (s.strip() for s in body.split(","))):
        key, _, explicit = (p.strip() for p in item.partition("="))
        value = int(explicit) if explicit else value + 1
        members[key] = value
    return members


@pytest.mark.parametrize("name", list(HEADERS))
def test_exported_members_match_the_cpp_declaration(name):
    exported = {k: int(v) for k, v in getattr(_C, name).__members__.items()}
    assert exported == cpp_enum(name)


@pytest.mark.parametrize("name", list(HEADERS))
def test_members_are_singletons(name):
    enum = getattr(_C, name)
    members = list(enum.__members__.values())
    for m in members:
        assert m is getattr(enum, m.name)
        assert copy.copy(m) is m and copy.deepcopy(m) is m and pickle.loads(pickle.dumps(m)) is m
        assert m == getattr(enum, m.name) and not (m != getattr(enum, m.name))
        assert sum(m == other for other in members) == 1
        assert hash(m) == hash(getattr(enum, m.name))
    with pytest.raises(TypeError):  # no member from an int: only the named ones exist
        enum(0)


def test_kernels_refuse_plain_ints():
    x = np.array([0.5, 1.5], np.float64)
    calls = [
        lambda: _C.binary(0, x, x),
        lambda: _C.binary_scalar(0, x, 1.0, False),
        lambda: _C.binary_(0, x.copy(), x),
        lambda: _C.binary_scalar_(0, x.copy(), 1.0),
        lambda: _C.unary(0, x),
        lambda: _C.unary_(0, x.copy()),
        lambda: _C.reduce(0, x, [0], False, 1.0, 0.0, False),
        lambda: _C.activation(0, x, 0.0),
        lambda: _C.activation_backward(0, x, x, 0.0),
        lambda: _C.activation_backward_uses_output(2),
        lambda: _C.pointwise_loss(0, x, x, None, None, True),
        lambda: _C.pointwise_loss_backward(0, x, x, None, None, x, 1.0),
        lambda: _C.cast(x, 0),
        lambda: _C.arange(0.0, 3.0, 1.0, 4),
        lambda: _C.rand([2], 0, 0.0, 1.0),
        lambda: _C.randn([2], 1, 0.0, 1.0),
        lambda: _C.rnn_forward(0, np.zeros((1, 1, 1)), np.zeros((1, 1)), None, np.zeros((1, 1)),
                               np.zeros((1, 1)), None, None, False),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()


# --------------------------------------------------------------- the Python aliases
ARRAY_ALIASES = {
    "BinaryOp": dict(ADD="add", SUB="sub", MUL="mul", DIV="div", POW="pow", MAXIMUM="maximum", MINIMUM="minimum",
                     EQ="eq", NE="ne", LT="lt", LE="le", GT="gt", GE="ge", LAND="logical_and", LOR="logical_or",
                     LXOR="logical_xor", FLOOR_DIVIDE="floor_divide", REMAINDER="remainder"),
    "UnaryOp": dict(NEG="neg", ABS="abs", EXP="exp", LOG="log", SQRT="sqrt", RSQRT="rsqrt", SQUARE="square",
                    RECIPROCAL="reciprocal", SIGN="sign", SIN="sin", COS="cos", LOG1P="log1p", EXPM1="expm1",
                    FLOOR="floor", CEIL="ceil", ROUND="round", TRUNC="trunc", LOGICAL_NOT="logical_not",
                    ISNAN="isnan", ISINF="isinf", ISFINITE="isfinite", ERF="erf", ERFINV="erfinv"),
    "ReduceOp": dict(R_SUM="sum", R_PROD="prod", R_MAX="max", R_MIN="min", R_ARGMAX="argmax", R_ARGMIN="argmin",
                     R_LOGSUMEXP="logsumexp", R_ANY="any", R_ALL="all", R_SUM_SQUARES="sum_squares"),
    "Activation": dict(RELU="relu", LEAKY_RELU="leaky_relu", SIGMOID="sigmoid", TANH="tanh", GELU="gelu",
                       GELU_TANH="gelu_tanh", SILU="silu", MISH="mish", ELU="elu", CELU="celu", SOFTPLUS="softplus",
                       SOFTSIGN="softsign", HARDTANH="hardtanh", HARDSWISH="hardswish", HARDSIGMOID="hardsigmoid",
                       LOGSIGMOID="logsigmoid", SOFTSHRINK="softshrink", HARDSHRINK="hardshrink",
                       THRESHOLD="threshold"),
}


def test_python_aliases_are_the_members_they_name():
    for enum_name, aliases in ARRAY_ALIASES.items():
        enum = getattr(_C, enum_name)
        assert set(aliases.values()) == set(enum.__members__), enum_name  # every op has its alias
        for alias, member in aliases.items():
            assert getattr(A, alias) is getattr(enum, member), alias
    assert (L.MSE, L.L1, L.BCE, L.BCE_LOGITS) == (_C.PointwiseLoss.mse, _C.PointwiseLoss.l1, _C.PointwiseLoss.bce,
                                                  _C.PointwiseLoss.bce_with_logits)
    assert R._MODES == {"RNN_TANH": _C.RnnMode.rnn_tanh, "RNN_RELU": _C.RnnMode.rnn_relu, "LSTM": _C.RnnMode.lstm,
                        "GRU": _C.RnnMode.gru}
    # the op sets the autograd tests membership in: no gradient / bool result
    assert A.NO_GRAD_BINARY == {getattr(_C.BinaryOp, n) for n in ("eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                                                                   "logical_or", "logical_xor", "floor_divide",
                                                                   "remainder")}
    assert A.BOOL_UNARY == {_C.UnaryOp.logical_not, _C.UnaryOp.isnan, _C.UnaryOp.isinf, _C.UnaryOp.isfinite}


def test_dtype_codes_make_their_dtype():
    assert {d.code for d in dtypes.ALL} == set(_C.DType.__members__.values())
    src = np.array([0.0, 1.0, 2.5], np.float32)
    for d in dtypes.ALL:
        assert isinstance(d.code, _C.DType)
        assert _C.cast(src, d.code).dtype == d.np, d
        assert _C.arange(0.0, 3.0, 1.0, d.code).dtype == d.np, d
    for d in (dtypes.float32, dtypes.float64):
        assert _C.rand([3], d.code, 0.0, 1.0).dtype == d.np
        assert _C.randn([3], d.code, 0.0, 1.0).dtype == d.np


# --------------------------------------------------------------- each name runs its kernel
a = np.array([1.5, 2.0, 3.0, 0.5, -4.0, -7.5])
b = np.array([2.0, 2.0, 1.25, 3.0, 0.5, 2.0])
p, q = np.array([True, True, False, False]), np.array([True, False, True, False])
BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "maximum": np.maximum,
    "minimum": np.minimum, "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "floor_divide": np.floor_divide, "remainder": np.remainder,
}


@pytest.mark.parametrize("name", list(_C.BinaryOp.__members__))
def test_binary_op_by_name(name):
    op = getattr(_C.BinaryOp, name)
    if name.startswith("logical_"):
        np.testing.assert_array_equal(_C.binary(op, p, q), getattr(np, name)(p, q))
    elif name == "pow":
        np.testing.assert_allclose(_C.binary(op, np.abs(a), b), np.abs(a) ** b, rtol=1e-12)
    else:
        np.testing.assert_allclose(_C.binary(op, a, b), BINARY[name](a, b), rtol=1e-12)
        np.testing.assert_allclose(_C.binary_scalar(op, a, 2.0, False), BINARY[name](a, 2.0), rtol=1e-12)


x = np.array([-1.4, -0.3, 0.2, 1.7, 2.2, np.inf, np.nan])
UNARY = {
    "neg": np.negative, "abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "rsqrt": lambda v: 1 / np.sqrt(v),
    "square": np.square, "reciprocal": np.reciprocal, "sign": np.sign, "sin": np.sin, "cos": np.cos,
    "log1p": np.log1p, "expm1": np.expm1, "floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc,
    "logical_not": np.logical_not, "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite,
    "erf": np.vectorize(math.erf, otypes=[np.float64]),
    # the inverse of math.erf by bisection (NaN outside [-1, 1]): slow, exact to the last bits
    "erfinv": np.vectorize(lambda y: math.nan if not -1 < y < 1 else _bisect_erfinv(y), otypes=[np.float64]),
}


def _bisect_erfinv(y):
    lo, hi = -6.0, 6.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erf(mid) < y else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("name", list(_C.UnaryOp.__members__))
def test_unary_op_by_name(name):
    v = x if name in ("isnan", "isinf", "isfinite", "logical_not") else x[np.isfinite(x)]
    with np.errstate(invalid="ignore", divide="ignore"):
        want = UNARY[name](v)
    np.testing.assert_allclose(_C.unary(getattr(_C.UnaryOp, name), v), want, rtol=1e-12)


def logsumexp(v, axis):
    m = v.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(v - m).sum(axis=axis, keepdims=True))).squeeze(axis)


@pytest.mark.parametrize("name", list(_C.ReduceOp.__members__))
def test_reduce_op_by_name(name):
    v = np.array([[0.5, -2.0, 3.0], [4.0, 1.5, -1.0]])
    if name in ("any", "all"):
        v = np.array([[True, False, False], [True, True, True]])
    oracle = {"logsumexp": logsumexp, "sum_squares": lambda a, axis: np.sum(a * a, axis=axis)}.get(name) or getattr(np, name)
    got = _C.reduce(getattr(_C.ReduceOp, name), v, [1], False, 1.0, 0.0, False)
    np.testing.assert_allclose(got, oracle(v, axis=1), rtol=1e-12)


def test_activation_by_name():
    v = np.array([-3.0, -0.5, 0.0, 0.25, 2.0])
    erf = np.vectorize(math.erf)
    want = {
        "relu": np.maximum(v, 0), "leaky_relu": np.where(v > 0, v, 0.01 * v), "sigmoid": 1 / (1 + np.exp(-v)),
        "tanh": np.tanh(v), "gelu": v / 2 * (1 + erf(v / math.sqrt(2))),
        "gelu_tanh": v / 2 * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))),
    }
    # the activations with a second parameter q run with p = 0.5, q = 1.5 (see activation.h)
    softplus = np.log1p(np.exp(v))
    want2 = {
        "silu": v / (1 + np.exp(-v)), "mish": v * np.tanh(softplus), "elu": 1.5 * np.where(v > 0, v, 0.5 * np.expm1(v)),
        "celu": np.where(v > 0, v, 0.5 * np.expm1(v / 0.5)),
        "softplus": np.where(0.5 * v > 1.5, v, np.log1p(np.exp(0.5 * v)) / 0.5), "softsign": v / (1 + abs(v)),
        "hardtanh": np.clip(v, 0.5, 1.5), "hardswish": v * np.clip(v + 3, 0, 6) / 6,
        "hardsigmoid": np.clip(v + 3, 0, 6) / 6, "logsigmoid": -np.log1p(np.exp(-v)),
        "softshrink": np.where(v > 0.5, v - 0.5, np.where(v < -0.5, v + 0.5, 0)),
        "hardshrink": np.where(abs(v) > 0.5, v, 0), "threshold": np.where(v > 0.5, v, 1.5),
    }
    assert set(want) | set(want2) == set(_C.Activation.__members__)
    for name, w in want.items():
        np.testing.assert_allclose(_C.activation(getattr(_C.Activation, name), v, 0.01), w, rtol=1e-6, atol=1e-12,
                                   err_msg=name)
    for name, w in want2.items():
        np.testing.assert_allclose(_C.activation(getattr(_C.Activation, name), v, 0.5, 1.5), w, rtol=1e-6,
                                   atol=1e-12, err_msg=name)
    assert {n for n, m in _C.Activation.__members__.items() if _C.activation_backward_uses_output(m)} == \
        {"sigmoid", "tanh"}


def test_pointwise_loss_by_name():
    v = np.array([0.2, 0.7, 0.9, 0.4])
    t = np.array([0.0, 1.0, 0.5, 1.0])
    s = 1 / (1 + np.exp(-v))
    want = {
        "mse": (v - t) ** 2, "l1": np.abs(v - t), "bce": -(t * np.log(v) + (1 - t) * np.log(1 - v)),
        "bce_with_logits": -(t * np.log(s) + (1 - t) * np.log(1 - s)),
    }
    assert set(want) == set(_C.PointwiseLoss.__members__)
    for name, w in want.items():
        out, total = _C.pointwise_loss(getattr(_C.PointwiseLoss, name), v, t, None, None, True)
        np.testing.assert_allclose(out, w, rtol=1e-12, err_msg=name)
        assert total == pytest.approx(w.sum(), rel=1e-12)


def test_rnn_mode_by_name():
    """The gate count of each mode shapes W_ih (G H, I): 1 for the plain RNNs, 4 LSTM, 3 GRU;
    rnn_relu and rnn_tanh differ in the sign of a negative pre-activation."""
    T, B, I, H = 2, 1, 1, 1
    xs = -np.ones((T, B, I))
    for name, gates in {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}.items():
        mode = getattr(_C.RnnMode, name)
        c0 = np.zeros((B, H)) if name == "lstm" else None
        y = _C.rnn_forward(mode, xs, np.zeros((B, H)), c0, np.ones((gates * H, I)), np.zeros((gates * H, H)),
                           None, None, False)[0]
        if name == "rnn_tanh":
            np.testing.assert_allclose(y, np.tanh(-1.0) * np.ones((T, B, H)), rtol=1e-12)
        if name == "rnn_relu":
            np.testing.assert_array_equal(y, np.zeros((T, B, H)))
        wrong = 2 if gates != 2 else 1
        with pytest.raises(ValueError):
            _C.rnn_forward(mode, xs, np.zeros((B, H)), c0, np.ones((wrong * H, I)), np.zeros((wrong * H, H)),
                           None, None, False)
