"""md.datasets.FashionMNIST: the real Fashion-MNIST files (Debian's dataset-fashion-mnist, which
.ci/run installs) and a strict IDX parser checked on tiny fake files written into tmp_path."""
from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

import minidl as md
from minidl.datasets import FashionMNIST, _fashion_search_dirs, _find_idx, read_idx

needs_real = pytest.mark.fashion_mnist  # skips where the files are missing (conftest.py says how to get them)


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def train():
    return FashionMNIST(train=True)


@needs_real
def test_real_train_shapes_range_and_balance(train):
    assert len(train) == 60000
    assert tuple(train.data.shape) == (60000, 1, 28, 28) and train.data.dtype == md.float32
    assert tuple(train.targets.shape) == (60000,) and train.targets.dtype == md.int64
    data = train.data.numpy()
    assert data.min() == 0.0 and data.max() == 1.0
    # Pixels are k / 255 for integer k.
    np.testing.assert_allclose(data[:50] * 255, np.round(data[:50] * 255), atol=1e-4)
    counts = np.bincount(train.targets.numpy(), minlength=10)
    assert counts.tolist() == [6000] * 10
    assert train.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert train.class_to_idx["Ankle boot"] == 9


@needs_real
def test_real_test_split():
    test = FashionMNIST(train=False)
    assert len(test) == 10000 and tuple(test.data.shape) == (10000, 1, 28, 28)
    assert np.bincount(test.targets.numpy(), minlength=10).tolist() == [1000] * 10


@needs_real
def test_real_getitem_transform_and_loader(train):
    img, label = train[0]
    assert isinstance(img, md.Tensor) and tuple(img.shape) == (1, 28, 28) and img.dtype == md.float32
    assert isinstance(label, int) and 0 <= label < 10
    assert label == 9  # the first training image of Fashion-MNIST is an ankle boot
    np.testing.assert_array_equal(img.numpy(), train.data.numpy()[0])
    img2, lbl2 = train[-1]
    np.testing.assert_array_equal(img2.numpy(), train.data.numpy()[-1])
    with pytest.raises(IndexError):
        train[60000]
    ds = FashionMNIST(transform=md.transforms.Normalize([0.5], [0.5]), target_transform=lambda y: y + 100)
    x, y = ds[0]
    np.testing.assert_allclose(x.numpy(), (img.numpy() - 0.5) / 0.5, rtol=1e-6, atol=1e-6)
    assert y == 109
    xb, yb = next(iter(md.utils.data.DataLoader(train, batch_size=8)))
    assert tuple(xb.shape) == (8, 1, 28, 28) and yb.dtype == md.int64 and tuple(yb.shape) == (8,)
    np.testing.assert_array_equal(yb.numpy(), train.targets.numpy()[:8])


@needs_real
def test_real_files_parse_with_read_idx():
    imgs = read_idx(_find_idx(_fashion_search_dirs(None), "t10k-images-idx3-ubyte"), 2051)
    assert imgs.dtype == np.uint8 and imgs.shape == (10000, 28, 28)


# ----------------------------------------------------------------------------- fake IDX files
def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | arr.ndim
    head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.tobytes()


def write_split(folder, prefix="train", n=3, gz=True, images=None, labels=None, rows=28):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    if images is None:
        images = idx_bytes(rng.integers(0, 256, size=(n, rows, rows)))
    if labels is None:
        labels = idx_bytes(np.arange(n) % 10)
    paths = []
    for stem, content in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        path = folder / (stem + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(content) if gz else content)
        paths.append(path)
    return paths


@pytest.mark.parametrize("gz", [True, False])
def test_fake_files_load_from_root(tmp_path, gz):
    img = np.zeros((2, 28, 28), np.uint8)
    img[0, 3, 4] = 255
    img[1, 27, 27] = 51
    write_split(tmp_path, "t10k", images=idx_bytes(img), labels=idx_bytes([7, 2]), gz=gz)
    ds = FashionMNIST(root=tmp_path, train=False)
    assert len(ds) == 2 and tuple(ds.data.shape) == (2, 1, 28, 28)
    x0, y0 = ds[0]
    assert y0 == 7 and float(x0[0, 3, 4]) == 1.0 and float(x0.sum()) == 1.0
    x1, y1 = ds[1]
    assert y1 == 2 and abs(float(x1[0, 27, 27]) - 0.2) < 1e-6
    assert ds.targets.tolist() == [7, 2]


