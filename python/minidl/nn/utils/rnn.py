"""``nn.utils.rnn``: batching sequences of different lengths.

A batch of sentences has sentences of different lengths. Two ways to hand them to a
recurrent layer:

* **padding** (``pad_sequence``): stack them into one (max L, B, *) tensor, filling the
  missing steps with ``padding_value``. Simple, but an RNN then also reads the padding, and
  its final state h_n is the state after the padding, not after each sentence.
* **packing** (``pack_padded_sequence`` / ``pack_sequence`` -> ``PackedSequence``): sort the
  sequences by length, longest first, and keep only the real steps, time-major:
  ``data`` (sum L_i, *) holds step 0 of every sequence, then step 1 of those that have one,
  ...; ``batch_sizes[t]`` says how many sequences are still running at step t. An RNN given
  a PackedSequence stops each sequence at its own end: h_n holds each sequence's own last
  state, and the reverse direction of a bidirectional RNN starts at each sequence's own last
  step. ``pad_packed_sequence`` turns the RNN's packed output back into a padded tensor.

Example: lengths (3, 1) -> batch_sizes (2, 1, 1); data = (a0, b0, a1, a2).

``sorted_indices`` (``enforce_sorted=False``) remembers how the batch was reordered;
``unsorted_indices`` undoes it, so outputs and h_n come back in the caller's order.
How the RNN runs it: cpp/ops/rnn/rnn.cpp takes each row's length and carries the state of a
row unchanged past its end (see ``RnnShape::lengths``); PyTorch's CPU path instead shrinks
each step's product to ``batch_sizes[t]`` rows. The results are the same; minidl spends the
padded product on the finished rows.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ...ops.creation import full, tensor
from ...ops.indexing import index_copy, index_select
from ...ops.sort import sort
from ...tensor import Tensor

_PackedSequenceBase = namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


def invert_permutation(permutation):
    """The inverse of a permutation: ``out[permutation[i]] = i`` (None stays None).

    >>> import minidl as md
    >>> from minidl.nn.utils.rnn import invert_permutation
    >>> invert_permutation(md.tensor([2, 0, 1]))
    tensor([1, 2, 0])
    """
    if permutation is None:
        return None
    p = permutation.numpy().astype(np.int64)
    out = np.empty_like(p)
    out[p] = np.arange(p.size, dtype=np.int64)
    return tensor(out)


class PackedSequence(_PackedSequenceBase):
    """Sequences of different lengths packed time-major, as RNN/LSTM/GRU accept them.

    Fields (a namedtuple, as PyTorch's): ``data`` (sum L_i, *) the steps of all sequences,
    step 0 of each first; ``batch_sizes`` (max L,) int64, how many sequences have step t;
    ``sorted_indices`` / ``unsorted_indices`` (B,) int64 or None, the reordering to
    longest-first and back. Build it with :func:`pack_padded_sequence` or
    :func:`pack_sequence`, not by hand.

    >>> import minidl as md
    >>> from minidl.nn.utils.rnn import pack_sequence
    >>> p = pack_sequence([md.tensor([1., 2., 3.]), md.tensor([4.])])
    >>> p.data, p.batch_sizes
    (tensor([1.0000, 4.0000, 2.0000, 3.0000]), tensor([2, 1, 1]))
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence((data, batch_sizes)), as PyTorch accepts
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The same sequences with ``data`` converted by ``Tensor.to`` (dtype or device)."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, self.batch_sizes, self.sorted_indices,
                                                          self.unsorted_indices)

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(dtype="float64")

    def float(self):
        return self.to(dtype="float32")

    def half(self):
        return self.to(dtype="float16")

    def long(self):
        return self.to(dtype="int64")

    def int(self):
        return self.to(dtype="int32")

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def _positions(batch_sizes: np.ndarray, batch: int) -> np.ndarray:
    """Rows of a flattened time-major (T B, *) padded tensor that hold the packed steps, in
    packed order: t B + b for b < batch_sizes[t]."""
    return np.concatenate([t * batch + np.arange(n, dtype=np.int64) for t, n in enumerate(batch_sizes)])


