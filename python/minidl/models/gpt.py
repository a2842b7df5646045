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

``forward_with_cache(idx, past_key_values)`` runs only new tokens against cached keys and
values (incremental decoding); ``generate(idx, max_new_tokens, temperature=1.0, top_k=None,
top_p=None, use_cache=True)`` samples autoregressively the same way, its cache preallocated
and written in place; ``temperature=0`` picks the
argmax (greedy). Sampling uses a NumPy generator seeded from the
library's RNG (``md.manual_seed``/``torch.manual_seed`` make it reproducible) unless ``rng`` is
given.

state_dict keys: ``tok_emb.weight``, ``pos_emb.weight``, ``blocks.layers.{i}.self_attn.in_proj_weight``
..., ``blocks.norm.weight``, ``lm_head.weight`` (the same tensor as ``tok_emb.weight``).
Runs on PyTorch too: ``minidl.models.build(torch.nn).GPT``.
"""
import importlib
import math
import warnings

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
    feed-forward of ``dim_feedforward`` (default 4 * d_model) whose ``activation`` is "gelu"
    (exact, the default), "relu" or a callable (GPT-2's checkpoints use
    ``nn.GELU(approximate="tanh")``); every LayerNorm uses ``layer_norm_eps``.
    forward(idx (N, T) int64) -> logits (N, T, vocab_size); position t only sees tokens 0..t.

    ``GPT.from_pretrained(folder)`` / ``save_pretrained(folder)`` read and write a Hugging Face
    GPT-2 checkpoint folder (see :mod:`minidl.models.gpt2_checkpoint`).

    >>> import minidl as md
    >>> _ = md.manual_seed(0)
    >>> m = md.models.GPT(50, 16, d_model=32, nhead=4, num_layers=2, activation=md.nn.GELU(approximate="tanh"))
    >>> tuple(m(md.tensor([[1, 2, 3]])).shape)
    (1, 3, 50)
    """

    def __init__(self, vocab_size, block_size, d_model=128, nhead=4, num_layers=4, dim_feedforward=None,
                 dropout=0.0, bias=True, activation="gelu", layer_norm_eps=1e-5):
        super().__init__()
        if block_size < 1 or vocab_size < 1:
            raise ValueError(f"GPT: vocab_size and block_size must be positive, got {vocab_size}, {block_size}")
        self.vocab_size, self.block_size, self.d_model = vocab_size, block_size, d_model
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = LearnedPositionalEncoding(block_size, d_model, dropout=dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward or 4 * d_model, dropout,
                                           activation=activation, layer_norm_eps=layer_norm_eps, batch_first=True,
                                           norm_first=True, bias=bias)
        final_norm = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.blocks = nn.TransformerEncoder(layer, num_layers, norm=final_norm, enable_nested_tensor=False)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # weight tying
        self._init_weights(num_layers)
        self._masks = {}

    @classmethod
    def from_pretrained(cls, folder):
        """A GPT with the weights of a Hugging Face GPT-2 checkpoint folder (config.json +
        model.safetensors, as ``transformers.GPT2LMHeadModel.save_pretrained`` writes it), in
        eval mode; the layout and the config fields read are in
        :mod:`minidl.models.gpt2_checkpoint`. GPT-2's checkpoints use the tanh GELU
        (``activation_function="gelu_new"``): the blocks get ``nn.GELU(approximate="tanh")``.

        >>> import tempfile
        >>> import minidl as md
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     md.models.GPT(50, 16, d_model=32, nhead=4, num_layers=2).save_pretrained(folder)
        ...     m = md.models.GPT.from_pretrained(folder)
        >>> m.vocab_size, m.block_size, m.training
        (50, 16, False)
        """
        from minidl.models.gpt2_checkpoint import load_gpt2  # deferred: build(torch.nn) runs this file on torch
        return load_gpt2(cls, folder, _lib())

    def save_pretrained(self, folder):
        """Write this model as a GPT-2 checkpoint folder (config.json with model_type "gpt2" and
        architectures ["GPT2LMHeadModel"], model.safetensors with GPT2LMHeadModel's keys) that
        ``transformers.GPT2LMHeadModel.from_pretrained(folder)`` and :meth:`from_pretrained` load.

        >>> import os, tempfile
        >>> import minidl as md
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     md.models.GPT(50, 16, d_model=32, nhead=4, num_layers=2).save_pretrained(folder)
        ...     sorted(os.listdir(folder))
        ['config.json', 'model.safetensors']
        """
        from minidl.models.gpt2_checkpoint import save_gpt2  # deferred: build(torch.nn) runs this file on torch
        save_gpt2(self, folder, _lib())

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
            raise ValueError(f"GPT: sequence length {t} exceeds block_size {self.block_size} (the context: "
                             f"n_positions of a GPT-2 config); pass the last {self.block_size} tokens")
        _check_ids(idx, self.vocab_size)
        h = self.pos_emb(self.tok_emb(idx))
        h = self.blocks(h, mask=self.causal_mask(t), is_causal=True)
        return self.lm_head(h)

    def forward_with_cache(self, idx, past_key_values=None):
        """Incremental decoding (the ``past_key_values`` of Hugging Face's GPT-2): logits for the
        new tokens idx (N, T) given the keys and values of the P tokens before them, and the cache
        extended by these T tokens.

        past_key_values: None (P = 0) or one ``(keys, values)`` pair per block, each
        (N, nhead, P, head_dim). Block i computes, with its own weights (pre-norm)::

            a = norm1(x);  q, k, v = split(a @ in_proj_weight^T + in_proj_bias)   (N, H, T, hd)
            K = cat(past_K, k);  V = cat(past_V, v)                                 (N, H, P+T, hd)
            x = x + out_proj(softmax(q K^T / sqrt(hd) + causal mask) V)             new token t sees 0..P+t
            x = x + linear2(activation(linear1(norm2(x))))

        so the logits equal those of ``forward`` on the whole P + T prefix at positions P..P+T-1,
        at O(P + T) work per new token instead of O((P + T)^2). Token t gets position P + t, so
        P + T must not exceed ``block_size``. Differentiable; dropout is not applied (this is the
        eval-mode forward whatever ``self.training`` is).

        >>> import minidl as md
        >>> _ = md.manual_seed(0)
        >>> m = md.models.GPT(50, 16, d_model=32, nhead=4, num_layers=2)
        >>> logits, past = m.forward_with_cache(md.tensor([[1, 2, 3]]))
        >>> last, past = m.forward_with_cache(md.tensor([[4]]), past)
        >>> tuple(last.shape), len(past), tuple(past[0][0].shape)
        ((1, 1, 50), 2, (1, 4, 4, 8))
        >>> full = m(md.tensor([[1, 2, 3, 4]]))
        >>> bool((full[:, -1:] - last).abs().max() < 1e-5)
        True
        """
        lib = _lib()
        if idx.dim() != 2 or idx.shape[1] == 0:
            raise ValueError(f"GPT: expected token ids of shape (N, T) with T >= 1, got {tuple(idx.shape)}")
        _check_ids(idx, self.vocab_size)
        n, t = idx.shape
        p = self._check_cache(past_key_values, n)
        if p + t > self.block_size:
            raise ValueError(f"GPT: {p} cached + {t} new tokens exceed block_size {self.block_size}; "
                             f"crop the context (generate does) or start a new cache")
        present = []

        def extend(i, k, v):  # the past keys and values, then these: a new, longer tensor each step
            if past_key_values is not None:
                k = lib.cat((past_key_values[i][0], k), dim=2)
                v = lib.cat((past_key_values[i][1], v), dim=2)
            present.append((k, v))
            return k, v
        return self._decode(idx, p, extend), present

    # --8<-- [start:decode]
    def _decode(self, idx, p, extend):
        """Logits of the new tokens idx (N, T) at positions p .. p+T-1; ``extend(i, k, v)`` takes
        block i's new keys and values (N, H, T, hd) and returns all P + T of them."""
        lib = _lib()
        F = nn.functional
        n, t = idx.shape
        x = self.tok_emb(idx) + self.pos_emb.weight[p:p + t]
        # new token i (absolute position p + i) may attend to keys 0 .. p + i
        mask = None
        if t > 1:
            mask = lib.tensor(np.triu(np.full((t, p + t), -np.inf), k=p + 1), dtype=x.dtype)
        for i, layer in enumerate(self.blocks.layers):
            attn = layer.self_attn
            h, hd = attn.num_heads, self.d_model // attn.num_heads
            qkv = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias)
            q, k, v = (z.reshape(n, t, h, hd).transpose(1, 2) for z in qkv.chunk(3, dim=-1))
            k, v = extend(i, k, v)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            x = x + attn.out_proj(a.transpose(1, 2).reshape(n, t, self.d_model))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        return self.lm_head(self.blocks.norm(x))
    # --8<-- [end:decode]

    def _static_cache(self):
        """``at(p)``: the ``extend`` of ``_decode`` at position p that writes block i's new keys
        and values in place into (N, H, block_size, hd) buffers, allocated once (at the first
        write, in the dtype of the keys), and returns views of their filled part.
        ``forward_with_cache``'s concatenation copies the whole cache at every step (O(P) per
        token, O(P^2) per sequence); this writes only the new tokens'. Measured on the GPT-2 of
        bench_gpt_generate.py (32 + 128 tokens, one core of a shared Xeon, 6 paired runs):
        tokens/s 1.11-1.28x (median 1.17x) at batch 8; at batch 1, where the cache is small,
        0.86-1.18x (median 1.03x, within the noise). The gain grows with the context."""
        lib = _lib()
        buffers = [None] * len(self.blocks.layers)

        # --8<-- [start:static_cache]
        def at(p):
            def extend(i, k, v):
                if buffers[i] is None:
                    shape = (k.shape[0], k.shape[1], self.block_size, k.shape[3])
                    buffers[i] = (lib.zeros(shape, dtype=k.dtype), lib.zeros(shape, dtype=v.dtype))
                keys, values = buffers[i]
                end = p + k.shape[2]
                keys[:, :, p:end] = k
                values[:, :, p:end] = v
                return keys[:, :, :end], values[:, :, :end]
            return extend
        return at
        # --8<-- [end:static_cache]

    def _check_cache(self, past_key_values, n):
        """P, the cached length, after checking the cache's structure and shapes."""
        if past_key_values is None:
            return 0
        layers = self.blocks.layers
        if len(past_key_values) != len(layers):
            raise ValueError(f"GPT: past_key_values has {len(past_key_values)} entries, expected one "
                             f"(keys, values) pair per block ({len(layers)})")
        h = layers[0].self_attn.num_heads
        p = past_key_values[0][0].shape[2]
        want = (n, h, p, self.d_model // h)
        for i, (k, v) in enumerate(past_key_values):
            if tuple(k.shape) != want or tuple(v.shape) != want:
                raise ValueError(f"GPT: past_key_values[{i}] has keys {tuple(k.shape)} and values "
                                 f"{tuple(v.shape)}, expected both (N, nhead, P, head_dim) = {want}")
        return p

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, use_cache=True, rng=None):
        """Append ``max_new_tokens`` sampled tokens to idx (N, T) and return (N, T + new).

        Each step takes the logits of the last position, divides by ``temperature``, keeps the
        ``top_k`` largest (others -inf), then the nucleus of ``top_p``: the smallest set of most
        probable tokens whose probabilities sum to >= top_p (as transformers' TopPLogitsWarper;
        the most probable token always stays), softmax, and samples. temperature 0: argmax
        (top_k/top_p do not change it).

        ``use_cache=True`` feeds only the new token through the blocks each step, against the
        keys and values of the tokens before it, kept in buffers of block_size positions that
        are written in place (O(T) work per token; ``forward_with_cache`` computes the same
        with a cache that grows by concatenation); False recomputes the whole context
        (O(T^2)); both give the same tokens. The context is a sliding window of the last ``block_size`` tokens: a longer
        prompt is cropped with a warning (``transformers`` warns too, then fails in its position
        embedding), and once the sequence outgrows block_size the positions shift each step, so
        the cached path recomputes the window then (no speed-up past block_size).
        Sampling uses a NumPy generator seeded from the library's RNG unless ``rng`` is given.

        >>> import minidl as md
        >>> _ = md.manual_seed(0)
        >>> m = md.models.GPT(50, 16, d_model=32, nhead=4, num_layers=2)
        >>> prompt = md.tensor([[1, 2, 3], [4, 5, 6]])
        >>> out = m.generate(prompt, 5, temperature=0)
        >>> tuple(out.shape)
        (2, 8)
        >>> bool((out == m.generate(prompt, 5, temperature=0, use_cache=False)).all())
        True
        """
        lib = _lib()
        if temperature < 0:
            raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"generate: top_k must be a positive int or None, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"generate: top_p must be in (0, 1] or None, got {top_p}")
        if idx.dim() != 2 or idx.shape[1] == 0:
            raise ValueError(f"generate: expected a prompt of shape (N, T) with T >= 1, got {tuple(idx.shape)}")
        _check_ids(idx, self.vocab_size)
        if idx.shape[1] > self.block_size:
            warnings.warn(f"generate: the prompt has {idx.shape[1]} tokens, more than block_size "
                          f"{self.block_size} (the context); only its last {self.block_size} are seen", stacklevel=2)
        if rng is None:
            rng = np.random.default_rng(int(lib.randint(0, 2 ** 31 - 1, (1,)).item()))
        was_training = self.training
        self.eval()
        try:
            with lib.no_grad():
                cache = self._static_cache()
                cached = 0  # tokens whose keys and values are in the cache
                # --8<-- [start:generate_loop]
                for _ in range(max_new_tokens):
                    ctx = idx if idx.shape[1] <= self.block_size else idx[:, -self.block_size:]
                    if not use_cache:
                        logits = self(ctx)
                    elif 0 < cached < self.block_size:
                        logits = self._decode(idx[:, -1:], cached, cache(cached))
                        cached += 1
                    else:  # first step, or the window slid: positions changed, rebuild the cache
                        logits = self._decode(ctx, 0, cache(0))
                        cached = ctx.shape[1]
                    last = logits[:, -1, :].float().numpy().astype(np.float64)
                    nxt = _sample(last, temperature, top_k, top_p, rng)
                    idx = lib.cat((idx, lib.tensor(nxt[:, None], dtype=idx.dtype)), dim=1)
                # --8<-- [end:generate_loop]
        finally:
            self.train(was_training)
        return idx


