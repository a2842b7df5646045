"""Scaled dot-product attention (Vaswani et al., 2017), ``F.scaled_dot_product_attention``:
the core of the Transformer. One fused C++ kernel per direction
(cpp/ops/attention/attention.cpp and attention_backward.cpp, the FlashAttention method of Dao
et al., 2022, with the float32 row operations per ISA in cpp/ops/attention/attention_simd.cpp).

Each of L queries looks at S keys: its scores with every key, scaled and turned into weights
by a softmax, average the S values. Dividing by sqrt(E) keeps the scores' variance near 1
whatever the head size, so the softmax does not saturate.

    out = softmax(Q K^T * scale + mask) V,     scale = 1 / sqrt(E) unless given
    query (N, ..., L, E), key (N, ..., S, E), value (N, ..., S, Ev) -> out (N, ..., L, Ev)
    backward (P = the softmax weights, dO = the output gradient):
        dV = P^T dO,   dP = dO V^T,   dS = P (dP - rowsum(dO * O)),   dQ = dS K scale,   dK = dS^T Q scale

The L x S weights are computed tile by tile with an online softmax and never stored: the
forward keeps only the row log-sum-exp (N, ..., L), the backward recomputes the weights
from it. Masks follow ``torch.nn.functional.scaled_dot_product_attention``:
  * ``is_causal=True``: query i attends to keys j <= i (top-left, ``torch.ones(L, S).tril()``);
  * a boolean ``attn_mask``: True = may attend;
  * a float ``attn_mask``: added to the scores (use -inf to forbid);
  masks broadcast to (N, H, L, S) and are read in place (never expanded in memory).
A query row that may attend to nothing gives an output row of zeros and zero gradients, as
torch 2.13's CPU kernel does (the textbook softmax would give NaN).
``dropout_p`` > 0 zeroes attention weights with that probability and scales the rest by
1 / (1 - p); the mask comes from a counter-based hash seeded per call from ``md.manual_seed``'s
generator, so a seeded run is reproducible and the backward sees the forward's mask.
A float mask that requires grad (a learned bias) gets its gradient dS = dLoss/d(scores),
summed over the dims it was broadcast along; only then is an L x S matrix stored.
The output is laid out like the query, as PyTorch's flash kernel does: heads split off a packed
(N, L, 3 H E) projection give an output in (N, L, H, E) memory order, so merging the heads back
into (N, L, H E) is a view; and when query, key and value are the three head windows of one
such projection, the backward writes their gradients into the windows of one packed gradient.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops.higher_order import recomputed_grads
from ..ops._graph import result, saved_input
from ..tensor import Tensor
from .softmax import softmax


class ScaledDotProductAttentionBackward(Node):
    __slots__ = ()

    # --8<-- [start:sdpa_node]
    def apply(self, g):
        q, k, v, out, lse, mask, scale, causal, p, seed, shapes, dtypes = self.get_saved()
        g = g.reshape(out.shape)
        if g.dtype != out.dtype:
            g = A.cast(g, out.dtype)
        want_mask = len(self.next) > 3 and self.next[3] is not None
        packed = _packed_gradient(q, k, v)  # dq, dk, dv written into one packed gradient, or None
        dq, dk, dv, dmask = _C.attention_backward(g, q, k, v, out, lse, mask, scale, causal, p, seed, want_mask, packed)
    # --8<-- [end:sdpa_node]
        grads = []
        for grad, shape, dt in zip((dq, dk, dv), shapes, dtypes):
            if grad.shape != tuple(shape):  # a reshape is a view: the engine would copy it
                grad = grad.reshape(shape)
            grads.append(A.cast(grad, dt) if grad.dtype != dt else grad)
        if len(self.next) > 3:  # a float mask that requires grad: sum dS over its broadcast dims
            if want_mask:
                mshape, mdt = shapes[3], dtypes[3]
                full = shapes[0][:-2] + (dmask.shape[2], dmask.shape[3])
                dm = A.sum_to(dmask.reshape(full), mshape)
                grads.append(A.cast(dm, mdt) if dm.dtype != mdt else dm)
            else:
                grads.append(None)
        return tuple(grads)

    def apply_differentiable(self, g):
        """softmax(q k^T scale + mask) v recomputed with primitive ops (an L x S matrix per
        head, which the fused kernel avoids) and differentiated with create_graph=True.
        Forbidden positions get a large negative score and a row with none allowed gives
        zeros, as the kernel. With dropout the kernel's mask cannot be rebuilt: that raises."""
        q, k, v, out, lse, mask, scale, causal, p, seed, shapes, dtypes = self.get_saved()
        if p > 0:
            raise RuntimeError(f"derivative for {self.name()} with dropout_p > 0 is not implemented for "
                               "create_graph=True (double backward): call it with dropout_p=0")
        Q, K, V = (saved_input(self, i, A.contiguous(a).reshape(shapes[i])) for i, a in enumerate((q, k, v)))
        M = saved_input(self, 3, A.contiguous(mask).reshape(shapes[3])) if len(self.next) > 3 else None
        L, S = q.shape[2], k.shape[2]
        forbidden = None
        if causal:
            forbidden = np.triu(np.ones((L, S), dtype=bool), 1)
        elif mask is not None and mask.dtype == np.bool_:
            forbidden = ~mask
        none_allowed = None if forbidden is None else np.broadcast_to(forbidden, q.shape[:2] + (L, S)).all(-1,
                                                                                                           keepdims=True)

        def attention(Q, K, V, M=None):
            scores = (Q.reshape(q.shape) @ K.reshape(k.shape).transpose(-1, -2)) * scale
            if M is not None:
                scores = scores + M.reshape(mask.shape)
            elif mask is not None and mask.dtype != np.bool_:
                scores = scores + Tensor._wrap(mask)
            if forbidden is not None:
                scores = scores.masked_fill(Tensor._wrap(forbidden), -1e30 if q.dtype == np.float32 else -1e300)
            weights = softmax(scores, -1)
            if none_allowed is not None and none_allowed.any():
                weights = weights.masked_fill(Tensor._wrap(none_allowed), 0.0)
            return (weights @ V.reshape(v.shape)).reshape(tuple(g.shape))

        return recomputed_grads((Q, K, V) + ((M,) if M is not None else ()), attention, g)


