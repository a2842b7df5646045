"""ConvTranspose1d/2d and F.conv_transpose1d/2d (issue 15 group 9) against PyTorch: values and
gradients (input, weight, bias) over strides, padding, output_padding, dilation and groups;
unbatched input; output_size; float64 gradcheck; errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")

CASES_2D = [  # x shape, (C_in, C_out/groups, kH, kW), stride, padding, output_padding, groups, dilation
    ((2, 4, 5, 6), (4, 3, 3, 3), 1, 0, 0, 1, 1),
    ((1, 4, 4, 4), (4, 2, 4, 4), 2, 1, 0, 1, 1),
    ((2, 6, 3, 5), (6, 1, 3, 2), (2, 3), (1, 0), (1, 2), 3, 1),
    ((1, 2, 4, 3), (2, 3, 3, 3), 2, 2, 1, 1, 2),
    ((3, 5, 5), (3, 2, 2, 2), 2, 0, 0, 1, 1),  # unbatched
]


@pytest.mark.parametrize("xs,ws,stride,padding,output_padding,groups,dilation", CASES_2D)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_transpose2d_matches_pytorch(xs, ws, stride, padding, output_padding, groups, dilation, with_bias):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[1] * groups).astype(np.float32)
    out = []
    for lib in (md, torch):
        ts = [lib.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = lib.nn.functional.conv_transpose2d(ts[0], ts[1], ts[2] if with_bias else None, stride, padding,
                                               output_padding, groups, dilation)
        g = lib.tensor(np.cos(np.arange(y.numel())).astype(np.float32).reshape(tuple(y.shape)))
        (y * g).sum().backward()
        out.append([y.detach().numpy()] + [t.grad.numpy() if t.grad is not None else None for t in ts])
    for got, want in zip(*out):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride,padding,output_padding", [(1, 0, 0), (2, 1, 1), (3, 0, 2)])
def test_conv_transpose1d_matches_pytorch(stride, padding, output_padding):
    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(2, 3, 7), (3, 4, 3), (4,)])
    out = []
    for lib in (md, torch):
        ts = [lib.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = lib.nn.functional.conv_transpose1d(ts[0], ts[1], ts[2], stride, padding, output_padding)
        y.pow(2).sum().backward()
        out.append([y.detach().numpy()] + [t.grad.numpy() for t in ts])
    for got, want in zip(*out):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_modules_output_size_gradcheck_and_errors():
    up = md.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    assert up(md.zeros(1, 3, 4, 4)).shape == (1, 2, 7, 7)
    assert up(md.zeros(1, 3, 4, 4), output_size=(8, 8)).shape == (1, 2, 8, 8)
    tm = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    assert up.weight.shape == tuple(tm.weight.shape) and up.bias.shape == tuple(tm.bias.shape)
    rng = np.random.default_rng(2)
    args = [md.tensor(rng.standard_normal(s), requires_grad=True) for s in [(1, 2, 3, 3), (2, 2, 2, 2), (2,)]]
    assert md.autograd.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2), tuple(args), eps=1e-6,
                                 atol=1e-5)
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(md.zeros(1, 2, 3, 3), md.zeros(2, 1, 3, 3), output_padding=1)
    with pytest.raises(RuntimeError, match="expected input"):
        F.conv_transpose2d(md.zeros(1, 3, 3, 3), md.zeros(2, 1, 3, 3))


@pytest.mark.parametrize("threads", [1, 2])
def test_bias_starts_the_output_on_every_path(threads):
    """The bias is where the input-gradient kernel starts (not a pass of its own): check it on
    each path that kernel takes (im2col + GEMM for stride 2, the direct kernel for stride 1,
    depthwise, pointwise 1x1, float64) in every kernel set, against PyTorch."""
    rng = np.random.default_rng(7)
    cases = [((3, 8, 5, 6), (8, 4, 4, 4), 2, 1, 1), ((3, 8, 5, 6), (8, 4, 3, 3), 1, 1, 1),
             ((3, 8, 5, 6), (8, 1, 3, 3), 1, 1, 8), ((3, 8, 20, 20), (8, 5, 1, 1), 1, 0, 1)]
    old = md.get_num_threads()
    md.set_num_threads(threads)
    try:
        for dtype in (np.float32, np.float64):
            for xs, ws, stride, padding, groups in cases:
                x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
                b = rng.standard_normal(ws[1] * groups).astype(dtype)
                want = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride,
                                                            padding, groups=groups).numpy()
                for name in md.backend.available():
                    with md.backend.using(name):
                        got = F.conv_transpose2d(md.tensor(x), md.tensor(w), md.tensor(b), stride, padding,
                                                 groups=groups).numpy()
                    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{name} {xs} {ws}")
    finally:
        md.set_num_threads(old)
