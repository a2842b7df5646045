"""In-place ops: ``x.add_(y)``, ``x += y``, ``x[k] = v``, ``x.exp_()``, ``x.clamp_()``,
``x.masked_fill_()``, ``x.fill_(v)``, ``x.zero_()``, ``x.copy_(src)``, ``x.uniform_()`` ...

Each writes into ``x``'s memory and returns ``x``. Two things make them more than a kernel
call.

1. **The version counter** (``graph/version.py``). Every write bumps it, so a backward that
   saved ``x``'s old values raises instead of computing a gradient from the new ones.

2. **Autograd.** When ``x`` or the other operand requires grad (and grad mode is on), ``x``
   takes the op's place in the graph, as PyTorch "rebases" ``x``'s history: the op runs out
   of place on ``x``'s old value, the result ``r`` is written into ``x``'s memory, and
   ``x.grad_fn`` becomes ``r``'s node, whose input edge leads to ``x``'s old ``grad_fn``
   (``commit``). If the op's backward needs ``x``'s old values (mul, div, exp, clamp ...),
   the op reads a copy of them, since ``x``'s memory is about to be overwritten (PyTorch
   keeps an "original_self" copy for the same reason); add and sub need none.

   For a view made by indexing (``v = x[0]``; ``x[:, 1:] += w``, which Python runs as a
   getitem, an in-place add and a setitem), the write is committed to the base: ``x``
   becomes "``x`` with the window replaced" (the node of ``x[k] = v``, ``SetitemBackward``)
   and ``v`` becomes that window of the new ``x`` again; PyTorch's CopySlices does the same.

What PyTorch refuses, minidl refuses with the same message: an in-place op on a leaf that
requires grad, or on a view of one, while grad mode is on. Under ``md.no_grad()`` both are
allowed: that is how optimizers and ``nn.init`` write parameters. Where minidl is narrower:
an in-place op under autograd on a view made by reshape/permute/transpose/flip, or on a
tensor that shares memory with another one it cannot name (``md.from_numpy``), raises
rather than record a graph that misses the write.

>>> import minidl as md
>>> w = md.tensor([0., 1.], requires_grad=True)
>>> h = w * 2
>>> h += 1                       # in place on a non-leaf: fine, h.grad_fn is now AddBackward
>>> h.pow_(2).sum().backward()   # d/dw (2w + 1)^2 = 4 (2w + 1)
>>> w.grad
tensor([ 4.0000, 12.0000])
>>> w.add_(1)                    # a leaf that requires grad: refused, as in PyTorch
Traceback (most recent call last):
    ...
RuntimeError: a leaf Variable that requires grad is being used in an in-place operation.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..graph import grad_mode, version
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from .dlpack import array_from, describe_value
from . import elementwise, indexing, masking, scatter_reduce, shape, subscript, where
from ._graph import edges, linear_grads, needs_grad, result

_wrap = Tensor._wrap


# --- the two paths: a plain write, or a write that autograd records ------------------------
def write(x: Tensor, values: np.ndarray) -> Tensor:
    """Copy ``values`` (broadcast, cast) into ``x``'s memory and count the write."""
    _C.copy_(x._data, values)
    version.bump(x._data)
    return x


def _old_value(x: Tensor) -> Tensor:
    """A copy of ``x``'s values that stands where ``x`` stands in the graph."""
    old = _wrap(A.copy(x._data))
    old._node, old._out_idx, old._rg = x._node, x._out_idx, x._rg
    return old


