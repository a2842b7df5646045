"""Sentence embeddings as sentence-transformers computes them (Reimers & Gurevych 2019): a
BERT encoder, the mean of its token states over the real (non-padding) tokens, and an L2
normalisation, so that the dot product of two embeddings is their cosine similarity.

    h = BertModel(tokenizer(sentences)).last_hidden_state             (N, S, H)
    e = sum_s mask[n, s] h[n, s] / max(sum_s mask[n, s], 1e-9)           (N, H)   mean_pooling
    e = e / max(||e||_2, 1e-12)                                          (N, H)   when the folder has Normalize

A sentence-transformers folder says which modules it stacks in ``modules.json``
(Transformer, Pooling, Normalize), the pooling in ``1_Pooling/config.json`` and the longest
input in ``sentence_bert_config.json`` (``max_seq_length``). :class:`SentenceEncoder` reads
them; it supports mean pooling, which is what all-MiniLM-L6-v2 uses.
"""
from __future__ import annotations

import os

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops.creation import from_numpy
from ..ops.join import cat
from ..tensor import Tensor
from ..utils.progress import progress
from .bert_model import BertModel
from .hf_checkpoint import pretrained_folder, read_json
from .tokenizer import Tokenizer

#: the doctests build a tokenizer with the optional tokenizers package
__doctest_requires__ = ("tokenizers",)
__all__ = ["SentenceEncoder", "mean_pooling"]


