"""tril/triu (+ in-place), diagonal, diag, diag_embed, trace against PyTorch: values,
gradients (float64 gradcheck), odd sizes, non-contiguous inputs, negative dims, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md

from _parity import check, torch


@pytest.mark.parametrize("name", ["tril", "triu"])
# (.., 96+) columns take the copy + row-fill path, narrower ones the mask + where path
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (6, 2), (2, 3, 4), (0, 3), (1, 96), (5, 101), (2, 3, 130), (0, 100)])
@pytest.mark.parametrize("diagonal", [-7, -1, 0, 2, 9, 99])
@pytest.mark.parametrize("non_contiguous", [False, True])
def test_tril_triu_match_pytorch(rng, name, shape, diagonal, non_contiguous):
    check(rng, lambda t, x: getattr(t, name)(x, diagonal), [shape], non_contiguous)
    check(rng, lambda t, x: getattr(x, name)(diagonal=diagonal), [shape], non_contiguous)


def test_tril_keeps_dtype_and_gives_the_causal_mask():
    for n in (4, 200):
        mask = md.tril(md.ones(n, n, dtype=md.bool))
        assert mask.dtype == md.bool
        assert mask.numpy().tolist() == torch.tril(torch.ones(n, n, dtype=torch.bool)).tolist()
    assert md.triu(md.ones(3, 100, dtype=md.bfloat16), 2).float().tolist() == torch.triu(torch.ones(3, 100), 2).tolist()
    assert md.triu(md.arange(6).reshape(2, 3), 1).tolist() == [[0, 1, 2], [0, 0, 5]]


@pytest.mark.parametrize("name", ["tril_", "triu_"])
def test_inplace_forms_write_and_record_the_gradient(rng, name):
    def fn(t, x):
        y = x * 1.0
        getattr(y, name)(1)
        return y
    check(rng, fn, [(4, 3)])
    x = md.ones(3, 3)
    assert getattr(x, name)(-1) is x
    assert x.numpy().tolist() == getattr(torch.ones(3, 3), name)(-1).tolist()


@pytest.mark.parametrize("offset", [-4, -1, 0, 1, 3])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-1, -2), (0, 2), (2, -3)])
@pytest.mark.parametrize("non_contiguous", [False, True])
def test_diagonal_matches_pytorch(rng, offset, dims, non_contiguous):
    check(rng, lambda t, x: t.diagonal(x, offset, *dims) * 1.0, [(3, 4, 5)], non_contiguous)
    check(rng, lambda t, x: x.diagonal(offset=offset, dim1=dims[0], dim2=dims[1]) * 1.0, [(1, 3, 1)])


def test_diagonal_is_a_read_only_view():
    x = md.arange(9.).reshape(3, 3)
    d = md.diagonal(x)
    x[1, 1] = 40.0
    assert d.tolist() == [0.0, 40.0, 8.0]  # shares x's memory, as PyTorch's view
    with pytest.raises(RuntimeError, match="read-only"):
        d.add_(1.0)


# every (shape, dims) pair where dims name two distinct dims of the (len(shape) + 1)-d output
DIAG_EMBED_CASES = [(shape, dims) for shape in [(1,), (4,), (2, 3), (2, 1, 5)]
                    for dims in [(-2, -1), (0, 1), (-1, 0), (1, -1)]
                    if max(dims) < len(shape) + 1 and dims[0] % (len(shape) + 1) != dims[1] % (len(shape) + 1)]


@pytest.mark.parametrize("shape,dims", DIAG_EMBED_CASES)
@pytest.mark.parametrize("offset", [-2, 0, 1])
def test_diag_embed_matches_pytorch(rng, shape, offset, dims):
    check(rng, lambda t, x: t.diag_embed(x, offset, *dims), [shape], non_contiguous=len(shape) > 1)


@pytest.mark.parametrize("shape", [(1,), (5,), (1, 1), (3, 5), (5, 2)])
@pytest.mark.parametrize("offset", [-3, -1, 0, 2])
def test_diag_matches_pytorch(rng, shape, offset):
    check(rng, lambda t, x: t.diag(x, offset), [shape], non_contiguous=len(shape) == 2)
    check(rng, lambda t, x: x.diag(offset), [shape])


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 5), (6, 4)])
def test_trace_matches_pytorch(rng, shape):
    check(rng, lambda t, x: t.trace(x), [shape], non_contiguous=True)
    assert md.trace(md.arange(9).reshape(3, 3)).dtype == md.int64


@pytest.mark.parametrize("fn", [
    lambda x: md.tril(x, -1), lambda x: md.triu(x, 1), lambda x: md.tril(x.repeat(1, 30), 40),
    lambda x: md.triu(x.repeat(1, 30), -1), lambda x: md.diagonal(x, 1, -1, 0),
    lambda x: md.diag_embed(x[0], 1), lambda x: md.diag(x[:, 0], -1), lambda x: md.diag(x), lambda x: md.trace(x)])
def test_gradcheck(fn):
    x = md.tensor(np.random.default_rng(3).standard_normal((3, 4)), requires_grad=True)
    assert md.autograd.gradcheck(fn, (x,))


def test_bad_input():
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        md.tril(md.ones(3))
    with pytest.raises(TypeError, match="must be Tensor"):
        md.triu([[1.0]])
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical 0, -2"):
        md.diagonal(md.ones(2, 2), 0, 0, -2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        md.diagonal(md.ones(2, 2), 0, 0, 2)
    with pytest.raises(RuntimeError, match="Supports 1D or 2D"):
        md.diag(md.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="expected a matrix"):
        md.trace(md.ones(3))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "bool"])
@pytest.mark.parametrize("threads", [1, 2])
def test_triangle_kernel_every_dtype_and_thread_count(dtype, threads):
    """cpp/ops/triangular moves bytes: every dtype, a batch of wide matrices (rows split between
    threads), diagonals that keep nothing or everything."""
    md.set_num_threads(threads)
    x = (torch.randn(3, 130, 260) * 10).to(getattr(torch, dtype))
    xm = md.from_dlpack(x)
    for d in (-300, -7, 0, 5, 300):
        for name in ("tril", "triu"):
            got = getattr(md, name)(xm, d)
            assert torch.equal(torch.from_dlpack(got), getattr(torch, name)(x, d)), (name, d)
