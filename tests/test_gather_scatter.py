"""gather / scatter / scatter_add / index_select / index_add / index_copy / index_fill / take /
take_along_dim / masked_select (ops/indexing.py, cpp/ops/indexing/indexing_dim.cpp): values and
gradients against PyTorch on random shapes (size 1, odd sizes, non-contiguous inputs, negative
dims), float64 gradcheck, the in-place variants, threads, and the bad inputs of issue 15."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_close, require

import minidl as md

torch = require("torch")

SHAPES = [(1,), (7,), (1, 1), (3, 5), (4, 1, 3), (2, 3, 5)]


def _both(a: np.ndarray, requires_grad=False):
    return md.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _index_pair(rng, high, shape):
    a = rng.integers(0, high, size=shape).astype(np.int64)
    return md.tensor(a), torch.tensor(a)


def _check_grads(md_inputs, torch_inputs, md_out, torch_out, rng):
    g = rng.standard_normal(tuple(torch_out.shape)).astype(np.float32)
    md_out.backward(md.tensor(g))
    torch_out.backward(torch.tensor(g))
    for m, t in zip(md_inputs, torch_inputs):
        assert_close(m.grad, t.grad)


def _cases(rng):
    """(shape, dim, index shape): dims given both ways, index smaller than the input off dim."""
    for shape in SHAPES:
        for dim in range(-len(shape), len(shape)):
            d = dim % len(shape)
            idx_shape = tuple(rng.integers(1, 4) if i == d else max(1, n - (i % 2)) for i, n in enumerate(shape))
            yield shape, dim, idx_shape


# --- gather ---------------------------------------------------------------------------------
def test_gather_matches_torch(rng):
    for shape, dim, idx_shape in _cases(rng):
        x, tx = _both(rng.standard_normal(shape).astype(np.float32), True)
        i, ti = _index_pair(rng, shape[dim], idx_shape)
        out, tout = md.gather(x, dim, i), torch.gather(tx, dim, ti)
        assert_close(out, tout)
        _check_grads([x], [tx], out, tout, rng)


def test_gather_non_contiguous_and_method(rng):
    x, tx = _both(rng.standard_normal((5, 4)).astype(np.float32), True)
    i, ti = _index_pair(rng, 5, (4, 2))   # along dim 1 of the transpose, shape (4, 5)
    out, tout = x.t().gather(1, i), tx.t().gather(1, ti)
    assert_close(out, tout)
    _check_grads([x], [tx], out, tout, rng)


def test_gather_dtypes_and_empty():
    for dt, tdt in ((md.int64, torch.int64), (md.float64, torch.float64), (md.bool, torch.bool),
                    (md.float16, torch.float16)):
        x = md.tensor([[1, 0, 3], [4, 5, 0]]).to(dt)
        got = md.gather(x, 1, md.tensor([[2, 0], [1, 1]]))
        want = torch.gather(torch.tensor([[1, 0, 3], [4, 5, 0]]).to(tdt), 1, torch.tensor([[2, 0], [1, 1]]))
        assert_close(got, want)
    assert md.gather(md.ones(2, 3), 1, md.zeros(2, 0, dtype=md.int64)).shape == (2, 0)


def test_take_along_dim_and_take_match_torch(rng):
    x, tx = _both(rng.standard_normal((3, 4)).astype(np.float32), True)
    i, ti = _both(np.array([[-1], [0], [3]], dtype=np.int64))
    out, tout = md.take_along_dim(x, i, dim=1), torch.take_along_dim(tx, ti, dim=1)
    assert_close(out, tout)
    _check_grads([x], [tx], out, tout, rng)
    i, ti = _both(np.array([[0, 1, 2, -1]], dtype=np.int64))   # broadcast over rows
    assert_close(md.take_along_dim(x, i, dim=0), torch.take_along_dim(tx, ti, dim=0))
    i, ti = _both(np.array([11, 0, 4], dtype=np.int64))        # dim=None: flat
    assert_close(md.take_along_dim(x, i), torch.take_along_dim(tx, ti))
    x, tx = _both(rng.standard_normal((3, 4)).astype(np.float32), True)
    i, ti = _both(np.array([[11, -12], [4, 4]], dtype=np.int64))
    out, tout = md.take(x.t(), i), torch.take(tx.t(), ti)
    assert_close(out, tout)
    _check_grads([x], [tx], out, tout, rng)


# --- scatter --------------------------------------------------------------------------------
def _unique_index(rng, size, idx_shape, dim):
    """An index with no repeats along dim (scatter without reduce is then well defined)."""
    a = np.empty(idx_shape, dtype=np.int64)
    moved = np.moveaxis(a, dim, -1)
    for pos in np.ndindex(moved.shape[:-1]):
        moved[pos] = rng.permutation(size)[:moved.shape[-1]]
    return md.tensor(a), torch.tensor(a)


def test_scatter_src_and_value_match_torch(rng):
    for shape, dim, idx_shape in _cases(rng):
        idx_shape = tuple(min(n, shape[dim]) if i == dim % len(shape) else n for i, n in enumerate(idx_shape))
        x, tx = _both(rng.standard_normal(shape).astype(np.float32), True)
        i, ti = _unique_index(rng, shape[dim], idx_shape, dim % len(shape))
        big, tbig = _both(rng.standard_normal(tuple(n + 1 for n in idx_shape)).astype(np.float32))
        assert_close(md.scatter(x, dim, i, big), torch.scatter(tx, dim, ti, tbig))  # src larger than index
        s, ts = _both(rng.standard_normal(idx_shape).astype(np.float32), True)
        out, tout = md.scatter(x, dim, i, s), torch.scatter(tx, dim, ti, ts)
        assert_close(out, tout)
        _check_grads([x, s], [tx, ts], out, tout, rng)
        x.grad = None
        tx.grad = None
        out, tout = md.scatter(x, dim, i, 2.5), torch.scatter(tx, dim, ti, 2.5)
        assert_close(out, tout)
        _check_grads([x], [tx], out, tout, rng)


def test_scatter_add_matches_torch_with_repeats(rng):
    for shape, dim, idx_shape in _cases(rng):
        x, tx = _both(rng.standard_normal(shape).astype(np.float32), True)
        s, ts = _both(rng.standard_normal(idx_shape).astype(np.float32), True)
        i, ti = _index_pair(rng, shape[dim], idx_shape)
        out, tout = md.scatter_add(x, dim, i, s), torch.scatter_add(tx, dim, ti, ts)
        assert_close(out, tout)
        _check_grads([x, s], [tx, ts], out, tout, rng)


@pytest.mark.filterwarnings("ignore:The reduce argument")
def test_scatter_reduce_argument_matches_torch(rng):
    x, tx = _both(rng.standard_normal((3, 4)).astype(np.float32))
    s, ts = _both(rng.standard_normal((2, 4)).astype(np.float32))
    i, ti = _index_pair(rng, 3, (2, 4))
    for reduce in ("add", "multiply"):
        assert_close(md.scatter(x, 0, i, s, reduce=reduce), torch.scatter(tx, 0, ti, ts, reduce=reduce))
        assert_close(md.scatter(x, 0, i, 3.0, reduce=reduce), torch.scatter(tx, 0, ti, 3.0, reduce=reduce))
    with pytest.raises(RuntimeError, match="either add or multiply"):
        md.scatter(x, 0, i, s, reduce="mean")


def test_scatter_integer_and_half():
    x = md.zeros(2, 3, dtype=md.int64)
    got = md.scatter_add(x, 1, md.tensor([[0, 0, 2]]), md.tensor([[1, 2, 3]]))
    assert got.tolist() == [[3, 0, 3], [0, 0, 0]] and got.dtype == md.int64
    h = md.scatter_add(md.zeros(3, dtype=md.float16), 0, md.tensor([1, 1]), md.tensor([0.5, 0.25]).half())
    assert h.dtype == md.float16 and h.float().tolist() == [0.0, 0.75, 0.0]


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_torch(rng, reduce, include_self):
    for shape, dim, idx_shape in [((4, 3), 0, (6, 3)), ((3, 5), -1, (3, 7)), ((2, 3, 4), 1, (2, 5, 4))]:
        # few distinct values: ties for amax/amin, zeros (one and several per position) for prod
        x, tx = _both(rng.integers(-2, 3, size=shape).astype(np.float64), True)
        s, ts = _both(rng.integers(-2, 3, size=idx_shape).astype(np.float64), True)
        i, ti = _index_pair(rng, shape[dim], idx_shape)
        out = md.scatter_reduce(x, dim, i, s, reduce, include_self=include_self)
        tout = torch.scatter_reduce(tx, dim, ti, ts, reduce, include_self=include_self)
        assert_close(out, tout)
        if reduce != "prod":   # torch's prod gradient is defined only with at most one zero per position
            _check_grads([x, s], [tx, ts], out, tout, rng)
    x = md.tensor([[1., 2.], [3., 0.]], requires_grad=True)
    s = md.tensor([[2., 0.], [5., 7.]], requires_grad=True)
    i = md.tensor([[0, 1], [0, 0]])
    tx, ts = torch.tensor(x.detach().numpy(), requires_grad=True), torch.tensor(s.detach().numpy(), requires_grad=True)
    out = md.scatter_reduce(x, 0, i, s, reduce, include_self=include_self)
    tout = torch.scatter_reduce(tx, 0, torch.tensor(i.numpy()), ts, reduce, include_self=include_self)
    assert_close(out, tout)
    _check_grads([x, s], [tx, ts], out, tout, rng)
    gi = md.tensor([[0, 1, 1], [2, 0, 0]])
    xd = md.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    sd = md.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert md.autograd.gradcheck(lambda a, b: md.scatter_reduce(a, 0, gi, b, reduce, include_self=include_self),
                                 (xd, sd))


def test_scatter_reduce_integer_mean_and_inplace():
    x = md.tensor([5, 5, 5])
    got = md.scatter_reduce(x, 0, md.tensor([0, 0, 2]), md.tensor([2, 4, 6]), "mean")
    assert got.tolist() == torch.scatter_reduce(torch.tensor([5, 5, 5]), 0, torch.tensor([0, 0, 2]),
                                                torch.tensor([2, 4, 6]), "mean").tolist()
    y = md.zeros(2)
    assert y.scatter_reduce_(0, md.tensor([1, 1]), md.tensor([3., 4.]), "amax", include_self=False) is y
    assert y.tolist() == [0.0, 4.0]
    with pytest.raises(RuntimeError, match="reduce argument must be"):
        md.scatter_reduce(y, 0, md.tensor([1]), md.tensor([1.]), "max")


# --- index_select and its kin ---------------------------------------------------------------
def test_index_select_matches_torch(rng):
    for shape in SHAPES:
        for dim in range(-len(shape), len(shape)):
            x, tx = _both(rng.standard_normal(shape).astype(np.float32), True)
            i, ti = _index_pair(rng, shape[dim], (int(rng.integers(1, 6)),))
            out, tout = md.index_select(x, dim, i), torch.index_select(tx, dim, ti)
            assert_close(out, tout)
            _check_grads([x], [tx], out, tout, rng)
    x, tx = _both(rng.standard_normal((4, 3)).astype(np.float32), True)
    i, ti = _both(np.array([2, 2, 0], dtype=np.int64))
    out, tout = x.t().index_select(-1, i), tx.t().index_select(-1, ti)   # non-contiguous
    assert_close(out, tout)
    _check_grads([x], [tx], out, tout, rng)


@pytest.mark.parametrize("name", ["index_add", "index_copy"])
def test_index_add_and_copy_match_torch(rng, name):
    for shape in SHAPES:
        for dim in range(-len(shape), len(shape)):
            n = shape[dim]
            a = rng.permutation(n)[:max(1, n - 1)] if name == "index_copy" else rng.integers(0, n, size=n + 2)
            i, ti = _both(a.astype(np.int64))
            src_shape = list(shape)
            src_shape[dim] = len(a)
            x, tx = _both(rng.standard_normal(shape).astype(np.float32), True)
            s, ts = _both(rng.standard_normal(src_shape).astype(np.float32), True)
            kw = {"alpha": -1.5} if name == "index_add" else {}
            out, tout = getattr(md, name)(x, dim, i, s, **kw), getattr(torch, name)(tx, dim, ti, ts, **kw)
            assert_close(out, tout)
            _check_grads([x, s], [tx, ts], out, tout, rng)


def test_index_fill_matches_torch(rng):
    x, tx = _both(rng.standard_normal((3, 5)).astype(np.float32), True)
    i, ti = _both(np.array([-1, 1, 1], dtype=np.int64))
    out, tout = md.index_fill(x, 1, i, -2.0), torch.index_fill(tx, 1, ti, -2.0)
    assert_close(out, tout)
    _check_grads([x], [tx], out, tout, rng)
    assert_close(x.index_fill(0, md.tensor([2]), md.tensor(7.)), tx.index_fill(0, torch.tensor([2]), torch.tensor(7.)))


def test_masked_select_matches_torch(rng):
    x, tx = _both(rng.standard_normal((3, 4)).astype(np.float32), True)
    m, tm = _both(rng.standard_normal((4,)) > 0)   # broadcast over rows
    out, tout = md.masked_select(x, m), torch.masked_select(tx, tm)
    assert_close(out, tout)
    _check_grads([x], [tx], out, tout, rng)
    assert_close(x.t().masked_select(m.reshape(4, 1)), tx.t().masked_select(tm.reshape(4, 1)))


def test_masked_scatter_matches_torch(rng):
    x, tx = _both(rng.standard_normal((3, 4)).astype(np.float32), True)
    s, ts = _both(rng.standard_normal((2, 7)).astype(np.float32), True)
    m, tm = _both(rng.standard_normal((4,)) > 0)
    out, tout = md.masked_scatter(x, m, s), torch.masked_scatter(tx, tm, ts)
    assert_close(out, tout)
    _check_grads([x, s], [tx, ts], out, tout, rng)
    with pytest.raises(RuntimeError, match="number of elements of source"):
        md.masked_scatter(x, md.ones(3, 4, dtype=md.bool), md.ones(5))


@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 5), (2, 1, 4), (2, 3, 4, 5), (2, 1, 3, 2, 4, 3), (0, 3), (4, 0)])
def test_nonzero_and_argwhere_match_torch(rng, shape):
    a = rng.integers(-1, 2, size=shape).astype(np.float32)
    if a.ndim and a.size:
        a.flat[0] = -0.0   # -0.0 is zero
    for dt in (np.float32, np.float64, np.int64, np.bool_):
        x, tx = _both(a.astype(dt))
        assert_close(md.nonzero(x), torch.nonzero(tx))
        assert_close(md.argwhere(x), torch.argwhere(tx))
        for got, want in zip(md.nonzero(x, as_tuple=True), torch.nonzero(tx, as_tuple=True)):
            assert_close(got, want)
    # several pieces on 2 and 3 threads, cut inside rows of the last dim; all zeros, all ones
    for big in (rng.random((300, 701)) > 0.5, rng.random((3, 70001)) > 0.9, np.zeros((400, 400), np.bool_),
                np.ones((2, 100, 700), np.bool_)):
        want = torch.nonzero(torch.tensor(big.astype(np.float32)))
        for threads in (1, 2, 3):
            md.set_num_threads(threads)
            assert_close(md.nonzero(md.tensor(big)), want)
            assert_close(md.nonzero(md.tensor(big.astype(np.float32))), want)


# --- in place -------------------------------------------------------------------------------
def test_inplace_variants_match_torch_and_count_writes(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    i2 = np.array([[2, 0, 1, 1]], dtype=np.int64)
    calls = [
        ("scatter_", (0, i2, np.ones((1, 4), np.float32))),
        ("scatter_add_", (0, i2, np.ones((1, 4), np.float32))),
        ("index_add_", (1, np.array([3, 3]), np.ones((3, 2), np.float32))),
        ("index_copy_", (1, np.array([3, 0]), np.ones((3, 2), np.float32))),
        ("index_fill_", (1, np.array([-1]), 5.0)),
        ("masked_scatter_", (np.array([True, False, True, True]), np.arange(12, dtype=np.float32))),
    ]
    for name, args in calls:
        x, tx = _both(a)
        before = x._version
        margs = [md.tensor(v) if isinstance(v, np.ndarray) else v for v in args]
        targs = [torch.tensor(v) if isinstance(v, np.ndarray) else v for v in args]
        assert getattr(x, name)(*margs) is x
        getattr(tx, name)(*targs)
        assert_close(x, tx)
        assert x._version > before, name


def test_inplace_scatter_add_under_autograd(rng):
    w, tw = _both(rng.standard_normal((3, 4)).astype(np.float32), True)
    s, ts = _both(rng.standard_normal((2, 4)).astype(np.float32), True)
    i, ti = _index_pair(rng, 3, (2, 4))
    h, th = w * 2, tw * 2
    h.scatter_add_(0, i, s)
    th.scatter_add_(0, ti, ts)
    _check_grads([w, s], [tw, ts], (h * h).sum(), (th * th).sum(), rng)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.index_fill_(0, md.tensor([0]), 1.0)


# --- gradcheck in float64 -------------------------------------------------------------------
def test_gradcheck_float64(rng):
    x = md.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    s = md.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    i = md.tensor([[2, 0, 1, 1], [0, 1, 2, 0]])
    v = md.tensor([2, 0, 2])
    gc = md.autograd.gradcheck
    assert gc(lambda x: md.gather(x, 0, i), (x,))
    assert gc(lambda x, s: md.scatter(x, 0, md.tensor([[2, 0, 1, 1]]), s), (x, s))
    assert gc(lambda x: md.scatter(x, 1, i, -1.0), (x,))
    assert gc(lambda x, s: md.scatter_add(x, 0, i, s), (x, s))
    assert gc(lambda x: md.index_select(x, 1, v), (x,))
    assert gc(lambda x, s: md.index_add(x, 1, md.tensor([3, 3]), s.t()[:3, :2] * 1, alpha=0.5), (x, s))
    assert gc(lambda x, s: md.index_copy(x, 1, md.tensor([3, 0]), s.t()[:3, :2] * 1), (x, s))
    assert gc(lambda x: md.index_fill(x, 1, md.tensor([1]), 0.0), (x,))
    assert gc(lambda x: md.take(x, md.tensor([[11, -1], [0, 0]])), (x,))
    assert gc(lambda x: md.take_along_dim(x, md.tensor([[3], [0], [-1]]), dim=1), (x,))
    assert gc(lambda x: md.masked_select(x, x > 0), (x,))
    assert gc(lambda x, s: md.masked_scatter(x, x > 0, s), (x, s))


# --- threads and kernel sets ----------------------------------------------------------------
def test_scatter_add_same_bits_for_any_thread_count_and_kernel_set(rng, kernel_set):
    x = md.tensor(rng.standard_normal((50, 64)).astype(np.float32))
    s = md.tensor(rng.standard_normal((4000, 64)).astype(np.float32))
    i = md.tensor(rng.integers(0, 50, size=(4000, 64)))
    v = md.tensor(rng.integers(0, 50, size=4000))
    results = []
    for threads in (1, 2):
        md.set_num_threads(threads)
        results.append((md.scatter_add(x, 0, i, s), md.index_add(x, 0, v, s), md.gather(s, 0, i),
                        md.index_select(s, 0, v)))
    for a, b in zip(*results):
        assert np.array_equal(a.numpy(), b.numpy())
    want = torch.scatter_add(torch.tensor(x.numpy()), 0, torch.tensor(i.numpy()), torch.tensor(s.numpy()))
    assert_close(results[0][0], want, rtol=1e-5, atol=1e-4)


# --- bad input ------------------------------------------------------------------------------
def test_out_of_range_indices_raise_index_error():
    x = md.zeros(2, 3)
    for call in (lambda: md.gather(x, 1, md.tensor([[3], [0]])),
                 lambda: md.gather(x, 1, md.tensor([[0], [-1]])),
                 lambda: md.scatter(x, 1, md.tensor([[3]]), 1.0),
                 lambda: md.scatter_add(x, 1, md.tensor([[-1]]), md.ones(1, 1)),
                 lambda: md.index_select(x, 1, md.tensor([0, 3])),
                 lambda: md.index_select(x, 1, md.tensor([-1])),
                 lambda: md.index_add(x, 1, md.tensor([3]), md.ones(2, 1)),
                 lambda: md.index_copy(x, 1, md.tensor([-1]), md.ones(2, 1)),
                 lambda: md.index_fill(x, 1, md.tensor([3]), 1.0)):
        with pytest.raises(IndexError, match=r"index -?\d+ is out of bounds for dimension 1 with size 3"):
            call()
    with pytest.raises(IndexError, match="tried to access index 6 on a tensor of 6 elements"):
        md.take(x, md.tensor([6]))
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 1 with size 3"):
        md.take_along_dim(x, md.tensor([[3]]), dim=1)
    assert x.tolist() == [[0.0] * 3] * 2   # nothing was written


def test_bad_index_dtype_shape_and_src():
    x = md.zeros(2, 3)
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        md.gather(x, 1, md.tensor([[1.0]]))
    with pytest.raises(TypeError, match="index must be a Tensor"):
        md.index_select(x, 0, [0])
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        md.gather(x, 1, md.tensor([1, 0]))
    with pytest.raises(RuntimeError, match="no larger than self"):
        md.gather(x, 0, md.tensor([[1, 0, 1, 1]]))
    with pytest.raises(RuntimeError, match="no larger size than src"):
        md.scatter_add(x, 1, md.tensor([[1, 1]]), md.ones(1, 1))
    with pytest.raises(RuntimeError, match="self.dtype to be equal to src.dtype"):
        md.scatter(x, 1, md.tensor([[1]]), md.ones(2, 3, dtype=md.float64))
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        md.index_select(x, 1, md.tensor([[1]]))
    with pytest.raises(RuntimeError, match="source must have shape"):
        md.index_add(x, 1, md.tensor([0]), md.ones(2, 2))
    with pytest.raises(IndexError, match="Dimension out of range"):
        md.gather(x, 2, md.tensor([[0]]))
    with pytest.raises(RuntimeError, match="BoolTensor"):
        md.masked_select(x, md.ones(2, 3))