# --8<-- [start:inplace_commit]
def commit(x: Tensor, r: Tensor) -> Tensor:
    """``x`` takes the values and the graph position of ``r``, the in-place op's result."""
    if r._data.shape != x._data.shape:
        raise RuntimeError(f"output with shape {list(x._data.shape)} doesn't match the broadcast shape "
                           f"{list(r._data.shape)}")
    if r._data.dtype != x._data.dtype:
        r = shape.to_dtype(r, x.dtype)  # the write casts; the gradient flows back through the cast
    view_of = getattr(x, "_view_of", None)
    if view_of is not None:  # x = base[key]: write through the base, then x is base[key] again
        setitem(view_of[0], view_of[1], r)
        return refresh_view(x)
    if x._data.base is not None and (x._node is None or x._node.is_view):
        raise RuntimeError(
            "minidl: an in-place operation that autograd must record was applied to a tensor that shares "
            "memory with another one (a view made by view/reshape/permute/transpose/flip/expand, or "
            "md.from_numpy): minidl can rebase only the history of views made by indexing. Use the "
            "out-of-place form (y = y + w), or write through the base tensor (base[k] = base[k] + w).")
    write(x, r._data)
    node = r._node
    if node is not None and type(node.saved) is tuple and any(s is r._data for s in node.saved):
        # the op saved its result: that result is x now, so save x (at its new version) and
        # a later write to x raises in backward, as in PyTorch (x.sqrt_().neg_())
        node.saved = tuple(x._data if s is r._data else s for s in node.saved)
        node.epoch = version.epoch[0]
    x._node, x._out_idx, x._rg = node, r._out_idx, r._rg
    return x
# --8<-- [end:inplace_commit]


def refresh_view(x: Tensor) -> Tensor:
    """Make the view ``x = base[key]`` a view of its base's current history again.

    Needed after a write to the base (``base[k] = v``, or a write through another view):
    ``x``'s values changed with the memory, so its gradient must flow to the new history.
    """
    base, key, _ = x._view_of
    fresh = subscript.getitem(base, key)
    x._node, x._out_idx, x._rg, x._view_of = fresh._node, fresh._out_idx, fresh._rg, fresh._view_of
    return x


# --8<-- [start:inplace_apply]
def apply_(x: Tensor, out_of_place, other=None, keeps_old=True) -> Tensor:
    """Run ``x = out_of_place(x)`` in place: through autograd if ``x`` or ``other`` needs it.

    ``keeps_old``: the op's backward reads its input, so it must see a copy of the old values.
    """
    if needs_grad(x, other):
        x._check_inplace()
        return commit(x, out_of_place(_old_value(x) if keeps_old else x))
    x._check_inplace()
    return write(x, out_of_place(x)._data)
# --8<-- [end:inplace_apply]


# --- arithmetic -----------------------------------------------------------------------------
_SCALED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # the fused scaled updates' dtypes


def _binary_inplace(op, name: str):
    """The method ``x.<name>(other, alpha=1)``: x = x (op) (alpha * other), in place.

    One function per op (not a shared ``binary_(op, ...)`` behind a lambda): a tiny
    ``x.add_(y)`` is mostly Python call overhead, and each frame is ~10% of it.
    """
    keeps_old = op not in (A.ADD, A.SUB)  # the backward of mul/div/pow reads x's old value

    def method(x: Tensor, other, alpha=1) -> Tensor:
        if alpha != 1:
            if (op in (A.ADD, A.SUB) and isinstance(other, Tensor) and not needs_grad(x, other)
                    and x._data.dtype in _SCALED_DTYPES and other._data.dtype == x._data.dtype
                    and x._data.flags.writeable):
                # p.add_(g, alpha=-lr) without autograd: one fused pass, PyTorch's FMA (no
                # alpha * other stored first)
                _C.scaled_update_(_C.ScaledOp.add_scaled, x._data, other._data,
                                  float(alpha) if op == A.ADD else -float(alpha))
                version.bump(x._data)
                return x
            other = other * alpha
        other_t = other if isinstance(other, Tensor) else None
        if grad_mode._enabled and (x._rg or (other_t is not None and other_t._rg)):  # needs_grad, inlined
            return apply_(x, lambda old: elementwise.binary(op, old, other), other_t, keeps_old)
        d = x._data
        if not d.flags.writeable:
            x._check_inplace()  # raises: a read-only (expanded) view
        if other_t is not None:
            od = other_t._data if other_t._data.dtype == d.dtype else A.cast(other_t._data, d.dtype)
            if A.is_low(d):
                _C.copy_(d, A.binary(op, d, od))
            else:
                _C.binary_(op, d, od)
        elif A.is_low(d):
            _C.copy_(d, A.binary_scalar(op, d, float(other)))
        else:
            _C.binary_scalar_(op, d, float(other))
        version.bump(d)
        return x

    if op not in (A.ADD, A.SUB):  # alpha is add_'s and sub_'s only, as in PyTorch
        def method_without_alpha(x: Tensor, other) -> Tensor:
            return method(x, other)
        method_without_alpha.__name__ = method_without_alpha.__qualname__ = name
        return method_without_alpha
    method.__name__ = method.__qualname__ = name
    return method


