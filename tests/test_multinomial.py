"""md.multinomial (issue 15 group 5): shapes and dtype as torch.multinomial, the sampled
frequencies against the probabilities (a fixed seed, so the test is deterministic), no
repeats without replacement, zero weights never drawn, reproducible under md.manual_seed, and
PyTorch's errors for bad weights."""
import numpy as np
import pytest

from conftest import require

import minidl as md

torch = require("torch")


@pytest.mark.parametrize("shape,n,replacement", [((3,), 2, False), ((3,), 7, True), ((4, 5), 5, False),
                                                 ((4, 5), 1, True), ((1, 1), 1, False), ((0, 3), 2, True)])
def test_shapes_and_dtype_match_torch(shape, n, replacement):
    w = np.random.default_rng(0).uniform(0.1, 1.0, shape)
    u = md.multinomial(md.tensor(w), n, replacement)
    v = torch.multinomial(torch.tensor(w), n, replacement)
    assert tuple(u.shape) == tuple(v.shape) and u.dtype == md.int64
    assert tuple(md.tensor(w, dtype=md.float32).multinomial(n, replacement).shape) == tuple(v.shape)


@pytest.mark.parametrize("replacement", [True, False])
def test_first_draw_frequencies_follow_the_weights(replacement):
    w = np.array([0.1, 0.0, 0.6, 0.3, 2.0])  # unnormalised; category 1 has weight 0
    p = w / w.sum()
    md.manual_seed(1234)
    rows = 20000
    draws = md.multinomial(md.tensor(np.tile(w, (rows, 1))), 2 if not replacement else 3, replacement).numpy()
    freq = np.bincount(draws[:, 0], minlength=5) / rows
    # the first draw has probability p in both modes; 5 standard errors
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / rows) + 1e-12), (freq, p)
    assert (draws != 1).all()  # zero weight: never drawn (the rows have 4 non-zero categories)
    if replacement:  # every column is an independent draw of p
        freq_all = np.bincount(draws.ravel(), minlength=5) / draws.size
        assert np.all(np.abs(freq_all - p) <= 5 * np.sqrt(p * (1 - p) / draws.size))
    else:
        assert (draws[:, 0] != draws[:, 1]).all()
        # P(second = j) = sum_i p_i p_j / (1 - p_i), i != j: sampling one at a time without replacement
        second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(5) if i != j) for j in range(5)])
        freq2 = np.bincount(draws[:, 1], minlength=5) / rows
        assert np.all(np.abs(freq2 - second) <= 5 * np.sqrt(second * (1 - second) / rows) + 1e-12)


def test_without_replacement_is_a_permutation_and_zeros_come_last():
    md.manual_seed(0)
    for _ in range(20):
        s = md.multinomial(md.tensor([1.0, 5.0, 0.5, 2.0, 3.0]), 5).tolist()
        assert sorted(s) == [0, 1, 2, 3, 4]
    s = md.multinomial(md.tensor([[0.0, 1.0, 0.0, 2.0]]), 4).numpy()
    assert sorted(s[0, :2].tolist()) == [1, 3] and sorted(s[0, 2:].tolist()) == [0, 2]


def test_reproducible_under_manual_seed():
    w = md.tensor([[0.3, 0.3, 0.4], [1.0, 2.0, 3.0]])
    md.manual_seed(7)
    a, b = md.multinomial(w, 10, True), md.multinomial(w, 3)
    md.manual_seed(7)
    np.testing.assert_array_equal(md.multinomial(w, 10, True).numpy(), a.numpy())
    np.testing.assert_array_equal(w.multinomial(3).numpy(), b.numpy())


def test_bad_inputs_raise_as_torch():
    nan, inf = float("nan"), float("inf")
    cases = [
        ((md.ones(2, 2, 2), 1), "prob_dist must be 1 or 2 dim"),
        ((md.tensor(1.0), 1), "prob_dist must be 1 or 2 dim"),
        ((md.tensor([1, 2]), 1), "multinomial only supports floating-point dtypes for input, got: Long"),
        ((md.tensor([0.2, 0.8]), 0), "cannot sample n_sample <= 0 samples"),
        ((md.tensor([0.2, 0.8]), 3), r"cannot sample n_sample > prob_dist.size\(-1\) samples without replacement"),
        ((md.tensor([0.5, -0.1]), 1), "probability tensor contains either `inf`, `nan` or element < 0"),
        ((md.tensor([0.5, nan]), 1, True), "probability tensor contains either `inf`, `nan` or element < 0"),
        ((md.tensor([0.5, inf]), 1), "probability tensor contains either `inf`, `nan` or element < 0"),
        ((md.zeros(3), 1, True), r"invalid multinomial distribution \(sum of probabilities <= 0\)"),
        ((md.tensor([[1.0, 2.0], [0.0, 0.0]]), 1), r"invalid multinomial distribution \(sum of probabilities <= 0\)"),
    ]
    for args, msg in cases:
        with pytest.raises(RuntimeError, match=msg):
            md.multinomial(*args)
        targs = (torch.tensor(args[0].numpy()),) + args[1:]
        with pytest.raises(RuntimeError, match=msg):
            torch.multinomial(*targs)


def test_non_contiguous_and_low_precision_weights_sample_as_their_contiguous_copy():
    w = md.tensor(np.random.default_rng(2).uniform(0, 1, (6, 4)))
    for weights in (w.t(), w.t().to(md.float16), w[::2]):
        for replacement in (True, False):
            a = md.multinomial(weights, 3, replacement, generator=md.Generator().manual_seed(1))
            b = md.multinomial(weights.contiguous().to(md.float64), 3, replacement,
                               generator=md.Generator().manual_seed(1))
            assert md.equal(a, b)
