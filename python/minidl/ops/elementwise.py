"""Elementwise arithmetic with broadcasting, unary math, and their backwards (clamp, where and
masked_fill, which pick between values, are in ops/where.py).

Broadcasting's backward is ``sum_to``: a gradient of the broadcast shape is summed over the
dims an input was stretched along. Each ``*Backward`` class is the derivative of the
forward just above it.
"""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from .. import _C
from ..graph.node import Node
from ..dtypes import bool_, from_numpy_dtype, get_default_dtype, promote_types
from ..tensor import Tensor
from . import array as A
from ._graph import needs_grad, result, saved_input, saved_output, sum_to
from .creation import tensor as _tensor
from .shape import CastBackward

_wrap = Tensor._wrap


# --- operands ---------------------------------------------------------------------------
def _scalar_array(t: Tensor, s):
    """The array of ``t`` to combine with Python scalar ``s`` (PyTorch's scalar promotion:
    an int tensor with a float scalar computes in the default float dtype)."""
    d = t._data
    if isinstance(s, builtins.bool):
        return d
    if isinstance(s, numbers.Integral):
        return A.cast(d, np.int64) if d.dtype == np.bool_ else d
    if isinstance(s, numbers.Real):
        if d.dtype.kind in "bi":
            return A.cast(d, get_default_dtype().np)
        return d
    raise TypeError(f"unsupported operand type: {type(s).__name__}")


def _pair(a: Tensor, b: Tensor):
    """Arrays of a and b in their promoted dtype."""
    ad, bd = a._data, b._data
    if ad.dtype != bd.dtype:
        da, db = from_numpy_dtype(ad.dtype), from_numpy_dtype(bd.dtype)
        # a 0-dim tensor does not promote a tensor of the same category (PyTorch rule)
        if bd.ndim == 0 and ad.ndim > 0 and da.is_floating_point == db.is_floating_point and da is not bool_:
            r = da
        elif ad.ndim == 0 and bd.ndim > 0 and da.is_floating_point == db.is_floating_point and db is not bool_:
            r = db
        else:
            r = promote_types(da, db)
        if ad.dtype != r.np:
            ad = A.cast(ad, r.np)
        if bd.dtype != r.np:
            bd = A.cast(bd, r.np)
    return ad, bd


def as_tensor_operand(x, like: Tensor):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return _wrap(np.asarray(x, dtype=from_numpy_dtype(x.dtype).np))
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


# --- binary ops -------------------------------------------------------------------------
# --8<-- [start:add_backward]
class AddBackward(Node):
    __slots__ = ()

    def apply(self, g):
        sa, sb = self.saved
        return A.sum_to(g, sa), A.sum_to(g, sb)
# --8<-- [end:add_backward]

    def apply_differentiable(self, g):
        sa, sb = self.saved
        return sum_to(g, sa), sum_to(g, sb)


class SubBackward(Node):
    __slots__ = ()

    def apply(self, g):
        sa, sb = self.saved
        return A.sum_to(g, sa), (A.sum_to(A.neg(g), sb) if self.next[1] is not None else None)

    def apply_differentiable(self, g):
        sa, sb = self.saved
        return sum_to(g, sa), (sum_to(-g, sb) if self.next[1] is not None else None)


# --8<-- [start:mul_backward]
class MulBackward(Node):
    __slots__ = ()

    def apply(self, g):
        a, b = self.get_saved()
        ga = A.sum_to(A.mul(g, b), a.shape) if self.next[0] is not None else None
        gb = A.sum_to(A.mul(g, a), b.shape) if self.next[1] is not None else None
        return ga, gb
# --8<-- [end:mul_backward]

    # --8<-- [start:mul_backward_differentiable]
    def apply_differentiable(self, g):
        a, b = self.get_saved()
        ta, tb = saved_input(self, 0, a), saved_input(self, 1, b)
        ga = sum_to(g * tb, a.shape) if self.next[0] is not None else None
        gb = sum_to(g * ta, b.shape) if self.next[1] is not None else None
        return ga, gb
    # --8<-- [end:mul_backward_differentiable]


