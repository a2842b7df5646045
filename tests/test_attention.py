"""F.scaled_dot_product_attention (fused flash kernel): parity with PyTorch for values and the
gradients of query, key and value (no mask, causal, bool and float masks in several
broadcast shapes, L != S, head dims that are not multiples of the vector width, Ev != E,
custom scale, 3-D and 4-D, strided inputs), fully masked rows, float64 gradcheck, scalar vs
SIMD kernel sets, thread-count independence, dropout statistics and reproducibility, bad input."""
import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from minidl import _C

from conftest import require
torch = require("torch")
TF = torch.nn.functional


def _inputs(rng, qshape, kshape, vshape, dtype=np.float32):
    return [rng.standard_normal(s).astype(dtype) for s in (qshape, kshape, vshape)]


def _run_md(arrays, grad, **kw):
    ts = [md.tensor(a, requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*ts, **kw)
    out.backward(md.tensor(grad))
    return [out.detach().numpy()] + [t.grad.numpy() for t in ts]


def _run_torch(arrays, grad, attn_mask=None, **kw):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    m = None if attn_mask is None else torch.tensor(attn_mask)
    out = TF.scaled_dot_product_attention(*ts, attn_mask=m, **kw)
    out.backward(torch.tensor(grad))
    return [out.detach().numpy()] + [t.grad.numpy() for t in ts]


def _compare(rng, qshape, kshape, vshape, mask_shape=None, mask_kind=None, dtype=np.float32, tol=(2e-4, 2e-5), **kw):
    arrays = _inputs(rng, qshape, kshape, vshape, dtype)
    grad = rng.standard_normal(qshape[:-1] + (vshape[-1],)).astype(dtype)
    mask = None
    if mask_kind == "bool":
        mask = rng.random(mask_shape) < 0.7
        mask[..., 0] = True  # every row keeps a key (fully masked rows are tested separately)
    elif mask_kind == "float":
        mask = (rng.standard_normal(mask_shape) * 2).astype(dtype)
        mask[rng.random(mask_shape) < 0.2] = -np.inf
        mask[..., 0] = 0.0
    got = _run_md(arrays, grad, attn_mask=None if mask is None else md.tensor(mask), **kw)
    want = _run_torch(arrays, grad, attn_mask=mask, **kw)
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        np.testing.assert_allclose(g, w, rtol=tol[0], atol=tol[1], err_msg=name)


# (query, key, value) shapes: 4-D and 3-D, L != S both ways, odd head dims, Ev != E, several tiles
SHAPES = [
    ((2, 3, 17, 24), (2, 3, 33, 24), (2, 3, 33, 40)),
    ((1, 2, 130, 65), (1, 2, 260, 65), (1, 2, 260, 7)),
    ((2, 1, 200, 16), (2, 1, 150, 16), (2, 1, 150, 16)),
    ((3, 40, 32), (3, 97, 32), (3, 97, 24)),
]


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_matches_torch_no_mask(rng, shapes, causal):
    _compare(rng, *shapes, is_causal=causal)


@pytest.mark.parametrize("mask_kind", ["bool", "float"])
@pytest.mark.parametrize("mask_dims", ["LS", "B1LS", "1HLS", "BHLS", "B11S", "L1"])
def test_sdpa_masks_match_torch(rng, mask_kind, mask_dims):
    B, H, L, S = 2, 3, 101, 140
    full = {"B": B, "H": H, "L": L, "S": S, "1": 1}
    mask_shape = tuple(full[c] for c in mask_dims)
    if mask_dims == "L1":  # per-query mask broadcast over keys: keep the rows non-empty
        mask_shape = (L, 1)
        arrays = _inputs(rng, (B, H, L, 24), (B, H, S, 24), (B, H, S, 24))
        grad = rng.standard_normal((B, H, L, 24)).astype(np.float32)
        mask = rng.random(mask_shape) < 0.7 if mask_kind == "bool" else rng.standard_normal(mask_shape).astype(np.float32)
        got = _run_md(arrays, grad, attn_mask=md.tensor(mask))
        want = _run_torch(arrays, grad, attn_mask=mask)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)
        return
    _compare(rng, (B, H, L, 24), (B, H, S, 24), (B, H, S, 40), mask_shape, mask_kind)


