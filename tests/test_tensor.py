"""Tensor factories, dtypes and promotion, attributes, shape ops, indexing, where/masked_fill."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import assert_close, require, to_torch

torch = require("torch")


# --- factories ---------------------------------------------------------------------------------
def test_tensor_from_nested_lists_infers_dtype():
    assert md.tensor([1.0, 2.0]).dtype is md.float32
    assert md.tensor([1, 2]).dtype is md.int64
    assert md.tensor([True, False]).dtype is md.bool
    assert md.tensor(3.5).shape == () and md.tensor(3.5).item() == 3.5
    t = md.tensor([[1, 2], [3, 4]], dtype=md.float64)
    assert t.dtype is md.float64 and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_tensor_copies_but_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    copied, shared = md.tensor(a), md.from_numpy(a)
    a[0, 0] = 100.0
    assert copied[0, 0].item() == 0.0
    assert shared[0, 0].item() == 100.0
    shared[1, 2] = -1.0
    assert a[1, 2] == -1.0
    assert shared.numpy() is a or np.shares_memory(shared.numpy(), a)


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_shape_factories(name):
    f = getattr(md, name)
    for args in [(3,), (2, 3), ((2, 3),), ([4, 1, 2],)]:
        t = f(*args)
        want = tuple(args[0]) if isinstance(args[0], (tuple, list)) else args
        assert t.shape == want and t.dtype is md.float32
    if name != "empty":
        assert np.all(f(2, 3).numpy() == (0 if name == "zeros" else 1))
    assert f(2, dtype=md.int64).dtype is md.int64


def test_full_and_like_factories():
    assert md.full((2, 2), 7).dtype is md.int64
    assert md.full((2, 2), 7.5).tolist() == [[7.5, 7.5], [7.5, 7.5]]
    assert md.full((1,), True).dtype is md.bool
    x = md.randn(3, 2, dtype=md.float64)
    for f, v in [(md.zeros_like, 0), (md.ones_like, 1)]:
        y = f(x)
        assert y.shape == x.shape and y.dtype is md.float64 and np.all(y.numpy() == v)
    assert md.full_like(x, 2.5).numpy().tolist() == [[2.5, 2.5]] * 3
    assert md.empty_like(x).shape == (3, 2)
    assert md.zeros_like(x, dtype=md.int64).dtype is md.int64


@pytest.mark.parametrize("args", [(5,), (2, 9), (1, 10, 3), (0.0, 1.0, 0.25), (5, 0, -1), (-3.5, 2)])
def test_arange_matches_torch(args):
    assert_close(md.arange(*args), torch.arange(*args))


def test_eye_and_linspace_match_torch():
    assert_close(md.eye(3), torch.eye(3))
    assert_close(md.eye(2, 4), torch.eye(2, 4))
    assert_close(md.eye(4, 2), torch.eye(4, 2))
    assert_close(md.linspace(-1, 1, 7), torch.linspace(-1, 1, 7))
    assert_close(md.linspace(0, 10, 1), torch.linspace(0, 10, 1))
    assert md.linspace(0, 1, 0).shape == (0,)


def test_random_factories_shapes_and_ranges():
    md.manual_seed(3)
    r = md.rand(1000)
    assert r.dtype is md.float32 and 0.0 <= r.min().item() and r.max().item() < 1.0
    assert abs(r.mean().item() - 0.5) < 0.05
    n = md.randn(20000)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1.0) < 0.05
    i = md.randint(3, 7, (500,))
    assert i.dtype is md.int64 and i.min().item() == 3 and i.max().item() == 6
    assert md.randint(4, size=(2, 3)).shape == (2, 3)
    assert md.randn(2, 3, dtype=md.float64).dtype is md.float64


def test_manual_seed_reproducible():
    md.manual_seed(42)
    a = (md.randn(5), md.rand(3), md.randint(0, 100, (4,)))
    md.manual_seed(42)
    b = (md.randn(5), md.rand(3), md.randint(0, 100, (4,)))
    for x, y in zip(a, b):
        assert np.array_equal(x.numpy(), y.numpy())
    md.manual_seed(43)
    assert not np.array_equal(md.randn(5).numpy(), a[0].numpy())


# --- dtypes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", ["float32", "float64", "float16", "bfloat16", "int64", "bool"])
def test_dtype_round_trip(dt):
    vals = [[0.0, 1.0, -2.0], [3.0, 0.5, 1.0]] if dt not in ("int64", "bool") else [[0, 1, 2], [3, 0, 1]]
    t = md.tensor(vals, dtype=getattr(md, dt))
    assert t.dtype is getattr(md, dt)
    ref = torch.tensor(vals, dtype=getattr(torch, dt))
    assert t.tolist() == ref.tolist()
    assert t.element_size() == ref.element_size()
    assert t.is_floating_point() == ref.is_floating_point()


def test_bfloat16_storage_rounds_like_torch():
    a = np.array([1.0, 1.00390625, 3.14159, -65504.0, 1e-3], dtype=np.float32)
    m = md.tensor(a).bfloat16()
    t = torch.tensor(a).bfloat16()
    assert m.dtype is md.bfloat16
    assert m.float().tolist() == t.float().tolist()
    assert md.tensor(a).half().float().tolist() == torch.tensor(a).half().float().tolist()


_DT = ["float32", "float64", "float16", "bfloat16", "int64", "bool"]


@pytest.mark.parametrize("da", _DT)
@pytest.mark.parametrize("db", _DT)
def test_tensor_tensor_promotion_matches_torch(da, db):
    a = md.ones(2, dtype=getattr(md, da))
    b = md.ones(2, dtype=getattr(md, db))
    ta, tb = torch.ones(2, dtype=getattr(torch, da)), torch.ones(2, dtype=getattr(torch, db))
    assert (a + b).dtype.name == str((ta + tb).dtype).split(".")[1]
    assert (a * b).dtype.name == str((ta * tb).dtype).split(".")[1]
    # a 0-dim tensor of the same category does not promote
    s = md.tensor(1, dtype=getattr(md, db))
    ts = torch.tensor(1, dtype=getattr(torch, db))
    assert (a + s).dtype.name == str((ta + ts).dtype).split(".")[1]


@pytest.mark.parametrize("da", _DT)
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_tensor_scalar_promotion_matches_torch(da, scalar):
    a = md.ones(3, dtype=getattr(md, da))
    ta = torch.ones(3, dtype=getattr(torch, da))
    for op in (lambda x: x * scalar, lambda x: scalar + x, lambda x: x - scalar):
        try:
            expected = op(ta)
        except RuntimeError:
            continue
        assert op(a).dtype.name == str(expected.dtype).split(".")[1]
        assert_close(op(a), expected, atol=1e-2)
    assert (a / 2).dtype.name == str((ta / 2).dtype).split(".")[1]
    assert_close(a / 2, ta / 2)


def test_int_division_gives_float_like_torch():
    a, ta = md.tensor([3, 4]), torch.tensor([3, 4])
    b, tb = md.tensor([2, 8]), torch.tensor([2, 8])
    assert_close(a / b, ta / tb)
    assert_close(a // b, ta // tb)
    assert_close(md.tensor([-7, 7]) % 3, torch.tensor([-7, 7]) % 3)


# --- attributes ------------------------------------------------------------------------------------
def test_attributes():
    x = md.arange(24.0).reshape(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.numel() == 24
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert str(x.device) == "cpu" and x.device == md.device("cpu")
    assert x[1, 2, 3].item() == 23.0 and isinstance(x[0, 0, 1].item(), float)
    assert isinstance(md.tensor(5).item(), int)
    assert x.tolist() == torch.arange(24.0).reshape(2, 3, 4).tolist()
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().shape == (2, 3, 4)
    m = md.arange(6.0).reshape(2, 3)
    assert m.T.shape == (3, 2) and m.T.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert x.T.shape == (4, 3, 2)
    assert x.cpu() is x


def test_detach_clone_contiguous():
    x = md.randn(3, 4, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.numpy(), x.detach().numpy())
    c = x.clone()
    assert c.requires_grad and c.grad_fn is not None
    assert not np.shares_memory(c.detach().numpy(), x.detach().numpy())
    t = x.detach().T
    assert not t.is_contiguous()
    tc = t.contiguous()
    assert tc.is_contiguous() and np.array_equal(tc.numpy(), t.numpy())
    y = md.ones(2)
    assert y.contiguous() is y


def test_to_and_casts():
    x = md.tensor([1.5, -2.25, 3.0])
    assert x.to(md.float64).dtype is md.float64
    assert x.to("cpu") is x
    assert x.to(dtype=md.int64).tolist() == [1, -2, 3]
    assert x.double().dtype is md.float64 and x.half().dtype is md.float16
    assert x.bfloat16().dtype is md.bfloat16 and x.bfloat16().float().tolist() == [1.5, -2.25, 3.0]
    assert x.half().float().tolist() == [1.5, -2.25, 3.0]
    assert md.tensor([1, 2]).float().dtype is md.float32
    assert x.long().tolist() == torch.tensor([1.5, -2.25, 3.0]).long().tolist()
    assert x.bool().tolist() == [True, True, True]


def test_cast_is_differentiable():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype is md.float32 and x.grad.tolist() == [3.0, 3.0]
