"""Channel dropout (F.dropout1d/2d, nn.Dropout1d/2d) and alpha dropout (issue 15 group 10):
whole channels dropped, scaling, gradients with the same mask, eval identity, alpha dropout's
preserved mean/variance and its gradient, and PyTorch's errors. (Masks are random: compared
with PyTorch by their laws, not element by element.)"""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")


@pytest.mark.parametrize("fn,shape,channel_axes", [(F.dropout1d, (4, 16, 7), (0, 1)), (F.dropout1d, (16, 7), (0,)),
                                                   (F.dropout2d, (4, 16, 3, 5), (0, 1)), (F.dropout2d, (16, 3, 5), (0, 1))])
def test_channel_dropout_zeroes_whole_channels_and_scales(fn, shape, channel_axes):
    md.manual_seed(0)
    x = md.tensor(np.random.default_rng(0).uniform(1, 2, shape).astype(np.float32), requires_grad=True)
    with pytest.warns(UserWarning) if fn is F.dropout2d and len(shape) == 3 else _no_warning():
        y = fn(x, p=0.4)
    ratio = (y.detach() / x.detach()).numpy()
    per_channel = ratio.reshape(ratio.shape[:len(channel_axes)] + (-1,))
    assert np.all(np.ptp(per_channel, axis=-1) < 1e-6), "a channel is kept or dropped as a whole"
    assert all(np.isclose(v, 0.0) or np.isclose(v, 1 / 0.6) for v in np.unique(per_channel))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ratio, rtol=1e-6)  # dx = m g / (1 - p), the same mask
    kept = float((per_channel[..., 0] > 0).mean())
    assert 0.3 < kept < 0.9  # ~0.6 of 16 or 64 channels


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_channel_dropout_eval_modules_and_errors_like_pytorch():
    x = md.ones(2, 3, 4, 4)
    assert md.nn.Dropout2d(0.5).eval()(x) is x and md.nn.Dropout1d(0.5).eval()(md.ones(2, 3)) is not None
    assert repr(md.nn.Dropout1d(0.25)) == repr(torch.nn.Dropout1d(0.25))
    for lib_f in (F, torch.nn.functional):
        arg = md.ones(2, 3, 4, 5) if lib_f is F else torch.ones(2, 3, 4, 5)
        with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
            lib_f.dropout1d(arg)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            lib_f.dropout2d(arg, p=1.5)


def test_alpha_dropout_keeps_mean_and_variance_and_its_gradient():
    md.manual_seed(1)
    x = md.tensor(np.random.default_rng(1).standard_normal(200_000).astype(np.float32), requires_grad=True)
    y = F.alpha_dropout(x, p=0.3, training=True)
    t = torch.nn.functional.alpha_dropout(torch.tensor(x.detach().numpy()), p=0.3, training=True)
    for got, want in ((float(y.mean()), float(t.mean())), (float(y.std()), float(t.std()))):
        assert abs(got - want) < 0.02
    y.sum().backward()
    a = 1 / np.sqrt((1.7580993408473766 ** 2 * 0.3 + 1) * 0.7)
    dropped = np.isclose(y.detach().numpy(), a * (-1.7580993408473766) + a * 1.7580993408473766 * 0.3)
    np.testing.assert_allclose(x.grad.numpy(), np.where(dropped, 0.0, a), rtol=1e-5)
    assert 0.27 < dropped.mean() < 0.33
    assert F.alpha_dropout(x, 0.3) is x  # training=False by default, as in PyTorch