def test_sdpa_3d_with_mask_and_scale(rng):
    _compare(rng, (4, 9, 8), (4, 12, 8), (4, 12, 8), (4, 9, 12), "bool", scale=0.3)
    _compare(rng, (4, 9, 8), (4, 12, 8), (4, 12, 8), (9, 12), "float", scale=2.0)


def test_sdpa_float64_matches_torch(rng):
    _compare(rng, (2, 2, 20, 13), (2, 2, 31, 13), (2, 2, 31, 5), (2, 1, 20, 31), "float", dtype=np.float64,
             tol=(1e-10, 1e-12))
    _compare(rng, (2, 2, 20, 13), (2, 2, 31, 13), (2, 2, 31, 5), dtype=np.float64, tol=(1e-10, 1e-12), is_causal=True)


def test_sdpa_strided_inputs(rng):
    """(B, L, H, E) tensors transposed to (B, H, L, E) views are read in place, same result."""
    arrays = [rng.standard_normal((2, 50, 4, 16)).astype(np.float32) for _ in range(3)]
    ts = [md.tensor(a, requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in ts), is_causal=True)
    out.sum().backward()
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = TF.scaled_dot_product_attention(*(t.transpose(1, 2) for t in tt), is_causal=True)
    ref.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(ts, tt):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_sdpa_fully_masked_row_gives_zeros_like_torch(rng, mask_kind):
    arrays = _inputs(rng, (1, 2, 6, 8), (1, 2, 9, 8), (1, 2, 9, 8))
    grad = rng.standard_normal((1, 2, 6, 8)).astype(np.float32)
    if mask_kind == "bool":
        mask = np.ones((6, 9), bool)
        mask[2] = False
    else:
        mask = np.zeros((6, 9), np.float32)
        mask[2] = -np.inf
    got = _run_md(arrays, grad, attn_mask=md.tensor(mask))
    want = _run_torch(arrays, grad, attn_mask=mask)
    assert np.all(got[0][:, :, 2] == 0) and np.all(got[1][:, :, 2] == 0)  # documented: zeros, no NaN
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_gradcheck_sdpa(rng):
    def mk(*s):
        return md.tensor(rng.standard_normal(s), dtype=md.float64, requires_grad=True)
    q, k, v = mk(1, 2, 3, 5), mk(1, 2, 4, 5), mk(1, 2, 4, 3)
    mask = md.tensor(rng.standard_normal((3, 4)), dtype=md.float64)
    assert md.autograd.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask), (q, k, v))
    assert md.autograd.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True, scale=0.7),
                                 (q, k, v))
    bmask = md.tensor(rng.random((1, 1, 3, 4)) < 0.6)
    bmask._data[..., 0] = True

    def dropped(a, b, c):  # the same seed each call: the same dropout mask, so gradcheck is meaningful
        md.manual_seed(7)
        return F.scaled_dot_product_attention(a, b, c, attn_mask=bmask, dropout_p=0.4)
    assert md.autograd.gradcheck(dropped, (q, k, v))


@pytest.mark.parametrize("causal,dropout_p", [(False, 0.0), (True, 0.0), (False, 0.25), (True, 0.25)])
def test_sdpa_simd_matches_scalar(rng, kernel_set, causal, dropout_p):
    """Same values and gradients, and (with dropout) bit-identical dropout masks: the SIMD
    hash of each ISA computes the scalar counter-based generator lane by lane."""
    arrays = _inputs(rng, (2, 2, 70, 40), (2, 2, 150, 40), (2, 2, 150, 33))
    grad = rng.standard_normal((2, 2, 70, 33)).astype(np.float32)
    mask = rng.standard_normal((70, 150)).astype(np.float32)
    kw = dict(attn_mask=None if causal else md.tensor(mask), is_causal=causal, dropout_p=dropout_p)
    md.manual_seed(5)
    got = _run_md(arrays, grad, **kw)
    md.backend.use("scalar")
    md.manual_seed(5)
    ref = _run_md(arrays, grad, **kw)
    if dropout_p:
        np.testing.assert_array_equal(got[0] == 0, ref[0] == 0)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)


