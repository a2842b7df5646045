"""GPT-2's checkpoint layout (``transformers``' ``GPT2LMHeadModel``) read into and written from
:class:`~minidl.models.GPT`.

GPT-2 (Radford et al. 2019) is the architecture of ``GPT``: learned positions, pre-norm
blocks, a final LayerNorm, the output tied to the token embedding. Only the names differ, and
one storage convention: GPT-2's ``Conv1D`` keeps a projection's weight as (in, out) and computes
``x @ W + b``, where ``nn.Linear`` keeps (out, in) and computes ``x @ W^T + b``, so each
projection weight is transposed on the way in and out::

    GPT-2 (model.safetensors)             minidl GPT (state_dict)                  transposed
    wte.weight        (V, E)              tok_emb.weight (= lm_head.weight)
    wpe.weight        (n_positions, E)    pos_emb.weight
    h.{i}.ln_1.*                          blocks.layers.{i}.norm1.*
    h.{i}.attn.c_attn.weight (E, 3E)      blocks.layers.{i}.self_attn.in_proj_weight (3E, E)   yes
    h.{i}.attn.c_proj.weight (E, E)       blocks.layers.{i}.self_attn.out_proj.weight          yes
    h.{i}.ln_2.*                          blocks.layers.{i}.norm2.*
    h.{i}.mlp.c_fc.weight   (E, inner)    blocks.layers.{i}.linear1.weight (inner, E)          yes
    h.{i}.mlp.c_proj.weight (inner, E)    blocks.layers.{i}.linear2.weight                     yes
    ln_f.*                                blocks.norm.*

(biases keep their names' pattern: ``c_attn.bias`` -> ``in_proj_bias``, the others ``.bias``).
c_attn's 3E outputs are q, k, v side by side, each E = nhead x head_dim with heads contiguous:
the order of ``in_proj_weight``'s rows, so no reordering is needed. ``GPT2LMHeadModel`` saves
the keys under ``transformer.``; ``GPT2Model`` without it; both load. The ``attn.bias`` and
``attn.masked_bias`` buffers of old checkpoints (the causal mask, recomputed here) are ignored.

config.json -> GPT: ``vocab_size``, ``n_positions`` -> block_size, ``n_embd`` -> d_model,
``n_head``, ``n_layer``, ``n_inner`` (None: 4 n_embd), ``activation_function``,
``layer_norm_epsilon``; missing fields take ``transformers.GPT2Config``'s defaults, as
transformers does. GPT has one dropout rate where GPT-2 has three (``embd_pdrop``,
``attn_pdrop``, ``resid_pdrop``): it takes ``resid_pdrop``, and nn.TransformerEncoderLayer
also drops after the feed-forward's activation, where GPT-2 does not; eval-mode outputs are
the same, training noise differs slightly. Options GPT cannot represent are refused.
"""
from __future__ import annotations

import functools

import numpy as np

from ..ops.creation import from_numpy
from .hf_checkpoint import check_weights, load_weights, read_config, write_pretrained

__all__ = ["load_gpt2", "save_gpt2", "gpt_kwargs", "key_map", "GPT2_DEFAULTS"]

#: transformers.GPT2Config's defaults (GPT-2 small), used for fields a config.json leaves out
GPT2_DEFAULTS = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                     activation_function="gelu_new", resid_pdrop=0.1, layer_norm_epsilon=1e-5,
                     tie_word_embeddings=True, scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False,
                     add_cross_attention=False)

# transformers' activation names (ACT2FN) that GPT runs: "gelu_new", "gelu_fast" and
# "gelu_pytorch_tanh" are three codings of the same tanh approximation of GELU
_TANH_GELU = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
_ACTIVATIONS = _TANH_GELU + ("gelu", "relu", "silu", "swish")

# GPT-2 name (without "h.{i}.") -> (GPT name under "blocks.layers.{i}.", stored transposed?)
_BLOCK_KEYS = (("ln_1.weight", "norm1.weight", False), ("ln_1.bias", "norm1.bias", False),
               ("attn.c_attn.weight", "self_attn.in_proj_weight", True),
               ("attn.c_attn.bias", "self_attn.in_proj_bias", False),
               ("attn.c_proj.weight", "self_attn.out_proj.weight", True),
               ("attn.c_proj.bias", "self_attn.out_proj.bias", False),
               ("ln_2.weight", "norm2.weight", False), ("ln_2.bias", "norm2.bias", False),
               ("mlp.c_fc.weight", "linear1.weight", True), ("mlp.c_fc.bias", "linear1.bias", False),
               ("mlp.c_proj.weight", "linear2.weight", True), ("mlp.c_proj.bias", "linear2.bias", False))


