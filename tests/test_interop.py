"""Tensors and weights in and out of PyTorch and NumPy (issue 16 item 4): md.tensor /
md.as_tensor / Tensor.copy_ / load_state_dict accept PyTorch tensors, NumPy arrays and
anything with __dlpack__ or __array__; md.from_dlpack and Tensor.__dlpack__ share memory
both ways (bfloat16 included); state_dict round trips torch -> minidl -> torch bit-exact;
errors name both types and shapes; a capsule consumed twice raises."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
from conftest import require
from minidl.utils.dlpack import from_dlpack, to_dlpack

torch = require("torch")

DTYPES = [(torch.float32, md.float32), (torch.float64, md.float64), (torch.float16, md.float16),
          (torch.bfloat16, md.bfloat16), (torch.int64, md.int64), (torch.bool, md.bool)]


def _torch_values(tdtype, shape=(3, 4)):
    g = torch.Generator().manual_seed(0)
    if tdtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if tdtype == torch.int64:
        return torch.randint(-50, 50, shape, generator=g)
    return torch.randn(shape, generator=g).to(tdtype)


@pytest.mark.parametrize("tdtype,mdtype", DTYPES)
def test_from_dlpack_shares_torch_memory_every_dtype(tdtype, mdtype):
    t = _torch_values(tdtype)
    m = md.from_dlpack(t)
    assert m.dtype == mdtype and tuple(m.shape) == tuple(t.shape)
    assert torch.equal(torch.from_dlpack(m), t)
    assert m._data.ctypes.data == t.data_ptr()  # the same memory, no copy
    t[0, 0] = 1 if tdtype != torch.bool else (not bool(t[0, 0]))
    assert torch.equal(torch.from_dlpack(m), t)  # the write shows through


@pytest.mark.parametrize("tdtype,mdtype", DTYPES)
def test_dlpack_export_to_torch_shares_memory_every_dtype(tdtype, mdtype):
    m = md.from_dlpack(_torch_values(tdtype)).clone()  # memory minidl owns
    t = torch.from_dlpack(m)
    assert t.dtype == tdtype and t.data_ptr() == m._data.ctypes.data
    assert m.__dlpack_device__() == (1, 0)


def test_strided_views_and_numpy_both_ways():
    base = md.arange(24.).reshape(4, 6)
    view = base[1:, ::2].t()  # non-contiguous: strides exported as they are
    t = torch.from_dlpack(view)
    assert torch.equal(t, torch.tensor(np.ascontiguousarray(view.numpy())))
    assert t.data_ptr() == view._data.ctypes.data
    a = np.from_dlpack(view)
    np.testing.assert_array_equal(a, view.numpy())
    n = np.arange(6.0).reshape(2, 3)[:, ::2]
    m = md.from_dlpack(n)
    n[0, 0] = 42.0
    assert m[0, 0].item() == 42.0
    flipped = md.as_tensor(np.arange(4.0)[::-1])  # negative strides: exported as a copy
    assert flipped._data.strides[0] < 0
    assert torch.equal(torch.from_dlpack(flipped), torch.tensor([3.0, 2.0, 1.0, 0.0], dtype=torch.float64))


def test_memory_outlives_the_producer():
    t = torch.arange(1000.0)
    m = md.from_dlpack(t)
    del t
    gc.collect()
    assert m.sum().item() == sum(range(1000))
    x = md.arange(10.0)
    back = torch.from_dlpack(x)
    del x
    gc.collect()
    assert back.sum().item() == 45.0


def test_capsules_consumed_once_and_freed_when_unused():
    t = torch.ones(3)
    cap = t.__dlpack__()
    md.from_dlpack(cap)
    with pytest.raises(ValueError, match="already consumed"):
        md.from_dlpack(cap)
    cap2 = to_dlpack(md.ones(2))
    del cap2  # never consumed: its destructor frees it (no leak, no crash)
    gc.collect()
    with pytest.raises(TypeError, match="__dlpack__ or a DLPack capsule, got list"):
        from_dlpack([1, 2])


def test_export_refuses_what_pytorch_refuses():
    with pytest.raises(RuntimeError, match="Can't export tensors that require gradient, use tensor.detach()"):
        to_dlpack(md.ones(2, requires_grad=True))
    with pytest.raises(BufferError, match="cannot export to device"):
        md.ones(2).__dlpack__(dl_device=(2, 0))


def test_tensor_as_tensor_and_copy_accept_foreign_values():
    t = torch.randn(3, 2, requires_grad=True)
    m = md.tensor(t)  # a copy, detached (as torch.tensor(t))
    assert not m.requires_grad and np.array_equal(m.numpy(), t.detach().numpy())
    tb = torch.randn(4).to(torch.bfloat16)
    assert md.tensor(tb).dtype == md.bfloat16  # np.asarray(tb) would fail: DLPack carries it
    assert md.tensor(torch.tensor([1, 2], dtype=torch.int32)).dtype == md.int64  # no int32 in minidl
    shared = md.as_tensor(tb)
    tb[0] = 3.0
    assert shared[0].item() == 3.0

    class HasArray:
        def __array__(self, dtype=None, copy=None):
            return np.array([[1.0, 2.0]], dtype=np.float32)
    assert md.tensor(HasArray()).tolist() == [[1.0, 2.0]]
    x = md.zeros(2, 3)
    x.copy_(torch.arange(3.0))
    assert x.tolist() == [[0.0, 1.0, 2.0]] * 2
    with pytest.raises(RuntimeError, match=r"cannot copy torch.Tensor of shape \(4,\) into a minidl.Tensor of shape "
                                           r"\(2, 3\)"):
        x.copy_(torch.ones(4))


def _models():
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                             torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
    mm = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    return tm, mm


@pytest.mark.parametrize("tdtype,mdtype", [(torch.float32, md.float32), (torch.bfloat16, md.bfloat16)])
def test_state_dict_round_trip_bit_exact(tdtype, mdtype):
    tm, mm = _models()
    tm = tm.to(tdtype)
    mm = mm.to(mdtype)
    with torch.no_grad():
        tm[1].running_mean.uniform_(-1, 1)
        tm[1].num_batches_tracked.fill_(7)
    result = mm.load_state_dict(tm.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    back, _ = _models()
    back = back.to(tdtype)
    back.load_state_dict({k: torch.from_dlpack(v.detach()) for k, v in mm.state_dict().items()})
    for k, v in tm.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    # and the two compute the same thing
    if tdtype == torch.float32:
        x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
        tm.eval(), mm.eval()
        np.testing.assert_allclose(mm(md.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_state_dict_of_another_architecture_names_keys_types_and_shapes():
    tm = torch.nn.Linear(3, 4)
    mm = nn.Linear(5, 4)
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape \[4, 3\] from "
                                           r"checkpoint, the shape in current model is \[4, 5\]\. \(The checkpoint's "
                                           r"value is a torch.Tensor of shape \(4, 3\)\.\)"):
        mm.load_state_dict(tm.state_dict())
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "extra"'):
        nn.Linear(3, 4).load_state_dict({**tm.state_dict(), "extra": torch.ones(1)})
    with pytest.raises(RuntimeError, match='expected a tensor .* got object'):
        nn.Linear(3, 4).load_state_dict({"weight": object(), "bias": torch.zeros(4)})
