"""The Transformer layers of Vaswani et al. 2017 ("Attention Is All You Need"), as PyTorch's
``torch.nn.Transformer*`` modules: same constructor and forward arguments, same sub-module
names, so ``state_dict`` keys are PyTorch's and weights move between the two libraries.

A Transformer processes a whole sequence at once: every layer lets each position gather
information from all others (multi-head self-attention), then transforms each position on its
own (a two-layer feed-forward network, E -> dim_feedforward -> E), each block wrapped in a
residual connection and a LayerNorm. An encoder stack reads the source; a decoder stack
generates the target, attending to its own past (causal mask) and to the encoder output.

Encoder layer (post-norm, ``norm_first=False``, the paper's Fig. 1)::

    x = norm1(x + dropout1(self_attn(x, x, x)))
    x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))

Pre-norm (``norm_first=True``, Xiong et al. 2020, what GPT-2 and most LLMs use)::

    x = x + dropout1(self_attn(norm1(x)))
    x = x + dropout2(ff(norm2(x)))

The decoder layer adds a cross-attention block ``multihead_attn(x, memory, memory)`` with its
own ``norm2``/``dropout2`` between the two (its feed-forward block uses ``norm3``/``dropout3``).
Shapes: ``(S, N, E)`` or with ``batch_first=True`` ``(N, S, E)``; unbatched ``(S, E)``.
Masks follow PyTorch: ``*_mask`` is ``(L, S)`` or ``(N * nhead, L, S)``, boolean (True = may
NOT attend) or additive float; ``*_key_padding_mask`` is ``(N, S)`` (True = padding, ignored).

Where minidl differs from PyTorch, deliberately:
* ``is_causal=True`` without a mask builds the causal mask (PyTorch's MultiheadAttention
  raises "Need attn_mask if specifying the is_causal hint").
* Bad input raises ``ValueError`` with the shapes (PyTorch: AssertionError/RuntimeError).
* No "fast path"/nested tensors: in eval mode with a key padding mask PyTorch's encoder may
  return zeros at padded positions; minidl always computes the plain formula above (what
  PyTorch computes in training mode), so padded positions hold ordinary values.

This file is pure Python over ``MultiheadAttention``, ``Linear``, ``Dropout`` and
``LayerNorm``. It uses only names ``torch.nn`` also has, through a global ``nn``, so the same
source runs on PyTorch (see ``minidl.models.build``), which is how the tests check the
composition itself against ``torch.nn.Transformer``. No C++ of its own: the work happens in
the kernels of its parts (cpp/ops/gemm/, cpp/ops/attention/, cpp/ops/layernorm/,
cpp/ops/activation/).
"""
from __future__ import annotations

import copy
import importlib
import types

import numpy as np

if "nn" not in globals():  # a test may run this file with nn = torch.nn injected
    # minidl: the nn names this file uses, from the modules that define them (not the package
    # minidl.nn: it imports this file, so it is still half built while this runs)
    from . import functional, init
    from .containers import ModuleList
    from .dropout import Dropout
    from .layernorm import LayerNorm
    from .linear import Linear
    from .module import Module
    from .multihead_attention import MultiheadAttention
    nn = types.SimpleNamespace(__name__=__package__, Module=Module, ModuleList=ModuleList, Linear=Linear,
                               Dropout=Dropout, LayerNorm=LayerNorm, MultiheadAttention=MultiheadAttention,
                               functional=functional, init=init)

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder",
           "Transformer", "generate_square_subsequent_mask"]


def _lib():
    """The tensor library that owns ``nn`` (minidl or torch), for creating masks."""
    return importlib.import_module(nn.__name__.split(".")[0])


