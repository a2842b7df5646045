"""The tokenizer of a Hugging Face checkpoint folder (``tokenizer.json``), run by the ``tokenizers``
package, the ecosystem's Rust tokenizer library that transformers' fast tokenizers wrap.

A sentence becomes ids in four steps that ``tokenizer.json`` describes (for BERT's WordPiece):
normalise (lower-case, clean control characters), pre-tokenise (split on whitespace and
punctuation), split each word into the longest vocabulary pieces (``playing`` -> ``play``,
``##ing``), and add the special tokens (``[CLS] ... [SEP]``). A batch is then padded with the
pad id to its longest sentence and truncated to ``max_length``; ``attention_mask`` marks the
real tokens (1) and the padding (0).

``tokenizers`` is an optional dependency: ``pip install 'minidl[pretrained]'``.
"""
from __future__ import annotations

import os

import numpy as np

from ..ops.creation import from_numpy
from ..tensor import Tensor
from .hf_checkpoint import read_json

#: the doctests build a tokenizer with the optional tokenizers package
__doctest_requires__ = ("tokenizers",)
__all__ = ["Tokenizer"]

TOKENIZER_NAME = "tokenizer.json"
#: the longest input a BERT-family model takes; tokenizer_config.json's model_max_length is
#: sometimes a huge placeholder (1e30) meaning "unset"
MAX_LENGTH_CAP = 512


def _tokenizers_package():
    try:
        import tokenizers  # deferred: optional extra, only needed when a tokenizer is loaded
    except ImportError:
        raise ImportError("Tokenizer needs the tokenizers package, an optional extra of minidl: "
                          "pip install 'minidl[pretrained]' (or: pip install tokenizers)") from None
    return tokenizers


def _json_file(path: str) -> dict:
    value = read_json(path, "Tokenizer", default={})
    return value if isinstance(value, dict) else {}


