"""Shape ops (reshape/view/.../split/chunk), indexing and setitem, masked_fill, where,
comparisons: values equal PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import assert_close, require

torch = require("torch")


def _both(shape=(2, 3, 4)):
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    return md.tensor(a), torch.tensor(a)


@pytest.mark.parametrize("op", [
    lambda x: x.reshape(4, 6), lambda x: x.reshape(-1), lambda x: x.reshape(3, -1, 2),
    lambda x: x.view(6, 4), lambda x: x.view(-1, 4),
    lambda x: x.flatten(), lambda x: x.flatten(1), lambda x: x.flatten(0, 1),
    lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(2),
    lambda x: x.permute(2, 0, 1), lambda x: x.permute(-1, 1, 0),
    lambda x: x.transpose(0, 2), lambda x: x.transpose(-1, -2),
    lambda x: x[:, :1].expand(2, 5, 4), lambda x: x[:1].expand(3, -1, -1), lambda x: x[0, 0].expand(2, 2, 4),
    lambda x: x.T.reshape(4, 6), lambda x: x.transpose(0, 1).flatten(),
    lambda x: x[:, None, :, None].squeeze(), lambda x: x[:, None].squeeze(1), lambda x: x.squeeze(0),
])
def test_shape_op_matches_torch(op):
    m, t = _both()
    assert_close(op(m), op(t))


def test_view_shares_memory_and_rejects_noncontiguous():
    m = md.zeros(2, 3)
    v = m.view(6)
    v[0] = 5.0
    assert m[0, 0].item() == 5.0
    with pytest.raises(RuntimeError, match="view"):
        m.T.view(6)
    assert_close(m.T.reshape(6), torch.tensor(m.numpy()).T.reshape(6))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack(dim):
    ma, ta = _both((2, 3))
    mb, tb = md.tensor(ta.numpy() * 2), ta * 2
    assert_close(md.cat([ma, mb], dim), torch.cat([ta, tb], dim))
    assert_close(md.stack([ma, mb, ma], dim), torch.stack([ta, tb, ta], dim))
    assert_close(md.stack([ma, mb], 2), torch.stack([ta, tb], 2))


def test_cat_uneven_sizes_and_mixed_dtypes():
    a, b = md.ones(2, 3), md.zeros(4, 3, dtype=md.float64)
    out = md.cat([a, b])
    assert out.shape == (6, 3) and out.dtype is md.float64
    assert_close(md.cat([md.ones(2, 1), md.zeros(2, 5)], 1), torch.cat([torch.ones(2, 1), torch.zeros(2, 5)], 1))


@pytest.mark.parametrize("arg,dim", [(2, 0), (3, 1), ([1, 2], 1), ([1, 1, 2], 2), (4, 2), (1, 0)])
def test_split_matches_torch(arg, dim):
    m, t = _both()
    ms, ts = m.split(arg, dim), t.split(arg, dim)
    assert len(ms) == len(ts)
    for a, b in zip(ms, ts):
        assert_close(a, b)


@pytest.mark.parametrize("chunks,dim", [(2, 0), (2, 1), (3, 2), (4, 1), (5, 2)])
def test_chunk_matches_torch(chunks, dim):
    m, t = _both()
    mc, tc = m.chunk(chunks, dim), t.chunk(chunks, dim)
    assert len(mc) == len(tc)
    for a, b in zip(mc, tc):
        assert_close(a, b)


# issue 14 item 2: split / chunk / tensor_split where a dim is empty or smaller than the pieces.
_EMPTY_SPLITS = [
    ((2, 0), "chunk", (4,), 1), ((2, 0), "chunk", (1,), 1), ((0, 3), "chunk", (3,), 0),
    ((0,), "chunk", (2,), 0), ((1,), "chunk", (3,), 0), ((5,), "chunk", (4,), 0),
    ((0,), "split", (2,), 0), ((0,), "split", (0,), 0), ((2, 0), "split", (0,), 1),
    ((3,), "split", (5,), 0), ((0,), "split", ([0, 0],), 0), ((2, 3), "split", ([0, 3, 0],), 1),
    ((0,), "tensor_split", (3,), 0), ((2, 0), "tensor_split", (2,), -1), ((7,), "tensor_split", (3,), 0),
    ((2, 5), "tensor_split", (7,), 1), ((7,), "tensor_split", ([1, 5],), 0),
    ((7,), "tensor_split", ([5, 1],), 0), ((7,), "tensor_split", ([-2, 9],), 0), ((0, 2), "tensor_split", ([1],), 0),
]


@pytest.mark.parametrize("shape,op,args,dim", _EMPTY_SPLITS, ids=[f"{o}{a}-{s}-d{d}" for s, o, a, d in _EMPTY_SPLITS])
def test_split_chunk_tensor_split_on_empty_and_short_dims_match_torch(shape, op, args, dim):
    """issue 14 item 2: md.zeros(2, 0).chunk(4, dim=1) gave 1 piece; PyTorch gives 4 empty ones."""
    m, t = _both(shape)
    ms, ts = getattr(m, op)(*args, dim=dim), getattr(t, op)(*args, dim=dim)
    assert [tuple(p.shape) for p in ms] == [tuple(p.shape) for p in ts]
    for a, b in zip(ms, ts):
        assert_close(a, b)
    functional = getattr(md, op)(m, *args, dim=dim)
    assert [tuple(p.shape) for p in functional] == [tuple(p.shape) for p in ts]


@pytest.mark.parametrize("call,message", [
    (lambda x: x.split(-1), "split expects split_size be non-negative, but got split_size=-1"),
    (lambda x: x.split(0), "split_size can only be 0 if dimension size is 0"),
    (lambda x: x.chunk(0), "chunk expects `chunks` to be greater than 0, got: 0"),
    (lambda x: x.tensor_split(0), "number of sections must be larger than 0, got 0"),
])
def test_split_chunk_tensor_split_bad_sizes_raise_torchs_message(call, message):
    """issue 14 item 2: the refusals carry PyTorch's messages."""
    for x in (md.zeros(3), torch.zeros(3)):
        with pytest.raises(RuntimeError) as caught:
            call(x)
        assert message in str(caught.value)