def mean_pooling(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """The mean of the token states over the real tokens of each sentence:

        e[n] = sum_s mask[n, s] h[n, s, :] / max(sum_s mask[n, s], 1e-9)

    last_hidden_state h (N, S, H), attention_mask (N, S) (1 = token, 0 = padding) -> (N, H),
    in h's dtype. Padding positions do not count, so a sentence's embedding does not depend on
    how much the batch padded it. The clamp (sentence-transformers' 1e-9) gives zeros for an
    all-padding row instead of 0/0. Differentiable in h.

    >>> import minidl as md
    >>> h = md.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])   # the third token is padding
    >>> md.models.mean_pooling(h, md.tensor([[1, 1, 0]]))
    tensor([[2.0000, 3.0000]])
    """
    if last_hidden_state.dim() != 3 or attention_mask.dim() != 2 or \
            tuple(attention_mask.shape) != tuple(last_hidden_state.shape[:2]):
        raise ValueError(f"mean_pooling: expected last_hidden_state (N, S, H) and attention_mask (N, S), got "
                         f"{tuple(last_hidden_state.shape)} and {tuple(attention_mask.shape)}")
    mask = attention_mask.to(last_hidden_state.dtype).unsqueeze(-1)   # (N, S, 1)
    return (last_hidden_state * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def _read_json(path: str, default):
    return read_json(path, "SentenceEncoder", default=default)


def _pipeline(folder: str) -> tuple:
    """(max_seq_length, normalize) from a sentence-transformers folder's JSON files."""
    modules = _read_json(os.path.join(folder, "modules.json"), [])
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    pooling_dir = next((m.get("path", "1_Pooling") for m in modules if isinstance(m, dict)
                        and m.get("type", "").endswith("Pooling")), "1_Pooling")
    pooling = _read_json(os.path.join(folder, pooling_dir, "config.json"), {"pooling_mode_mean_tokens": True})
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise ValueError(f"SentenceEncoder.from_pretrained: {folder!r} pools with {modes}; SentenceEncoder "
                         f"supports mean pooling (pooling_mode_mean_tokens) only")
    unknown = [k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")]
    if unknown:
        raise ValueError(f"SentenceEncoder.from_pretrained: modules.json of {folder!r} stacks {unknown}; "
                         f"SentenceEncoder supports Transformer -> Pooling (mean) -> Normalize")
    st_config = _read_json(os.path.join(folder, "sentence_bert_config.json"), {})
    return st_config.get("max_seq_length"), "Normalize" in kinds


class SentenceEncoder(nn.Module):
    """A pretrained BERT + mean pooling (+ L2 normalisation): sentences -> (N, H) embeddings, as
    ``sentence_transformers.SentenceTransformer(folder)`` computes them.

    ``SentenceEncoder.from_pretrained(folder=None)`` loads a sentence-transformers folder
    (default: the packaged all-MiniLM-L6-v2, :func:`~minidl.models.hf_checkpoint.pretrained_folder`).
    ``enc.encode(sentences, batch_size=32, normalize_embeddings=True, show_progress_bar=False)``
    -> float32 Tensor (N, H) (a single str -> (H,)), computed without autograd, in eval mode,
    in batches of sentences of similar length (sorted by length as sentence-transformers does,
    then returned in the input order: less padding, the same result). Inside
    ``md.autocast("cpu", dtype=md.bfloat16)`` the matrix products run in bfloat16.
    ``normalize_embeddings`` is applied when the folder has no Normalize module (as
    sentence-transformers' argument); with Normalize they are unit vectors either way.
    ``enc(batch)`` (``forward``): the tokenizer's dict -> pooled (normalised) embeddings
    (N, H), differentiable, for fine-tuning. ``enc.bert``, ``enc.tokenizer``,
    ``enc.max_seq_length``, ``enc.normalize``.

    >>> import minidl as md
    >>> from tokenizers import Tokenizer as Backend, models, pre_tokenizers
    >>> _ = md.manual_seed(0)
    >>> backend = Backend(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "a": 2, "b": 3}, unk_token="[UNK]"))
    >>> backend.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> bert = md.models.BertModel({"vocab_size": 4, "hidden_size": 8, "num_hidden_layers": 1,
    ...                             "num_attention_heads": 2, "intermediate_size": 16})
    >>> enc = md.models.SentenceEncoder(bert, md.models.Tokenizer(backend), max_seq_length=16)
    >>> e = enc.encode(["a b a", "b"])
    >>> tuple(e.shape), [round(float(v), 4) for v in (e * e).sum(dim=1)]   # unit vectors
    ((2, 8), [1.0, 1.0])
    >>> loss = enc(enc.tokenizer(["a b"])).sum()       # differentiable, for fine-tuning
    >>> loss.backward(); bert.pooler.dense.weight.grad is None   # the pooler is not used
    True
    """

    def __init__(self, bert: BertModel, tokenizer: Tokenizer, max_seq_length: int | None = None,
                 normalize: bool = True):
        super().__init__()
        self.bert = bert
        self.tokenizer = tokenizer
        limit = bert.max_position_embeddings
        self.max_seq_length = int(min(max_seq_length or limit, limit))
        self.normalize = bool(normalize)

    @classmethod
    def from_pretrained(cls, folder=None) -> "SentenceEncoder":
        """The encoder of a sentence-transformers folder: :meth:`BertModel.from_pretrained`,
        :meth:`Tokenizer.from_pretrained`, ``max_seq_length`` from sentence_bert_config.json
        (else the model's max_position_embeddings) and Normalize from modules.json; in eval() mode
        (call train() to fine-tune with dropout). A folder
        that pools otherwise than by the mean, or stacks other modules, is refused."""
        folder = pretrained_folder() if folder is None else os.fspath(folder)
        bert = BertModel.from_pretrained(folder)
        max_seq_length, normalize = _pipeline(folder)
        return cls(bert, Tokenizer.from_pretrained(folder), max_seq_length, normalize).eval()

    def forward(self, batch: dict, normalize: bool | None = None) -> Tensor:
        out = self.bert(batch["input_ids"], attention_mask=batch["attention_mask"],
                        token_type_ids=batch.get("token_type_ids"))
        e = mean_pooling(out.last_hidden_state, batch["attention_mask"])
        return F.normalize(e, p=2, dim=1) if (self.normalize if normalize is None else normalize) else e

    def encode(self, sentences, batch_size: int = 32, normalize_embeddings: bool = True,
               show_progress_bar: bool = False) -> Tensor:
        single = isinstance(sentences, str)
        if single:
            sentences = [sentences]
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"SentenceEncoder.encode: batch_size must be a positive int, got {batch_size!r}")
        # longest first, as sentence-transformers (its _text_length is len(text)): batches of
        # similar lengths pad little, and the first batch shows the peak memory at once
        order = np.argsort([-len(s) for s in sentences], kind="stable")
        starts = range(0, len(sentences), batch_size)
        if show_progress_bar:
            starts = progress(starts, desc="Batches")
        was_training = self.training
        self.eval()
        chunks = []
        try:
            with no_grad():
                for start in starts:
                    batch = self.tokenizer([sentences[i] for i in order[start:start + batch_size]],
                                           max_length=self.max_seq_length)
                    e = self.forward(batch, normalize=self.normalize or normalize_embeddings)
                    chunks.append(e.float())
        finally:
            self.train(was_training)
        if not chunks:
            return from_numpy(np.zeros((0, self.bert.hidden_size), dtype=np.float32))
        sorted_embeddings = cat(chunks, dim=0)._data
        out = np.empty_like(sorted_embeddings)
        out[order] = sorted_embeddings   # back to the input order
        return from_numpy(out[0] if single else out)
