"""Float32 convolution path choice by measurement (cpp/ops/conv/conv_tune.cpp, the policy and
cache file of python/minidl/tuning.py):

* each candidate (``direct``, ``im2col``, ``winograd``: 3x3 stride 1 only, elsewhere it runs
  direct) forced, in all three directions, on the shapes that hit
  the direct kernel's edges, against the textbook reference loops in float64;
* the tuner measures once per shape class and direction, leaves the outputs equal to a forced
  path's, skips tiny convolutions, and ``benchmark = False`` measures nothing;
* the conv2d choices round-trip through the cache file beside the 16-bit GEMM's.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import minidl as md
from minidl import _C, tuning
from test_conv_direct import DIRECT_CASES, _pairs

SIMD_SETS = [k for k in md.backend.available() if k != "scalar"]


pytestmark = pytest.mark.usefixtures("conv_choices_kept")  # conftest.py: choices and switch restored


def _operands(rng, case):
    N, C, H, W, K, k, s, p, d, g = case
    kh, kw = _pairs(k)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // g, kh, kw)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    return x, w, b, (_pairs(s), _pairs(p), _pairs(d), g)


def _all_directions(x, w, b, geometry, gy=None):
    y = _C.conv2d_forward(x, w, b, *geometry)
    gy = np.ones_like(y) if gy is None else gy
    return (y,) + tuple(_C.conv2d_backward(gy, x, w, *geometry, True, True, True))


@pytest.mark.parametrize("kernel_set", SIMD_SETS)
@pytest.mark.parametrize("path", ["direct", "im2col", "winograd"])
@pytest.mark.parametrize("case", DIRECT_CASES, ids=lambda c: "-".join(map(str, c)))
def test_every_path_matches_the_float64_reference(rng, kernel_set, path, case):
    x, w, b, geometry = _operands(rng, case)
    y64 = _C.conv2d_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), *geometry,
                            reference=True)
    gy = rng.standard_normal(y64.shape).astype(np.float32)
    ref = (y64,) + tuple(_C.conv2d_backward(gy.astype(np.float64), x.astype(np.float64), w.astype(np.float64),
                                            *geometry, True, True, True, reference=True))
    _C.conv2d_force_path(path)
    with md.backend.using(kernel_set):
        got = _all_directions(x, w, b, geometry, gy)
    for name, a, r in zip(("y", "dx", "dw", "db"), got, ref):
        np.testing.assert_allclose(a, r, atol=2e-3, rtol=1e-4, err_msg=f"{path} {name}")


def test_transposed_convolution_bias_start_on_every_path(rng):
    """conv2d_backward_input with ``start`` (a ConvTranspose2d's bias) on each path."""
    x, w, _, geometry = _operands(rng, (2, 6, 9, 9, 8, 3, 1, 1, 1, 1))
    gy = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
    start = rng.standard_normal(6).astype(np.float32)
    out = {}
    for path in ("direct", "im2col", "winograd"):
        _C.conv2d_force_path(path)
        out[path] = _C.conv2d_backward_input(gy, w, x.shape, *geometry, start=start)
    np.testing.assert_allclose(out["direct"], out["im2col"], atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(out["winograd"], out["im2col"], atol=1e-4, rtol=1e-4)


def test_measures_once_per_class_and_direction_and_leaves_the_winners_result(rng):
    tuning.set_enabled(True)
    x, w, b, geometry = _operands(rng, (4, 16, 16, 16, 16, 3, 1, 1, 1, 1))
    before = _C.conv2d_measurements()
    first = _all_directions(x, w, b, geometry)
    assert _C.conv2d_measurements() == before + 3       # forward, input gradient, weight gradient
    assert sorted(c.split()[0] for c in _C.conv2d_choices()) == ["backward_input", "backward_weight", "forward"]
    assert set(_C.conv2d_choices().values()) <= {"direct", "im2col", "winograd"}
    again = _all_directions(x, w, b, geometry)
    assert _C.conv2d_measurements() == before + 3       # remembered
    _C.conv2d_force_path("direct")
    forced = _all_directions(x, w, b, geometry)
    for a, r, c in zip(first, forced, again):
        np.testing.assert_allclose(a, r, atol=1e-3, rtol=1e-4)
        np.testing.assert_allclose(c, r, atol=1e-3, rtol=1e-4)
    # the batch is rounded up to a power of two: 3 images share the class of 4
    _C.conv2d_force_path("auto")
    _all_directions(x[:3], w, b, geometry)
    assert _C.conv2d_measurements() == before + 3


@pytest.mark.parametrize("kernel,batch", [(3, 4), (1, 16)], ids=["3x3", "1x1"])
def test_strided_input_gradient_is_a_measured_candidate(rng, kernel, batch):
    """The input gradient of a stride-2 convolution has two candidates (the direct path's phases,
    conv_direct_phases.cpp, and im2col + col2im): with measurement on, its class is measured once
    and the result equals the forced winner's; with measurement off the fixed rule runs direct."""
    # (batch: enough multiply-adds to be timed)
    x, w, _, geometry = _operands(rng, (batch, 16, 16, 16, 32, kernel, 2, kernel // 2, 1, 1))
    gy = rng.standard_normal(_C.conv2d_forward(x, w, None, *geometry).shape).astype(np.float32)
    tuning.set_enabled(True)
    before = _C.conv2d_measurements()
    got = _C.conv2d_backward_input(gy, w, x.shape, *geometry)
    assert _C.conv2d_measurements() == before + 1
    (cls, path), = _C.conv2d_choices().items()
    assert cls.startswith(f"backward_input N{batch} C16 H16 W16 K32 R{kernel}") and " stride2,2 " in cls
    assert path in ("direct", "im2col")
    _C.conv2d_force_path(path)
    np.testing.assert_array_equal(got, _C.conv2d_backward_input(gy, w, x.shape, *geometry))
    _C.conv2d_force_path("direct")
    direct = _C.conv2d_backward_input(gy, w, x.shape, *geometry)
    _C.conv2d_force_path("auto")
    _C.conv2d_clear_choices()
    tuning.set_enabled(False)
    np.testing.assert_array_equal(_C.conv2d_backward_input(gy, w, x.shape, *geometry), direct)
    assert _C.conv2d_measurements() == before + 1 and _C.conv2d_choices() == {}


def test_tiny_convolutions_and_benchmark_false_measure_nothing(rng):
    tuning.set_enabled(True)
    before = _C.conv2d_measurements()
    x, w, b, geometry = _operands(rng, (1, 2, 5, 5, 3, 3, 1, 1, 1, 1))   # 1350 multiply-adds
    _all_directions(x, w, b, geometry)
    tuning.set_enabled(False)
    x, w, b, geometry = _operands(rng, (4, 16, 16, 16, 16, 3, 1, 1, 1, 1))
    _all_directions(x, w, b, geometry)
    assert _C.conv2d_measurements() == before and _C.conv2d_choices() == {}


def test_names_and_paths_that_cannot_be_read_are_refused():
    with pytest.raises(ValueError, match="unknown path 'fastest'"):
        _C.conv2d_force_path("fastest")
    assert not _C.conv2d_set_choice("forward N4 C16 H16 W16 K16 R3 S3 stride1,1 pad1,1 dil1,1 groups1 T1", "auto")
    assert not _C.conv2d_set_choice("sideways N4 C16 H16 W16 K16 R3 S3 stride1,1 pad1,1 dil1,1 groups1 T1", "direct")
    assert _C.conv2d_choices() == {}


def test_conv_choices_round_trip_through_the_cache_file(tmp_path):
    path = str(tmp_path / "choices.json")
    name = "backward_weight N64 C16 H32 W32 K16 R3 S3 stride1,1 pad1,1 dil1,1 groups1 T2"
    assert _C.conv2d_set_choice(name, "im2col")
    assert tuning.save(path, force=True)
    build = json.load(open(path))["builds"][f"{md.__version__} {tuning.kernels_build()}"]
    assert build["cpus"][tuning.cpu_key()]["conv2d"] == {name: "im2col"}
    _C.conv2d_clear_choices()
    assert tuning.load(path) >= 1 and _C.conv2d_choices() == {name: "im2col"}
    assert f"conv2d: {name}" in tuning.report()


# --- issue 18: the 16-bit convolution's paths (bf16_gemm / convert_f32) ---------------------------
def _bf16(a):
    return md.tensor(a).to(md.bfloat16)._data


@pytest.mark.skipif(_C.gemm_lowp_path("bfloat16") == "convert_f32", reason="no native bf16 GEMM: one bf16 path")
@pytest.mark.parametrize("case", [(4, 16, 16, 16, 16, 3, 1, 1, 1, 1), (2, 32, 8, 8, 64, 3, 1, 1, 1, 1)],
                         ids=["narrow-16ch", "wide-64ch"])
def test_bf16_measured_once_per_class_and_direction_and_leaves_the_winners_result(rng, case):
    """With measurement on, the first bf16 convolution of a class times bf16_gemm and convert_f32
    in each direction (3 classes ending in " bf16"), leaves exactly the result the chosen path
    gives when forced, and the next call of the class measures nothing."""
    tuning.set_enabled(True)
    x, w, b, geometry = _operands(rng, case)
    x, w, b = _bf16(x), _bf16(w), _bf16(b)
    gy = _bf16(rng.standard_normal(_C.conv2d_forward(x, w, b, *geometry).shape).astype(np.float32))
    _C.conv2d_clear_choices()
    first = _all_directions(x, w, b, geometry, gy)
    bf16_classes = {c: p for c, p in _C.conv2d_choices().items() if c.endswith(" bf16")}
    assert sorted(c.split()[0] for c in bf16_classes) == ["backward_input", "backward_weight", "forward"]
    assert set(bf16_classes.values()) <= {"bf16_gemm", "convert_f32"}
    measured = _C.conv2d_measurements()
    again = _all_directions(x, w, b, geometry, gy)
    assert _C.conv2d_measurements() == measured
    chosen = {c.split()[0]: p for c, p in bf16_classes.items()}
    for i, direction in enumerate(("forward", "backward_input", "backward_weight", "backward_weight")):
        _C.conv2d_force_path(chosen[direction])
        forced = _all_directions(x, w, b, geometry, gy)
        np.testing.assert_array_equal(first[i].view(np.uint16), forced[i].view(np.uint16), err_msg=direction)
        np.testing.assert_array_equal(again[i].view(np.uint16), forced[i].view(np.uint16), err_msg=direction)


def test_float16_and_benchmark_false_measure_no_16bit_class(rng):
    """float16 has one path (convert_f32): never measured; with measurement off nothing is, and
    the bf16 convolution takes the fixed rule."""
    x, w, b, geometry = _operands(rng, (4, 16, 16, 16, 16, 3, 1, 1, 1, 1))
    tuning.set_enabled(True)
    _all_directions(x.astype(np.float16), w.astype(np.float16), b.astype(np.float16), geometry,
                    np.ones((4, 16, 16, 16), np.float16))
    assert not any(c.endswith(" f16") for c in _C.conv2d_choices())
    tuning.set_enabled(False)
    _C.conv2d_clear_choices()
    before = _C.conv2d_measurements()
    x, w, b = _bf16(x), _bf16(w), _bf16(b)
    _all_directions(x, w, b, geometry, _bf16(np.ones((4, 16, 16, 16), np.float32)))
    assert _C.conv2d_measurements() == before and _C.conv2d_choices() == {}
    assert _C.conv2d_lowp_path(x, w, *geometry) == "convert_f32"       # the fixed rule: 16 channels widen


def test_a_16bit_path_is_stored_only_under_a_16bit_class():
    f32_class = "forward N4 C16 H16 W16 K16 R3 S3 stride1,1 pad1,1 dil1,1 groups1 T1"
    assert not _C.conv2d_set_choice(f32_class, "bf16_gemm")
    assert not _C.conv2d_set_choice(f32_class + " bf16", "im2col")
    assert _C.conv2d_set_choice(f32_class + " bf16", "bf16_gemm")
    assert _C.conv2d_choices() == {f32_class + " bf16": "bf16_gemm"}
