"""The Hugging Face BERT encoder (Devlin et al. 2019) with transformers' module names, so that a
``BertModel`` checkpoint (``config.json`` + ``model.safetensors``) loads into it unchanged.

    x = LayerNorm(word_embeddings[ids] + position_embeddings[0..S-1] + token_type_embeddings[tt])
    for each of L layers (post-LN, as the original BERT):
        q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv          (N, S, H) -> (N, nh, S, H/nh) each
        a = softmax(q k^T / sqrt(H/nh) + padding mask) v        padding keys get no weight
        x = LayerNorm(x + dropout(a Wo^T + bo))                  attention.output.{dense,LayerNorm}
        x = LayerNorm(x + dropout(gelu(x W1^T + b1) W2^T + b2))  intermediate.dense, output.{dense,LayerNorm}
    last_hidden_state = x (N, S, H);  pooler_output = tanh(x[:, 0] Wp^T + bp) (N, H)

state_dict keys are transformers' ``BertModel`` keys: ``embeddings.word_embeddings.weight``,
``embeddings.position_embeddings.weight``, ``embeddings.token_type_embeddings.weight``,
``embeddings.LayerNorm.*``, ``encoder.layer.{i}.attention.self.{query,key,value}.*``,
``encoder.layer.{i}.attention.output.{dense,LayerNorm}.*``, ``encoder.layer.{i}.intermediate.dense.*``,
``encoder.layer.{i}.output.{dense,LayerNorm}.*``, ``pooler.dense.*``. Layers are
``model.encoder.layer[i]`` (an ``nn.ModuleList``), so freezing or unfreezing the top k layers
is ``for p in model.encoder.layer[-k:].parameters(): p.requires_grad_(...)``.

The attention runs in ``F.scaled_dot_product_attention`` (one fused kernel: the (S, S) weights
are never stored), with the padding mask as a boolean (N, 1, 1, S) mask.
"""
from __future__ import annotations

import numpy as np

from .. import amp, nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops.creation import empty
from ..tensor import Tensor
from .hf_checkpoint import check_weights, load_weights, read_config, write_pretrained

__all__ = ["BertModel", "BertModelOutput"]

#: transformers' BertConfig defaults (bert-base-uncased), for keys a config.json leaves out
BERT_DEFAULTS = {
    "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
    "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
    "position_embedding_type": "absolute",
}

#: config hidden_act -> the activation transformers' ACT2FN maps it to
_ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),                                # exact: x Phi(x)
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),        # the tanh approximation (GPT-2)
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": lambda x: F.relu(x),
}

#: model_type values whose checkpoints have exactly BERT's layout and computation
MODEL_TYPES = ("bert",)


def _checked_config(config: dict) -> dict:
    if not isinstance(config, dict):
        raise TypeError(f"BertModel: config must be a dict (the parsed config.json), got {type(config).__name__}")
    full = {**BERT_DEFAULTS, **config, "model_type": "bert"}
    if full["hidden_act"] not in _ACTIVATIONS:
        raise ValueError(f"BertModel: hidden_act {full['hidden_act']!r} is not supported; supported: "
                         f"{', '.join(_ACTIVATIONS)}")
    if full["position_embedding_type"] != "absolute":
        raise ValueError(f"BertModel: position_embedding_type {full['position_embedding_type']!r} is not supported "
                         f"(only 'absolute', learned position embeddings)")
    if full.get("is_decoder") or full.get("add_cross_attention"):
        raise ValueError("BertModel: decoder configs (is_decoder / add_cross_attention) are not supported; "
                         "this is the bidirectional encoder")
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "type_vocab_size"):
        if not isinstance(full[key], int) or isinstance(full[key], bool) or full[key] < 1:
            raise ValueError(f"BertModel: config {key} must be a positive integer, got {full[key]!r}")
    if full["hidden_size"] % full["num_attention_heads"]:
        raise ValueError(f"BertModel: hidden_size {full['hidden_size']} is not a multiple of num_attention_heads "
                         f"{full['num_attention_heads']}")
    return full


