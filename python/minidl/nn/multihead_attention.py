"""Multi-head attention (Vaswani et al., 2017), PyTorch's ``nn.MultiheadAttention``.

Instead of one attention over the full embedding, the queries, keys and values are projected
into h smaller subspaces ("heads") that attend independently, each free to look for a
different relation (syntax, position, coreference ...); their outputs are concatenated and
mixed by an output projection. Same cost as one full-width attention.

With h heads of size d = embed_dim / h, for each head i
    head_i = softmax(Q W_q,i^T (K W_k,i^T)^T / sqrt(d) + mask) V W_v,i^T
    out    = concat(head_1 .. head_h) W_o^T + b_o
Q, K, V are (L, N, E_q), (S, N, kdim), (S, N, vdim) -- (N, L, E) with ``batch_first`` -- or
unbatched (L, E). The input projections are one packed ``in_proj_weight`` (3E, E) when
kdim == vdim == embed_dim, else ``q_proj_weight``/``k_proj_weight``/``v_proj_weight``, so
state_dict keys and shapes are PyTorch's and weights move between the two libraries.
Self-attention (query, key and value the same tensor) projects with the packed weight in one
product (N, L, 3E), whose q, k, v heads are strided views of it, as PyTorch does.

Masks mean what they mean in PyTorch's module: a boolean ``key_padding_mask`` (N, S) or
``attn_mask`` (L, S) / (N*h, L, S) has True = NOT allowed to attend; float masks are added.
``need_weights=True`` materialises the (N, h, L, S) weights (returned averaged over heads
unless ``average_attn_weights=False``); ``need_weights=False`` runs the fused kernel of
``F.scaled_dot_product_attention`` and never stores them. A query that may attend to
nothing gives NaN in the first path and zeros in the second, exactly as PyTorch 2.13.

Initialisation (PyTorch's): the input projections Xavier-uniform, ``in_proj_bias`` and
``out_proj.bias`` zero, ``out_proj.weight`` as a Linear layer. Pure Python over
``F.linear`` and ``F.scaled_dot_product_attention``: the C++ is that of cpp/ops/gemm/ and
cpp/ops/attention/ (attention.cpp, attention_backward.cpp, attention_simd.cpp).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..graph.node import Node
from ..ops import array as A
from ..ops._graph import edges, needs_grad
from ..ops.creation import empty, tensor
from ..ops.join import stack
from ..tensor import Tensor
from . import functional as F
from . import init
from .attention import _packed_head_views
from .linear import Linear
from .module import Module
from .parameter import Parameter


def _float_mask(m: np.ndarray, dtype) -> np.ndarray:
    """bool (True = masked out) -> 0 / -inf in ``dtype``; float masks cast to ``dtype``."""
    if m.dtype == np.bool_:
        out = np.zeros(m.shape, dtype)
        out[m] = -np.inf
        return out
    return m if m.dtype == dtype else A.cast(m, dtype)


class PackedHeadsBackward(Node):
    """Backward of :func:`_split_packed_heads`: the gradients of the q, k and v heads are copied
    into their windows of one (N, L, 3E) gradient (zeros for a head that got none), which the
    packed projection's backward reads as rows. Slicing q, k, v off the packed tensor with
    indexing instead would give each slice's backward a zero-filled full-size gradient, two of
    them then added. When the three gradients already are those windows of one gradient (the
    fused attention backward writes them so, nn/attention.py's ``_packed_gradient``), that
    gradient is passed on as it is, without a copy."""
    __slots__ = ()
    n_outputs = 3

    def apply(self, grads):
        shape, heads, np_dtype = self.get_saved()
        whole = grads[0].base if grads[0] is not None else None
        if (whole is not None and whole.shape == tuple(shape) and whole.dtype == np_dtype
                and all(gi is not None and A.same_view(gi, w) for gi, w in zip(grads, _packed_head_views(whole, heads)))):
            return (whole,)
        g = np.empty(shape, np_dtype) if all(gi is not None for gi in grads) else A.zeros(shape, np_dtype)
        windows = _packed_head_views(g, heads)
        for i, gi in enumerate(grads):
            if gi is not None:
                _C.copy_(windows[i], gi)
        return (g,)

    def apply_differentiable(self, grads):
        shape, heads, np_dtype = self.get_saved()
        N, L, E3 = shape
        part = (N, heads, L, E3 // (3 * heads))
        parts = [gi if gi is not None else Tensor._wrap(A.zeros(part, np_dtype)) for gi in grads]
        return (stack([p.transpose(1, 2) for p in parts], dim=2).reshape(N, L, E3),)


def _split_packed_heads(qkv: Tensor, heads: int):
    """The q, k and v heads (N, H, L, d) of the packed self-attention projection qkv (N, L, 3E):
    strided views of it (no copy), recorded as one three-output node."""
    views = _packed_head_views(qkv._data, heads)
    outs = tuple(Tensor._wrap(views[i]) for i in range(3))
    if needs_grad(qkv):
        node = PackedHeadsBackward(edges(qkv), (qkv._data.shape, heads, qkv._data.dtype))
        for i, o in enumerate(outs):
            o._node, o._out_idx, o._rg = node, i, True
    return outs


class MultiheadAttention(Module):
    """``MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
    add_zero_attn=False, kdim=None, vdim=None, batch_first=False)`` -- see the module docstring.
    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns (output, weights or None).

    out = concat(head_1 .. head_h) W_o^T + b_o, head_i = softmax(q_i k_i^T / sqrt(d) + mask) v_i,
    with q_i, k_i, v_i the i-th d = embed_dim / num_heads columns of the projections
    Q W_q^T + b_q, K W_k^T + b_k, V W_v^T + b_v.

    Shapes: query (L, N, E), key (S, N, kdim), value (S, N, vdim) (batch_first: (N, L, E) ...,
    unbatched: (L, E) ...) -> output like query, weights (N, L, S) averaged over heads or
    (N, h, L, S) with ``average_attn_weights=False``. Parameters: ``in_proj_weight`` (3E, E)
    (or ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim)
    when kdim or vdim differ from E), ``in_proj_bias`` (3E,), ``out_proj`` (Linear E -> E).
    Self-attention is ``mha(x, x, x)``. ``add_bias_kv`` and ``add_zero_attn`` raise
    NotImplementedError; ``is_causal=True`` needs the causal ``attn_mask`` too, as in PyTorch.

    >>> import minidl as md
    >>> from minidl import nn
    >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)     # 4 heads of 4 features
    >>> [(name, tuple(p.shape)) for name, p in mha.named_parameters()]
    [('in_proj_weight', (48, 16)), ('in_proj_bias', (48,)), ('out_proj.weight', (16, 16)), ('out_proj.bias', (16,))]
    >>> x = md.randn(2, 5, 16)                                   # batch 2, 5 tokens
    >>> out, weights = mha(x, x, x)
    >>> out.shape, weights.shape
    (minidl.Size([2, 5, 16]), minidl.Size([2, 5, 5]))
    >>> bool((weights.sum(dim=-1) - 1).abs().max() < 1e-5)      # each row is a distribution
    True
    >>> causal = nn.Transformer.generate_square_subsequent_mask(5)
    >>> out, weights = mha(x, x, x, attn_mask=causal)
    >>> weights[0, 0]                                            # token 0 sees only itself
    tensor([1.0000, 0.0000, 0.0000, 0.0000, 0.0000], grad_fn=<IndexBackward>)
    >>> out, weights = mha(x, x, x, need_weights=False)         # the fused kernel
    >>> weights is None
    True
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be > 0, got embed_dim={embed_dim} "
                             f"and num_heads={num_heads}")
        if embed_dim % num_heads != 0:
            raise ValueError(f"MultiheadAttention: embed_dim must be divisible by num_heads, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads}")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not implemented")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, dtype=dtype))
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self):
        """PyTorch's: xavier_uniform_ input projections, zero biases."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    # --- argument checks (PyTorch's rules, messages naming the shapes) ------------------------
    def _check(self, query, key, value, key_padding_mask, attn_mask):
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 3-D (batched) or 2-D "
                             f"(unbatched), got query {list(query.shape)}, key {list(key.shape)}, "
                             f"value {list(value.shape)}")
        for name, t, dim in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if t.shape[-1] != dim:
                raise ValueError(f"MultiheadAttention: was expecting {name} embedding dimension of {dim}, but got "
                                 f"{name} of shape {list(t.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention: key shape {list(key.shape)} does not match value shape "
                             f"{list(value.shape)}")
        if batched:
            bdim = 0 if self.batch_first else 1
            if query.shape[bdim] != key.shape[bdim]:
                raise ValueError(f"MultiheadAttention: query {list(query.shape)} and key {list(key.shape)} have "
                                 f"different batch sizes (batch_first={self.batch_first})")
            N = query.shape[bdim]
            L, S = query.shape[1 - bdim], key.shape[1 - bdim]
        else:
            N, L, S = 1, query.shape[0], key.shape[0]
        if key_padding_mask is not None:
            want = (N, S) if batched else (S,)
            if tuple(key_padding_mask.shape) != want:
                raise ValueError(f"MultiheadAttention: expecting key_padding_mask shape of {list(want)} "
                                 f"(batch, source length), but got {list(key_padding_mask.shape)}")
        if attn_mask is not None:
            shp = tuple(attn_mask.shape)
            ok = shp == (L, S) or (len(shp) == 3 and shp == (N * self.num_heads, L, S))
            if not ok:
                raise ValueError(f"MultiheadAttention: attn_mask of shape {list(shp)} should be {[L, S]} or "
                                 f"{[N * self.num_heads, L, S]} (target length L, source length S)")
        return batched, N, L, S

    def _projections(self):
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[0:E], w[E:2 * E], w[2 * E:3 * E]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[0:E], b[E:2 * E], b[2 * E:3 * E])
        return (wq, bq), (wk, bk), (wv, bv)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        batched, N, L, S = self._check(query, key, value, key_padding_mask, attn_mask)
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is a hint that attn_mask is the causal mask; "
                             "attn_mask must be given too (as in PyTorch)")
        H, d, E = self.num_heads, self.head_dim, self.embed_dim
        self_attention = query is key and key is value
        if not batched:  # (L, E) -> (L, 1, E) / (1, L, E)
            query, key, value = (t.unsqueeze(0 if self.batch_first else 1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if self.batch_first:  # work in (N, L, E): projections on rows, heads as a view
            qx, kx, vx = query, key, value
        else:                 # (L, N, E) -> (N, L, E) views (no copy until the projection)
            qx, kx, vx = (t.transpose(0, 1) for t in (query, key, value))
        if self_attention and self._qkv_same_embed_dim:
            # one (N, L, 3E) product, as PyTorch's in_projection_packed: one GEMM of 3E columns,
            # one weight gradient, one autocast of x instead of three of each, and no
            # zero-filled slice gradients. bench_gpt.py's block (16 x 256 tokens, E = 256,
            # 1 thread, medians of 10 alternating steps, load average 4-5 on the 2-core Xeon):
            # bf16 autocast step 94.0 -> 90.8 ms and 98.0 -> 95.8 ms in two runs, float32
            # 175.9 -> 175.1 and 188.3 -> 186.1 ms
            q, k, v = _split_packed_heads(F.linear(qx, self.in_proj_weight, self.in_proj_bias), H)
        else:
            (wq, bq), (wk, bk), (wv, bv) = self._projections()
            # (N, L, E) -> (N, L, H, d) -> (N, H, L, d): a strided view the kernel reads in place
            q = F.linear(qx, wq, bq).reshape(N, L, H, d).transpose(1, 2)
            k = F.linear(kx, wk, bk).reshape(N, S, H, d).transpose(1, 2)
            v = F.linear(vx, wv, bv).reshape(N, S, H, d).transpose(1, 2)
        cdt = q._data.dtype if not A.is_low(q._data) else np.dtype(np.float32)
        p = self.dropout if self.training else 0.0

        # masks as one (N or 1, H or 1, L, S) array, or None; bool meaning "masked out"
        am = None if attn_mask is None else attn_mask._data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        kpm = None
        if key_padding_mask is not None:
            kpm = key_padding_mask._data if isinstance(key_padding_mask, Tensor) else np.asarray(key_padding_mask)
        if am is not None:
            am = am.reshape(1, 1, L, S) if am.ndim == 2 else am.reshape(N, H, L, S)
        if kpm is not None:
            kpm = kpm.reshape(N, 1, 1, S)
        use_causal = is_causal and kpm is None and not need_weights  # the hint: skip the mask, tile-skip
        if use_causal:
            am = None
        if am is not None and kpm is not None:
            if am.dtype == np.bool_ and kpm.dtype == np.bool_:
                mask = np.logical_or(am, kpm)
            else:
                mask = _float_mask(am, cdt) + _float_mask(kpm, cdt)
        else:
            mask = am if am is not None else kpm

        # --8<-- [start:mha_heads]
        if need_weights:
            # materialised path: (N, H, L, S) weights, as PyTorch computes them
            scores = (q * (1.0 / math.sqrt(d))) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores + tensor(_float_mask(mask, cdt))
            weights = F.softmax(scores, dim=-1)
            if p > 0:
                weights = F.dropout(weights, p=p, training=True)
            heads = weights @ v  # (N, H, L, d)
            w_out = weights.mean(dim=1) if average_attn_weights else weights
            if not batched:
                w_out = w_out.squeeze(0)
        else:
            sdpa_mask = None
            if mask is not None:
                # SDPA's bool masks mean "may attend": invert ours
                sdpa_mask = tensor(np.logical_not(mask)) if mask.dtype == np.bool_ else tensor(_float_mask(mask, cdt))
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=sdpa_mask, dropout_p=p, is_causal=use_causal)
            w_out = None
        # (N, H, L, d) -> (N, L, H, d) -> (N, L, E) -> out_proj
        merged = heads.transpose(1, 2).reshape(N, L, E)
        out = self.out_proj(merged)
        # --8<-- [end:mha_heads]
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
        return out, w_out

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