def test_sdpa_padding_mask_and_far_scores_match_scalar(rng, kernel_set):
    """A key padding mask (-inf scores) and scores far below their row's max: the SIMD rows give
    weights below exp(-86) the value 0 instead of underflowing (attention_simd.cpp,
    softmax_exp); values and gradients still equal the scalar reference's."""
    arrays = list(_inputs(rng, (3, 2, 20, 8), (3, 2, 45, 8), (3, 2, 45, 8)))
    arrays[1][:, :, :5] *= 60.0                       # a few keys with huge scores
    keep = np.arange(45)[None, :] < np.array([45, 30, 7])[:, None]
    mask = md.tensor(keep[:, None, None, :])
    grad = rng.standard_normal((3, 2, 20, 8)).astype(np.float32)
    got = _run_md(arrays, grad, attn_mask=mask)
    md.backend.use("scalar")
    ref = _run_md(arrays, grad, attn_mask=mask)
    for g, r in zip(got, ref):   # dq reaches ~40 here: float32 rounding scales with it
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(r).max())))
    assert (got[2][1, :, 30:] == 0).all() and (got[2][2, :, 7:] == 0).all()   # no gradient to padding keys


@pytest.mark.parametrize("heads", [3, 13])
def test_sdpa_thread_count_does_not_change_result(rng, heads):
    """The backward hands whole heads to threads when there are >= 4 per thread (13 heads on 3
    threads), else splits (head, key tile) pairs so that heads shared by two threads add their
    partial dQ after the loop (3 heads x 3 key tiles on 3 threads). Both agree with one thread."""
    arrays = _inputs(rng, (1, heads, 200, 16), (1, heads, 300, 16), (1, heads, 300, 16))
    grad = rng.standard_normal((1, heads, 200, 16)).astype(np.float32)
    md.set_num_threads(1)
    one = _run_md(arrays, grad, is_causal=True)
    md.set_num_threads(3)
    three = _run_md(arrays, grad, is_causal=True)
    for a, b in zip(one, three):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("threads", [2, 3, 4])
@pytest.mark.parametrize("heads,L,causal", [(1, 1000, False), (1, 2048, True), (2, 700, True), (13, 200, True)])
def test_sdpa_backward_repeats_bit_for_bit(rng, threads, heads, L, causal):
    """At a given thread count the backward gives the same bits run after run. One head of 8 or
    16 key tiles on 3 or 4 threads is shared by 3 or 4 of the contiguous ranges of (head, key
    tile) pairs, whose partial dQs are added in range order after the loop (added under a lock
    as the threads arrived, 4-10 of 20 runs differed); 13 heads go out whole, dynamically."""
    E = 32
    q, k, v, g = (rng.standard_normal((1, heads, L, E)).astype(np.float32) for _ in range(4))
    md.set_num_threads(threads)
    out, lse = _C.attention_forward(q, k, v, None, 0.2, causal, 0.0, 0)
    first = _C.attention_backward(g, q, k, v, out, lse, None, 0.2, causal, 0.0, 0, False)[:3]
    for _ in range(8):
        again = _C.attention_backward(g, q, k, v, out, lse, None, 0.2, causal, 0.0, 0, False)[:3]
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)