class DivBackward(Node):
    __slots__ = ()

    def apply(self, g):
        a, b = self.get_saved()
        g_over_b = A.div(g, b)
        ga = A.sum_to(g_over_b, a.shape) if self.next[0] is not None else None
        # d(a/b)/db = -a / b^2
        gb = A.sum_to(A.neg(A.div(A.mul(g_over_b, a), b)), b.shape) if self.next[1] is not None else None
        return ga, gb

    def apply_differentiable(self, g):
        a, b = self.get_saved()
        ta, tb = saved_input(self, 0, a), saved_input(self, 1, b)
        g_over_b = g / tb
        ga = sum_to(g_over_b, a.shape) if self.next[0] is not None else None
        gb = sum_to(-(g_over_b * ta) / tb, b.shape) if self.next[1] is not None else None
        return ga, gb


class PowBackward(Node):
    __slots__ = ()

    def apply(self, g):
        a, b, out = self.get_saved()
        ga = gb = None
        if self.next[0] is not None:  # b * a^(b-1)
            ga = A.sum_to(A.mul(g, A.mul(b, A.binary(A.POW, a, A.binary_scalar(A.SUB, b, 1.0)))), a.shape)
        if self.next[1] is not None:  # a^b log a  (0 where a == 0, as PyTorch)
            loga = A.unary(A.LOG, a)
            term = A.mul(out, loga)
            term = _C_where(A.binary_scalar(A.EQ, a, 0.0), A.zeros((), term.dtype), term)
            gb = A.sum_to(A.mul(g, term), b.shape)
        return ga, gb

    def apply_differentiable(self, g):
        a, b, _ = self.get_saved()
        ta, tb = saved_input(self, 0, a), saved_input(self, 1, b)
        ga = gb = None
        if self.next[0] is not None:
            ga = sum_to(g * (tb * ta ** (tb - 1.0)), a.shape)
        if self.next[1] is not None:  # 0 where a == 0, as PyTorch (and as apply)
            zero = _wrap(A.binary_scalar(A.EQ, a, 0.0))
            safe_a = ta.masked_fill(zero, 1.0)  # log(1) = 0 there, so no inf * 0 in the graph
            gb = sum_to(g * (ta ** tb) * safe_a.log(), b.shape)
        return ga, gb


class MaxMinBackward(Node):
    """Gradient goes to the larger (maximum) / smaller (minimum) input; ties split it."""
    __slots__ = ()

    def apply(self, g):
        a, b, op = self.get_saved()
        win_a = A.binary(A.GT if op == A.MAXIMUM else A.LT, a, b)
        tie = A.binary(A.EQ, a, b)
        half = A.scale(g, 0.5)
        zero = A.zeros((), g.dtype)
        ga = gb = None
        if self.next[0] is not None:
            ga = A.sum_to(_C_where(win_a, g, _C_where(tie, half, zero)), a.shape)
        if self.next[1] is not None:
            win_b = A.binary(A.LT if op == A.MAXIMUM else A.GT, a, b)
            gb = A.sum_to(_C_where(win_b, g, _C_where(tie, half, zero)), b.shape)
        return ga, gb

    def apply_differentiable(self, g):  # piecewise linear: g times a constant 1 / 0.5 / 0 weight
        a, b, op = self.get_saved()
        ones = A.full(g.shape, 1.0, g._data.dtype)
        wa, wb = _max_min_weights(a, b, op, ones)
        ga = sum_to(g * _wrap(wa), a.shape) if self.next[0] is not None else None
        gb = sum_to(g * _wrap(wb), b.shape) if self.next[1] is not None else None
        return ga, gb


def _max_min_weights(a, b, op, ones):
    """How much of the gradient each input gets, per element of the broadcast result."""
    half, zero = A.scale(ones, 0.5), A.zeros((), ones.dtype)
    tie = A.binary(A.EQ, a, b)
    win_a = A.binary(A.GT if op == A.MAXIMUM else A.LT, a, b)
    win_b = A.binary(A.LT if op == A.MAXIMUM else A.GT, a, b)
    return _C_where(win_a, ones, _C_where(tie, half, zero)), _C_where(win_b, ones, _C_where(tie, half, zero))


