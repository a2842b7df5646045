"""nn.utils.rnn.pad_sequence (issue 15 group 12) against PyTorch: shapes, padding value and
side, batch_first, gradients, and errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import require

torch = require("torch")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("trailing", [(), (3,), (2, 2)])
def test_pad_sequence_matches_pytorch(batch_first, padding_side, trailing):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n,) + trailing).astype(np.float32) for n in (3, 1, 4, 0)]
    out = []
    for lib in (md, torch):
        seqs = [lib.tensor(a, requires_grad=True) for a in arrays]
        y = lib.nn.utils.rnn.pad_sequence(seqs, batch_first=batch_first, padding_value=-1.5,
                                          padding_side=padding_side)
        w = lib.tensor(np.arange(y.numel(), dtype=np.float32).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        out.append((y.detach().numpy(), [s.grad.numpy() for s in seqs]))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    for g, h in zip(out[0][1], out[1][1]):
        np.testing.assert_array_equal(g, h)


def test_pad_sequence_keeps_int_dtype_and_rejects_mismatched_shapes():
    y = md.nn.utils.rnn.pad_sequence([md.tensor([1, 2]), md.tensor([3])])
    assert y.dtype == md.int64 and y.tolist() == [[1, 3], [2, 0]]
    with pytest.raises(RuntimeError, match="every sequence must be"):
        md.nn.utils.rnn.pad_sequence([md.zeros(2, 3), md.zeros(2, 4)])
    with pytest.raises(ValueError, match="padding_side"):
        md.nn.utils.rnn.pad_sequence([md.zeros(2)], padding_side="middle")
