"""nn.EmbeddingBag / F.embedding_bag (issue 15 group 12) against PyTorch: sum/mean/max over
2-D input and 1-D input with offsets (including empty bags and include_last_offset),
per_sample_weights, padding_idx, weight gradients, and errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")

INPUTS = [  # (input, offsets or None)
    ([[1, 2, 4], [4, 3, 9], [0, 0, 0]], None),
    ([1, 2, 4, 5, 4, 3, 2, 9], [0, 4]),
    ([1, 2, 4, 5, 4, 3, 2, 9], [0, 3, 3, 6]),   # an empty bag (3:3)
    ([3], [0]),
]


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("inp,offsets", INPUTS)
@pytest.mark.parametrize("padding_idx", [None, 4])
def test_embedding_bag_matches_pytorch(mode, inp, offsets, padding_idx):
    w = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    out = []
    for lib in (md, torch):
        wt = lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.embedding_bag(lib.tensor(inp), wt, None if offsets is None else lib.tensor(offsets),
                                            mode=mode, padding_idx=padding_idx)
        (y * lib.tensor(np.cos(np.arange(y.numel())).astype(np.float32).reshape(tuple(y.shape)))).sum().backward()
        out.append((y.detach().numpy(), wt.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-6, atol=1e-7)


def test_per_sample_weights_and_include_last_offset_match_pytorch():
    rng = np.random.default_rng(1)
    w, psw = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal(7).astype(np.float32)
    inp, offsets = [0, 5, 2, 2, 1, 3, 4], [0, 2, 5, 7]
    out = []
    for lib in (md, torch):
        wt, pt = lib.tensor(w, requires_grad=True), lib.tensor(psw, requires_grad=True)
        y = lib.nn.functional.embedding_bag(lib.tensor(inp), wt, lib.tensor(offsets), mode="sum",
                                            per_sample_weights=pt, include_last_offset=True)
        y.pow(2).sum().backward()
        out.append((y.detach().numpy(), wt.grad.numpy(), pt.grad.numpy()))
    for got, want in zip(*out):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_module_and_errors():
    bag = md.nn.EmbeddingBag(10, 3, mode="max", padding_idx=0)
    assert bag.weight.shape == (10, 3) and float(bag.weight[0].abs().sum()) == 0.0
    assert bag(md.tensor([[1, 2], [3, 0]])).shape == (2, 3)
    w = md.randn(5, 2)
    with pytest.raises(IndexError, match="out of range"):
        F.embedding_bag(md.tensor([0, 5]), w, md.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(md.tensor([[0, 1]]), w, md.tensor([0]))
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(md.tensor([0, 1]), w, md.tensor([0]), mode="mean", per_sample_weights=md.ones(2))
    with pytest.raises(ValueError, match="mode has to be one of"):
        F.embedding_bag(md.tensor([0, 1]), w, md.tensor([0]), mode="median")