class BertModelOutput(tuple):
    """``(last_hidden_state, pooler_output)``, readable by name as transformers' output object:
    ``out.last_hidden_state`` (N, S, H) is ``out[0]``, ``out.pooler_output`` (N, H) is ``out[1]``.

    >>> import minidl as md
    >>> out = md.models.BertModelOutput((md.zeros(1, 2, 3), md.ones(1, 3)))
    >>> out.pooler_output is out[1], tuple(out.last_hidden_state.shape)
    (True, (1, 2, 3))
    """

    @property
    def last_hidden_state(self) -> Tensor:
        return self[0]

    @property
    def pooler_output(self) -> Tensor:
        return self[1]


class BertEmbeddings(nn.Module):
    """LayerNorm(word + position + token-type embeddings), then dropout: ids (N, S) -> (N, S, H)."""

    def __init__(self, c: dict, init_weights: bool = True):
        super().__init__()
        # from_pretrained overwrites every weight: drawing them at random first was 0.5 s of
        # MiniLM's 0.57 s load (0.18 s for this 30522 x 384 table alone); now 0.065 s
        table = None if init_weights else empty(c["vocab_size"], c["hidden_size"])
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c["pad_token_id"],
                                            _weight=table)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        s = input_ids.shape[1]
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings.weight[:s]  # positions 0..S-1, broadcast over the batch
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Multi-head scaled dot-product attention over the whole sequence (no causal mask)."""

    def __init__(self, c: dict):
        super().__init__()
        h = c["hidden_size"]
        self.num_attention_heads = c["num_attention_heads"]
        self.attention_head_size = h // self.num_attention_heads
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.dropout_prob = c["attention_probs_dropout_prob"]

    def forward(self, x: Tensor, mask) -> Tensor:
        n, s, h = x.shape
        heads = (n, s, self.num_attention_heads, self.attention_head_size)
        # Under autocast each Linear would cast x to the 16-bit dtype itself: casting once here
        # gives the same values with one pass over x instead of three.
        x, = amp.autocast_inputs("linear", x)
        q, k, v = (lin(x).view(heads).transpose(1, 2) for lin in (self.query, self.key, self.value))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout_prob if self.training else 0.0)
        return a.transpose(1, 2).reshape(n, s, h)


class BertSelfOutput(nn.Module):
    """LayerNorm(x + dropout(dense(a))): the attention block's projection and residual."""

    def __init__(self, c: dict, d_in: int):
        super().__init__()
        self.dense = nn.Linear(d_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, a: Tensor, x: Tensor) -> Tensor:
        return self.LayerNorm(x + self.dropout(self.dense(a)))


class BertAttention(nn.Module):
    """``self`` (the attention) and ``output`` (projection, residual, LayerNorm)."""

    def __init__(self, c: dict):
        super().__init__()
        setattr(self, "self", BertSelfAttention(c))  # transformers' name; `self.self = ...` reads oddly
        self.output = BertSelfOutput(c, c["hidden_size"])

    def forward(self, x: Tensor, mask) -> Tensor:
        return self.output(getattr(self, "self")(x, mask), x)


class BertIntermediate(nn.Module):
    """act(dense(x)): the feed-forward block's expansion to intermediate_size."""

    def __init__(self, c: dict):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.act = _ACTIVATIONS[c["hidden_act"]]

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.dense(x))


class BertLayer(nn.Module):
    """One post-LN encoder layer: attention block, then feed-forward block."""

    def __init__(self, c: dict):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c["intermediate_size"])

    def forward(self, x: Tensor, mask) -> Tensor:
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x: Tensor, mask) -> Tensor:
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(nn.Module):
    """tanh(dense(x[:, 0])): the first ([CLS]) token's state, projected."""

    def __init__(self, c: dict):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(x[:, 0]).tanh()