def test_sdpa_dropout_statistics_and_reproducibility(rng):
    """With V = identity the output row is the dropped-out weight row itself: the fraction of
    zeros is p, and the scaled survivors keep each row's expected sum at 1."""
    S, p = 64, 0.3
    q = md.tensor(rng.standard_normal((4, 4, 64, 16)).astype(np.float32) * 0.1)
    k = md.tensor(rng.standard_normal((4, 4, S, 16)).astype(np.float32) * 0.1)
    v = md.tensor(np.broadcast_to(np.eye(S, dtype=np.float32), (4, 4, S, S)).copy())
    md.manual_seed(1)
    w = F.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    frac_dropped = float(np.mean(w == 0))
    assert abs(frac_dropped - p) < 0.01, frac_dropped
    assert abs(float(w.sum(-1).mean()) - 1.0) < 0.01
    kept = w[w != 0]
    ref = F.scaled_dot_product_attention(q, k, v).numpy()
    np.testing.assert_allclose(kept, ref[w != 0] / (1 - p), rtol=1e-5)
    md.manual_seed(1)
    again = F.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    np.testing.assert_array_equal(w, again)
    other = F.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    assert np.mean(other != w) > 0.1
    # the kernel's mask is the exposed hash, element by element
    seed = 12345
    keeps = [_C.attention_dropout_keep(seed, 0, 0, j, 1, 100000, p) for j in range(100000)]
    assert abs(1 - np.mean(keeps) - p) < 0.01