add_ = _binary_inplace(A.ADD, "add_")
sub_ = _binary_inplace(A.SUB, "sub_")
mul_ = _binary_inplace(A.MUL, "mul_")
div_ = _binary_inplace(A.DIV, "div_")
pow_ = _binary_inplace(A.POW, "pow_")


def unary_(op, x: Tensor) -> Tensor:
    """``x.exp_()``, ``x.sqrt_()`` ...: x = op(x)."""
    if needs_grad(x):
        return apply_(x, lambda old: elementwise.unary(op, old))
    x._check_inplace()
    d = x._data
    if A.is_low(d):
        _C.copy_(d, A.unary(op, d))
    else:
        _C.unary_(op, d)
    version.bump(d)
    return x


def clamp_(x: Tensor, min=None, max=None) -> Tensor:
    """``x.clamp_(min, max)``: x = min(max(x, min), max). Without autograd and with number
    bounds, one pass in place (``p.data.clamp_(-c, c)``, WGAN's weight clipping) instead of a
    clamped copy written back."""
    d = x._data
    if (not needs_grad(x) and (min is not None or max is not None) and not isinstance(min, Tensor)
            and not isinstance(max, Tensor) and d.flags.writeable and not A.is_low(d)):
        _C.clamp(d, min, max, d)
        version.bump(d)
        return x
    return apply_(x, lambda old: where.clamp(old, min, max))


def masked_fill_(x: Tensor, mask, value) -> Tensor:
    """``x.masked_fill_(mask, value)``: x = value where mask, else x."""
    return apply_(x, lambda old: where.masked_fill(old, mask, value), keeps_old=False)


# --- scatter and index writes (ops/indexing.py) ----------------------------------------------
def scatter_(x: Tensor, dim, index, src=None, *, value=None, reduce=None) -> Tensor:
    """``x.scatter_(dim, index, src)``: x[... index ...] = src (or value; reduce "add"/"multiply")."""
    other = src if isinstance(src, Tensor) else None
    return apply_(x, lambda old: indexing.scatter(old, dim, index, src, value=value, reduce=reduce), other,
                  keeps_old=False)


def scatter_add_(x: Tensor, dim, index, src) -> Tensor:
    """``x.scatter_add_(dim, index, src)``: x[... index ...] += src."""
    return apply_(x, lambda old: indexing.scatter_add(old, dim, index, src), src, keeps_old=False)


def scatter_reduce_(x: Tensor, dim, index, src, reduce, *, include_self=True) -> Tensor:
    """``x.scatter_reduce_(dim, index, src, reduce)``: x reduced with src at index (sum/prod/mean/amax/amin)."""
    return apply_(x, lambda old: scatter_reduce.scatter_reduce(old, dim, index, src, reduce, include_self=include_self),
                  src)


def index_add_(x: Tensor, dim, index, source, *, alpha=1) -> Tensor:
    """``x.index_add_(dim, index, source, alpha=1)``: x's slices at index += alpha * source's."""
    return apply_(x, lambda old: indexing.index_add(old, dim, index, source, alpha=alpha), source, keeps_old=False)


def index_copy_(x: Tensor, dim, index, source) -> Tensor:
    """``x.index_copy_(dim, index, source)``: x's slices at index = source's."""
    return apply_(x, lambda old: indexing.index_copy(old, dim, index, source), source, keeps_old=False)


def index_fill_(x: Tensor, dim, index, value) -> Tensor:
    """``x.index_fill_(dim, index, value)``: x's slices at index = value."""
    return apply_(x, lambda old: indexing.index_fill(old, dim, index, value), keeps_old=False)


def masked_scatter_(x: Tensor, mask, source) -> Tensor:
    """``x.masked_scatter_(mask, source)``: x[mask] = source's first mask.sum() elements."""
    return apply_(x, lambda old: masking.masked_scatter(old, mask, source), source, keeps_old=False)