def _C_where(cond, a, b):
    return _C.where(cond, a, b)


def _promoted(t: Tensor, arr: np.ndarray) -> Tensor:
    """``t`` as the operand ``arr`` it was promoted to, recorded as a cast so that its gradient
    comes back in ``t``'s own dtype (PyTorch casts every input's gradient to the input's dtype:
    a bfloat16 activation added to a float32 residual gets a bfloat16 gradient)."""
    if arr.dtype == t._data.dtype or not t._rg:
        return t
    return result(arr, CastBackward, (t,), t._data.dtype)


# --8<-- [start:binary_tensor]
def _binary_tensor(op, a: Tensor, b: Tensor):
    ad, bd = _pair(a, b)
    if op == A.DIV and ad.dtype.kind in "bi":  # true division of integers is float (PyTorch)
        ad, bd = A.cast(ad, get_default_dtype().np), A.cast(bd, get_default_dtype().np)
    out = A.binary(op, ad, bd)
    if not needs_grad(a, b) or op in A.NO_GRAD_BINARY:
        return _wrap(out)
    a, b = _promoted(a, ad), _promoted(b, bd)
    if op == A.ADD:
        return result(out, AddBackward, (a, b), (ad.shape, bd.shape))
# --8<-- [end:binary_tensor]
    if op == A.SUB:
        return result(out, SubBackward, (a, b), (ad.shape, bd.shape))
    if op == A.MUL:
        return result(out, MulBackward, (a, b), (ad, bd))
    if op == A.DIV:
        return result(out, DivBackward, (a, b), (ad, bd))
    if op == A.POW:
        return result(out, PowBackward, (a, b), (ad, bd, out))
    if op in (A.MAXIMUM, A.MINIMUM):
        return result(out, MaxMinBackward, (a, b), (ad, bd, op))
    return _wrap(out)


class ScalarAddBackward(Node):
    __slots__ = ()

    def apply(self, g):
        return (g,)

    def apply_differentiable(self, g):
        return (g,)


class ScalarRsubBackward(Node):  # s - a
    __slots__ = ()

    def apply(self, g):
        return (A.neg(g),)

    def apply_differentiable(self, g):
        return (-g,)


class ScalarMulBackward(Node):
    __slots__ = ()

    def apply(self, g):
        return (A.scale(g, self.saved),)

    def apply_differentiable(self, g):
        return (g * self.saved,)


class ScalarRdivBackward(Node):  # s / a: d/da = -s / a^2 = -out / a
    __slots__ = ()

    def apply(self, g):
        a, out = self.get_saved()
        return (A.neg(A.div(A.mul(g, out), a)),)

    def apply_differentiable(self, g):
        a, out = self.get_saved()
        return (-(g * saved_output(self, out)) / saved_input(self, 0, a),)


class ScalarPowBackward(Node):  # a ** e: e a^(e-1)
    __slots__ = ()

    def apply(self, g):
        a, e = self.get_saved()
        if e == 0:
            return (A.scale(g, 0.0),)
        if e == 2:
            return (A.mul(g, A.scale(a, 2.0)),)
        return (A.mul(g, A.scale(A.binary_scalar(A.POW, a, e - 1), e)),)

    def apply_differentiable(self, g):
        a, e = self.get_saved()
        if e == 0:
            return (g * 0.0,)
        ta = saved_input(self, 0, a)
        return (g * (ta * 2.0) if e == 2 else g * (ta ** (e - 1) * e),)


class ScalarRpowBackward(Node):  # s ** a: s^a log s
    __slots__ = ()

    def apply(self, g):
        out, log_s = self.get_saved()
        return (A.mul(g, A.scale(out, log_s)),)

    def apply_differentiable(self, g):
        out, log_s = self.get_saved()
        return (g * saved_output(self, out) * log_s,)