class Tokenizer:
    """Text -> token ids as transformers' ``AutoTokenizer`` gives them for the same folder
    (both run the folder's ``tokenizer.json`` through the ``tokenizers`` package).

    ``tok(texts, max_length=None, padding=True, truncation=True)``: ``texts`` a str or a list of
    str -> dict ``{"input_ids", "attention_mask", "token_type_ids"}`` of int64 Tensors (N, S):
    each text's ids with the special tokens, padded with ``pad_token_id`` to the longest text
    of the batch (``padding=True``, transformers' ``padding="longest"``; ``padding=False``
    needs texts of equal length in tokens) and cut to ``max_length`` tokens
    (``truncation=True``; the last token stays ``[SEP]``). ``max_length`` defaults to
    ``model_max_length``: tokenizer_config.json's, capped at 512. A single str gives N = 1.
    ``tok.vocab_size``, ``tok.pad_token_id``, ``tok.decode(ids, skip_special_tokens=False)``.

    ``Tokenizer.from_pretrained(folder)`` loads it; ``Tokenizer(backend, ...)`` wraps an
    existing ``tokenizers.Tokenizer``.

    >>> from tokenizers import Tokenizer as Backend, models, pre_tokenizers
    >>> from minidl.models import Tokenizer
    >>> vocab = {"[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3, "!": 4}
    >>> backend = Backend(models.WordLevel(vocab, unk_token="[UNK]"))
    >>> backend.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tok = Tokenizer(backend, pad_token="[PAD]", model_max_length=8)
    >>> batch = tok(["hello world !", "hello there"])
    >>> batch["input_ids"]
    tensor([[2, 3, 4],
            [2, 1, 0]])
    >>> batch["attention_mask"]
    tensor([[1, 1, 1],
            [1, 1, 0]])
    >>> tok.decode(batch["input_ids"][0]), tok.vocab_size, tok.pad_token_id
    ('hello world !', 5, 0)
    """

    def __init__(self, backend, pad_token: str = "[PAD]", model_max_length: int = MAX_LENGTH_CAP):
        self.backend = backend
        self.pad_token = pad_token
        pad_id = backend.token_to_id(pad_token)
        if pad_id is None:
            raise ValueError(f"Tokenizer: the pad token {pad_token!r} is not in the vocabulary")
        self.pad_token_id = pad_id
        self.model_max_length = int(min(model_max_length, MAX_LENGTH_CAP))
        # the folder's own padding/truncation settings (MiniLM's tokenizer.json pads every text
        # to 128) would change the ids: padding and truncation are this class's arguments only
        backend.no_padding()
        backend.no_truncation()

    @classmethod
    def from_pretrained(cls, folder) -> "Tokenizer":
        """The tokenizer of ``folder/tokenizer.json``, with the pad token and ``model_max_length``
        of ``folder/tokenizer_config.json`` / ``special_tokens_map.json`` when present
        (defaults: ``[PAD]``, 512). FileNotFoundError when there is no tokenizer.json
        (minidl does not build a tokenizer from ``vocab.txt`` alone)."""
        tokenizers = _tokenizers_package()
        folder = os.fspath(folder)
        path = os.path.join(folder, TOKENIZER_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Tokenizer.from_pretrained: no {TOKENIZER_NAME} in {folder!r} (the fast-tokenizer "
                                    f"file transformers' save_pretrained writes)")
        config = _json_file(os.path.join(folder, "tokenizer_config.json"))
        special = _json_file(os.path.join(folder, "special_tokens_map.json"))
        pad = config.get("pad_token") or special.get("pad_token") or "[PAD]"
        if isinstance(pad, dict):  # {"content": "[PAD]", "lstrip": false, ...}
            pad = pad.get("content", "[PAD]")
        max_length = config.get("model_max_length") or MAX_LENGTH_CAP
        return cls(tokenizers.Tokenizer.from_file(path), pad_token=pad, model_max_length=max_length)

    @property
    def vocab_size(self) -> int:
        """The number of ids, added special tokens included (the embedding table's rows)."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    def __call__(self, texts, max_length: int | None = None, padding: bool = True, truncation: bool = True) -> dict:
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)):
            raise TypeError(f"Tokenizer: texts must be a str or a list of str, got {type(texts).__name__}")
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"Tokenizer: texts must be a str or a list of str, got a list holding "
                                f"{type(t).__name__}")
        if not isinstance(padding, bool) or not isinstance(truncation, bool):
            raise ValueError(f"Tokenizer: padding and truncation must be True or False (padding=True pads to the "
                             f"longest text, as transformers' padding='longest'), got padding={padding!r}, "
                             f"truncation={truncation!r}")
        if max_length is None:
            max_length = self.model_max_length
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"Tokenizer: max_length must be a positive int, got {max_length!r}")
        return self._batch(texts, max_length if truncation else None, padding)

    def _batch(self, texts, max_length, padding) -> dict:
        # the backend's truncation counts the special tokens its post-processor adds, as
        # transformers' does: the result ends with [SEP] and has max_length ids
        if max_length is not None:
            self.backend.enable_truncation(max_length)
        try:
            encodings = self.backend.encode_batch(list(texts))
        finally:
            self.backend.no_truncation()
        lengths = [len(e.ids) for e in encodings]
        longest = max(lengths, default=0)
        if not padding and len(set(lengths)) > 1:
            raise ValueError(f"Tokenizer: padding=False needs texts of equal length in tokens, got lengths "
                             f"{sorted(set(lengths))}; use padding=True")
        n = len(encodings)
        ids = np.full((n, longest), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((n, longest), dtype=np.int64)
        types = np.zeros((n, longest), dtype=np.int64)
        for i, e in enumerate(encodings):
            k = len(e.ids)
            ids[i, :k], mask[i, :k], types[i, :k] = e.ids, e.attention_mask, e.type_ids
        return {"input_ids": from_numpy(ids), "attention_mask": from_numpy(mask), "token_type_ids": from_numpy(types)}

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """The text of one sequence of ids (list or 1-D Tensor), word pieces joined back."""
        if isinstance(ids, Tensor):
            ids = ids._data
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"Tokenizer.decode: expected one sequence of ids (1-D), got shape {ids.shape}")
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, model_max_length={self.model_max_length}, pad_token={self.pad_token!r})"