# --- fill, copy (the random fills are in ops/random_inplace.py) ----------------------------
class FillBackward(Node):
    """x.fill_(v): the old value of x no longer matters, its gradient is 0."""
    __slots__ = ()

    def apply(self, g):
        return (A.zeros(g.shape, g.dtype),)

    def apply_differentiable(self, g):
        return (g * 0.0,)


def fill_(x: Tensor, value) -> Tensor:
    """``x.fill_(value)``: every element becomes ``value`` (a number or a 0-d tensor)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        if needs_grad(value):  # d x / d value = 1 everywhere: the gradient of value is sum(g)
            return copy_(x, value)
        value = value.item()
    if needs_grad(x):
        x._check_inplace()
        return commit(x, result(A.full(x._data.shape, value, x._data.dtype), FillBackward, (x,)))
    x._check_inplace()
    _C.fill_(x._data, float(value))
    version.bump(x._data)
    return x


def copy_(x: Tensor, src) -> Tensor:
    """``x.copy_(src)``: x's elements become src's (broadcast to x's shape, cast to x's dtype)."""
    if isinstance(src, Tensor):
        if needs_grad(x, src):  # the old x gets no gradient; src gets g summed to its shape
            x._check_inplace()
            return commit(x, shape.expand(src, x._data.shape) if src._data.shape != x._data.shape else src * 1)
        sd = src._data
    else:  # a NumPy array, a PyTorch tensor (through DLPack), a number or a list
        sd = array_from(src)
        sd = np.asarray(src) if sd is None else sd
        try:
            fits = np.broadcast_shapes(sd.shape, x._data.shape) == x._data.shape
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"copy_: cannot copy {describe_value(src)} into a minidl.Tensor of shape "
                               f"{tuple(x.shape)}: the shapes do not broadcast")
    x._check_inplace()
    return write(x, sd)


# --- x[key] = value -------------------------------------------------------------------------
class SetitemBackward(Node):
    """x[key] = v. The old x's gradient is g with the window zeroed (those values were
    replaced); v's gradient is the window of g, summed over the dims v was broadcast along."""
    __slots__ = ()

    def apply(self, g):
        key, basic, v_shape, v_dtype = self.saved
        gx = gv = None
        if self.next[0] is not None:
            gx = A.copy(g)
            if basic:
                _C.fill_(subscript.window(gx, key), 0.0)
            else:
                gx[key] = 0
        if self.next[1] is not None:
            gv = A.contiguous(subscript.window(g, key) if basic else g[key])
            gv = A.sum_to(gv, v_shape)
            if gv.dtype != v_dtype:
                gv = A.cast(gv, v_dtype)
        return (gx, gv)

    def apply_differentiable(self, g):
        """Linear in g: x's part is g with the window zeroed (its own adjoint); v's part reads
        the window, whose adjoint writes v into the window of zeros (a recorded setitem)."""
        key, basic, v_shape, v_dtype = self.saved

        def x_part(h):
            mask = A.full(tuple(h.shape), 1.0, h._data.dtype)
            if basic:
                _C.fill_(subscript.window(mask, key), 0.0)
            else:
                mask[key] = 0
            return h * Tensor._wrap(mask)

        def v_part(h):
            z = Tensor._wrap(A.zeros(tuple(g.shape), g._data.dtype))
            setitem(z, key, h)
            return z
        return linear_grads(self, g, (x_part, v_part))


def setitem(x: Tensor, key, value) -> None:
    """``x[key] = value``: write ``value`` (broadcast) into the window ``key`` selects."""
    value_t = value if isinstance(value, Tensor) else None
    if not (grad_mode._enabled and (x._rg or (value_t is not None and value_t._rg))):  # needs_grad, inlined
        d = x._data
        if not d.flags.writeable:
            x._check_inplace()  # raises: a read-only (expanded) view
        nkey, basic = subscript._convert_key(key, d.shape)
        subscript.write_window(d, nkey, basic, value)
        version.bump(d)
        return
    x._check_inplace()
    nkey, basic = subscript._convert_key(key, x._data.shape)
    new = A.copy(x._data)
    subscript.write_window(new, nkey, basic, value)
    saved = (nkey, basic, value_t._data.shape if value_t is not None else (),
             value_t._data.dtype if value_t is not None else None)
    r = _wrap(new)
    r._node, r._rg = SetitemBackward(edges(x, value_t), saved), True
    commit(x, r)