def key_map(num_layers: int) -> dict:
    """GPT-2 key -> (GPT state_dict key, transposed?) for a model of ``num_layers`` blocks.

    >>> from minidl.models.gpt2_checkpoint import key_map
    >>> key_map(1)["h.0.attn.c_attn.weight"]
    ('blocks.layers.0.self_attn.in_proj_weight', True)
    """
    keys = {"wte.weight": ("tok_emb.weight", False), "wpe.weight": ("pos_emb.weight", False),
            "ln_f.weight": ("blocks.norm.weight", False), "ln_f.bias": ("blocks.norm.bias", False)}
    for i in range(num_layers):
        keys.update({f"h.{i}.{theirs}": (f"blocks.layers.{i}.{ours}", t) for theirs, ours, t in _BLOCK_KEYS})
    return keys


def gpt_kwargs(config: dict, nn) -> dict:
    """The GPT constructor arguments for a GPT-2 ``config`` (a dict), or a ValueError naming the
    field GPT cannot represent. ``nn`` supplies the activation module.

    >>> import minidl as md
    >>> from minidl.models.gpt2_checkpoint import gpt_kwargs
    >>> kw = gpt_kwargs({"model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 2}, md.nn)
    >>> kw["d_model"], kw["dim_feedforward"], kw["block_size"], kw["activation"]
    (64, 256, 1024, GELU(approximate='tanh'))
    """
    c = {**GPT2_DEFAULTS, **{k: v for k, v in config.items() if v is not None or k == "n_inner"}}
    refused = [("scale_attn_by_inverse_layer_idx", True, "GPT scales attention scores by 1/sqrt(head_dim) only"),
               ("scale_attn_weights", False, "GPT always scales attention scores by 1/sqrt(head_dim)"),
               ("add_cross_attention", True, "GPT is decoder-only, without cross-attention")]
    for field, value, why in refused:
        if bool(c[field]) == value:
            raise ValueError(f"GPT.from_pretrained: config.json has {field}={c[field]!r}, which GPT cannot "
                             f"represent ({why})")
    if not c["tie_word_embeddings"]:
        raise ValueError("GPT.from_pretrained: config.json has tie_word_embeddings=false; GPT ties its output "
                         "layer to the token embedding (wte)")
    act = c["activation_function"]
    if act not in _ACTIVATIONS:
        raise ValueError(f"GPT.from_pretrained: activation_function {act!r} is not supported; GPT runs "
                         f"{', '.join(_ACTIVATIONS)}")
    if c["n_embd"] % c["n_head"]:
        raise ValueError(f"GPT.from_pretrained: n_embd {c['n_embd']} is not divisible by n_head {c['n_head']}")
    activation = _tanh_gelu(nn) if act in _TANH_GELU else nn.SiLU() if act in ("silu", "swish") else act
    return dict(vocab_size=c["vocab_size"], block_size=c["n_positions"], d_model=c["n_embd"], nhead=c["n_head"],
                num_layers=c["n_layer"], dim_feedforward=c["n_inner"] or 4 * c["n_embd"],
                dropout=c["resid_pdrop"], activation=activation, layer_norm_eps=c["layer_norm_epsilon"])


def _tanh_gelu(nn):
    """GELU(approximate="tanh") as a block activation of ``nn``'s TransformerEncoderLayer."""
    if nn.__name__.startswith("torch"):
        # torch's TransformerEncoderLayer treats any nn.GELU as the exact GELU in its eval-mode
        # fast path, dropping approximate="tanh" (the twin's logits came out 2e-3 off);
        # a partial is not recognised, so the twin runs the Python path, which honours it
        return functools.partial(nn.functional.gelu, approximate="tanh")
    return nn.GELU(approximate="tanh")


def _strip_prefix(tensors: dict) -> dict:
    """GPT2LMHeadModel's keys without their "transformer." prefix (GPT2Model has none)."""
    prefix = "transformer."
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in tensors.items()}