class ScalarMaxMinBackward(Node):
    __slots__ = ()

    def apply(self, g):
        a, s, op = self.get_saved()
        win = A.binary_scalar(A.GT if op == A.MAXIMUM else A.LT, a, s)
        tie = A.binary_scalar(A.EQ, a, s)
        return (_C_where(win, g, _C_where(tie, A.scale(g, 0.5), A.zeros((), g.dtype))),)

    def apply_differentiable(self, g):  # piecewise linear: g times the constant weight apply gives 1
        return (g * _wrap(self.apply(A.full(g.shape, 1.0, g._data.dtype))[0]),)


def _binary_scalar(op, a: Tensor, s, reverse: bool = False):
    ad = _scalar_array(a, s)
    if op == A.DIV and ad.dtype.kind in "bi":  # true division of integers is float (PyTorch)
        ad = A.cast(ad, get_default_dtype().np)
    sv = builtins.float(s)
    out = A.binary_scalar(op, ad, sv, reverse)
    if op in A.NO_GRAD_BINARY or not needs_grad(a):
        return _wrap(out)
    if op == A.ADD or (op == A.SUB and not reverse):
        return result(out, ScalarAddBackward, (a,))
    if op == A.SUB:
        return result(out, ScalarRsubBackward, (a,))
    if op == A.MUL:
        return result(out, ScalarMulBackward, (a,), sv)
    if op == A.DIV:
        return result(out, ScalarRdivBackward, (a,), (ad, out)) if reverse else \
            result(out, ScalarMulBackward, (a,), 1.0 / sv)
    if op == A.POW:
        if reverse:
            return result(out, ScalarRpowBackward, (a,), (out, float(np.log(sv)) if sv > 0 else float("nan")))
        return result(out, ScalarPowBackward, (a,), (ad, sv))
    if op in (A.MAXIMUM, A.MINIMUM):
        return result(out, ScalarMaxMinBackward, (a,), (ad, sv, op))
    return _wrap(out)


def binary(op: int, a, b, reverse: bool = False):
    """``a (op) b`` for a Tensor ``a`` and a Tensor, array or Python number ``b``."""
    if type(b) is Tensor or isinstance(b, Tensor):
        return _binary_tensor(op, b, a) if reverse else _binary_tensor(op, a, b)
    if isinstance(b, (numbers.Number, np.generic)) and not isinstance(b, complex):
        return _binary_scalar(op, a, b, reverse)
    if isinstance(b, (np.ndarray, list, tuple)):
        bt = _tensor(b)
        return _binary_tensor(op, bt, a) if reverse else _binary_tensor(op, a, bt)
    return NotImplemented