def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
    """The (sz, sz) causal mask: 0 on and below the diagonal, -inf above it, so position i
    attends to positions 0..i only. float32 unless ``dtype`` is given.

    Added to the attention scores, -inf becomes a weight of exactly 0 after the softmax: a
    decoder trained with it cannot look at the tokens it is meant to predict.
    Also reachable as ``nn.Transformer.generate_square_subsequent_mask``.

    >>> from minidl.nn.transformer import generate_square_subsequent_mask
    >>> generate_square_subsequent_mask(3)
    tensor([[0.0000,   -inf,   -inf],
            [0.0000, 0.0000,   -inf],
            [0.0000, 0.0000, 0.0000]])
    """
    if not isinstance(sz, int) or sz < 0:
        raise ValueError(f"generate_square_subsequent_mask: sz must be a non-negative int, got {sz!r}")
    lib = _lib()
    mask = lib.tensor(np.triu(np.full((sz, sz), -np.inf, dtype=np.float32), k=1))
    if dtype is not None:
        mask = mask.to(dtype)
    if device is not None:
        mask = mask.to(device)
    return mask


def _activation_fn(activation):
    F = nn.functional
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise ValueError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r}")
    if not callable(activation):
        raise ValueError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r}")
    return activation


def _check_heads(d_model, nhead):
    if nhead <= 0 or d_model % nhead != 0:
        raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead}): each head gets d_model // nhead "
                         "features")


def _seq_batch(x, batch_first):
    """(sequence length, batch size or None when unbatched) of an input ``x``."""
    if x.dim() == 2:
        return x.shape[0], None
    if x.dim() != 3:
        raise ValueError(f"expected a (S, E) unbatched or {'(N, S, E)' if batch_first else '(S, N, E)'} batched "
                         f"input, got shape {tuple(x.shape)}")
    return (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])


def _check_padding_mask(mask, x, batch_first, name):
    if mask is None:
        return
    seq, batch = _seq_batch(x, batch_first)
    want = (seq,) if batch is None else (batch, seq)
    if tuple(mask.shape) != want:
        raise ValueError(f"{name} must have shape {want} ((N, S): batch, key length) for an input of shape "
                         f"{tuple(x.shape)}{' (batch_first)' if batch_first else ''}, got {tuple(mask.shape)}")


def _causal_mask_for(mask, is_causal, size, like):
    """With ``is_causal`` and no mask, the causal mask itself (see the module docstring)."""
    if is_causal and mask is None:
        return generate_square_subsequent_mask(size, dtype=like.dtype)
    return mask


def _detect_is_causal_mask(mask, is_causal, size):
    """``is_causal`` when given; otherwise whether ``mask`` equals the causal mask of ``size``
    (float -inf/0 or boolean upper triangle), as PyTorch's encoder and decoder do."""
    if is_causal is not None:
        return bool(is_causal)
    if mask is None or mask.dim() != 2 or tuple(mask.shape) != (size, size):
        return False
    m = np.asarray(mask.detach().cpu().numpy())
    if m.dtype == np.bool_:
        return bool((m == np.triu(np.ones((size, size), dtype=bool), k=1)).all())
    return bool((m.astype(np.float32) == np.triu(np.full((size, size), -np.inf, np.float32), k=1)).all())


