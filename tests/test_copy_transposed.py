"""cpp/ops/copy/copy.cpp copy_transposed: a copy into a contiguous array whose source walks the
last dim with a stride while another dim has stride 1 (x.t().contiguous(), NCHW -> NHWC,
pixel_shuffle) runs in tiles (a short last dim: each source row read once and stored at a
stride); every such copy must give NumPy's values, for every element size, ragged tiles, outer
dims, negative strides and both thread counts."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import _C

import ml_dtypes

CASES = [
    ((1024, 1024), (1, 0)),            # the plain transpose
    ((33, 65), (1, 0)),                # tiles cut short on both dims
    ((40, 31), (1, 0)),                # a last dim shorter than a tile: the element path
    ((3, 70, 45), (0, 2, 1)),          # an outer dim
    ((2, 33, 5, 40), (0, 2, 3, 1)),    # NCHW -> NHWC
    ((4, 3, 64, 48), (0, 2, 1, 3)),    # heads merged back: last dim already stride 1
    ((5, 36, 34), (2, 0, 1)),          # b is not next to a
    ((3, 64), (1, 0)),                 # a short last dim (3) after b: stored at a stride
    ((5, 3, 70), (0, 2, 1)),           # the same with ragged tiles of b and an outer dim
    ((2, 3, 2, 2, 9, 33), (0, 1, 4, 2, 5, 3)),  # pixel_shuffle's permute: the odometer carries
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, ml_dtypes.bfloat16, np.float16, np.int64, np.bool_])
@pytest.mark.parametrize("shape,perm", CASES)
def test_permuted_copies_match_numpy(shape, perm, dtype, threads):
    old = md.get_num_threads()
    md.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        a = (rng.standard_normal(shape) * 50).astype(dtype)
        src = a.transpose(perm)
        np.testing.assert_array_equal(_C.contiguous(src), np.ascontiguousarray(src))
        flipped = a[..., ::-1].transpose(perm)                # negative strides
        np.testing.assert_array_equal(_C.contiguous(flipped), np.ascontiguousarray(flipped))
    finally:
        md.set_num_threads(old)


def test_tensor_level_contiguous_and_clone(rng):
    a = rng.standard_normal((64, 96)).astype(np.float32)
    x = md.tensor(a)
    np.testing.assert_array_equal(x.t().contiguous().numpy(), a.T)
    np.testing.assert_array_equal(x.t().clone().numpy(), a.T)
    y = md.tensor(a, requires_grad=True)
    y.t().contiguous().sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.ones_like(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, ml_dtypes.bfloat16, np.int64, np.bool_])
@pytest.mark.parametrize("shape,src_shape", [
    ((1024, 1024), ()),              # one value everywhere: sum's gradient of ones
    ((6, 1, 33), (6, 1, 1)),         # expanded along the last dim only
    ((4, 7, 5), (1, 7, 5)),          # a batch broadcast: whole rows repeat
    ((3, 5, 2), (3, 1, 2)),          # a middle dim broadcast
])
def test_broadcast_sources_match_numpy(shape, src_shape, dtype):
    """A source with stride-0 dims (expand, broadcast_to) copied into a contiguous array: the
    stride-0 rows are filled with one value (copy_typed), the others copied as before."""
    rng = np.random.default_rng(1)
    base = (rng.standard_normal(src_shape) * 50).astype(dtype)
    src = np.broadcast_to(base, shape)
    np.testing.assert_array_equal(_C.contiguous(src), np.ascontiguousarray(src))