# --- indexing ----------------------------------------------------------------------------------------
_KEYS = [
    1, -1, (0, 2), (1, -1, -2), slice(None), slice(1, None), (slice(None), slice(0, 3, 2)),
    (Ellipsis, 1), (1, Ellipsis), (None, 0), (slice(None), None, 1), (Ellipsis, None),
    (0, slice(None, None, 3)), ([0, 1, 1],), (slice(None), [2, 0]), ([1, 0], [2, 1]),
    ([[0, 1], [1, 1]],), ([-1, 0],), (0, [1, 2], slice(1, 3)), (Ellipsis, [3, 0]),
]


@pytest.mark.parametrize("key", _KEYS, ids=[str(k) for k in _KEYS])
def test_getitem_matches_torch(key):
    m, t = _both()
    tkey = tuple(torch.tensor(k) if isinstance(k, list) else k for k in key) if isinstance(key, tuple) else key
    mkey = tuple(md.tensor(k) if isinstance(k, list) else k for k in key) if isinstance(key, tuple) else key
    assert_close(m[mkey], t[tkey])


def test_bool_mask_indexing():
    m, t = _both((3, 4))
    mask = m > 5.5
    assert mask.dtype is md.bool
    assert_close(m[mask], t[t > 5.5])
    row = md.tensor([True, False, True])
    assert_close(m[row], t[torch.tensor([True, False, True])])
    assert m[m > 100].shape == (0,)


def test_integer_index_result_is_zero_dim_view():
    m = md.zeros(3, 4)
    s = m[1, 2]
    assert s.shape == () and s.item() == 0.0
    r = m[1]
    r[0] = 7.0
    assert m[1, 0].item() == 7.0  # basic indexing is a view


@pytest.mark.parametrize("key,value", [
    ((0,), 1.5), ((slice(None), 1), -2.0), ((Ellipsis, 0), 3.0), (([0, 2],), 9.0),
    ((1, slice(1, 3)), "tensor"), (([0, 1], [3, 0]), "tensor2"),
])
def test_setitem_matches_torch(key, value):
    m, t = _both((3, 4))
    tkey = tuple(torch.tensor(k) if isinstance(k, list) else k for k in key)
    if value == "tensor":
        m[key], t[tkey] = md.tensor([10.0, 20.0]), torch.tensor([10.0, 20.0])
    elif value == "tensor2":
        m[key], t[tkey] = md.tensor([-1.0, -2.0]), torch.tensor([-1.0, -2.0])
    else:
        m[key], t[tkey] = value, value
    assert_close(m, t)


def test_setitem_bool_mask():
    m, t = _both((3, 4))
    m[m > 4] = 0.0
    t[t > 4] = 0.0
    assert_close(m, t)


def test_setitem_broadcast_row():
    m, t = _both((3, 4))
    m[1:] = md.tensor([1.0, 2.0, 3.0, 4.0])
    t[1:] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert_close(m, t)


# --- masked_fill / where / comparisons -------------------------------------------------------------
def test_masked_fill_matches_torch():
    m, t = _both((3, 4))
    mask = np.array([[True], [False], [True]])
    assert_close(m.masked_fill(md.tensor(mask), -1.5), t.masked_fill(torch.tensor(mask), -1.5))
    assert_close(m.masked_fill(md.tensor(mask.T.repeat(3, 0)[:3, :1].T.repeat(4, 0).T), float("-inf")),
                 t.masked_fill(torch.tensor(mask.T.repeat(3, 0)[:3, :1].T.repeat(4, 0).T), float("-inf")))
    mi = md.tensor([1, 2, 3]).masked_fill(md.tensor([True, False, True]), 0)
    assert mi.dtype is md.int64 and mi.tolist() == [0, 2, 0]