@pytest.mark.parametrize("L,E", [(256, 64), (300, 32), (97, 80)])
def test_sdpa_causal_packed_heads_match_torch(rng, L, E):
    """The GPT block's call: causal, q, k, v strided head views of one packed (N, L, 3 H E)
    projection. The kernel cuts the diagonal tiles into bands that skip the masked blocks
    (attention_tiles.h, Problem::cut_by_diagonal); L = 300 and 97 end in partial tiles and bands."""
    N, H = 2, 2
    qkv = rng.standard_normal((N, L, 3 * H * E)).astype(np.float32)
    grad = rng.standard_normal((N, H, L, E)).astype(np.float32)

    def run(lib):
        packed = lib.tensor(qkv, requires_grad=True)
        q, k, v = packed.view(N, L, 3, H, E).permute(2, 0, 3, 1, 4).unbind(0)
        out = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(lib.tensor(grad))
        return out.detach().numpy(), packed.grad.numpy()

    for got, want in zip(run(md), run(torch)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


def test_sdpa_output_and_gradients_laid_out_like_packed_heads(rng):
    """Heads split off a packed (N, L, 3 H E) array: the output is in (N, L, H, E) order, as
    PyTorch's flash kernel lays it out, so merging the heads is a view; the backward writes dq,
    dk and dv into the windows of one packed gradient (grads_into) and returns those windows,
    equal to the contiguous gradients it gives otherwise. Unsuitable targets raise."""
    N, H, L, E = 2, 3, 10, 4
    qkv = rng.standard_normal((N, L, 3 * H * E)).astype(np.float32)
    q, k, v = qkv.reshape(N, L, 3, H, E).transpose(2, 0, 3, 1, 4)
    out, lse = _C.attention_forward(q, k, v, None, 0.5, True, 0.0, 0)
    assert out.transpose(0, 2, 1, 3).flags.c_contiguous and out.shape == (N, H, L, E)
    plain, _ = _C.attention_forward(*(np.ascontiguousarray(a) for a in (q, k, v)), None, 0.5, True, 0.0, 0)
    assert plain.flags.c_contiguous
    np.testing.assert_array_equal(out, plain)
    g = rng.standard_normal((N, H, L, E)).astype(np.float32)
    want = _C.attention_backward(g, q, k, v, out, lse, None, 0.5, True, 0.0, 0, False)
    packed = np.full((N, L, 3 * H * E), np.nan, np.float32)
    windows = tuple(packed.reshape(N, L, 3, H, E).transpose(2, 0, 3, 1, 4))
    got = _C.attention_backward(g, q, k, v, out, lse, None, 0.5, True, 0.0, 0, False, windows)
    for a, w, ref in zip(got[:3], windows, want[:3]):
        assert a is w
        np.testing.assert_array_equal(w, ref)
    assert not np.isnan(packed).any()
    with pytest.raises(ValueError, match="dk target"):
        _C.attention_backward(g, q, k, v, out, lse, None, 0.5, True, 0.0, 0, False,
                              (windows[0], windows[1][..., :2], windows[2]))
    with pytest.raises(ValueError, match="3 arrays"):
        _C.attention_backward(g, q, k, v, out, lse, None, 0.5, True, 0.0, 0, False, windows[:2])


def test_sdpa_packed_gradients_with_heads_shared_between_threads(rng):
    """3 heads of 3 key tiles on 2 threads: the backward splits the (head, key tile) pairs so
    that head 1 is shared and its partial dQs are stored and added after the loop, here into a
    strided window of the packed gradient (NaN before: every element is written, none only
    added to); the same values as one thread's contiguous gradients."""
    N, H, L, E = 1, 3, 300, 8
    qkv = rng.standard_normal((N, L, 3 * H * E)).astype(np.float32)
    q, k, v = qkv.reshape(N, L, 3, H, E).transpose(2, 0, 3, 1, 4)
    g = rng.standard_normal((N, H, L, E)).astype(np.float32)
    md.set_num_threads(1)
    out, lse = _C.attention_forward(q, k, v, None, 0.3, True, 0.0, 0)
    want = _C.attention_backward(g, q, k, v, out, lse, None, 0.3, True, 0.0, 0, False)
    md.set_num_threads(2)
    packed = np.full((N, L, 3 * H * E), np.nan, np.float32)
    windows = tuple(packed.reshape(N, L, 3, H, E).transpose(2, 0, 3, 1, 4))
    _C.attention_backward(g, q, k, v, out, lse, None, 0.3, True, 0.0, 0, False, windows)
    for w, ref in zip(windows, want[:3]):
        np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_sdpa_backward_writes_every_gradient_element_in_place(rng, causal):
    """Whole heads per thread (8 heads on 1 thread): dK, dV and dQ are summed in place in the
    windows of a packed gradient, the first product that reaches a row storing it. Every
    element must be written (the windows start as NaN), L = 300 ends in partial tiles and
    bands; the values equal those of contiguous gradients."""
    N, H, L, E = 2, 4, 300, 8
    qkv = rng.standard_normal((N, L, 3 * H * E)).astype(np.float32)
    q, k, v = qkv.reshape(N, L, 3, H, E).transpose(2, 0, 3, 1, 4)
    g = rng.standard_normal((N, H, L, E)).astype(np.float32)
    md.set_num_threads(1)
    out, lse = _C.attention_forward(q, k, v, None, 0.3, causal, 0.0, 0)
    want = _C.attention_backward(g, np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v),
                                 out, lse, None, 0.3, causal, 0.0, 0, False)
    packed = np.full((N, L, 3 * H * E), np.nan, np.float32)
    windows = tuple(packed.reshape(N, L, 3, H, E).transpose(2, 0, 3, 1, 4))
    _C.attention_backward(g, q, k, v, out, lse, None, 0.3, causal, 0.0, 0, False, windows)
    assert not np.isnan(packed).any()
    for w, ref in zip(windows, want[:3]):
        np.testing.assert_array_equal(w, ref)