# --- unary ops --------------------------------------------------------------------------
class UnaryBackward(Node):
    """Derivatives of the unary math ops, from the input x and/or the output y."""
    __slots__ = ()

    def name(self) -> str:
        """The op's own name, ``SqrtBackward``, ``ExpBackward`` ... (PyTorch: ``SqrtBackward0``)."""
        saved = self.saved
        if type(saved) is tuple and saved:
            return saved[0].name.capitalize() + "Backward"
        return "UnaryBackward"

    def apply(self, g):
        op, x, y = self.get_saved()
        if op == A.NEG:
            return (A.neg(g),)
        if op == A.ABS:
            return (A.mul(g, A.unary(A.SIGN, x)),)
        if op == A.EXP:
            return (A.mul(g, y),)
        if op == A.LOG:
            return (A.div(g, x),)
        if op == A.SQRT:  # 1 / (2 sqrt x)
            return (A.div(A.scale(g, 0.5), y),)
        if op == A.RSQRT:  # -1/2 x^-3/2 = -y^3 / 2
            return (A.mul(g, A.scale(A.mul(y, A.mul(y, y)), -0.5)),)
        if op == A.SQUARE:
            return (A.mul(g, A.scale(x, 2.0)),)
        if op == A.RECIPROCAL:  # -1/x^2 = -y^2
            return (A.neg(A.mul(g, A.mul(y, y))),)
        if op == A.SIN:
            return (A.mul(g, A.unary(A.COS, x)),)
        if op == A.COS:
            return (A.neg(A.mul(g, A.unary(A.SIN, x))),)
        if op == A.LOG1P:
            return (A.div(g, A.binary_scalar(A.ADD, x, 1.0)),)
        if op == A.EXPM1:
            return (A.mul(g, A.binary_scalar(A.ADD, y, 1.0)),)
        if op == A.ERF:  # 2/sqrt(pi) e^(-x^2)
            return (A.mul(g, A.scale(A.unary(A.EXP, A.neg(A.mul(x, x))), 1.1283791670955126)),)
        if op == A.ERFINV:  # 1 / erf'(y) = sqrt(pi)/2 e^(y^2)
            return (A.mul(g, A.scale(A.unary(A.EXP, A.mul(y, y)), 0.8862269254527580)),)
        # sign, floor, ceil, round, trunc: zero almost everywhere
        return (A.scale(g, 0.0),)

    def apply_differentiable(self, g):
        """The same derivatives as ``apply``, with Tensor ops: x is the input (in the graph of
        what made it), y the output (in this node's graph, as PyTorch saves results)."""
        op, x, y = self.get_saved()
        X = saved_input(self, 0, x) if x is not None else None
        Y = saved_output(self, y) if y is not None else None
        if op == A.NEG:
            return (-g,)
        if op == A.ABS:
            return (g * _wrap(A.unary(A.SIGN, x)),)  # sign' = 0: a constant
        if op == A.EXP:
            return (g * Y,)
        if op == A.LOG:
            return (g / X,)
        if op == A.SQRT:
            return ((g * 0.5) / Y,)
        if op == A.RSQRT:
            return (g * (Y * Y * Y * -0.5),)
        if op == A.SQUARE:
            return (g * (X * 2.0),)
        if op == A.RECIPROCAL:
            return (-(g * (Y * Y)),)
        if op == A.SIN:
            return (g * X.cos(),)
        if op == A.COS:
            return (-(g * X.sin()),)
        if op == A.LOG1P:
            return (g / (X + 1.0),)
        if op == A.EXPM1:
            return (g * (Y + 1.0),)
        if op == A.ERF:
            return (g * ((-(X * X)).exp() * 1.1283791670955126),)
        if op == A.ERFINV:
            return (g * ((Y * Y).exp() * 0.8862269254527580),)
        return (g * 0.0,)


_READS_INPUT = {A.ABS, A.LOG, A.SQUARE, A.SIN, A.COS, A.LOG1P, A.ERF}
_READS_OUTPUT = {A.EXP, A.SQRT, A.RSQRT, A.RECIPROCAL, A.EXPM1, A.ERFINV}
_NEEDS_FLOAT = {A.EXP, A.LOG, A.SQRT, A.RSQRT, A.RECIPROCAL, A.SIN, A.COS, A.LOG1P, A.EXPM1, A.ERF, A.ERFINV}


def unary(op: int, x: Tensor) -> Tensor:
    d = x._data
    if op in _NEEDS_FLOAT and d.dtype.kind in "bi":
        d = A.cast(d, get_default_dtype().np)
    if op == A.NEG and d.dtype == np.bool_:
        raise TypeError("Negation, the `-` operator, on a bool tensor is not supported. "
                        "Use the `~` or `logical_not()` operator instead.")
    out = A.unary(op, d)
    if op in A.BOOL_UNARY or not needs_grad(x):
        return _wrap(out)
    # save only what the derivative reads, so an in-place write to the other one is no error
    # (exp_ after exp is fine, as in PyTorch)
    return result(out, UnaryBackward, (x,), (op, d if op in _READS_INPUT else None,
                                             out if op in _READS_OUTPUT else None))


# --- other math -----------------------------------------------------------------------
def tan(input: Tensor) -> Tensor:
    """Tangent, elementwise: tan(x) = sin(x) / cos(x) (x in radians).

    Gradient: 1 / cos^2(x) = 1 + tan^2(x), here from the quotient's backward. minidl
    computes sin and cos (two kernels, then a division), so a value may differ from
    PyTorch's ``tan`` kernel by about one rounding; integer inputs give the default float
    dtype, as in PyTorch. Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.tan(md.tensor([0.0, 0.7853981634, -1.0]))
    tensor([ 0.0000,  1.0000, -1.5574])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"tan(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    return input.sin() / input.cos()
