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


def _random_bags(rng, n_rows, n_bags, empty=True):
    lengths = rng.integers(0 if empty else 1, 6, n_bags)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return rng.integers(0, n_rows, int(lengths.sum())).astype(np.int64), offsets


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("dim", [1, 7, 33])
def test_random_bags_match_pytorch(mode, dim):
    """Random bag lengths (some empty), odd widths, per_sample_weights, include_last_offset,
    a non-contiguous weight and a negative padding_idx."""
    rng = np.random.default_rng(dim)
    w = rng.standard_normal((dim, 13)).astype(np.float32).T          # (13, dim), not contiguous
    inp, offsets = _random_bags(rng, 13, 9)
    last = np.append(offsets, inp.size)
    psw = rng.standard_normal(inp.size).astype(np.float32) if mode == "sum" else None
    for offs, include_last in ((offsets, False), (last, True)):
        out = []
        for lib in (md, torch):
            wt = lib.tensor(w, requires_grad=True)
            pt = None if psw is None else lib.tensor(psw, requires_grad=True)
            y = lib.nn.functional.embedding_bag(lib.tensor(inp), wt, lib.tensor(offs), mode=mode, padding_idx=-3,
                                                per_sample_weights=pt, include_last_offset=include_last)
            (y * lib.tensor(np.sin(np.arange(y.numel())).astype(np.float32).reshape(tuple(y.shape)))).sum().backward()
            out.append((y.detach().numpy(), wt.grad.numpy()) + (() if pt is None else (pt.grad.numpy(),)))
        for got, want in zip(*out):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_int32_input_2d_per_sample_weights_and_float16_match_pytorch():
    rng = np.random.default_rng(3)
    w, inp = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 8, (4, 3)).astype(np.int32)
    psw = rng.standard_normal((4, 3)).astype(np.float32)
    out = []
    for lib in (md, torch):
        wt, pt = lib.tensor(w, requires_grad=True), lib.tensor(psw, requires_grad=True)
        y = lib.nn.functional.embedding_bag(lib.tensor(inp), wt, mode="sum", per_sample_weights=pt)
        y.sum().backward()
        half = lib.nn.functional.embedding_bag(lib.tensor(inp), lib.tensor(w).half(), mode="mean")
        out.append((y.detach().numpy(), wt.grad.numpy(), pt.grad.numpy(), half.float().numpy()))
    assert out[0][2].shape == (4, 3)
    for got, want in zip(*out):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_gradcheck_float64(mode):
    rng = np.random.default_rng(4)
    w = md.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    inp, offsets = md.tensor([0, 5, 2, 2, 1, 3, 4, 0]), md.tensor([0, 2, 2, 5])
    assert md.autograd.gradcheck(lambda a: F.embedding_bag(inp, a, offsets, mode=mode, padding_idx=4), (w,))
    if mode == "sum":
        psw = md.tensor(rng.standard_normal(8), requires_grad=True)
        assert md.autograd.gradcheck(lambda a, s: F.embedding_bag(inp, a, offsets, mode="sum", per_sample_weights=s),
                                     (w, psw))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("threads", [1, 2])
def test_simd_matches_scalar_reference(mode, threads):
    """Each kernel set against the reference loops, at widths around the vector width and with
    bags big enough that the forward and the backward split between threads."""
    rng = np.random.default_rng(5)
    old = md.get_num_threads()
    md.set_num_threads(threads)
    try:
        for dim in (1, 7, 33, 70):
            w = md.tensor(rng.standard_normal((50, dim)).astype(np.float32))
            inp, offsets = _random_bags(rng, 50, 3000)
            inp, offsets = md.tensor(inp), md.tensor(offsets)
            g = md.tensor(rng.standard_normal((3000, dim)).astype(np.float32))
            psw = md.tensor(rng.standard_normal(inp.numel()).astype(np.float32)) if mode == "sum" else None
            results = {}
            for name in md.backend.available():
                with md.backend.using(name):
                    wt = w.detach().requires_grad_()
                    pt = None if psw is None else psw.detach().requires_grad_()
                    y = F.embedding_bag(inp, wt, offsets, mode=mode, per_sample_weights=pt, padding_idx=3)
                    (y * g).sum().backward()
                    results[name] = [y.detach().numpy(), wt.grad.numpy()] + ([] if pt is None else [pt.grad.numpy()])
            for name, got in results.items():
                for a, b in zip(got, results["scalar"]):
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"{name} dim={dim}")
    finally:
        md.set_num_threads(old)


def test_bad_offsets_and_indices():
    w = md.randn(5, 2)
    with pytest.raises(ValueError, match=r"offsets\[0\] has to be 0"):
        F.embedding_bag(md.tensor([0, 1]), w, md.tensor([1]))
    with pytest.raises(ValueError, match=r"can not be greater than input's length 2"):
        F.embedding_bag(md.tensor([0, 1]), w, md.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"last offset must equal the input length 2, got 1"):
        F.embedding_bag(md.tensor([0, 1]), w, md.tensor([0, 1]), include_last_offset=True)
    with pytest.raises(ValueError, match="non-decreasing"):
        F.embedding_bag(md.tensor([0, 1, 2]), w, md.tensor([0, 2, 1]))
    with pytest.raises(IndexError, match="value -1 which is out of range"):
        F.embedding_bag(md.tensor([0, -1]), w, md.tensor([0]))
    with pytest.raises(RuntimeError, match="expected input of dtype int64"):
        F.embedding_bag(md.tensor([0.0, 1.0]), w, md.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor"):
        F.embedding_bag(md.tensor([0, 1]), w)
    with pytest.raises(ValueError, match="padding_idx 7 must be within"):
        F.embedding_bag(md.tensor([0, 1]), w, md.tensor([0]), padding_idx=7)
    with pytest.raises(ValueError, match="input has to be 1D or 2D"):
        F.embedding_bag(md.tensor([[[0]]]), w)