def test_sdpa_causal_keys_no_query_sees_get_zero_gradient(rng):
    """Causal with S > L (top-left aligned): keys L .. S-1 are seen by no query, their dK and
    dV are exactly 0 (whole key tiles and part of the diagonal one, written as zeros, not
    left as they were), the rest as PyTorch's."""
    N, H, L, S, E = 2, 4, 100, 300, 8
    q = rng.standard_normal((N, H, L, E)).astype(np.float32)
    k, v = (rng.standard_normal((N, H, S, E)).astype(np.float32) for _ in range(2))
    g = rng.standard_normal((N, H, L, E)).astype(np.float32)
    md.set_num_threads(1)
    out, lse = _C.attention_forward(q, k, v, None, 0.3, True, 0.0, 0)
    dq, dk, dv, _ = _C.attention_backward(g, q, k, v, out, lse, None, 0.3, True, 0.0, 0, False)
    assert (dk[:, :, L:] == 0).all() and (dv[:, :, L:] == 0).all()
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    mask = torch.ones(L, S, dtype=torch.bool).tril()
    torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=mask, scale=0.3).backward(torch.tensor(g))
    for got, t in zip((dq, dk, dv), (tq, tk, tv)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_sdpa_causal_dropout_matches_reference(rng):
    """Causal attention with dropout, L = 70 (three bands of the diagonal tile, the last one
    partial): the output is softmax(Q K^T scale + causal) * keep / (1 - p) V with keep from the
    exposed dropout hash, and the float64 gradients pass gradcheck (same seed every call)."""
    L, E, p = 70, 3, 0.3
    q, k, v = (rng.standard_normal((1, 2, L, E)) for _ in range(3))
    md.manual_seed(11)
    seed = int(_C.randint(0, 2 ** 62, [1])[0])   # the seed the next call draws
    md.manual_seed(11)
    got = F.scaled_dot_product_attention(*(md.tensor(a) for a in (q, k, v)), is_causal=True, dropout_p=p).numpy()
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(E)
    s[..., np.triu(np.ones((L, L), bool), 1)] = -np.inf
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    keep = np.array([[[_C.attention_dropout_keep(seed, h, i, j, L, L, p) for j in range(L)] for i in range(L)]
                     for h in range(2)])
    np.testing.assert_allclose(got, (w * keep / (1 - p)) @ v, rtol=1e-10, atol=1e-12)

    def dropped(a, b, c):
        md.manual_seed(11)
        return F.scaled_dot_product_attention(a, b, c, is_causal=True, dropout_p=p)
    assert md.autograd.gradcheck(dropped, tuple(md.tensor(a, requires_grad=True) for a in (q, k, v)))


def test_sdpa_bad_input():
    q, k, v = md.randn(2, 3, 5, 8), md.randn(2, 3, 7, 8), md.randn(2, 3, 7, 4)
    with pytest.raises(ValueError, match=r"query \[2, 3, 5, 8\] and key \[2, 3, 7, 6\].*head dim"):
        F.scaled_dot_product_attention(q, md.randn(2, 3, 7, 6), v)
    with pytest.raises(ValueError, match=r"key \[2, 3, 7, 8\] and value \[2, 3, 6, 4\]"):
        F.scaled_dot_product_attention(q, k, md.randn(2, 3, 6, 4))
    with pytest.raises(ValueError, match=r"attn_mask of shape \[5, 6\] cannot be broadcast.*\[2, 3, 5, 7\]"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=md.ones(5, 6))
    with pytest.raises(ValueError, match=r"attn_mask of shape \[4, 3, 5, 7\]"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=md.ones(4, 3, 5, 7))
    with pytest.raises(ValueError, match="batch/head dims"):
        F.scaled_dot_product_attention(q, md.randn(2, 2, 7, 8), md.randn(2, 2, 7, 4))
    with pytest.raises(ValueError, match="3-D"):
        F.scaled_dot_product_attention(md.randn(5, 8), md.randn(7, 8), md.randn(7, 4))
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    with pytest.raises(ValueError, match="is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=md.ones(5, 7), is_causal=True)
    with pytest.raises(TypeError, match="bool or float"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=md.tensor(np.ones((5, 7), np.int64)))


@pytest.mark.parametrize("qshape,mshape", [((2, 3, 17, 8), (3, 17, 20)), ((2, 17, 8), (17, 20)),
                                           ((2, 3, 130, 8), (2, 1, 1, 20))])
def test_sdpa_learned_float_mask_gets_its_gradient(rng, qshape, mshape):
    """A float mask that requires grad (a learned bias such as T5's relative positions) gets
    dLoss/d(scores) summed over its broadcast dims, as in PyTorch."""
    kshape = qshape[:-2] + (20, 8)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in (qshape, kshape, kshape, mshape)]
    a = [md.tensor(x, requires_grad=True) for x in arrays]
    t = [torch.tensor(x, requires_grad=True) for x in arrays]
    o = F.scaled_dot_product_attention(*a[:3], attn_mask=a[3])
    ot = TF.scaled_dot_product_attention(*t[:3], attn_mask=t[3])
    (o * o).sum().backward()
    (ot * ot).sum().backward()
    for x, y in zip(a, t):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-4, atol=2e-5)


