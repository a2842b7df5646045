"""md.datasets and md.utils.data: digits, text corpus, DataLoader, TensorDataset, random_split."""
from __future__ import annotations

import os

import numpy as np
import pytest

import minidl as md
from minidl.utils.data import DataLoader, Dataset, TensorDataset, random_split

from conftest import require


def test_load_digits():
    require("sklearn")
    x, y = md.datasets.load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype is md.float32
    assert y.shape == (1797,) and y.dtype is md.int64
    assert x.min().item() == 0.0 and x.max().item() == 1.0
    assert sorted(set(y.tolist())) == list(range(10))
    xn, yn = md.datasets.load_digits(as_numpy=True)
    assert isinstance(xn, np.ndarray) and np.array_equal(xn, x.numpy()) and np.array_equal(yn, y.numpy())


def test_text_corpus_pydoc():
    text = md.datasets.text_corpus("pydoc")
    assert isinstance(text, str) and len(text) > 100_000
    words = text.split()
    for w in ("the", "and", "function", "object"):
        assert w in words
    assert sum(c.isalpha() for c in text) > 0.6 * len(text)
    with pytest.raises(ValueError, match="unknown corpus"):
        md.datasets.text_corpus("nope")


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def test_load_fortunes_parses_topic_files(tmp_path):
    """Entries split at "%" lines, attributions and overstrike dropped, whitespace joined,
    repeats kept once, entries filed under two topics dropped, the .u8 copy preferred."""
    _write(tmp_path / "cats", "old latin-1 copy\n%\n")
    _write(tmp_path / "cats.u8", "Cats  sleep\nall day.\n%\nA _\bc_\ba_\bt.\n\t\t-- Anon\n%\nCats sleep all day.\n%\n"
                                 "Both.\n%\nCafé\n")
    _write(tmp_path / "dogs", "Dogs bark.\n%\nBoth.\n%\n")
    texts, labels, topics = md.datasets.load_fortunes(("cats", "dogs"), root=tmp_path)
    assert texts == ["Cats sleep all day.", "A cat.", "Café", "Dogs bark."]
    assert labels.dtype == md.int64 and labels.tolist() == [0, 0, 0, 1] and topics == ("cats", "dogs")


def test_load_fortunes_errors(tmp_path):
    _write(tmp_path / "cats", "Cats.\n")
    with pytest.raises(FileNotFoundError, match="no topic file 'dogs'.*apt-get install fortunes"):
        md.datasets.load_fortunes(("cats", "dogs"), root=tmp_path)
    with pytest.raises(ValueError, match="two or more different"):
        md.datasets.load_fortunes(("cats", "cats"), root=tmp_path)


@pytest.mark.skipif(not os.path.isdir(md.datasets.FORTUNES_DEBIAN_DIR),
                    reason="Debian's fortunes package is not installed: apt-get install fortunes")
def test_load_fortunes_real_topics():
    texts, labels, topics = md.datasets.load_fortunes()
    counts = np.bincount(labels.numpy(), minlength=len(topics))
    assert topics == md.datasets.FORTUNE_TOPICS and counts.min() >= 600, counts
    assert len(set(texts)) == len(texts) and not any("\x08" in t or t.startswith("--") for t in texts)


def _ds(n=10):
    return TensorDataset(md.arange(n * 2.0).reshape(n, 2), md.arange(n))


def test_tensor_dataset():
    ds = _ds()
    assert len(ds) == 10
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 3
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(md.ones(3), md.ones(4))


@pytest.mark.parametrize("bs,drop_last,expected", [(3, False, [3, 3, 3, 1]), (3, True, [3, 3, 3]), (10, False, [10]),
                                                   (4, True, [4, 4]), (20, False, [10]), (20, True, [])])
def test_batch_sizes_and_drop_last(bs, drop_last, expected):
    dl = DataLoader(_ds(), batch_size=bs, drop_last=drop_last)
    sizes = [len(y) for _, y in dl]
    assert sizes == expected and len(dl) == len(expected)


@pytest.mark.parametrize("shuffle", [False, True])
def test_each_sample_once_per_epoch(shuffle):
    md.manual_seed(0)
    dl = DataLoader(_ds(17), batch_size=4, shuffle=shuffle)
    for _ in range(2):
        seen = []
        for x, y in dl:
            assert x.shape[1:] == (2,) and x.shape[0] == y.shape[0]
            assert (x[:, 0] == y * 2.0).all()  # rows stay paired
            seen += y.tolist()
        assert sorted(seen) == list(range(17))
        if not shuffle:
            assert seen == list(range(17))


def test_shuffle_reproducible_under_manual_seed():
    def epoch_orders():
        dl = DataLoader(_ds(50), batch_size=8, shuffle=True)
        return [[int(v) for _, y in dl for v in y.tolist()] for _ in range(2)]
    md.manual_seed(7)
    a = epoch_orders()
    md.manual_seed(7)
    b = epoch_orders()
    assert a == b
    assert a[0] != a[1]  # a new order each epoch
    assert a[0] != list(range(50))


class _Squares(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return md.tensor([float(i)]), i * i


def test_custom_dataset_default_collate_and_collate_fn():
    batches = list(DataLoader(_Squares(), batch_size=2))
    assert len(batches) == 3
    x, y = batches[0]
    assert x.shape == (2, 1) and y.tolist() == [0, 1] and y.dtype is md.int64
    seen = list(DataLoader(_Squares(), batch_size=5, collate_fn=lambda b: [s[1] for s in b]))
    assert seen == [[0, 1, 4, 9, 16]]


def test_dataloader_argument_errors():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=0)


def test_random_split():
    ds = _ds(20)
    md.manual_seed(1)
    a, b, c = random_split(ds, [10, 7, 3])
    assert (len(a), len(b), len(c)) == (10, 7, 3)
    ids = [int(s[1].item()) for part in (a, b, c) for s in (part[i] for i in range(len(part)))]
    assert sorted(ids) == list(range(20))
    md.manual_seed(1)
    a2, _, _ = random_split(ds, [10, 7, 3])
    assert [int(a2[i][1].item()) for i in range(10)] == [int(a[i][1].item()) for i in range(10)]
    f1, f2 = random_split(ds, [0.75, 0.25])
    assert (len(f1), len(f2)) == (15, 5)
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [5, 5])
    assert len(list(DataLoader(a, batch_size=4))) == 3
