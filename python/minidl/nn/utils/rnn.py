"""``nn.utils.rnn``: batching sequences of different lengths.

``pad_sequence`` stacks L_i x * tensors into one (max L) x B x * tensor (or B x (max L) x *),
filling the missing steps with ``padding_value``: the collate step of every RNN or
Transformer tutorial on text. Differentiable: each sequence's gradient is its slice of the
batch's gradient (the copy is recorded by autograd as ``buf[:L_i, i] = seq_i``).

PackedSequence (``pack_padded_sequence`` / ``pad_packed_sequence``, and RNNs that accept it)
is not in minidl yet.
"""
from __future__ import annotations

from ...ops.creation import full
from ...tensor import Tensor


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Pad a list of tensors of shapes (L_i, *) to one tensor of shape (max L, B, *).

    ``batch_first=True`` gives (B, max L, *). ``padding_side="left"`` puts the padding before
    each sequence instead of after it. All sequences need the same trailing shape and dtype.

    >>> import minidl as md
    >>> from minidl.nn.utils.rnn import pad_sequence
    >>> pad_sequence([md.tensor([1, 2, 3]), md.tensor([4])], batch_first=True)
    tensor([[1, 2, 3],
            [4, 0, 0]])
    >>> pad_sequence([md.tensor([1, 2, 3]), md.tensor([4])], batch_first=True, padding_side="left")
    tensor([[1, 2, 3],
            [0, 0, 4]])
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences:
        if s.ndim == 0 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: every sequence must be (L_i, {', '.join(map(str, trailing)) or ''}"
                               f"{'' if trailing else '*'}), got {list(s.shape)}")
    longest = max(s.shape[0] for s in sequences)
    out = full((longest, len(sequences)) + trailing, padding_value, dtype=sequences[0].dtype)
    for i, s in enumerate(sequences):
        n = s.shape[0]  # (an empty sequence too: it gets an empty gradient, as in PyTorch)
        out[(slice(0, n) if padding_side == "right" else slice(longest - n, longest)), i] = s
    return out.transpose(0, 1) if batch_first else out
