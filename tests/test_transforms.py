"""md.transforms: shapes, dtypes, the formulas, and reproducibility under md.manual_seed."""
import numpy as np
import pytest

import minidl as md
from minidl import transforms as T


def sample(c=3, h=6, w=7, dtype=np.float32):
    return (np.arange(c * h * w, dtype=np.float64).reshape(c, h, w) / 10 + 1).astype(dtype)


ALL = [T.Normalize([0.5, 1.0, -2.0], [2.0, 0.5, 4.0]), T.RandomCrop(4, padding=2), T.RandomCrop((5, 3)),
       T.RandomHorizontalFlip(), T.RandomHorizontalFlip(p=1.0), T.RandomNoise(0.3)]


@pytest.mark.parametrize("tf", ALL, ids=repr)
@pytest.mark.parametrize("kind", ["numpy", "tensor"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_same_kind_float32(tf, kind, dtype):
    x = sample(dtype=dtype)
    inp = x if kind == "numpy" else md.tensor(x)
    out = tf(inp)
    if kind == "numpy":
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
    else:
        assert isinstance(out, md.Tensor) and out.dtype is md.float32
    expected = (3,) + (tf.size if isinstance(tf, T.RandomCrop) else (6, 7))
    assert tuple(out.shape) == expected


def test_normalize_formula():
    x = sample()
    mean, std = [0.5, 1.0, -2.0], [2.0, 0.5, 4.0]
    out = T.Normalize(mean, std)(x)
    ref = (x - np.float32(mean).reshape(3, 1, 1)) / np.float32(std).reshape(3, 1, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    t = T.Normalize(md.tensor(mean), (2.0, 0.5, 4.0))(md.tensor(x))
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-6)
    one = T.Normalize([1.0], [2.0])(x)  # one value for every channel
    np.testing.assert_allclose(one, (x - 1) / 2, rtol=1e-6)


def test_normalize_bad_arguments():
    with pytest.raises(ValueError, match="mean has 3 values but std has 2"):
        T.Normalize([0, 0, 0], [1, 1])
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize([0, 0], [1, 0])
    with pytest.raises(ValueError, match="at least one"):
        T.Normalize([], [])
    with pytest.raises(ValueError, match="2 mean/std values but the sample has 3 channels"):
        T.Normalize([0, 0], [1, 1])(sample())


def test_flip_p1_and_p0():
    x = sample()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[:, :, ::-1])
    t = T.RandomHorizontalFlip(p=1.0)(md.tensor(x))
    np.testing.assert_array_equal(t.numpy(), x[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)


def test_flip_rate_about_p():
    md.manual_seed(3)
    x = sample(1, 1, 2)
    flips = sum(bool(T.RandomHorizontalFlip(p=0.3)(x)[0, 0, 0] == x[0, 0, 1]) for _ in range(2000))
    assert 0.25 < flips / 2000 < 0.35


def test_crop_without_padding_is_a_window():
    x = sample()
    md.manual_seed(0)
    seen = set()
    for _ in range(200):
        out = T.RandomCrop((4, 5))(x)
        top, left = np.argwhere(x[0] == out[0, 0, 0])[0]
        np.testing.assert_array_equal(out, x[:, top:top + 4, left:left + 5])
        seen.add((top, left))
    assert seen == {(i, j) for i in range(3) for j in range(3)}  # every position reachable


def test_crop_with_padding_zeros_where_expected():
    x = sample(2, 4, 4) + 1.0  # no zeros in the image itself
    md.manual_seed(1)
    corners = set()
    for _ in range(300):
        out = T.RandomCrop(4, padding=2)(x)
        assert out.shape == (2, 4, 4)
        # reconstruct the window position from the padded image
        padded = np.zeros((2, 8, 8), np.float32)
        padded[:, 2:6, 2:6] = x
        matches = [(i, j) for i in range(5) for j in range(5) if np.array_equal(padded[:, i:i + 4, j:j + 4], out)]
        assert len(matches) == 1
        i, j = matches[0]
        corners.add((i, j))
        inside = np.zeros((8, 8), bool)
        inside[2:6, 2:6] = True
        win = inside[i:i + 4, j:j + 4]
        assert np.all(out[:, ~win] == 0) and np.all(out[:, win] != 0)
    assert (0, 0) in corners and (4, 4) in corners  # fully padded corners appear


def test_crop_full_padded_size_is_deterministic():
    x = sample(1, 3, 3)
    out = T.RandomCrop(5, padding=1)(x)
    expected = np.zeros((1, 5, 5), np.float32)
    expected[:, 1:4, 1:4] = x
    np.testing.assert_array_equal(out, expected)


def test_crop_errors():
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(9, padding=1)(sample())
    with pytest.raises(ValueError, match="positive"):
        T.RandomCrop(0)
    with pytest.raises(ValueError, match="padding"):
        T.RandomCrop(3, padding=-1)
    with pytest.raises(TypeError, match="size"):
        T.RandomCrop((3, 3, 3))


def test_noise_std_and_mean():
    md.manual_seed(5)
    x = np.zeros((3, 64, 64), np.float32)
    out = T.RandomNoise(0.5)(x)
    assert abs(out.std() - 0.5) < 0.02 and abs(out.mean()) < 0.02
    np.testing.assert_array_equal(T.RandomNoise(0.0)(x), x)
    with pytest.raises(ValueError, match="std"):
        T.RandomNoise(-1.0)


def test_noise_is_added_not_replaced():
    md.manual_seed(0)
    x = sample()
    md.manual_seed(9)
    a = T.RandomNoise(0.1)(x)
    md.manual_seed(9)
    n = md.randn(*x.shape).numpy() * np.float32(0.1)
    np.testing.assert_allclose(a, x + n, rtol=1e-6, atol=1e-7)


def pipeline():
    return T.Compose([T.RandomCrop(5, padding=1), T.RandomHorizontalFlip(), T.RandomNoise(0.2),
                      T.Normalize([0.1, 0.2, 0.3], [1.0, 2.0, 3.0])])


def test_reproducible_under_manual_seed():
    x = sample()
    md.manual_seed(42)
    a = [pipeline()(x) for _ in range(5)]
    md.manual_seed(42)
    b = [pipeline()(x) for _ in range(5)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not all(np.array_equal(a[0], u) for u in a[1:])
    md.manual_seed(43)
    c = pipeline()(x)
    assert not np.array_equal(a[0], c)


def test_compose_order_and_repr():
    x = sample()
    out = T.Compose([T.RandomHorizontalFlip(1.0), T.Normalize([1.0], [2.0])])(x)
    np.testing.assert_allclose(out, (x[:, :, ::-1] - 1) / 2, rtol=1e-6)
    assert "Normalize" in repr(pipeline()) and "RandomCrop" in repr(pipeline())
    with pytest.raises(TypeError, match="callables"):
        T.Compose([1])


@pytest.mark.parametrize("tf", ALL, ids=repr)
def test_wrong_rank_and_type(tf):
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        tf(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        tf(md.zeros(1, 3, 4, 4))
    with pytest.raises(TypeError, match="NumPy array or a minidl Tensor"):
        tf([[[1.0]]])


def test_input_not_modified():
    x = sample()
    before = x.copy()
    pipeline()(x)
    T.RandomHorizontalFlip(1.0)(x)
    np.testing.assert_array_equal(x, before)


def test_uses_minidl_generator_not_numpy():
    x = sample()
    md.manual_seed(7)
    a = pipeline()(x)
    np.random.seed(0)
    md.manual_seed(7)
    np.random.rand(100)
    b = pipeline()(x)
    np.testing.assert_array_equal(a, b)
