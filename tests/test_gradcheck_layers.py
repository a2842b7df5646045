"""Float64 finite-difference gradient checks for the layers of issue 15 whose own test files
compare gradients with PyTorch but had no gradcheck: 1-D and adaptive pooling, max unpooling,
pixel and channel shuffles, pad_sequence. One table: name -> (function, input shapes)."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from minidl.nn.utils.rnn import pad_sequence


def _unpool1d(x):
    y, idx = F.max_pool1d(x, 2, 2, return_indices=True)
    return F.max_unpool1d(y * y, idx, 2, 2)  # (y * y: the unpooled values depend on x non-linearly)


def _unpool2d(x):
    y, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    return F.max_unpool2d(y * y, idx, 2, 2)


CASES = {
    "max_pool1d": (lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), [(2, 3, 9)]),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 3, 2, 1, count_include_pad=False), [(2, 3, 9)]),
    "adaptive_avg_pool1d": (lambda x: F.adaptive_avg_pool1d(x, 4), [(2, 3, 9)]),
    "adaptive_max_pool1d": (lambda x: F.adaptive_max_pool1d(x, 4), [(2, 3, 9)]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 7)]),
    "max_unpool1d": (_unpool1d, [(1, 2, 8)]),
    "max_unpool2d": (_unpool2d, [(1, 2, 4, 4)]),
    "pixel_shuffle": (lambda x: F.pixel_shuffle(x, 2), [(1, 8, 2, 3)]),
    "pixel_unshuffle": (lambda x: F.pixel_unshuffle(x, 2), [(1, 2, 4, 6)]),
    "ChannelShuffle": (lambda x: md.nn.ChannelShuffle(3)(x), [(1, 6, 2, 2)]),
    "pad_sequence": (lambda a, b: pad_sequence([a, b], batch_first=True, padding_value=0.5), [(3, 2), (1, 2)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_float64(name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(11)
    # distinct values (a permutation of a spaced grid) so that no max has a tie within eps
    inputs = []
    for s in shapes:
        n = int(np.prod(s))
        vals = rng.permutation(n).astype(np.float64) * 0.1 + rng.uniform(0, 0.01, n)
        inputs.append(md.tensor(vals.reshape(s), requires_grad=True))
    assert md.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-5)
