"""Convolution: parity with PyTorch (values and gradients), gradcheck, kernel sets, threads,
16-bit inputs, modules and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from minidl import _C

from conftest import require
torch = require("torch")
TF = torch.nn.functional

# (N, C, H, W, K, kernel, stride, padding, dilation, groups)
CONV2D_CASES = [
    (2, 3, 7, 9, 4, 3, 1, 1, 1, 1),             # odd sizes
    (1, 3, 8, 8, 5, 3, 1, 0, 1, 1),             # batch 1, no padding
    (3, 4, 11, 10, 6, 3, 2, 1, 1, 1),           # stride 2
    (2, 4, 13, 12, 4, 3, 3, 2, 1, 1),           # stride 3, padding 2
    (2, 4, 9, 9, 4, 3, 1, 2, 2, 1),             # dilation 2
    (2, 4, 9, 11, 6, 3, 1, 1, 1, 2),            # groups 2
    (2, 6, 10, 9, 6, 3, 1, 1, 1, 6),            # depthwise
    (2, 6, 11, 10, 6, 3, 2, 1, 1, 6),           # depthwise stride 2
    (2, 4, 12, 12, 4, 5, 2, 2, 2, 4),           # depthwise 5x5, stride 2, dilation 2
    (2, 4, 10, 10, 8, 3, 1, 1, 1, 4),           # channel multiplier 2 (groups == C < K)
    (2, 8, 7, 7, 5, 1, 1, 0, 1, 1),             # 1x1 (direct GEMM)
    (2, 8, 9, 9, 6, 1, 2, 0, 1, 2),             # 1x1 stride 2, groups 2
    (2, 3, 9, 7, 4, 5, 1, 2, 1, 1),             # 5x5
    (2, 3, 10, 8, 4, (3, 5), (2, 1), (1, 2), (1, 2), 1),  # non-square everything
    (2, 3, 9, 9, 4, (1, 3), 1, (0, 1), 1, 1),   # 1x3
    (2, 3, 8, 8, 4, 3, 1, "same", 1, 1),
    (2, 3, 8, 8, 4, 4, 1, "same", 1, 1),        # even kernel: asymmetric padding
    (2, 3, 8, 9, 4, (2, 4), 1, "same", (2, 1), 1),
    (2, 3, 8, 8, 4, 3, 1, "valid", 1, 1),
    (3, 5, 27, 23, 7, 3, 1, 1, 1, 1),           # many output positions (several GEMM tiles)
    (4, 16, 16, 16, 16, 3, 1, 1, 1, 1),         # big enough to run threaded
    (4, 16, 17, 17, 16, 3, 1, 1, 1, 16),        # depthwise, threaded
    (2, 2, 3, 3, 3, 3, 1, 0, 1, 1),             # kernel == input: 1x1 output
    (2, 5, 17, 15, 9, 3, 2, 0, 1, 1),           # stride 2, odd sizes, no padding (dx: phases)
    (2, 4, 12, 13, 6, 3, 2, 2, 2, 1),           # stride 2, padding 2, dilation 2 (dx: one live phase)
    (2, 16, 17, 17, 32, 1, 2, 0, 1, 1),         # 1x1 stride 2 (projection shortcut), odd size
]


def _rand(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _parity(rng, fn_md, fn_torch, x, w, b, atol=1e-4, rtol=1e-4):
    xm, wm = md.tensor(x, requires_grad=True), md.tensor(w, requires_grad=True)
    bm = md.tensor(b, requires_grad=True) if b is not None else None
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    ym, yt = fn_md(xm, wm, bm), fn_torch(xt, wt, bt)
    assert tuple(ym.shape) == tuple(yt.shape)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), atol=atol, rtol=rtol)
    gy = _rand(rng, tuple(yt.shape), x.dtype)
    ym.backward(md.tensor(gy))
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), atol=atol, rtol=rtol)
    np.testing.assert_allclose(wm.grad.numpy(), wt.grad.numpy(), atol=atol * 10, rtol=rtol)
    if b is not None:
        np.testing.assert_allclose(bm.grad.numpy(), bt.grad.numpy(), atol=atol * 10, rtol=rtol)


@pytest.mark.parametrize("case", CONV2D_CASES, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_parity(rng, case, bias):
    N, C, H, W, K, k, s, p, d, g = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x, w = _rand(rng, (N, C, H, W)), _rand(rng, (K, C // g, kh, kw))
    b = _rand(rng, (K,)) if bias else None
    _parity(rng, lambda x, w, b: F.conv2d(x, w, b, s, p, d, g),
            lambda x, w, b: TF.conv2d(x, w, b, s, p, d, g), x, w, b)


CONV1D_CASES = [  # (N, C, L, K, kernel, stride, padding, dilation, groups)
    (2, 3, 17, 4, 3, 1, 1, 1, 1),
    (1, 4, 20, 6, 5, 2, 2, 1, 2),
    (3, 4, 16, 4, 3, 3, 0, 2, 4),
    (2, 3, 15, 5, 4, 1, "same", 1, 1),
    (2, 6, 9, 3, 1, 1, 0, 1, 3),
    (2, 3, 33, 4, 7, 1, "valid", 3, 1),
]


@pytest.mark.parametrize("case", CONV1D_CASES, ids=lambda c: "-".join(map(str, c)))
def test_conv1d_parity(rng, case):
    N, C, L, K, k, s, p, d, g = case
    x, w, b = _rand(rng, (N, C, L)), _rand(rng, (K, C // g, k)), _rand(rng, (K,))
    _parity(rng, lambda x, w, b: F.conv1d(x, w, b, s, p, d, g),
            lambda x, w, b: TF.conv1d(x, w, b, s, p, d, g), x, w, b)


def test_unbatched_and_float64(rng):
    x, w, b = _rand(rng, (3, 8, 7), np.float64), _rand(rng, (4, 3, 3, 3), np.float64), _rand(rng, (4,), np.float64)
    _parity(rng, lambda x, w, b: F.conv2d(x, w, b, 1, 1), lambda x, w, b: TF.conv2d(x, w, b, 1, 1), x, w, b,
            atol=1e-10, rtol=1e-10)
    x1 = _rand(rng, (3, 12))
    _parity(rng, lambda x, w, b: F.conv1d(x, w, b, 2), lambda x, w, b: TF.conv1d(x, w, b, 2),
            x1, _rand(rng, (5, 3, 3)), None)


def test_only_weight_needs_grad(rng):
    x = md.tensor(_rand(rng, (2, 3, 6, 6)))
    conv = md.nn.Conv2d(3, 4, 3)
    conv(x).sum().backward()
    assert x.grad is None
    assert conv.weight.grad.shape == (4, 3, 3, 3) and conv.bias.grad.shape == (4,)
    np.testing.assert_allclose(conv.bias.grad.numpy(), np.full(4, 2 * 4 * 4, np.float32))


GRADCHECK_CASES = [  # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 2, 5, 4), (3, 2, 3, 2), 1, 1, 1, 1),
    ((1, 4, 6, 5), (4, 2, 3, 3), 2, (1, 0), (1, 2), 2),
    ((2, 3, 5, 5), (3, 1, 3, 3), 1, "same", 1, 3),
    ((1, 2, 5, 6), (2, 2, 2, 2), 1, "same", 1, 1),
    ((2, 3, 4, 4), (2, 3, 1, 1), 1, 0, 1, 1),
    ((2, 2, 7), (3, 2, 3), 2, 1, 1, 1),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=lambda c: str(c[0]) + str(c[1]))
def test_gradcheck_float64(rng, case):
    xs, ws, s, p, d, g = case
    x = md.tensor(rng.standard_normal(xs), dtype=md.float64, requires_grad=True)
    w = md.tensor(rng.standard_normal(ws), dtype=md.float64, requires_grad=True)
    b = md.tensor(rng.standard_normal(ws[0]), dtype=md.float64, requires_grad=True)
    fn = F.conv1d if len(xs) == 3 else F.conv2d
    assert md.autograd.gradcheck(lambda x, w, b: fn(x, w, b, s, p, d, g), (x, w, b), eps=1e-6, atol=1e-6)


BACKEND_CASES = [  # also the C++ reference loop vs the fast path on every kernel set
    (3, 5, 13, 11, 6, 3, 1, 1, 1, 1),
    (2, 8, 12, 12, 8, 3, 2, 1, 1, 8),
    (2, 8, 15, 13, 8, 5, 1, 2, 2, 8),
    (2, 6, 9, 9, 4, 1, 1, 0, 1, 2),
    (2, 6, 9, 9, 4, 1, 2, 0, 1, 1),
    (2, 4, 10, 12, 6, (3, 2), (3, 2), (1, 0), (2, 1), 2),
    (5, 12, 33, 35, 12, 3, 1, 1, 1, 12),
]


@pytest.mark.parametrize("kernel_set", md.backend.available())
@pytest.mark.parametrize("case", BACKEND_CASES, ids=lambda c: "-".join(map(str, c)))
def test_kernel_sets_match_reference(rng, kernel_set, case):
    N, C, H, W, K, k, s, p, d, g = case
    kh, kw = (k, k) if isinstance(k, int) else k
    s, p, d = ((v, v) if isinstance(v, int) else v for v in (s, p, d))
    x, w, b = _rand(rng, (N, C, H, W)), _rand(rng, (K, C // g, kh, kw)), _rand(rng, (K,))
    y_ref = _C.conv2d_forward(x, w, b, s, p, d, g, reference=True)
    gy = _rand(rng, y_ref.shape)
    ref = _C.conv2d_backward(gy, x, w, s, p, d, g, True, True, True, reference=True)
    with md.backend.using(kernel_set):
        y = _C.conv2d_forward(x, w, b, s, p, d, g)
        got = _C.conv2d_backward(gy, x, w, s, p, d, g, True, True, True)
    np.testing.assert_allclose(y, y_ref, atol=1e-4, rtol=1e-4)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("groups", [1, 16])
def test_one_and_two_threads_agree(rng, groups):
    x, w, b = _rand(rng, (8, 16, 14, 14)), _rand(rng, (16, 16 // groups, 3, 3)), _rand(rng, (16,))
    gy = _rand(rng, (8, 16, 14, 14))
    prev = md.get_num_threads()
    out = []
    try:
        for nt in (1, 2):
            md.set_num_threads(nt)
            out.append((_C.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), groups),)
                       + tuple(_C.conv2d_backward(gy, x, w, (1, 1), (1, 1), (1, 1), groups, True, True, True)))
    finally:
        md.set_num_threads(prev)
    np.testing.assert_array_equal(out[0][0], out[1][0])  # images are independent: same bits
    np.testing.assert_array_equal(out[0][1], out[1][1])
    for a, r in zip(out[0][2:], out[1][2:]):  # weight/bias grads: partial sums added in another order
        np.testing.assert_allclose(a, r, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_computes_in_float32(rng, dtype):
    x, w, b = _rand(rng, (2, 3, 8, 8)), _rand(rng, (4, 3, 3, 3)), _rand(rng, (4,))
    mdt = getattr(md, dtype)
    xm = md.tensor(x).to(mdt).requires_grad_()
    wm = md.tensor(w).to(mdt).requires_grad_()
    bm = md.tensor(b).to(mdt).requires_grad_()
    y = F.conv2d(xm, wm, bm, padding=1)
    assert y.dtype is mdt
    y.float().sum().backward()
    assert xm.grad.dtype is mdt and wm.grad.dtype is mdt and bm.grad.dtype is mdt
    tdt = getattr(torch, dtype)
    xt, wt, bt = (torch.tensor(a).to(tdt).float().requires_grad_() for a in (x, w, b))
    yt = TF.conv2d(xt, wt, bt, padding=1)
    yt.sum().backward()
    tol = 2e-2 if dtype == "float16" else 1e-1
    np.testing.assert_allclose(y.detach().float().numpy(), yt.detach().numpy(), atol=tol * 4, rtol=tol)
    np.testing.assert_allclose(wm.grad.float().numpy(), wt.grad.numpy(), atol=tol * 10, rtol=tol)
    np.testing.assert_allclose(xm.grad.float().numpy(), xt.grad.numpy(), atol=tol * 4, rtol=tol)


@pytest.mark.parametrize("nd", [1, 2])
def test_modules_match_torch(rng, nd):
    cls_md, cls_t = (md.nn.Conv1d, torch.nn.Conv1d) if nd == 1 else (md.nn.Conv2d, torch.nn.Conv2d)
    kw = dict(stride=2, padding=1, dilation=1, groups=2)
    m, t = cls_md(4, 6, 3, **kw), cls_t(4, 6, 3, **kw)
    assert list(m.state_dict().keys()) == ["weight", "bias"]
    assert tuple(m.weight.shape) == tuple(t.weight.shape) and tuple(m.bias.shape) == tuple(t.bias.shape)
    assert repr(m) == repr(t)
    bound = 1 / np.sqrt(2 * 3 ** nd)  # fan_in = in/groups * kernel elements
    assert np.abs(m.weight.detach().numpy()).max() <= bound and np.abs(m.bias.detach().numpy()).max() <= bound
    assert np.abs(m.weight.detach().numpy()).max() > bound / 2  # really spread over the range
    with torch.no_grad():
        t.weight.copy_(torch.tensor(m.weight.detach().numpy()))
        t.bias.copy_(torch.tensor(m.bias.detach().numpy()))
    x = _rand(rng, (2, 4, 9) if nd == 1 else (2, 4, 9, 8))
    ym, yt = m(md.tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), atol=1e-5)
    ym.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(m.bias.grad.numpy(), t.bias.grad.numpy(), atol=1e-4)
    assert md.nn.Conv2d(3, 8, 3, padding="same", bias=False).bias is None
    assert repr(md.nn.Conv1d(4, 6, 5, padding="same", bias=False)) == repr(torch.nn.Conv1d(4, 6, 5, padding="same", bias=False))


def test_conv_net_trains(rng):
    md.manual_seed(0)
    net = md.nn.Sequential(md.nn.Conv2d(1, 4, 3, padding=1), md.nn.ReLU(), md.nn.Conv2d(4, 2, 3, stride=2),
                           md.nn.Flatten(), md.nn.Linear(2 * 3 * 3, 2))
    x = md.tensor(_rand(rng, (16, 1, 8, 8)))
    target = md.tensor((x.numpy()[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64))
    opt = md.optim.SGD(net.parameters(), lr=0.1)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def _conv_args(rng):
    return md.tensor(_rand(rng, (1, 3, 8, 8))), md.tensor(_rand(rng, (4, 3, 3, 3)))


def test_bad_input_messages(rng):
    x, w = _conv_args(rng)
    with pytest.raises(RuntimeError, match=r"expected input\[1, 5, 8, 8\] to have 3 channels, but got 5 channels"):
        F.conv2d(md.tensor(_rand(rng, (1, 5, 8, 8))), w)
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[3, 8\]"):
        F.conv2d(md.tensor(_rand(rng, (3, 8))), w)
    with pytest.raises(RuntimeError, match=r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d"):
        F.conv1d(x, md.tensor(_rand(rng, (4, 3, 3))))
    with pytest.raises(RuntimeError, match=r"padded input size per channel: \(2 x 2\). Kernel size: \(3 x 3\)"):
        F.conv2d(md.tensor(_rand(rng, (1, 3, 2, 2))), w)
    with pytest.raises(RuntimeError, match=r"Kernel size: \(5 x 5\)"):  # dilation 2 makes 3x3 span 5
        F.conv2d(md.tensor(_rand(rng, (1, 3, 4, 4))), w, dilation=2)
    with pytest.raises(RuntimeError, match="non-positive stride"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(RuntimeError, match="non-positive stride"):
        F.conv2d(x, w, stride=(1, 0))
    with pytest.raises(RuntimeError, match="dilation should be greater than zero"):
        F.conv2d(x, w, dilation=0)
    with pytest.raises(RuntimeError, match="negative padding"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(RuntimeError, match="groups=2, expected weight to be divisible by 2"):
        F.conv2d(md.tensor(_rand(rng, (1, 4, 8, 8))), md.tensor(_rand(rng, (3, 2, 3, 3))), groups=2)
    with pytest.raises(RuntimeError, match="expected bias to be 1-dimensional with 4 elements"):
        F.conv2d(x, w, md.tensor(_rand(rng, (3,))))
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(x, md.tensor(_rand(rng, (4, 3, 3, 3), np.float64)))
    with pytest.raises(RuntimeError, match=r"should be the same\. .*call \.float\(\) on the input"):
        F.conv2d(md.tensor(np.ones((1, 3, 8, 8), np.int64)), w)  # int64 pixels: PyTorch's message, then the fix
    with pytest.raises(RuntimeError, match="floating point"):
        F.conv2d(md.tensor(np.ones((1, 3, 8, 8), np.int64)), w.long())
    with pytest.raises(RuntimeError, match="4-D weight"):
        F.conv2d(x, md.tensor(_rand(rng, (4, 3, 3))))


def test_bad_module_arguments():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        md.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        md.nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        md.nn.Conv1d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="strided convolutions"):
        md.nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(NotImplementedError, match="padding_mode"):
        md.nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode"):
        md.nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(RuntimeError, match="expected input"):
        md.nn.Conv2d(3, 4, 3)(md.zeros(2, 4, 8, 8))


def test_bindings_reject_mismatched_shapes(rng):
    x, w = _rand(rng, (1, 3, 8, 8)), _rand(rng, (4, 3, 3, 3))
    with pytest.raises(ValueError):
        _C.conv2d_forward(x, _rand(rng, (4, 2, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError):
        _C.conv2d_forward(x, w, None, (0, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError):
        _C.conv2d_backward(_rand(rng, (1, 4, 5, 5)), x, w, (1, 1), (0, 0), (1, 1), 1, True, True, True)


@pytest.mark.slow  # 5 s on 2 busy cores (pytest --durations)
def test_tiny_gemm_blocks_in_subprocess():
    """MINIDL_CONV_TILE (read once per process) = 7 cuts every image into ragged column tiles,
    the edge cases of im2col/col2im; the kernel-set tests must still pass."""
    import os
    import subprocess
    import sys
    # MINIDL_CONV_DIRECT=0: float32 on the SIMD sets takes im2col + GEMM too (else the direct path)
    env = dict(os.environ, MINIDL_CONV_TILE="7", MINIDL_CONV_DIRECT="0")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-W", "ignore::UserWarning",
                        __file__, "-k", "kernel_sets or gradcheck or parity and not tiny"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


# --- issue 14 item 7 (conv half): int arguments checked before C++ ------------------------------
_HUGE = [2 ** 63, 2 ** 31, -(2 ** 63), 10 ** 30]


@pytest.mark.parametrize("value", _HUGE)
@pytest.mark.parametrize("call,op,name", [
    (lambda x, w, v: F.conv2d(x, w, stride=v), "conv2d", "stride"),
    (lambda x, w, v: F.conv2d(x, w, stride=(1, v)), "conv2d", "stride"),
    (lambda x, w, v: F.conv2d(x, w, padding=v), "conv2d", "padding"),
    (lambda x, w, v: F.conv2d(x, w, dilation=(v, 1)), "conv2d", "dilation"),
    (lambda x, w, v: F.conv2d(x, w, groups=v), "conv2d", "groups"),
    (lambda x, w, v: F.conv1d(x[:, :, 0], w[:, :, 0], stride=v), "conv1d", "stride"),
    (lambda x, w, v: F.conv1d(x[:, :, 0], w[:, :, 0], padding=v), "conv1d", "padding"),
    (lambda x, w, v: md.nn.Conv2d(2, 4, v), "Conv2d", "kernel_size"),
    (lambda x, w, v: md.nn.Conv2d(2, 4, 3, stride=v), "Conv2d", "stride"),
    (lambda x, w, v: md.nn.Conv1d(2, 4, 3, padding=v), "Conv1d", "padding"),
    (lambda x, w, v: md.nn.Conv1d(2, 4, 3, dilation=v), "Conv1d", "dilation"),
    (lambda x, w, v: md.nn.Conv2d(2, 4, 3, groups=v), "Conv2d", "groups"),
])
def test_huge_int_arguments_name_argument_value_and_limit(call, op, name, value):
    """issue 14 item 7: F.conv2d(..., stride=2**63) raised pybind11's TypeError, which prints
    every argument, the input arrays included. Now: the function, the argument, the value and
    the limit, in a message of one short line."""
    x, w = md.randn(1, 2, 5, 5), md.randn(4, 2, 3, 3)
    with pytest.raises(RuntimeError) as caught:
        call(x, w, value)
    message = str(caught.value)
    kind = "non-negative" if name == "padding" else "positive"
    assert message.startswith(f"{op}: {name} must be a {kind} int below 2**31, got ")
    assert str(value) in message
    assert "array" not in message and "incompatible function arguments" not in message and len(message) < 200


def test_issue_example_message():
    """issue 14 item 7: the exact message of the example in the issue."""
    with pytest.raises(RuntimeError) as caught:
        F.conv2d(md.randn(1, 1, 4, 4), md.randn(1, 1, 2, 2), stride=2 ** 63)
    assert str(caught.value) == "conv2d: stride must be a positive int below 2**31, got 9223372036854775808"


@pytest.mark.parametrize("kw", [{"stride": 1.5}, {"padding": (1, 0.5)}, {"dilation": "2"}, {"groups": 1.0},
                                {"stride": True}])
def test_non_int_conv_arguments_raise_type_error(kw):
    """issue 14 item 7: a float stride was truncated silently (int(1.5) = 1); PyTorch refuses
    with a TypeError too."""
    (name, _), = kw.items()
    with pytest.raises(TypeError, match=rf"conv2d: {name} must be an int or a tuple of ints, got"):
        F.conv2d(md.randn(1, 1, 4, 4), md.randn(1, 1, 2, 2), **kw)