def test_gradcheck_sdpa_learned_mask(rng):
    q = md.tensor(rng.standard_normal((1, 2, 3, 4)), dtype=md.float64, requires_grad=True)
    k = md.tensor(rng.standard_normal((1, 2, 5, 4)), dtype=md.float64, requires_grad=True)
    v = md.tensor(rng.standard_normal((1, 2, 5, 3)), dtype=md.float64, requires_grad=True)
    bias = md.tensor(rng.standard_normal((2, 1, 5)), dtype=md.float64, requires_grad=True)
    assert md.autograd.gradcheck(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m),
                                 (q, k, v, bias))


def test_sdpa_bfloat16_inputs_compute_in_float32(rng):
    arrays = _inputs(rng, (2, 2, 9, 16), (2, 2, 11, 16), (2, 2, 11, 16))
    ts = [md.tensor(a).bfloat16().requires_grad_() for a in arrays]
    out = F.scaled_dot_product_attention(*ts, is_causal=True)
    assert out.dtype == md.bfloat16
    out.float().sum().backward()
    assert all(t.grad.dtype == md.bfloat16 for t in ts)
    ref = TF.scaled_dot_product_attention(*(torch.tensor(a).bfloat16().float() for a in arrays), is_causal=True)
    np.testing.assert_allclose(out.float().detach().numpy(), ref.numpy(), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("layout", ["heads_split", "permuted", "sliced", "expanded"])
def test_sdpa_bfloat16_strided_inputs_same_as_contiguous(rng, layout):
    # bfloat16 q/k/v are widened in their memory order when they are a permutation of a
    # contiguous array (the heads split of a Transformer), else copied: the result must not
    # depend on the layout, values and gradients alike
    def make(a):
        t = md.tensor(a).bfloat16()
        if layout == "heads_split":     # (N, L, H*E) -> (N, H, L, E) view
            n, h, l, e = a.shape
            return t.transpose(1, 2).contiguous().view(n, l, h * e).view(n, l, h, e).transpose(1, 2)
        if layout == "permuted":
            return t.permute(3, 1, 2, 0).contiguous().permute(3, 1, 2, 0)
        if layout == "sliced":          # one half of a wider tensor: gaps, not a permutation
            return md.stack([t, t], 2)[:, :, 0]
        return t[:1].expand(a.shape[0], -1, -1, -1)  # stride 0 along the batch
    arrays = _inputs(rng, (3, 2, 7, 8), (3, 2, 9, 8), (3, 2, 9, 8))
    if layout == "expanded":
        arrays = [np.repeat(a[:1], 3, axis=0) for a in arrays]
    views = [make(a).requires_grad_() if layout != "expanded" else make(a) for a in arrays]
    conts = [md.tensor(a).bfloat16().requires_grad_() for a in arrays]
    assert all(not v.is_contiguous() for v in views)
    out_v = F.scaled_dot_product_attention(*views)
    out_c = F.scaled_dot_product_attention(*conts)
    np.testing.assert_array_equal(out_v.float().detach().numpy(), out_c.float().detach().numpy())
    if layout != "expanded":
        out_v.float().sum().backward()
        out_c.float().sum().backward()
        for v, c in zip(views, conts):
            np.testing.assert_array_equal(v.grad.float().numpy(), c.grad.float().numpy())
