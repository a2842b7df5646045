"""Positional encodings: attention is permutation-equivariant (shuffling the tokens shuffles the
outputs the same way), so a Transformer only knows word order through a position signal
added to the token embeddings.

* :class:`SinusoidalPositionalEncoding` (Vaswani et al. 2017, section 3.5), fixed:
  ``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``. Each pair of
  features is a rotation at its own frequency, so ``PE[p + k]`` is a linear function of
  ``PE[p]`` for every offset k, and it extends to any length without training.
* :class:`LearnedPositionalEncoding` (BERT, GPT-2): a trained table ``weight`` (max_len, d),
  one vector per position; cannot go past ``max_len``.

Both: ``forward(x)`` returns ``dropout(x + PE[:S])`` for x (N, S, E) (``batch_first=True``,
the default) or (S, N, E). The sinusoidal table is a non-persistent buffer ``pe`` (not in
the state_dict: it is recomputed, not learned).

Like the other model files this one runs on PyTorch too (``minidl.models.build(torch.nn)``).
"""
import importlib
import math

import numpy as np

if "nn" not in globals():  # build(torch.nn) injects its own `nn` before running this file
    from minidl import nn

__all__ = ["SinusoidalPositionalEncoding", "LearnedPositionalEncoding", "sinusoidal_table"]


def _lib():
    """The tensor library that owns ``nn``: minidl, or torch for a twin built on torch.nn."""
    return importlib.import_module(nn.__name__.split(".")[0])


# --8<-- [start:sinusoidal]
def sinusoidal_table(max_len, d_model):
    """The (max_len, d_model) float32 NumPy table of Vaswani et al.'s sinusoidal encoding."""
    if d_model <= 0 or max_len <= 0:
        raise ValueError(f"sinusoidal_table: max_len and d_model must be positive, got {max_len}, {d_model}")
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    inv_freq = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((max_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(pos * inv_freq)
    table[:, 1::2] = np.cos(pos * inv_freq[: d_model // 2])
    return table.astype(np.float32)
# --8<-- [end:sinusoidal]


def _check_len(x, max_len, batch_first, who):
    if x.dim() != 3 or (x.shape[1] if batch_first else x.shape[0]) > max_len:
        raise ValueError(f"{who}: expected {'(N, S, E)' if batch_first else '(S, N, E)'} with S <= max_len "
                         f"({max_len}), got shape {tuple(x.shape)}")


class SinusoidalPositionalEncoding(nn.Module):
    """x + PE[:S] (then dropout) with the fixed sinusoidal table (see the module docstring).
    x (N, S, E) or (S, N, E) without ``batch_first`` -> same shape."""

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=True):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", _lib().tensor(sinusoidal_table(max_len, d_model)), persistent=False)

    def forward(self, x):
        _check_len(x, self.max_len, self.batch_first, "SinusoidalPositionalEncoding")
        s = x.shape[1] if self.batch_first else x.shape[0]
        pe = self.pe[:s] if self.batch_first else self.pe[:s].unsqueeze(1)
        return self.dropout(x + pe.to(x.dtype))

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEncoding(nn.Module):
    """x + weight[:S] (then dropout) with a trained table ``weight`` (max_len, d_model),
    initialised N(0, init_std^2) (GPT-2 uses 0.01-0.02). Same shapes as the sinusoidal one."""

    def __init__(self, max_len, d_model, dropout=0.0, batch_first=True, init_std=0.02):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.weight = nn.Parameter(_lib().zeros(max_len, d_model))
        nn.init.normal_(self.weight, mean=0.0, std=init_std)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        _check_len(x, self.max_len, self.batch_first, "LearnedPositionalEncoding")
        s = x.shape[1] if self.batch_first else x.shape[0]
        pe = self.weight[:s] if self.batch_first else self.weight[:s].unsqueeze(1)
        return self.dropout(x + pe)

    def extra_repr(self):
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"
