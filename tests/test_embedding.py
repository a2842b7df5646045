"""nn.Embedding / F.embedding vs PyTorch: lookup values, scatter-add gradient with repeated
indices, padding_idx (zero row, no gradient), any index shape, float64 gradcheck, init
statistics, out-of-range index errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F
from conftest import assert_close, require

torch = require("torch")


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
@pytest.mark.parametrize("idx_shape", [(7,), (3, 5), (2, 3, 4), ()])
def test_embedding_parity(rng, padding_idx, idx_shape):
    num, dim = 6, 5
    tm = torch.nn.Embedding(num, dim, padding_idx=padding_idx)
    mm = nn.Embedding(num, dim, padding_idx=padding_idx)
    mm.load_state_dict({"weight": md.tensor(tm.weight.detach().numpy().copy())})
    idx = rng.integers(0, num, size=idx_shape)
    ym, yt = mm(md.tensor(idx)), tm(torch.tensor(idx))
    assert_close(ym, yt, atol=0)
    w = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (ym * md.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    assert_close(mm.weight.grad, tm.weight.grad, atol=1e-5)


def test_repeated_indices_accumulate(rng):
    weight = md.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    idx = md.tensor(np.array([1, 1, 1, 2, 1]))
    F.embedding(idx, weight).sum().backward()
    expected = np.zeros((4, 3), np.float32)
    expected[1] = 4
    expected[2] = 1
    np.testing.assert_array_equal(weight.grad.numpy(), expected)


def test_padding_row_zero_and_frozen(rng):
    e = nn.Embedding(10, 4, padding_idx=2)
    np.testing.assert_array_equal(e.weight.detach().numpy()[2], 0)
    out = e(md.tensor(np.array([[2, 2, 5], [2, 1, 2]])))
    np.testing.assert_array_equal(out.detach().numpy()[0, 0], 0)
    out.sum().backward()
    np.testing.assert_array_equal(e.weight.grad.numpy()[2], 0)
    assert e.weight.grad.numpy()[5].sum() == 4.0


def test_init_is_standard_normal():
    md.manual_seed(0)
    w = nn.Embedding(2000, 50).weight.detach().numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def test_from_pretrained_and_float64_gradcheck(rng):
    table = md.tensor(rng.standard_normal((5, 3)))
    e = nn.Embedding.from_pretrained(table)
    assert not e.weight.requires_grad
    np.testing.assert_array_equal(e(md.tensor(np.array([4]))).detach().numpy()[0], table.numpy()[4])
    w = md.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    idx = md.tensor(np.array([[0, 4, 4], [1, 0, 3]]))
    assert md.autograd.gradcheck(lambda w: (F.embedding(idx, w) ** 2).sum(), (w,))


def test_out_of_range_index():
    e = nn.Embedding(5, 3)
    with pytest.raises(IndexError, match=r"index 5 is out of bounds for size 5.*\(5, 3\)"):
        e(md.tensor(np.array([0, 5])))
    with pytest.raises(IndexError, match=r"index -1"):
        e(md.tensor(np.array([-1])))
    with pytest.raises(TypeError, match="integer"):
        e(md.tensor(np.array([0.5], np.float32)))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 3, padding_idx=5)
