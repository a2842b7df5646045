"""F.unfold / F.fold and nn.Unfold / nn.Fold (issue 15 group 9) against PyTorch: values and
gradients over kernel, dilation, padding and stride; unbatched input; the adjoint relation;
gradcheck; errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")

GEOMETRIES = [  # shape (N, C, H, W), kernel, dilation, padding, stride
    ((2, 3, 5, 6), 2, 1, 0, 1), ((1, 2, 7, 7), 3, 2, 1, 2), ((2, 1, 6, 5), (2, 3), (1, 2), (1, 0), (2, 1)),
    ((3, 4, 4), 2, 1, 1, 1), ((1, 1, 3, 3), 3, 1, 0, 1),
]


@pytest.mark.parametrize("shape,k,d,p,s", GEOMETRIES)
def test_unfold_and_fold_match_pytorch(shape, k, d, p, s):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = []
    for lib in (md, torch):
        f = lib.nn.functional
        t = lib.tensor(x, requires_grad=True)
        cols = f.unfold(t, k, d, p, s)
        back = f.fold(cols * 1.5, tuple(shape[-2:]), k, d, p, s)
        (back * lib.tensor(np.cos(np.arange(back.numel())).astype(np.float32).reshape(tuple(back.shape)))).sum().backward()
        out.append((cols.detach().numpy(), back.detach().numpy(), t.grad.numpy()))
    for got, want in zip(*out):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fold_is_the_adjoint_of_unfold():
    rng = np.random.default_rng(1)
    x, y = md.tensor(rng.standard_normal((2, 3, 6, 5))), md.tensor(rng.standard_normal((2, 3 * 4, 7 * 3)))
    lhs = float((F.unfold(x, 2, padding=1, stride=(1, 2)) * y).sum())         # <unfold x, y>
    rhs = float((x * F.fold(y, (6, 5), 2, padding=1, stride=(1, 2))).sum())   # <x, fold y>
    assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))


def test_modules_gradcheck_and_errors():
    x = md.tensor(np.random.default_rng(2).standard_normal((1, 2, 4, 4)), requires_grad=True)
    assert md.autograd.gradcheck(lambda t: F.fold(F.unfold(t, 3, padding=1), (4, 4), 3, padding=1), (x,),
                                 eps=1e-6, atol=1e-6)
    assert md.nn.Unfold(2, stride=2)(md.zeros(1, 3, 4, 4)).shape == (1, 12, 4)
    assert md.nn.Fold((4, 4), 2, stride=2)(md.zeros(1, 12, 4)).shape == (1, 3, 4, 4)
    with pytest.raises(RuntimeError, match="sliding blocks"):
        F.fold(md.zeros(1, 12, 5), (4, 4), 2, stride=2)
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(md.zeros(1, 10, 4), (4, 4), 2, stride=2)
    with pytest.raises(RuntimeError, match="must be at least one"):
        F.unfold(md.zeros(1, 1, 2, 2), 3)


def test_gradcheck_unfold_and_fold_alone():
    rng = np.random.default_rng(3)
    x = md.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    assert md.autograd.gradcheck(lambda t: F.unfold(t, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)), (x,))
    cols = md.tensor(rng.standard_normal((2, 2 * 6, 10)), requires_grad=True)   # 5 x 2 blocks of (5, 4)
    assert md.autograd.gradcheck(lambda c: F.fold(c, (5, 4), (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
                                 (cols,))


@pytest.mark.parametrize("threads", [1, 2])
def test_kernel_sets_agree_on_non_contiguous_input(threads):
    """The vectorized im2col / col2im of each kernel set against the scalar loops, on a
    non-contiguous input, odd sizes and enough planes for the threads to split them."""
    rng = np.random.default_rng(4)
    x = md.tensor(rng.standard_normal((3, 9, 13, 7)).astype(np.float32)).permute(0, 1, 3, 2)   # (3, 9, 7, 13)
    old = md.get_num_threads()
    md.set_num_threads(threads)
    try:
        results = {}
        for name in md.backend.available():
            with md.backend.using(name):
                cols = F.unfold(x, 3, dilation=(1, 2), padding=(2, 1), stride=(2, 1))
                results[name] = (cols.numpy(), F.fold(cols, (7, 13), 3, dilation=(1, 2), padding=(2, 1),
                                                      stride=(2, 1)).numpy())
    finally:
        md.set_num_threads(old)
    want = torch.nn.functional.unfold(torch.tensor(x.numpy()), 3, dilation=(1, 2), padding=(2, 1), stride=(2, 1))
    for name, (cols, back) in results.items():
        np.testing.assert_array_equal(cols, want.numpy(), err_msg=name)
        np.testing.assert_allclose(back, results["scalar"][1], rtol=1e-6, atol=1e-6, err_msg=name)


def test_16bit_and_integer_inputs():
    x = np.random.default_rng(5).standard_normal((1, 2, 4, 4)).astype(np.float32)
    for dtype in ("bfloat16", "float16"):
        got = F.unfold(md.tensor(x).to(getattr(md, dtype)), 2)
        want = torch.nn.functional.unfold(torch.tensor(x).to(getattr(torch, dtype)), 2)
        assert got.dtype == getattr(md, dtype)
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
        back = F.fold(got, (4, 4), 2)
        np.testing.assert_allclose(back.float().numpy(), torch.nn.functional.fold(want, (4, 4), 2).float().numpy(),
                                   rtol=1e-2)
    with pytest.raises(TypeError, match="unfold: expected a floating point input"):
        F.unfold(md.zeros(1, 1, 3, 3, dtype=md.int64), 2)
