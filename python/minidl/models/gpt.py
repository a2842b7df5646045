"""GPT-style causal language model (Radford et al. 2018/2019; the layout of Karpathy's
nanoGPT), built from ``nn.TransformerEncoderLayer`` with ``norm_first=True`` (pre-norm),
GELU and a causal mask:

    h = tok_emb(idx) + pos_emb[:T]                      idx (N, T) int64 -> h (N, T, E)
    h = blocks(h, causal mask)                          L pre-norm blocks + final LayerNorm
    logits = h @ tok_emb.weight^T                       (N, T, vocab): tied output weights

Tying the output projection to the token embedding (Press & Wolf 2017) saves vocab x E
parameters and ties "which vector means token t" on the input and output side.
Initialisation as GPT-2: N(0, 0.02) for embeddings and Linear weights, zero biases, and
N(0, 0.02 / sqrt(2 L)) for the two projections that write into the residual stream
(``self_attn.out_proj`` and ``linear2``), so the residual's variance does not grow with depth.

``generate(idx, max_new_tokens, temperature=1.0, top_k=None)`` samples autoregressively;
``temperature=0`` picks the argmax (greedy). Sampling uses a NumPy generator seeded from the
library's RNG (``md.manual_seed``/``torch.manual_seed`` make it reproducible) unless ``rng`` is
given.

state_dict keys: ``tok_emb.weight``, ``pos_emb.weight``, ``blocks.layers.{i}.self_attn.in_proj_weight``
..., ``blocks.norm.weight``, ``lm_head.weight`` (the same tensor as ``tok_emb.weight``).
Runs on PyTorch too: ``minidl.models.build(torch.nn).GPT``.
"""
import importlib
import math

import numpy as np

if "nn" not in globals():  # build(torch.nn) injects `nn` and the classes of positional.py
    from minidl import nn
    from .positional import LearnedPositionalEncoding

__all__ = ["GPT"]


def _lib():
    return importlib.import_module(nn.__name__.split(".")[0])


class GPT(nn.Module):
    """Decoder-only Transformer LM. vocab_size tokens, contexts up to ``block_size``;
    ``num_layers`` pre-norm blocks of width ``d_model`` with ``nhead`` heads and a
    feed-forward of ``dim_feedforward`` (default 4 * d_model). forward(idx (N, T) int64) ->
    logits (N, T, vocab_size); position t only sees tokens 0..t."""

    def __init__(self, vocab_size, block_size, d_model=128, nhead=4, num_layers=4, dim_feedforward=None,
                 dropout=0.0, bias=True):
        super().__init__()
        if block_size < 1 or vocab_size < 1:
            raise ValueError(f"GPT: vocab_size and block_size must be positive, got {vocab_size}, {block_size}")
        self.vocab_size, self.block_size, self.d_model = vocab_size, block_size, d_model
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = LearnedPositionalEncoding(block_size, d_model, dropout=dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward or 4 * d_model, dropout,
                                           activation="gelu", batch_first=True, norm_first=True, bias=bias)
        self.blocks = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model, bias=bias),
                                            enable_nested_tensor=False)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # weight tying
        self._init_weights(num_layers)
        self._masks = {}

    def _init_weights(self, num_layers):
        init = nn.init
        init.normal_(self.tok_emb.weight, mean=0.0, std=0.02)
        for name, p in self.blocks.named_parameters():
            if "norm" in name:
                continue  # LayerNorm gain 1 and bias 0, their defaults
            if p.dim() == 1:
                init.zeros_(p)
            else:
                std = 0.02 / math.sqrt(2 * num_layers) if ("out_proj" in name or "linear2" in name) else 0.02
                init.normal_(p, mean=0.0, std=std)

    def causal_mask(self, t):
        """The (t, t) additive causal mask (cached per length)."""
        m = self._masks.get(t)
        if m is None:
            m = self._masks[t] = nn.Transformer.generate_square_subsequent_mask(t)
        return m

    def forward(self, idx):
        if idx.dim() != 2:
            raise ValueError(f"GPT: expected token ids of shape (N, T), got {tuple(idx.shape)}")
        t = idx.shape[1]
        if t > self.block_size:
            raise ValueError(f"GPT: sequence length {t} exceeds block_size {self.block_size}")
        h = self.pos_emb(self.tok_emb(idx))
        h = self.blocks(h, mask=self.causal_mask(t), is_causal=True)
        return self.lm_head(h)

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, rng=None):
        """Append ``max_new_tokens`` sampled tokens to idx (N, T) and return (N, T + new).
        Each step: logits of the last position (context cropped to block_size) / temperature,
        keep the ``top_k`` largest (others -inf), softmax, sample. temperature 0: argmax."""
        lib = _lib()
        if temperature < 0:
            raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"generate: top_k must be a positive int or None, got {top_k}")
        if rng is None:
            rng = np.random.default_rng(int(lib.randint(0, 2 ** 31 - 1, (1,)).item()))
        was_training = self.training
        self.eval()
        try:
            with lib.no_grad():
                for _ in range(max_new_tokens):
                    ctx = idx if idx.shape[1] <= self.block_size else idx[:, -self.block_size:]
                    logits = self(ctx)[:, -1, :].float().numpy().astype(np.float64)
                    nxt = _sample(logits, temperature, top_k, rng)
                    idx = lib.cat((idx, lib.tensor(nxt[:, None], dtype=idx.dtype)), dim=1)
        finally:
            self.train(was_training)
        return idx


def _sample(logits, temperature, top_k, rng):
    """One token per row of (N, V) float64 logits."""
    if temperature == 0:
        return logits.argmax(axis=1).astype(np.int64)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[1]:
        kth = np.sort(logits, axis=1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.array([rng.choice(p.shape[1], p=row) for row in p], dtype=np.int64)