def _packed_head_views(d: np.ndarray, heads: int) -> np.ndarray:
    """(N, L, 3 H E) packed projections -> (3, N, H, L, E) strided view: [0] q, [1] k, [2] v heads
    (the layout of ``nn.MultiheadAttention``'s self-attention ``in_proj`` and of a GPT block's
    qkv projection)."""
    N, L, E3 = d.shape
    return d.reshape(N, L, 3, heads, E3 // (3 * heads)).transpose(2, 0, 3, 1, 4)


def _packed_gradient(q: np.ndarray, k: np.ndarray, v: np.ndarray):
    """When q, k and v are the three head windows of one packed (N, L, 3 H E) array
    (``_packed_head_views``): the windows of a new gradient of that packed shape, for the backward
    to write dq, dk and dv into. The packed projection's backward then takes the whole gradient
    as it is (``PackedHeadsBackward`` in multihead_attention.py) instead of copying three
    (N, H, L, E) gradients into it: 3 copies of 4 MiB per GPT block step, ~1 ms each on one
    core. Otherwise None (the kernel returns contiguous gradients)."""
    base = q.base
    if base is None or k.base is not base or v.base is not base or q.ndim != 4 or not base.flags.c_contiguous:
        return None
    N, H, L, E = q.shape
    if k.shape != q.shape or v.shape != q.shape or base.size != N * L * 3 * H * E or base.dtype != q.dtype:
        return None
    if not all(A.same_view(a, w) for a, w in zip((q, k, v), _packed_head_views(base.reshape(N, L, 3 * H * E), H))):
        return None
    return tuple(_packed_head_views(np.empty((N, L, 3 * H * E), q.dtype), H))


def _shape(a):
    return list(a.shape)


def _as_4d(d: np.ndarray) -> np.ndarray:
    """(N, L, E) -> (N, 1, L, E) view; 4-D unchanged."""
    return d[:, None] if d.ndim == 3 else d


def _cast_in_memory_order(d: np.ndarray, dt) -> np.ndarray:
    """``d`` converted to ``dt``, keeping its layout when it is a permutation of a contiguous
    array (heads split by ``view(...).transpose(1, 2)``): the kernel reads operands through
    strides, and one pass in memory order costs about a third of a cast that follows the
    logical order through strides (measured 0.35 vs 0.97 ms for a (32, 12, 128, 32) bfloat16
    operand, 1 thread). Other layouts get a contiguous copy."""
    order = sorted(range(d.ndim), key=lambda i: -d.strides[i])
    in_memory_order = d.transpose(order)
    if not in_memory_order.flags.c_contiguous:
        return A.cast(d, dt)
    return A.cast(in_memory_order, dt).transpose(np.argsort(order))


def _prepare_mask(attn_mask, q4, k4, compute_dtype, batch_shape):
    """The mask as an array the kernel reads through broadcast strides (bool or compute dtype)."""
    if attn_mask is None:
        return None
    m = attn_mask._data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    full = list(batch_shape) + [q4.shape[2], k4.shape[2]]
    try:
        np.broadcast_shapes(m.shape, tuple(full))
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {_shape(m)} cannot be broadcast to "
                         f"the attention weights' shape {full} (query {list(batch_shape) + [q4.shape[2]]}, "
                         f"key length {k4.shape[2]})") from None
    if np.broadcast_shapes(m.shape, tuple(full)) != tuple(full):
        raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {_shape(m)} cannot be broadcast to {full}")
    if m.dtype != np.bool_:
        if m.dtype.kind not in "f" and not A.is_low(m):
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, got {m.dtype}")
        if m.dtype != compute_dtype:
            m = A.cast(m, compute_dtype)
    if len(batch_shape) == 1:  # 3-D input: the mask's dims line up with (N, L, S) -> (N, 1, L, S)
        m = m[:, None] if m.ndim == 3 else m
    return m


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(query key^T * scale + attn_mask) value for 3-D (N, L, E) or 4-D (N, H, L, E)
    inputs (see the module docstring for masks, dropout and the fully-masked case).

    Shapes: query (N, L, E) / (N, H, L, E), key (., S, E), value (., S, Ev) -> output
    (., L, Ev). ``attn_mask``: bool (True = may attend, PyTorch's SDPA convention, the
    opposite of ``nn.MultiheadAttention``'s) or float (added to the scores), broadcastable to
    (N, H, L, S). ``is_causal=True``: query i sees keys j <= i (not together with
    ``attn_mask``). ``scale`` defaults to 1/sqrt(E). ``dropout_p`` drops attention weights
    (pass 0 in evaluation: this function has no training flag). Gradients flow to query, key,
    value, and to a float mask that requires grad.

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> q = md.tensor([[[1.0, 0.0], [0.0, 1.0]]])                # N = 1, L = 2, E = 2
    >>> k = md.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])    # S = 3
    >>> v = md.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]])
    >>> F.scaled_dot_product_attention(q, k, v)
    tensor([[[1.2033, 1.0000],
             [1.0000, 1.2033]]])
    >>> F.softmax(q @ k.transpose(-2, -1) / 2 ** 0.5, dim=-1) @ v   # the same, materialised
    tensor([[[1.2033, 1.0000],
             [1.0000, 1.2033]]])
    >>> F.scaled_dot_product_attention(q, q, q, is_causal=True)   # query 0 sees key 0 only
    tensor([[[1.0000, 0.0000],
             [0.3302, 0.6698]]])
    >>> F.scaled_dot_product_attention(md.zeros(2, 4, 5, 8), md.zeros(2, 4, 7, 8),
    ...                                md.zeros(2, 4, 7, 3)).shape   # 4 heads, L = 5, S = 7
    minidl.Size([2, 4, 5, 3])
    """
    qd, kd, vd = query._data, key._data, value._data
    if qd.ndim not in (3, 4) or kd.ndim != qd.ndim or vd.ndim != qd.ndim:
        raise ValueError(f"scaled_dot_product_attention: expected query, key and value all 3-D (N, L, E) or all 4-D "
                         f"(N, H, L, E), got query {_shape(qd)}, key {_shape(kd)}, value {_shape(vd)}")
    if qd.shape[:-2] != kd.shape[:-2] or qd.shape[:-2] != vd.shape[:-2]:
        raise ValueError(f"scaled_dot_product_attention: batch/head dims of query {_shape(qd)}, key {_shape(kd)} "
                         f"and value {_shape(vd)} must be equal")
    if qd.shape[-1] != kd.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: query {_shape(qd)} and key {_shape(kd)} must have the same "
                         f"head dim E (last dim)")
    if kd.shape[-2] != vd.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: key {_shape(kd)} and value {_shape(vd)} must have the same "
                         f"sequence length S")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both "
                         "(as in PyTorch)")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    for name, d in (("query", qd), ("key", kd), ("value", vd)):
        if d.dtype.kind not in "f" and not A.is_low(d):
            raise TypeError(f"scaled_dot_product_attention: {name} must be floating point, got {d.dtype}")
    out_dtype = qd.dtype
    cdt = np.dtype(np.float32) if A.is_low(qd) else qd.dtype
    q4, k4, v4 = (_as_4d(d if d.dtype == cdt else _cast_in_memory_order(d, cdt)) for d in (qd, kd, vd))
    mask = _prepare_mask(attn_mask, q4, k4, cdt, qd.shape[:-2])
    E = qd.shape[-1]
    # --8<-- [start:sdpa_call]
    sc = float(scale) if scale is not None else (1.0 / math.sqrt(E) if E > 0 else 1.0)
    seed = int(_C.randint(0, 2 ** 62, [1])[0]) if dropout_p > 0 else 0
    out, lse = _C.attention_forward(q4, k4, v4, mask, sc, bool(is_causal), float(dropout_p), seed)
    # --8<-- [end:sdpa_call]
    out_shape = qd.shape[:-1] + (vd.shape[-1],)
    y = out.reshape(out_shape)
    if y.dtype != out_dtype:
        y = A.cast(y, out_dtype)
    inputs, shapes, dtypes = (query, key, value), (qd.shape, kd.shape, vd.shape), (qd.dtype, kd.dtype, vd.dtype)
    if isinstance(attn_mask, Tensor) and attn_mask.requires_grad and attn_mask.dtype.is_floating_point:
        # a trained additive bias (ALiBi, T5 relative positions): its gradient is dS, which
        # the backward then stores in full (B, H, L, S) and sums down to the mask's shape
        inputs, shapes = inputs + (attn_mask,), shapes + (tuple(attn_mask.shape),)
        dtypes = dtypes + (attn_mask._data.dtype,)
    saved = (q4, k4, v4, out, lse, mask, sc, bool(is_causal), float(dropout_p), seed, shapes, dtypes)
    return result(y, ScaledDotProductAttentionBackward, inputs, saved)
