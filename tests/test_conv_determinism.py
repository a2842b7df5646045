"""The convolution's weight gradient is the same bits in every run at a given thread count
(cpp/ops/conv/conv_threads.h over_image_slots): its partial sums cover fixed ranges of images
and are added in a fixed order, whichever thread ran which range. Before, one partial sum per
thread over dynamically handed-out images made the resnet lab's training differ between runs."""
import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from minidl import _C, tuning


@pytest.fixture
def two_threads():
    was_threads, was_tuning = md.get_num_threads(), tuning.enabled()
    md.set_num_threads(2)
    yield
    md.set_num_threads(was_threads)
    _C.conv2d_force_path("auto")
    tuning.set_enabled(was_tuning)


def _grads(x, w, stride, dtype):
    X = md.tensor(x).to(dtype).requires_grad_()
    W = md.tensor(w).to(dtype).requires_grad_()
    y = F.conv2d(X, W, stride=stride, padding=1)
    y.backward(md.ones(*y.shape, dtype=dtype) * 0.37)
    return [t.detach().float().numpy() for t in (y, X.grad, W.grad)]


@pytest.mark.parametrize("path,stride", [("direct", 1), ("direct", 2), ("im2col", 1), ("winograd", 1)])
def test_float32_weight_gradient_repeats_bit_for_bit(two_threads, path, stride):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((67, 8, 10, 10)).astype(np.float32)  # 67 images: uneven ranges
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    tuning.set_enabled(False)
    _C.conv2d_force_path(path)
    first = _grads(x, w, stride, md.float32)
    for _ in range(6):
        for a, b in zip(first, _grads(x, w, stride, md.float32)):
            np.testing.assert_array_equal(a, b)


def test_bfloat16_weight_gradient_repeats_bit_for_bit(two_threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((67, 32, 8, 8)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    first = _grads(x, w, 1, md.bfloat16)
    for _ in range(6):
        for a, b in zip(first, _grads(x, w, 1, md.bfloat16)):
            np.testing.assert_array_equal(a, b)


def test_labs_run_with_the_fixed_path_order_and_restore_it(tmp_path):
    import minidl.labs as labs
    seen = []
    was = tuning.enabled()
    tuning.set_enabled(True)
    try:
        original = labs._module

        class Lab:
            @staticmethod
            def run(**kwargs):
                seen.append(tuning.enabled())
                return {}
        labs._module = lambda name: Lab
        try:
            labs.run("resnet", quick=True, out=tmp_path, progress=False)
        finally:
            labs._module = original
        assert seen == [False] and tuning.enabled()
    finally:
        tuning.set_enabled(was)