def _clones(module, n):
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoderLayer(nn.Module):
    """Self-attention then feed-forward, each with a residual connection and LayerNorm
    (after the residual sum by default, before each block with ``norm_first=True``); see the
    module docstring for the formulas. Sub-modules (state_dict prefixes): ``self_attn``
    (``in_proj_weight`` (3E, E), ``in_proj_bias``, ``out_proj``), ``linear1`` (E -> F),
    ``linear2`` (F -> E), ``norm1``, ``norm2``, ``dropout``, ``dropout1``, ``dropout2``.
    src (S, N, E) / (N, S, E) with batch_first / (S, E) -> same shape.

    E = ``d_model``, F = ``dim_feedforward``, ``nhead`` heads of E / nhead features;
    ``activation`` is "relu", "gelu" or a callable. Parameters are initialised as in each
    sub-module (MultiheadAttention, Linear, LayerNorm). ``forward(src, src_mask=None,
    src_key_padding_mask=None, is_causal=False)``.

    >>> import minidl as md
    >>> from minidl import nn
    >>> layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, dropout=0.0,
    ...                                    batch_first=True)
    >>> print(" ".join(name for name, _ in layer.named_children()))
    self_attn linear1 dropout linear2 norm1 norm2 dropout1 dropout2
    >>> layer(md.randn(2, 5, 16)).shape            # batch 2, 5 tokens, d_model 16
    minidl.Size([2, 5, 16])
    >>> layer(md.randn(5, 16)).shape               # unbatched
    minidl.Size([5, 16])
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        _check_heads(d_model, nhead)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.activation = _activation_fn(activation)
        self.batch_first = batch_first
        if dtype is not None or device is not None:
            self.to(**{k: v for k, v in (("dtype", dtype), ("device", device)) if v is not None})

    # --8<-- [start:encoder_layer]
    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        _check_padding_mask(src_key_padding_mask, src, self.batch_first, "src_key_padding_mask")
        src_mask = _causal_mask_for(src_mask, is_causal, _seq_batch(src, self.batch_first)[0], src)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
    # --8<-- [end:encoder_layer]


class TransformerDecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the encoder output ``memory``, then
    feed-forward; each with a residual connection and LayerNorm (post- or pre-norm as in
    TransformerEncoderLayer). Sub-modules: ``self_attn``, ``multihead_attn``, ``linear1``,
    ``linear2``, ``norm1``, ``norm2``, ``norm3``, ``dropout``, ``dropout1..3``.
    tgt (T, N, E), memory (S, N, E) (batch first: (N, T, E), (N, S, E)) -> (T, N, E).

    Post-norm: x = norm1(x + self_attn(x)), x = norm2(x + multihead_attn(x, memory, memory)),
    x = norm3(x + ff(x)). ``forward(tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False,
    memory_is_causal=False)``; ``tgt_is_causal=True`` without a mask builds the causal mask.

    >>> import minidl as md
    >>> from minidl import nn
    >>> layer = nn.TransformerDecoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True)
    >>> print(" ".join(name for name, _ in layer.named_children()))
    self_attn multihead_attn linear1 dropout linear2 norm1 norm2 norm3 dropout1 dropout2 dropout3
    >>> tgt, memory = md.randn(2, 5, 16), md.randn(2, 7, 16)   # 5 target, 7 source tokens
    >>> layer(tgt, memory, tgt_is_causal=True).shape
    minidl.Size([2, 5, 16])
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        _check_heads(d_model, nhead)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                    batch_first=batch_first)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation = _activation_fn(activation)
        self.batch_first = batch_first
        if dtype is not None or device is not None:
            self.to(**{k: v for k, v in (("dtype", dtype), ("device", device)) if v is not None})

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        _check_padding_mask(tgt_key_padding_mask, tgt, self.batch_first, "tgt_key_padding_mask")
        _check_padding_mask(memory_key_padding_mask, memory, self.batch_first, "memory_key_padding_mask")
        if tgt.dim() != memory.dim():
            raise ValueError(f"tgt and memory must both be batched or both unbatched, got shapes {tuple(tgt.shape)} "
                             f"and {tuple(memory.shape)}")
        tgt_mask = _causal_mask_for(tgt_mask, tgt_is_causal, _seq_batch(tgt, self.batch_first)[0], tgt)
        if memory_is_causal and memory_mask is None:
            raise ValueError("memory_is_causal=True needs memory_mask (the (T, S) causal mask is ambiguous when "
                             "T != S)")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(nn.Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn (``layers.0`` ...), then
    the optional final ``norm`` (what pre-norm stacks need: their last residual sum is not
    normalised otherwise). ``enable_nested_tensor`` and ``mask_check`` are accepted for
    PyTorch compatibility and have no effect (minidl has no nested-tensor fast path).

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``: src -> output of
    the same shape, the same mask given to every layer. ``is_causal=None`` detects whether
    ``mask`` is the causal mask, as PyTorch does. The copies do not share weights.

    >>> import minidl as md
    >>> from minidl import nn
    >>> layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True)
    >>> encoder = nn.TransformerEncoder(layer, num_layers=2)
    >>> len(encoder.layers), sum(p.numel() for p in encoder.parameters())   # 2 x 2224
    (2, 4448)
    >>> mask = nn.Transformer.generate_square_subsequent_mask(5)
    >>> encoder(md.randn(2, 5, 16), mask=mask).shape
    minidl.Size([2, 5, 16])
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"TransformerEncoder: num_layers must be a positive int, got {num_layers!r}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        batch_first = self.layers[0].self_attn.batch_first
        _check_padding_mask(src_key_padding_mask, src, batch_first, "src_key_padding_mask")
        seq = _seq_batch(src, batch_first)[0]
        is_causal = _detect_is_causal_mask(mask, is_causal, seq)
        mask = _causal_mask_for(mask, is_causal, seq, src)
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(nn.Module):
    """``num_layers`` deep copies of ``decoder_layer`` (``layers.0`` ...), each attending to the
    same ``memory``, then the optional final ``norm``.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``: tgt (T, N, E)
    (batch_first: (N, T, E)), memory (S, N, E) -> (T, N, E).

    >>> import minidl as md
    >>> from minidl import nn
    >>> layer = nn.TransformerDecoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True)
    >>> decoder = nn.TransformerDecoder(layer, num_layers=3, norm=nn.LayerNorm(16))
    >>> decoder(md.randn(2, 5, 16), md.randn(2, 7, 16), tgt_is_causal=True).shape
    minidl.Size([2, 5, 16])
    """

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"TransformerDecoder: num_layers must be a positive int, got {num_layers!r}")
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        seq = _seq_batch(tgt, self.layers[0].self_attn.batch_first)[0]
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, seq)
        tgt_mask = _causal_mask_for(tgt_mask, tgt_is_causal, seq, tgt)
        output = tgt
        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                           memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(nn.Module):
    """Encoder-decoder Transformer: ``encoder`` (TransformerEncoder of ``num_encoder_layers``
    layers plus a final LayerNorm ``encoder.norm``) and ``decoder`` (likewise, ``decoder.norm``).
    ``forward(src, tgt, ...)`` = decoder(tgt, encoder(src, ...), ...): src (S, N, E),
    tgt (T, N, E) -> (T, N, E) (batch_first: (N, S, E), (N, T, E) -> (N, T, E)). Every
    parameter with more than one dimension is re-initialised Xavier-uniform, as in PyTorch.

    The model of the original paper (defaults: d_model 512, 8 heads, 6 + 6 layers, feed-forward
    2048, dropout 0.1). It has no embedding or output layer: feed it embedded sequences and
    put a Linear layer on the output for the vocabulary. For training, pass the causal
    ``tgt_mask`` (teacher forcing: each target position sees only earlier targets).

    >>> import minidl as md
    >>> from minidl import nn
    >>> model = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
    ...                        dim_feedforward=32, dropout=0.0, batch_first=True)
    >>> src, tgt = md.randn(2, 7, 16), md.randn(2, 5, 16)
    >>> model(src, tgt, tgt_mask=model.generate_square_subsequent_mask(5)).shape
    minidl.Size([2, 5, 16])
    >>> sorted({key.split(".")[0] for key in model.state_dict()})
    ['decoder', 'encoder']
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        _check_heads(d_model, nhead)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        if dtype is not None or device is not None:
            self.to(**{k: v for k, v in (("dtype", dtype), ("device", device)) if v is not None})

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        if src.dim() != tgt.dim():
            raise ValueError(f"src and tgt must both be batched or both unbatched, got shapes {tuple(src.shape)} "
                             f"and {tuple(tgt.shape)}")
        if src.dim() == 3:
            b = 0 if self.batch_first else 1
            if src.shape[b] != tgt.shape[b]:
                raise ValueError(f"the batch number of src and tgt must be equal, got shapes {tuple(src.shape)} and "
                                 f"{tuple(tgt.shape)} (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"the feature number of src and tgt must be equal to d_model ({self.d_model}), got "
                             f"shapes {tuple(src.shape)} and {tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """(sz, sz) float mask, -inf above the diagonal and 0 elsewhere (see the module function).

        >>> from minidl import nn
        >>> nn.Transformer.generate_square_subsequent_mask(2)
        tensor([[0.0000,   -inf],
                [0.0000, 0.0000]])
        """
        return generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