def load_gpt2(cls, folder, lib):
    """``cls.from_pretrained(folder)``: a GPT (of ``lib``: minidl, or PyTorch for the twin of
    ``build(torch.nn)``) with the weights of the GPT-2 checkpoint in ``folder``, in eval mode,
    its config.json kept as ``model.pretrained_config`` (save_pretrained writes its other fields
    back). The weights become float32 whatever the file holds (a bfloat16 or float16 checkpoint
    is widened exactly; ``model.bfloat16()`` afterwards for a 16-bit model). Raises naming every
    missing, unexpected and mis-shaped key.

    >>> import tempfile
    >>> import minidl as md
    >>> _ = md.manual_seed(0)
    >>> m = md.models.GPT(50, 16, d_model=32, nhead=4, num_layers=2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     m.save_pretrained(folder)
    ...     again = md.models.GPT.from_pretrained(folder)
    >>> x = md.tensor([[1, 2, 3]])
    >>> bool((again(x) - m.eval()(x)).abs().max() == 0)
    True
    """
    config = read_config(folder, ("gpt2",), "GPT")
    model = cls(**gpt_kwargs(config, lib.nn))
    found = _strip_prefix(load_weights(folder, "GPT"))
    ours = model.state_dict()
    names = key_map(len(model.blocks.layers))
    expected = {theirs: tuple(ours[k].shape)[::-1] if t else tuple(ours[k].shape) for theirs, (k, t) in names.items()}
    lm_head = found.pop("lm_head.weight", None)
    check_weights(expected, found, "GPT", ignore=(".attn.bias", ".attn.masked_bias"))
    if lm_head is not None and not np.array_equal(lm_head.numpy(), found["wte.weight"].numpy()):
        raise ValueError("GPT.from_pretrained: lm_head.weight differs from wte.weight; GPT ties its output layer "
                         "to the token embedding and cannot hold a separate one")
    state = {}
    for theirs, (k, t) in names.items():
        w = found[theirs].numpy()
        state[k] = lib.from_numpy(np.ascontiguousarray(w.T if t else w, dtype=np.float32))
    state["lm_head.weight"] = state["tok_emb.weight"]
    model.load_state_dict(state)
    model.pretrained_config = config
    return model.eval()


def _activation_name(fn, nn) -> str:
    """transformers' name for the activation of a GPT block."""
    F = nn.functional
    if fn is F.gelu or (isinstance(fn, nn.GELU) and fn.approximate == "none"):
        return "gelu"
    if ((isinstance(fn, nn.GELU) and fn.approximate == "tanh")
            or (isinstance(fn, functools.partial) and fn.func is F.gelu and fn.keywords == {"approximate": "tanh"})):
        return "gelu_new"
    if fn is F.relu or isinstance(fn, nn.ReLU):
        return "relu"
    if fn is F.silu or isinstance(fn, nn.SiLU):
        return "silu"
    raise ValueError(f"GPT.save_pretrained: the activation {fn!r} has no GPT-2 activation_function name")


def save_gpt2(model, folder, lib) -> None:
    """``model.save_pretrained(folder)``: config.json and model.safetensors in the layout
    ``transformers.GPT2LMHeadModel.save_pretrained`` writes (keys under ``transformer.``,
    Conv1D weights (in, out), no separate lm_head), which ``GPT2LMHeadModel.from_pretrained``
    loads. Config fields GPT does not use, kept from a checkpoint it was loaded from
    (``bos_token_id``, ``eos_token_id``, ...), are written back.

    >>> import json, os, tempfile
    >>> import minidl as md
    >>> m = md.models.GPT(50, 16, d_model=32, nhead=4, num_layers=2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     m.save_pretrained(folder)
    ...     config = json.load(open(os.path.join(folder, "config.json")))
    >>> config["model_type"], config["n_embd"], config["activation_function"]
    ('gpt2', 32, 'gelu')
    """
    layers = model.blocks.layers
    first = layers[0]
    if model.blocks.norm.bias is None:
        raise ValueError("GPT.save_pretrained: GPT-2's layout has biases in every layer; this GPT was built "
                         "with bias=False")
    dropout, inner = model.pos_emb.dropout.p, first.linear1.out_features
    config = dict(getattr(model, "pretrained_config", None) or {"bos_token_id": None, "eos_token_id": None})
    config.update(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=model.vocab_size,
                  n_positions=model.block_size, n_embd=model.d_model, n_head=first.self_attn.num_heads,
                  n_layer=len(layers), n_inner=None if inner == 4 * model.d_model else inner,  # None: as GPT2Config
                  activation_function=_activation_name(first.activation, lib.nn),
                  layer_norm_epsilon=first.norm1.eps, resid_pdrop=dropout,
                  tie_word_embeddings=True, scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False,
                  add_cross_attention=False)
    for field in ("embd_pdrop", "attn_pdrop"):  # GPT's one rate stands for them unless the loaded config had them
        config.setdefault(field, dropout)
    ours = model.state_dict()
    tensors = {}
    for theirs, (k, t) in key_map(len(layers)).items():
        w = ours[k].detach().numpy()
        tensors["transformer." + theirs] = from_numpy(np.ascontiguousarray(w.T if t else w))
    write_pretrained(folder, config, tensors)