class BertModel(nn.Module):
    """transformers' ``BertModel``: ``forward(input_ids (N, S) int64, attention_mask=None (N, S),
    token_type_ids=None (N, S))`` -> :class:`BertModelOutput` with ``last_hidden_state``
    (N, S, H) and ``pooler_output`` (N, H) (see the module docstring for the formulas).

    ``config``: the dict of a ``config.json`` (keys it omits take transformers' BertConfig
    defaults; ``.config`` holds the completed dict). ``hidden_act`` "gelu" (exact), "gelu_new",
    "gelu_pytorch_tanh" or "relu". Dropout (``hidden_dropout_prob``,
    ``attention_probs_dropout_prob``) acts in ``train()`` mode only. ``attention_mask``: 1 for
    tokens, 0 for padding (keys at padding positions get no attention weight; the states
    computed at padding positions are meaningless, as in transformers). Weights start as
    transformers initialises them: N(0, initializer_range) for Linear and Embedding weights,
    zero biases and padding row (``init_weights=False``: left as they are, for a caller that
    loads every weight next, as ``from_pretrained`` does).

    ``BertModel.from_pretrained(folder)`` loads a checkpoint folder, ``save_pretrained(folder)``
    writes one that transformers loads.

    >>> import minidl as md
    >>> _ = md.manual_seed(0)
    >>> config = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
    ...           "intermediate_size": 32, "max_position_embeddings": 20}
    >>> model = md.models.BertModel(config).eval()
    >>> ids = md.tensor([[2, 7, 9, 3], [2, 5, 3, 0]])
    >>> out = model(ids, attention_mask=md.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]))
    >>> tuple(out.last_hidden_state.shape), tuple(out.pooler_output.shape)
    ((2, 4, 16), (2, 16))
    >>> len(model.encoder.layer), model.num_layers
    (2, 2)
    >>> sorted(model.state_dict())[:2]
    ['embeddings.LayerNorm.bias', 'embeddings.LayerNorm.weight']
    """

    def __init__(self, config: dict, *, init_weights: bool = True):
        super().__init__()
        self.config = c = _checked_config(config)
        self.num_layers = c["num_hidden_layers"]
        self.hidden_size = c["hidden_size"]
        self.vocab_size = c["vocab_size"]
        self.max_position_embeddings = c["max_position_embeddings"]
        self.embeddings = BertEmbeddings(c, init_weights)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)
        if init_weights:
            self._init_weights(c["initializer_range"], c["pad_token_id"])

    def _init_weights(self, std: float, pad_token_id) -> None:
        with no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, mean=0.0, std=std)
                    if isinstance(m, nn.Linear) and m.bias is not None:
                        nn.init.zeros_(m.bias)
            if pad_token_id is not None and 0 <= pad_token_id < self.vocab_size:
                self.embeddings.word_embeddings.weight[pad_token_id] = 0.0

    def _check_inputs(self, input_ids, attention_mask, token_type_ids):
        if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.dtype.is_floating_point:
            raise ValueError(f"BertModel: input_ids must be an integer Tensor of shape (N, S), got "
                             f"{type(input_ids).__name__} {tuple(getattr(input_ids, 'shape', ()))}")
        n, s = input_ids.shape
        if s > self.max_position_embeddings:
            raise ValueError(f"BertModel: sequence length {s} exceeds max_position_embeddings "
                             f"{self.max_position_embeddings}; truncate the input (the tokenizer's max_length)")
        if input_ids.numel():
            ids = input_ids._data
            hi, lo = int(ids.max()), int(ids.min())
            if hi >= self.vocab_size or lo < 0:
                bad = hi if hi >= self.vocab_size else lo
                raise IndexError(f"BertModel: token id {bad} is out of range for vocab_size {self.vocab_size} "
                                 f"(ids must be in [0, {self.vocab_size - 1}]; was the text tokenized with "
                                 f"this model's tokenizer?)")
        for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if t is not None and (not isinstance(t, Tensor) or tuple(t.shape) != (n, s)):
                raise ValueError(f"BertModel: {name} must be a Tensor of input_ids' shape {(n, s)}, got "
                                 f"{type(t).__name__} {tuple(getattr(t, 'shape', ()))}")

    def forward(self, input_ids: Tensor, attention_mask: Tensor = None, token_type_ids: Tensor = None):
        self._check_inputs(input_ids, attention_mask, token_type_ids)
        n, s = input_ids.shape
        if token_type_ids is None:
            token_type_ids = Tensor._wrap(np.zeros((n, s), dtype=np.int64))
        mask = None
        if attention_mask is not None:
            keep = attention_mask._data != 0
            if not keep.all():  # no padding: no mask, the attention kernel's fastest path
                mask = Tensor._wrap(np.ascontiguousarray(keep[:, None, None, :]))  # (N, 1, 1, S): True = attend
        x = self.encoder(self.embeddings(input_ids, token_type_ids), mask)
        return BertModelOutput((x, self.pooler(x)))

    # -- checkpoints -------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, folder) -> "BertModel":
        """A BertModel built from ``folder/config.json`` (``model_type`` "bert") with the weights of
        ``folder/model.safetensors``; in eval() mode, as transformers returns it.

        Every key and shape is checked against the model the config describes: a ValueError
        names each missing, unexpected or mis-shaped key. ``embeddings.position_ids`` (a buffer
        old transformers versions saved) is ignored. Checkpoints of ``BertFor*`` task models
        (keys ``bert.embeddings...``, ``bert.encoder...``) load too: the ``bert.`` prefix is
        dropped and the task head (``cls.*``, ``classifier.*``, ``qa_outputs.*``) is left out,
        since BertModel is the encoder alone. Weights stored in float16/bfloat16 are converted
        to float32.

        >>> import os, tempfile
        >>> import minidl as md
        >>> config = {"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
        ...           "intermediate_size": 16, "max_position_embeddings": 10}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     md.models.BertModel(config).save_pretrained(folder)
        ...     sorted(os.listdir(folder)), md.models.BertModel.from_pretrained(folder).config["hidden_size"]
        (['config.json', 'model.safetensors'], 8)
        """
        # --8<-- [start:from_pretrained_body]
        config = read_config(folder, MODEL_TYPES, "BertModel")
        model = cls(config, init_weights=False)  # every weight comes from the checkpoint
        weights = load_weights(folder, "BertModel")
        if any(k.startswith("bert.") for k in weights):
            weights = {k[len("bert."):]: v for k, v in weights.items() if k.startswith("bert.")}
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        check_weights(expected, weights, "BertModel", ignore=("position_ids",))
        # the parameters take the loaded arrays themselves (load_state_dict(assign=True) in
        # PyTorch): they are copy-on-write views of the memory-mapped file, so a page is copied
        # only when training writes it. Copying them instead held the weights twice while
        # loading: peak RSS growth 175 MiB, against 154 MiB for transformers (MiniLM)
        for name, p in model.named_parameters():
            data = weights[name]
            p._data = (data if data.dtype == p.dtype else data.to(p.dtype))._data
        return model.eval()
        # --8<-- [end:from_pretrained_body]

    def save_pretrained(self, folder) -> None:
        """Write ``folder/config.json`` and ``folder/model.safetensors`` (float32, transformers'
        key names) so that ``transformers.BertModel.from_pretrained(folder)`` and
        :meth:`from_pretrained` load this model (see the example there)."""
        config = {**self.config, "architectures": ["BertModel"]}
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        write_pretrained(folder, config, tensors)

    def extra_repr(self) -> str:
        c = self.config
        return (f"layers={c['num_hidden_layers']}, hidden={c['hidden_size']}, heads={c['num_attention_heads']}, "
                f"vocab={c['vocab_size']}")