def test_where_matches_torch():
    m, t = _both((3, 4))
    c = np.arange(12).reshape(3, 4) % 3 == 0
    assert_close(md.where(md.tensor(c), m, -m), torch.where(torch.tensor(c), t, -t))
    assert_close(md.where(md.tensor(c[:1]), m, md.zeros(4)), torch.where(torch.tensor(c[:1]), t, torch.zeros(4)))
    assert_close(md.where(m > 3, m, 0.0), torch.where(t > 3, t, 0.0))
    assert_close(md.where(m > 3, 1.0, m), torch.where(t > 3, 1.0, t))


@pytest.mark.parametrize("op", ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"])
def test_comparisons_return_bool(op):
    m, t = _both((3, 4))
    for other_m, other_t in [(5.0, 5.0), (3, 3), (md.tensor([1.0, 5.0, 7.0, 11.0]), torch.tensor([1.0, 5.0, 7.0, 11.0]))]:
        r = getattr(m, op)(other_m)
        assert r.dtype is md.bool
        assert_close(r, getattr(t, op)(other_t))
    ints = md.tensor([1, 2, 3])
    assert getattr(ints, op)(2).tolist() == getattr(torch.tensor([1, 2, 3]), op)(2).tolist()


def test_logical_ops_on_bool():
    a, b = md.tensor([True, False, True]), md.tensor([True, True, False])
    assert (a & b).tolist() == [True, False, False]
    assert (a | b).tolist() == [True, True, True]
    assert (a ^ b).tolist() == [False, True, True]
    assert (~a).tolist() == [False, True, False]


@pytest.mark.parametrize("idx", [[3, 0, 3, -1, 2], [[0, -4], [3, 3]], [], [-1]])
def test_rows_picked_by_one_integer_array_backward_matches_torch(idx):
    # x[idx] with one integer array: the gradient's rows are added at idx (repeats and negative
    # indices included), as torch's index backward does
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3, 2)).astype(np.float32)
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    i, ti = md.tensor(np.array(idx, dtype=np.int64)), torch.tensor(np.array(idx, dtype=np.int64))
    y, ty = x[i], tx[ti]
    assert tuple(y.shape) == tuple(ty.shape)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    y.backward(md.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def _layouts(rng):
    """Arrays of many layouts: contiguous, permuted, sliced with steps, negative strides,
    broadcast (stride 0), size-1 dims; each with a few target shapes of its size."""
    base = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    arrays = [base, base.transpose(1, 0, 2, 3), base.transpose(0, 1, 3, 2), base[:, ::2], base[..., ::-1],
              base[:, 1:2], base.transpose(3, 2, 1, 0), np.broadcast_to(base[:, :1], (2, 3, 4, 5)),
              base[:, :, :1, :].transpose(0, 2, 1, 3), np.broadcast_to(np.float32(1), (3, 1, 4))]
    for a in arrays:
        n = a.size
        shapes = {(n,), (1, n), (n, 1), a.shape[::-1], (a.shape[0], -1), (-1, a.shape[-1]), (1,) + a.shape,
                  a.shape + (1,), tuple(a.shape[:1]) + (1,) + tuple(a.shape[1:])}
        for _ in range(4):
            dims = sorted(rng.choice(np.arange(1, a.ndim), size=rng.integers(0, a.ndim), replace=False).tolist())
            cuts = [0] + dims + [a.ndim]
            shapes.add(tuple(int(np.prod(a.shape[i:j])) for i, j in zip(cuts, cuts[1:])))
        for s in shapes:
            yield a, tuple(np.empty(a.shape, np.int8).reshape(s).shape)


def test_view_or_none_views_exactly_where_numpy_can_without_copying():
    # A.view_or_none replaced `out.shape = shape` (NumPy's setter copies the whole array before
    # it refuses); it must give a view exactly where NumPy can, with NumPy's strides, and the
    # fallback for NumPy < 2.1 (_nocopy_strides, NumPy's rule in Python) must agree with NumPy
    from minidl.ops import array as A
    rng = np.random.default_rng(0)
    for a, shape in _layouts(rng):
        try:
            want = a.reshape(shape, copy=False)
        except ValueError:
            want = None
        got = A.view_or_none(a, shape)
        assert (got is None) == (want is None), (a.shape, a.strides, shape)
        if want is not None:
            assert got.shape == want.shape and np.shares_memory(got, a)
            np.testing.assert_array_equal(got, a.reshape(shape))
        if a.size and not a.flags.c_contiguous:
            strides = A._nocopy_strides(a.shape, a.strides, shape, a.itemsize)
            assert (strides is None) == (want is None), (a.shape, a.strides, shape)
            if want is not None:
                view = np.lib.stride_tricks.as_strided(a, shape, strides)
                np.testing.assert_array_equal(view, a.reshape(shape))


def test_reshape_of_a_transposed_tensor_copies_once_and_view_still_refuses():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = md.tensor(a)
    y = x.t().reshape(-1)
    np.testing.assert_array_equal(y.numpy(), a.T.reshape(-1))
    assert not np.shares_memory(y.numpy(), x.numpy())
    z = x.t().reshape(4, 3)  # the same shape: a view
    assert np.shares_memory(z.numpy(), x.numpy())
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.t().view(-1)