def test_root_subfolder_layouts_and_env_var(tmp_path, monkeypatch):
    write_split(tmp_path / "FashionMNIST" / "raw", n=4)
    assert len(FashionMNIST(root=str(tmp_path))) == 4
    env = tmp_path / "env"
    write_split(env / "fashion-mnist", n=5)
    monkeypatch.setenv("MINIDL_DATA", str(env))
    assert len(FashionMNIST()) == 5  # MINIDL_DATA is searched before the Debian directory


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        FashionMNIST(root=tmp_path / "nowhere")
    msg = str(e.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "root=" in msg
    assert "train-images-idx3-ubyte" in msg
    # only the labels present: the message names the images file as the missing one
    write_split(tmp_path / "half")
    os.remove(tmp_path / "half" / "train-images-idx3-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        FashionMNIST(root=tmp_path / "half")


def _expect_value_error(folder, bad_name, *words):
    with pytest.raises(ValueError) as e:
        FashionMNIST(root=folder)
    msg = str(e.value)
    assert bad_name in msg, msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_image_file(tmp_path, gz):
    good = idx_bytes(np.ones((3, 28, 28)))
    write_split(tmp_path, images=good[:-10], gz=gz)
    _expect_value_error(tmp_path, "train-images-idx3-ubyte", "truncated")


def test_too_long_file(tmp_path):
    write_split(tmp_path, labels=idx_bytes([1, 2, 3]) + b"\0")
    _expect_value_error(tmp_path, "train-labels-idx1-ubyte", "too long")


def test_truncated_header(tmp_path):
    write_split(tmp_path, images=idx_bytes(np.ones((3, 28, 28)))[:10], gz=False)
    _expect_value_error(tmp_path, "train-images-idx3-ubyte", "truncated", "header")
    write_split(tmp_path, labels=b"\x00\x00", gz=False)
    _expect_value_error(tmp_path, "train-labels-idx1-ubyte", "truncated")


def test_wrong_magic_numbers(tmp_path):
    # files swapped: a label file where the images should be
    write_split(tmp_path, images=idx_bytes([1, 2, 3]), labels=idx_bytes(np.ones((3, 28, 28))))
    _expect_value_error(tmp_path, "train-images-idx3-ubyte", "magic", "2049", "2051")
    # float32 IDX data (type code 0x0D) is not what these files hold
    write_split(tmp_path, images=idx_bytes(np.ones((3, 28, 28)), magic=0x0D03))
    _expect_value_error(tmp_path, "train-images-idx3-ubyte", "magic")


def test_bad_dimensions(tmp_path):
    write_split(tmp_path, images=idx_bytes(np.ones((3, 28, 28)))[:8] + (0).to_bytes(4, "big") * 2)
    _expect_value_error(tmp_path, "train-images-idx3-ubyte", "dimensions")


def test_corrupt_gzip(tmp_path):
    img, _ = write_split(tmp_path)
    raw = bytearray(img.read_bytes())
    img.write_bytes(bytes(raw[: len(raw) // 2]))  # a gzip stream cut in half
    _expect_value_error(tmp_path, "train-images-idx3-ubyte.gz", "gzip")
    raw[len(raw) // 2] ^= 0xFF  # flip bits in the middle of the deflate data
    img.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        FashionMNIST(root=tmp_path)


def test_count_mismatch_and_label_range(tmp_path):
    write_split(tmp_path, labels=idx_bytes([0, 1]))
    _expect_value_error(tmp_path, "train-labels-idx1-ubyte", "3 images", "2 labels")
    write_split(tmp_path, labels=idx_bytes([0, 1, 10]))
    _expect_value_error(tmp_path, "train-labels-idx1-ubyte", "label 10")


def test_read_idx_direct(tmp_path):
    p = tmp_path / "x.idx"
    p.write_bytes(idx_bytes(np.arange(24).reshape(2, 3, 4)))
    np.testing.assert_array_equal(read_idx(str(p)), np.arange(24).reshape(2, 3, 4))
    with pytest.raises(ValueError, match="magic"):
        read_idx(str(p), 2049)