def _lengths_of(batch_sizes: np.ndarray) -> np.ndarray:
    """Each sorted sequence's length from the batch sizes: L_b = #{t : batch_sizes[t] > b}."""
    return (batch_sizes[None, :] > np.arange(batch_sizes[0])[:, None]).sum(1).astype(np.int64)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) whose sequence b has
    ``lengths[b]`` real steps.

    ``enforce_sorted=True`` requires lengths in decreasing order; ``False`` sorts the batch
    (and records ``sorted_indices`` so that the RNN's outputs come back in your order).
    Differentiable: ``data``'s gradient flows back to the real steps of ``input``.

    >>> import minidl as md
    >>> from minidl.nn.utils.rnn import pack_padded_sequence
    >>> x = md.tensor([[1., 2., 3.], [4., 0., 0.]])     # (B, T): lengths 3 and 1
    >>> pack_padded_sequence(x, [3, 1], batch_first=True).data
    tensor([1.0000, 4.0000, 2.0000, 3.0000])
    """
    lengths_np = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    if lengths_np.ndim != 1:
        raise RuntimeError(f"'lengths' argument should be a 1D tensor, but got a {lengths_np.ndim}D one")
    lengths_np = lengths_np.astype(np.int64)
    if batch_first:
        input = input.transpose(0, 1)
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be (T, B, *) (or (B, T, *) with batch_first), "
                         f"got shape {tuple(input.shape)}")
    batch = input.shape[1]
    if lengths_np.size != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {lengths_np.size} "
                           f"(batch_size={batch})")
    sorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths_np) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
    else:
        # longest first; a stable sort keeps equal lengths in the caller's order
        sorted_lengths, sorted_indices = sort(tensor(lengths_np), descending=True, stable=True)
        lengths_np = sorted_lengths.numpy()
        input = index_select(input, 1, sorted_indices)
    if batch == 0 or lengths_np[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if lengths_np[0] > input.shape[0]:
        raise RuntimeError(f"pack_padded_sequence: a sequence has length {lengths_np[0]} but the padded input has "
                           f"only {input.shape[0]} steps")
    steps = int(lengths_np[0])
    batch_sizes = (lengths_np[None, :] > np.arange(steps)[:, None]).sum(1).astype(np.int64)
    flat = input[:steps].reshape((steps * batch,) + tuple(input.shape[2:]))
    data = index_select(flat, 0, tensor(_positions(batch_sizes, batch)))
    return PackedSequence(data, tensor(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int = None):
    """Undo :func:`pack_padded_sequence`: -> (padded (T, B, *) or (B, T, *), lengths (B,)).

    Sequences come back in the order they had before packing; ``lengths`` is an int64 tensor.
    ``total_length`` pads to that many steps (at least the longest sequence), e.g. to get the
    original T back inside a ``DataParallel``-style split. Differentiable.

    >>> import minidl as md
    >>> from minidl.nn.utils.rnn import pack_sequence, pad_packed_sequence
    >>> p = pack_sequence([md.tensor([4.]), md.tensor([1., 2., 3.])], enforce_sorted=False)
    >>> pad_packed_sequence(p, batch_first=True)
    (tensor([[4.0000, 0.0000, 0.0000],
            [1.0000, 2.0000, 3.0000]]), tensor([1, 3]))
    """
    batch_sizes = sequence.batch_sizes.numpy().astype(np.int64)
    steps = batch_sizes.size
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {steps}")
        steps = total_length
    data = sequence.data
    batch = int(batch_sizes[0])
    trailing = tuple(data.shape[1:])
    flat = full((steps * batch,) + trailing, padding_value, dtype=data.dtype)
    flat = index_copy(flat, 0, tensor(_positions(batch_sizes, batch)), data)
    padded = flat.reshape((steps, batch) + trailing)
    lengths = _lengths_of(batch_sizes)
    if sequence.unsorted_indices is not None:
        padded = index_select(padded, 1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.numpy()]
    return (padded.transpose(0, 1) if batch_first else padded), tensor(lengths)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors of shapes (L_i, *): ``pad_sequence`` then ``pack_padded_sequence``.

    >>> import minidl as md
    >>> from minidl.nn.utils.rnn import pack_sequence
    >>> pack_sequence([md.tensor([1, 2]), md.tensor([3])]).batch_sizes
    tensor([2, 1])
    """
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """Split a padded batch back into a list of tensors of shapes (lengths[b], *).

    >>> import minidl as md
    >>> from minidl.nn.utils.rnn import unpad_sequence
    >>> unpad_sequence(md.tensor([[1, 2, 3], [4, 0, 0]]), md.tensor([3, 1]), batch_first=True)
    [tensor([1, 2, 3]), tensor([4])]
    """
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lengths = lengths.tolist() if isinstance(lengths, Tensor) else list(lengths)
    return [padded_sequences[b, :n] for b, n in enumerate(lengths)]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of tensors a PackedSequence was built from (in their original order).

    >>> import minidl as md
    >>> from minidl.nn.utils.rnn import pack_sequence, unpack_sequence
    >>> unpack_sequence(pack_sequence([md.tensor([1, 2]), md.tensor([3])]))
    [tensor([1, 2]), tensor([3])]
    """
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Pad a list of tensors of shapes (L_i, *) to one tensor of shape (max L, B, *).

    ``batch_first=True`` gives (B, max L, *). ``padding_side="left"`` puts the padding before
    each sequence instead of after it. All sequences need the same trailing shape and dtype.
    Differentiable: each sequence's gradient is its slice of the batch's gradient (the copy is
    recorded by autograd as ``buf[:L_i, i] = seq_i``).

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


__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence",
           "pad_sequence", "unpad_sequence", "unpack_sequence"]