def _check_ids(idx, vocab_size):
    """IndexError naming the first token id outside [0, vocab_size) (torch's embedding does not
    name it)."""
    ids = idx.detach().cpu().numpy()  # the torch twin may run on a GPU
    bad = ids[(ids < 0) | (ids >= vocab_size)]
    if bad.size:
        raise IndexError(f"GPT: token id {int(bad[0])} is out of range for vocab_size {vocab_size} "
                         f"(ids must be in [0, {vocab_size - 1}])")


def _filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """(N, V) float64 logits / temperature with the tokens outside top-k and outside the top-p
    nucleus set to -inf (transformers' order: temperature, top-k, top-p). temperature > 0."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[1]:
        kth = np.sort(logits, axis=1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    if top_p is not None and top_p < 1:
        order = np.argsort(logits, axis=1, kind="stable")  # ascending, as TopPLogitsWarper
        ascending = np.take_along_axis(logits, order, axis=1)
        p = np.exp(ascending - ascending[:, -1:])
        cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        remove = cum <= 1 - top_p
        remove[:, -1] = False  # the most probable token always stays
        unsorted = np.zeros_like(remove)
        np.put_along_axis(unsorted, order, remove, axis=1)
        logits = np.where(unsorted, -np.inf, logits)
    return logits


def _sample(logits, temperature, top_k, top_p, rng):
    """One token per row of (N, V) float64 logits."""
    if temperature == 0:
        return logits.argmax(axis=1).astype(np.int64)
    logits = _filter_logits(logits, temperature, top_k, top_p)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.array([rng.choice(p.shape[1], p=row) for row in p], dtype=np.int64)
