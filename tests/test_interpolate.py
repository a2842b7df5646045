"""F.interpolate and nn.Upsample / UpsamplingNearest2d / UpsamplingBilinear2d (issue 15 item 9)
against PyTorch: values and gradients for every mode x align_corners (and antialias) on
upsampling, downsampling, size-1 and odd shapes, non-integer and per-dim scales,
recompute_scale_factor, non-contiguous input; float64 gradcheck; the scalar kernel set against
the SIMD sets; bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")
TF = torch.nn.functional

# mode -> number of spatial dims
MODES = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "linear": (1,), "bilinear": (2,), "bicubic": (2,),
         "trilinear": (3,), "area": (1, 2)}

# (input spatial size, keyword arguments) per spatial rank: up, down, identity, size 1 both
# ways, odd sizes, non-integer and per-dim scales, recompute_scale_factor
CASES = {
    1: [((5,), dict(size=11)), ((9,), dict(size=4)), ((1,), dict(size=3)), ((6,), dict(size=1)),
        ((7,), dict(scale_factor=2)), ((7,), dict(scale_factor=0.6)), ((4,), dict(scale_factor=2.5)),
        ((5,), dict(scale_factor=1.7, recompute_scale_factor=True)), ((5,), dict(size=5))],
    2: [((4, 5), dict(size=(9, 7))), ((9, 8), dict(size=(4, 3))), ((1, 3), dict(size=(3, 1))),
        ((5, 6), dict(scale_factor=2)), ((6, 7), dict(scale_factor=(0.5, 1.6))), ((3, 4), dict(scale_factor=3.3)),
        ((7, 5), dict(scale_factor=(1.5, 0.75), recompute_scale_factor=True)), ((4, 4), dict(size=4)),
        ((5, 3), dict(size=(5, 6)))],
    3: [((3, 4, 5), dict(size=(5, 3, 7))), ((2, 3, 3), dict(scale_factor=2)),
        ((5, 1, 4), dict(scale_factor=(0.6, 2.0, 1.3))),
        ((3, 2, 2), dict(size=(1, 4, 2)))],
}


def _align_options(mode):
    return [None] if mode in ("nearest", "nearest-exact", "area") else [False, True]


def _torch_backward_is_adjoint(mode, kwargs, in_size):
    """PyTorch's backward is not the adjoint of its forward in two corners; minidl's is
    (gradcheck below), so gradients are compared with PyTorch everywhere else.
    - 1-D / 3-D nearest: the forward uses floor(o / scale_factor), the backward takes the
      x1 / x2 shortcuts when out = in or 2 in, even if scale_factor is not 1 or 2.
    - bicubic: the backward copies when out = in in both dims, the forward uses 1 / scale_factor."""
    scale = kwargs.get("scale_factor")
    if scale is None or kwargs.get("recompute_scale_factor"):
        return True
    scales = scale if isinstance(scale, tuple) else (scale,) * len(in_size)
    outs = [int(n * s) for n, s in zip(in_size, scales)]
    if mode == "nearest" and len(in_size) != 2:
        return not any(o in (n, 2 * n) and s not in (1.0, 2.0) for n, o, s in zip(in_size, outs, scales))
    if mode == "bicubic":
        return not (outs == list(in_size) and any(s != 1.0 for s in scales))
    return True


def _params():
    for mode, ranks in MODES.items():
        for rank in ranks:
            for in_size, kwargs in CASES[rank]:
                for align in _align_options(mode):
                    yield pytest.param(mode, in_size, kwargs, align, id=f"{mode}-{in_size}-{kwargs}-{align}")


@pytest.mark.parametrize("mode,in_size,kwargs,align", list(_params()))
def test_matches_pytorch(mode, in_size, kwargs, align):
    rng = np.random.default_rng(len(in_size) * 100 + sum(in_size))
    x = rng.standard_normal((2, 3) + in_size).astype(np.float32)
    tx, mx = torch.tensor(x, requires_grad=True), md.tensor(x, requires_grad=True)
    ty = TF.interpolate(tx, mode=mode, align_corners=align, **kwargs)
    my = F.interpolate(mx, mode=mode, align_corners=align, **kwargs)
    assert tuple(my.shape) == tuple(ty.shape) and my.dtype == md.float32
    np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(g))
    my.backward(md.tensor(g))
    if _torch_backward_is_adjoint(mode, kwargs, in_size):
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode,rank", [(m, r) for m, ranks in MODES.items() for r in ranks if m != "area"])
def test_non_contiguous_input_and_batch_of_one(mode, rank):
    rng = np.random.default_rng(rank)
    base = rng.standard_normal((3, 1) + (7,) * rank).astype(np.float64)
    for align in _align_options(mode):
        tx = torch.tensor(base).transpose(0, 1)[..., ::2]  # (1, 3, 7.., 4): strided and transposed
        mx = md.tensor(base).transpose(0, 1)[..., ::2]
        size = tuple(5 + k for k in range(rank))
        ty = TF.interpolate(tx, size=size, mode=mode, align_corners=align)
        my = F.interpolate(mx, size=size, mode=mode, align_corners=align)
        assert my.dtype == md.float64
        np.testing.assert_allclose(my.numpy(), ty.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode,rank", [(m, r) for m, ranks in MODES.items() for r in ranks if m != "area"])
def test_float64_gradcheck(mode, rank):
    rng = np.random.default_rng(7)
    sizes = {1: (4,), 2: (3, 4), 3: (2, 3, 3)}[rank]
    x = md.tensor(rng.standard_normal((1, 2) + sizes), dtype=md.float64, requires_grad=True)
    for align in _align_options(mode):
        up = tuple(n + 2 for n in sizes)
        assert md.autograd.gradcheck(lambda t: F.interpolate(t, size=up, mode=mode, align_corners=align), (x,),
                                     eps=1e-6, atol=1e-6)
        # the corners where PyTorch's backward is not its forward's adjoint (see above)
        assert md.autograd.gradcheck(lambda t: F.interpolate(t, scale_factor=1.3, mode=mode, align_corners=align),
                                     (x,), eps=1e-6, atol=1e-6)
        assert md.autograd.gradcheck(lambda t: F.interpolate(t, scale_factor=0.7, mode=mode, align_corners=align),
                                     (x,), eps=1e-6, atol=1e-6)


SIMD_SETS = [b for b in md.backend.available() if b != "scalar"]


@pytest.mark.parametrize("kernel_set", SIMD_SETS)
@pytest.mark.parametrize("mode,rank", [(m, r) for m, ranks in MODES.items() for r in ranks if m != "area"])
def test_simd_sets_match_scalar_reference(kernel_set, mode, rank):
    rng = np.random.default_rng(3)
    sizes = {1: (33,), 2: (7, 33), 3: (3, 7, 17)}[rank]
    x = rng.standard_normal((2, 3) + sizes).astype(np.float32)
    x_strided = md.tensor(np.swapaxes(rng.standard_normal((3, 2) + sizes).astype(np.float32), 0, 1))
    for align in _align_options(mode):
        for kwargs in (dict(scale_factor=2.3), dict(size=tuple(max(1, n // 2 + 1) for n in sizes))):
            outs = {}
            for name in ("scalar", kernel_set):
                with md.backend.using(name):
                    mx = md.tensor(x, requires_grad=True)
                    y = F.interpolate(mx, mode=mode, align_corners=align, **kwargs)
                    g = md.tensor(np.cos(np.arange(y.numel(), dtype=np.float32)).reshape(tuple(y.shape)))
                    y.backward(g)
                    ys = F.interpolate(x_strided, mode=mode, align_corners=align, **kwargs)
                    outs[name] = (y.detach().numpy(), mx.grad.numpy(), ys.numpy())
            for a, b in zip(outs["scalar"], outs[kernel_set]):
                np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_two_threads_give_the_one_thread_result():
    x = md.randn(4, 8, 19, 23, requires_grad=True)
    results = []
    for threads in (1, 2):
        md.set_num_threads(threads)
        x.grad = None
        y = F.interpolate(x, scale_factor=1.7, mode="bicubic")
        y.backward(md.ones(*y.shape))
        results.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_16_bit_input_computes_in_float32(dtype):
    x = md.randn(1, 2, 5, 6)
    xl = x.to(getattr(md, dtype)).requires_grad_()
    y = F.interpolate(xl, scale_factor=2, mode="bilinear")
    assert y.dtype == getattr(md, dtype)
    ref = F.interpolate(xl.detach().float(), scale_factor=2, mode="bilinear")
    np.testing.assert_allclose(y.detach().float().numpy(), ref.numpy(), rtol=1e-2, atol=1e-2)
    y.sum().backward()
    assert xl.grad.dtype == getattr(md, dtype) and tuple(xl.grad.shape) == (1, 2, 5, 6)
    np.testing.assert_allclose(xl.grad.float().numpy(), 4.0, rtol=1e-2)  # every input feeds 4 outputs' worth


def test_empty_batch_gives_an_empty_output():
    y = F.interpolate(md.zeros(0, 3, 4, 4), size=(2, 5), mode="bilinear")
    assert tuple(y.shape) == (0, 3, 2, 5)


def test_modules_match_pytorch_and_print_as_pytorch():
    x = np.random.default_rng(5).standard_normal((2, 3, 5, 4)).astype(np.float32)
    pairs = [(md.nn.Upsample(scale_factor=2, mode="bilinear"), torch.nn.Upsample(scale_factor=2, mode="bilinear")),
             (md.nn.Upsample(size=(7, 3), mode="bicubic", align_corners=True),
              torch.nn.Upsample(size=(7, 3), mode="bicubic", align_corners=True)),
             (md.nn.Upsample(scale_factor=(1.5, 2.5), recompute_scale_factor=True),
              torch.nn.Upsample(scale_factor=(1.5, 2.5), recompute_scale_factor=True)),
             (md.nn.UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
             (md.nn.UpsamplingNearest2d(size=(2, 9)), torch.nn.UpsamplingNearest2d(size=(2, 9))),
             (md.nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(scale_factor=2)),
             (md.nn.UpsamplingBilinear2d(size=6), torch.nn.UpsamplingBilinear2d(size=6))]
    for m, t in pairs:
        assert repr(m) == repr(t)
        assert list(m.parameters()) == [] and m.state_dict() == {}
        np.testing.assert_allclose(m(md.tensor(x)).numpy(), t(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-5)


def _raises(exc, match, *args, **kwargs):
    with pytest.raises(exc, match=match):
        F.interpolate(*args, **kwargs)
    with pytest.raises(exc):  # PyTorch raises the same exception type
        TF.interpolate(*[torch.tensor(a.numpy()) if isinstance(a, md.Tensor) else a for a in args], **kwargs)


def test_bad_input_raises_as_pytorch():
    x = md.zeros(1, 2, 5, 6)
    _raises(ValueError, "only one of size or scale_factor", x, size=3, scale_factor=2)
    _raises(ValueError, "either size or scale_factor should be defined", x)
    _raises(ValueError, "same number of spatial dimensions.*output size of \\(3,\\)", x, size=(3,))
    _raises(ValueError, "same number of spatial dimensions.*scale_factor of shape \\(2, 2, 2\\)", x,
            scale_factor=(2, 2, 2))
    _raises(TypeError, "expected size to be one of int", x, size=(3, 2.0))
    _raises(ValueError, "align_corners option can only be set with the interpolating modes", x, size=3,
            align_corners=True)
    _raises(ValueError, "align_corners option", x, size=3, mode="nearest-exact", align_corners=False)
    _raises(ValueError, "recompute_scale_factor is not meaningful with an explicit size", x, size=3,
            recompute_scale_factor=True)
    _raises(RuntimeError, "greater than 0, but got input \\(H: 5, W: 6\\) output \\(H: 0, W: 0\\)", x, size=0)
    _raises(RuntimeError, "output \\(H: 3, W: -1\\)", x, size=(3, -1))
    _raises(RuntimeError, "output \\(H: 0, W: 0\\)", x, scale_factor=0.1)
    _raises(RuntimeError, "input \\(W: 5\\) and output \\(W: 0\\)", md.zeros(1, 2, 5), size=0)
    _raises(RuntimeError, "input \\(D: 5, H: 4, W: 3\\) output \\(D: 0", md.zeros(1, 2, 5, 4, 3), size=0,
            mode="trilinear")
    _raises(RuntimeError, "input \\(H: 5, W: 0\\)", md.zeros(1, 2, 5, 0), size=3, mode="bilinear")
    _raises(RuntimeError, "Non-empty 4D data tensor expected but got a tensor with sizes \\[1, 0, 5, 6\\]",
            md.zeros(1, 0, 5, 6), size=3)
    _raises(NotImplementedError, "Got 3D input, but bilinear mode needs 4D input", md.zeros(1, 2, 5), size=3,
            mode="bilinear")
    _raises(NotImplementedError, "Got 4D input, but linear mode needs 3D input", x, size=3, mode="linear")
    _raises(NotImplementedError, "Got 5D input, but bilinear mode needs 4D input", md.zeros(1, 1, 2, 2, 2), size=3,
            mode="bilinear")
    _raises(NotImplementedError, "Got 4D input, but trilinear mode needs 5D input", x, size=3, mode="trilinear")
    _raises(NotImplementedError, "Only 3D, 4D and 5D input Tensors supported \\(got 3D\\).*\\(got bicubic\\)",
            md.zeros(1, 2, 5), size=3, mode="bicubic")
    _raises(NotImplementedError, "Only 3D, 4D and 5D input Tensors supported \\(got 2D\\)", md.zeros(2, 5), size=3)
    _raises(NotImplementedError, "\\(got cubic\\)", x, size=3, mode="cubic")
    _raises(ValueError, "Anti-alias option is restricted", x, size=3, antialias=True)
    _raises(ValueError, "Anti-alias option is restricted", md.zeros(1, 2, 5), size=3, mode="linear", antialias=True)
    _raises(ValueError, "Lanczos mode requires antialias=True", x, size=3, mode="lanczos")
    # PyTorch implements these; minidl says so by name
    with pytest.raises(NotImplementedError, match="'lanczos' is not implemented"):
        F.interpolate(x, size=3, mode="lanczos", antialias=True)
    with pytest.raises(NotImplementedError, match="'area' on 5-D input"):
        F.interpolate(md.zeros(1, 1, 2, 2, 2), size=1, mode="area")
    with pytest.raises(NotImplementedError, match="convert it with .float"):
        F.interpolate(md.zeros(1, 2, 3, dtype=md.int64), size=4)


def test_deprecated_upsample_functions_warn_and_match_pytorch():
    x = np.random.default_rng(9).standard_normal((1, 2, 3, 4)).astype(np.float32)
    calls = [("upsample", dict(size=(5, 6), mode="bicubic")), ("upsample_nearest", dict(scale_factor=2)),
             ("upsample_bilinear", dict(size=(4, 7)))]
    for name, kwargs in calls:
        with pytest.warns(UserWarning, match=f"nn.functional.{name}` is deprecated"):
            y = getattr(F, name)(md.tensor(x), **kwargs)
        with pytest.warns(UserWarning):
            ty = getattr(TF, name)(torch.tensor(x), **kwargs)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)


# antialias=True: (input H W, keyword arguments) downsampling by large and small factors (the
# stretched filter, up to 2 ceil(support) + 1 = 17 taps for bicubic at 0.27), upsampling, one
# dim unchanged, per-dim scales, sizes
AA_CASES = [((21, 17), dict(size=(5, 7))), ((9, 30), dict(scale_factor=(0.5, 0.27))), ((6, 7), dict(scale_factor=1.6)),
            ((8, 9), dict(size=(8, 3))), ((13, 4), dict(scale_factor=(0.7, 2.0))), ((1, 12), dict(size=(3, 5))),
            ((10, 10), dict(scale_factor=0.35, recompute_scale_factor=True))]


def _torch_aa_backward_is_adjoint(kwargs, in_size):
    """PyTorch's antialiased forward copies a dim whose size does not change; its backward
    still weighs it with the filter of 1 / scale_factor."""
    scale = kwargs.get("scale_factor")
    if scale is None or kwargs.get("recompute_scale_factor"):
        return True
    scales = scale if isinstance(scale, tuple) else (scale,) * 2
    return not any(int(n * s) == n and s != 1.0 for n, s in zip(in_size, scales))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("in_size,kwargs", AA_CASES)
def test_antialias_matches_pytorch(mode, in_size, kwargs):
    rng = np.random.default_rng(sum(in_size))
    x = rng.standard_normal((2, 3) + in_size).astype(np.float32)
    for align in (False, True):
        tx, mx = torch.tensor(x, requires_grad=True), md.tensor(x, requires_grad=True)
        ty = TF.interpolate(tx, mode=mode, align_corners=align, antialias=True, **kwargs)
        my = F.interpolate(mx, mode=mode, align_corners=align, antialias=True, **kwargs)
        assert tuple(my.shape) == tuple(ty.shape)
        np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
        g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
        ty.backward(torch.tensor(g))
        my.backward(md.tensor(g))
        if _torch_aa_backward_is_adjoint(kwargs, in_size):
            np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_antialias_output_width_one_resamples_the_column():
    """PyTorch 2.13's antialiased forward gives every output row the first row's value when the
    output width is 1; minidl resamples the column as it resamples a row."""
    col = np.arange(6.0).reshape(1, 1, 6, 1)
    down = F.interpolate(md.tensor(col), size=(4, 1), mode="bilinear", antialias=True).numpy().ravel()
    row = TF.interpolate(torch.tensor(col.reshape(1, 1, 1, 6)), size=(1, 4), mode="bilinear", antialias=True)
    np.testing.assert_allclose(down, row.numpy().ravel(), rtol=1e-12)
    assert len(set(np.round(down, 6))) == 4


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_float64_gradcheck_and_simd_sets(mode):
    x = md.tensor(np.random.default_rng(2).standard_normal((1, 2, 9, 7)), dtype=md.float64, requires_grad=True)
    for kwargs in (dict(size=(4, 3)), dict(scale_factor=(0.3, 1.4)), dict(scale_factor=(1.2, 0.8))):
        assert md.autograd.gradcheck(lambda t: F.interpolate(t, mode=mode, antialias=True, **kwargs), (x,),
                                     eps=1e-6, atol=1e-6)
    xf = np.random.default_rng(3).standard_normal((2, 3, 40, 33)).astype(np.float32)
    for kernel_set in SIMD_SETS:
        outs = {}
        for name in ("scalar", kernel_set):
            with md.backend.using(name):
                mx = md.tensor(xf, requires_grad=True)
                y = F.interpolate(mx, scale_factor=(0.27, 0.45), mode=mode, antialias=True)
                y.backward(md.ones(*y.shape))
                outs[name] = (y.detach().numpy(), mx.grad.numpy())
        for a, b in zip(outs["scalar"], outs[kernel_set]):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_scale_factor_given_vs_recomputed():
    """7 * 0.6 = 4.2 -> 4 outputs: the given scale_factor samples at 1 / 0.6 = 1.667 input pixels
    per output, recompute_scale_factor=True at 7 / 4 = 1.75; PyTorch's results differ, and so do
    minidl's, in the same way (for nearest the floors happen to agree here)."""
    x = np.arange(7.0).reshape(1, 1, 7)
    for mode in ("linear", "nearest"):
        got = {}
        for recompute in (None, True):
            y = F.interpolate(md.tensor(x), scale_factor=0.6, mode=mode, recompute_scale_factor=recompute).numpy()
            ty = TF.interpolate(torch.tensor(x), scale_factor=0.6, mode=mode, recompute_scale_factor=recompute)
            np.testing.assert_allclose(y, ty.numpy(), rtol=1e-12)
            got[recompute] = y
        assert np.allclose(got[None], got[True]) == (mode == "nearest")


def test_flipped_and_channels_last_input():
    x = np.random.default_rng(11).standard_normal((2, 5, 6, 3)).astype(np.float32)
    mx = md.flip(md.tensor(x), (2,)).permute(0, 3, 1, 2)  # (2, 3, 5, 6), strided like channels-last
    tx = torch.flip(torch.tensor(x), (2,)).permute(0, 3, 1, 2)
    for mode in ("nearest", "bilinear", "bicubic"):
        np.testing.assert_allclose(F.interpolate(mx, size=(7, 4), mode=mode).numpy(),
                                   TF.interpolate(tx, size=(7, 4), mode=mode).numpy(), rtol=1e-5, atol=1e-5)
