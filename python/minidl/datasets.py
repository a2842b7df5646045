"""Real data sets available offline.

``load_digits()``: scikit-learn's bundled 8x8 handwritten digits (1797 images) as float32
images (N, 1, 8, 8) scaled to [0, 1] and int64 labels. ``FashionMNIST(root=None, train=True)``:
Zalando's Fashion-MNIST (60000 + 10000 28x28 grey images, 10 classes) read from the standard
IDX files, by default where Debian's ``dataset-fashion-mnist`` package installs them.
``text_corpus(name)``: real English text that ships with Python (``"pydoc"``:
``pydoc_data.topics``) or Debian (``"kjv"``). ``load_fortunes()``: the quotations of Debian's
``fortunes`` package labeled by topic (a small real text-classification set).
"""
from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import zlib

import numpy as np

from .ops.creation import tensor
from .tensor import Tensor
from .utils.data import Dataset


def load_digits(as_numpy: bool = False):
    """(images (1797, 1, 8, 8) float32 in [0, 1], labels (1797,) int64)."""
    try:
        # deferred: scikit-learn is optional (examples extra); the error below says how to get it
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ImportError("load_digits reads scikit-learn's bundled copy of the digits data: "
                          "pip install scikit-learn (or pip install 'minidl[examples]')") from None
    d = _sk_load_digits()
    images = (np.asarray(d.images, dtype=np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    labels = np.asarray(d.target, dtype=np.int64)
    if as_numpy:
        return images, labels
    return tensor(images), tensor(labels)


_KJV_PATHS = ("/usr/share/bible-kjv/bible.txt",)


def text_corpus(name: str = "pydoc") -> str:
    """Real English text, offline.

    ``"pydoc"``: the prose of Python's own documentation topics (``pydoc_data.topics``,
    about 0.47 MB, always present). ``"kjv"``: the King James Bible from Debian's
    ``bible-kjv`` package when installed (about 4.4 MB).
    """
    if name == "pydoc":
        try:
            from pydoc_data.topics import topics  # deferred: 0.5 MB, and missing from stripped Pythons
        except ImportError:
            raise RuntimeError("this Python has no pydoc_data package (it is part of the standard library)") from None
        return "\n\n".join(topics[k] for k in sorted(topics))
    if name == "kjv":
        for path in _KJV_PATHS:
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    return f.read()
        if shutil.which("bible"):
            out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=False)
            if out.returncode == 0 and out.stdout:
                return out.stdout
        raise RuntimeError("the 'kjv' corpus needs Debian's bible-kjv package: apt-get install bible-kjv")
    raise ValueError(f"unknown corpus '{name}' (expected 'pydoc' or 'kjv')")


FORTUNES_DEBIAN_DIR = "/usr/share/games/fortunes"
#: the transfer lab's four topics: each has 600+ quotations in Debian's ``fortunes`` package
FORTUNE_TOPICS = ("computers", "politics", "science", "songs-poems")
_OVERSTRIKE = re.compile(r"[^\x08]\x08")     # "_\bx": the underlined letters of old terminal text
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _fortune_entries(path: str) -> list:
    with open(path, encoding="utf-8", errors="replace") as f:
        raw = f.read()
    entries = []
    for entry in raw.split("\n%\n"):
        while "\x08" in entry:          # "___\b\b\bonly": erase one character per backspace
            erased = _OVERSTRIKE.sub("", entry)
            if erased == entry:
                break
            entry = erased
        entry = _CONTROL.sub("", entry)   # bells and stray backspaces
        lines = [ln for ln in entry.splitlines() if ln.strip() != "%"]
        # the attribution ("\t\t-- Dorothy Parker, ...") names the author, not the topic: drop it
        while lines and lines[-1].strip().startswith("--"):
            lines.pop()
        text = " ".join(" ".join(lines).split())
        if text:
            entries.append(text)
    return entries


def load_fortunes(topics=FORTUNE_TOPICS, root: str | None = None):
    """A small real labeled English text set: the quotations of Debian's ``fortunes`` package,
    labeled by the topic file they come from.

    Returns ``(texts, labels, topics)``: ``texts`` a list of str, ``labels`` an int64 Tensor
    (N,) indexing ``topics``. Each quotation loses its attribution line ("-- author"), so the
    label must be read from what it says; quotations filed under more than one of the topics
    are dropped, repeats within a topic kept once. Files are read from ``root`` (default
    ``/usr/share/games/fortunes``, where ``apt-get install fortunes`` puts them; the ``.u8``
    UTF-8 copies when present).

    With the package installed, ``load_fortunes()`` gives 3093 quotations (1050 computers,
    702 politics, 624 science, 717 songs-poems; fortunes 1:1.99.1-7.3). The same files, made up:

    >>> import os, tempfile
    >>> import minidl as md
    >>> root = tempfile.mkdtemp()
    >>> with open(os.path.join(root, "cats"), "w") as f:
    ...     f.write("Cats sleep.\\n%\\nA cat is a\\n  lion in a jungle of sofas.\\n\\t\\t-- someone\\n%\\n") and None
    >>> with open(os.path.join(root, "dogs"), "w") as f:
    ...     f.write("Dogs bark.\\n%\\n") and None
    >>> texts, labels, topics = md.datasets.load_fortunes(("cats", "dogs"), root=root)
    >>> texts, labels, topics
    (['Cats sleep.', 'A cat is a lion in a jungle of sofas.', 'Dogs bark.'], tensor([0, 0, 1]), ('cats', 'dogs'))
    """
    root = FORTUNES_DEBIAN_DIR if root is None else os.fspath(root)
    topics = tuple(topics)
    if len(topics) < 2 or len(set(topics)) != len(topics):
        raise ValueError(f"load_fortunes: topics must name two or more different topic files, got {topics}")
    per_topic = {}
    for t in topics:
        path = next((p for p in (os.path.join(root, t + ".u8"), os.path.join(root, t)) if os.path.isfile(p)), None)
        if path is None:
            raise FileNotFoundError(f"load_fortunes: no topic file {t!r} in {root} (Debian/Ubuntu: apt-get install "
                                    f"fortunes; topics there: computers, politics, science, songs-poems, ...)")
        per_topic[t] = list(dict.fromkeys(_fortune_entries(path)))
    seen = {}
    for t, entries in per_topic.items():
        for e in entries:
            seen[e] = seen.get(e, 0) + 1
    texts, labels = [], []
    for i, t in enumerate(topics):
        for e in per_topic[t]:
            if seen[e] == 1:
                texts.append(e)
                labels.append(i)
    return texts, tensor(np.asarray(labels, dtype=np.int64)), topics


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------------------------

#: Where Debian's ``dataset-fashion-mnist`` package puts the four IDX .gz files
#: (``dpkg -L dataset-fashion-mnist``).
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: str) -> bytes:
    """The content of ``path``, gunzipped when it is a gzip file (detected by its magic bytes,
    not by its name). A damaged gzip stream is a ValueError naming the file."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from None


def read_idx(path: str, expected_magic: int | None = None) -> np.ndarray:
    """Parse one IDX file (``.gz`` or uncompressed) of unsigned bytes into a uint8 array.

    Strict: the magic number must be ``0x0000 08 nd`` (unsigned byte data, ``nd`` dimensions)
    and equal ``expected_magic`` when given (2051 for images, 2049 for labels), every
    dimension positive, and the file exactly as long as its header says. Any violation is a
    ValueError that names the file and the problem.
    """
    # --8<-- [start:read_idx]
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} bytes, shorter than the 4-byte magic number)")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"{path}: bad IDX magic number {magic} (0x{magic:08x}), expected {expected_magic} "
                         f"(0x{expected_magic:08x})")
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: bad IDX magic number {magic} (0x{magic:08x}): not unsigned-byte IDX data")
    ndim = magic & 0xFF
    if ndim < 1:
        raise ValueError(f"{path}: bad IDX magic number {magic}: zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, the header of a {ndim}-d file needs "
                         f"{header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if any(d <= 0 for d in dims):
        raise ValueError(f"{path}: bad IDX dimensions {dims} (every dimension must be positive)")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise ValueError(f"{path}: {what} IDX file: {len(data)} bytes, but its header {dims} means {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    # --8<-- [end:read_idx]


def _fashion_search_dirs(root):
    """Directories searched for the IDX files, in order."""
    if root is not None:
        root = os.path.expanduser(os.fspath(root))
        # root itself, and the layouts torchvision and the Debian package use below a root.
        return [root, os.path.join(root, "FashionMNIST", "raw"), os.path.join(root, "fashion-mnist")]
    dirs = []
    env = os.environ.get("MINIDL_DATA")
    if env:
        env = os.path.expanduser(env)
        dirs += [os.path.join(env, "fashion-mnist"), os.path.join(env, "FashionMNIST", "raw"), env]
    dirs.append(FASHION_MNIST_DEBIAN_DIR)
    home = os.path.expanduser(os.path.join("~", ".minidl", "data"))
    dirs += [os.path.join(home, "fashion-mnist"), os.path.join(home, "FashionMNIST", "raw"), home]
    return dirs


def _find_idx(dirs, stem):
    for d in dirs:
        for name in (stem + ".gz", stem):
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    return None


_FASHION_CACHE: dict = {}


def _load_fashion_arrays(root, train: bool):
    """(images (N, 28, 28) uint8, labels (N,) uint8, the directory they came from), cached
    per (file, size, mtime) so several datasets over the same files parse them once."""
    prefix = "train" if train else "t10k"
    dirs = _fashion_search_dirs(root)
    img_stem, lbl_stem = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    img_path = _find_idx(dirs, img_stem)
    lbl_path = _find_idx(dirs, lbl_stem)
    if img_path is None or lbl_path is None:
        missing = [s for s, p in ((img_stem, img_path), (lbl_stem, lbl_path)) if p is None]
        split = "training" if train else "test"
        raise FileNotFoundError(
            f"Fashion-MNIST {split} files not found ({', '.join(m + '[.gz]' for m in missing)}); "
            f"searched: {', '.join(dirs)}. Get them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, "
            f"installs into {FASHION_MNIST_DEBIAN_DIR}), or download the four IDX files from "
            "https://github.com/zalandoresearch/fashion-mnist into a directory and pass root=that directory "
            "(or set MINIDL_DATA, or use ~/.minidl/data/fashion-mnist).")
    key = tuple((p, os.path.getsize(p), os.path.getmtime(p)) for p in (img_path, lbl_path))
    hit = _FASHION_CACHE.get(key)
    if hit is not None:
        return hit
    images = read_idx(img_path, _IDX_IMAGES_MAGIC)
    labels = read_idx(lbl_path, _IDX_LABELS_MAGIC)
    if images.ndim != 3:
        raise ValueError(f"{img_path}: an image IDX file must have 3 dimensions (N, rows, cols), got {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{lbl_path}: a label IDX file must have 1 dimension, got {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{img_path} holds {images.shape[0]} images but {lbl_path} holds {labels.shape[0]} labels")
    if labels.size and int(labels.max()) >= len(FashionMNIST.classes):
        raise ValueError(f"{lbl_path}: label {int(labels.max())} out of range (Fashion-MNIST has "
                         f"{len(FashionMNIST.classes)} classes, labels 0-9)")
    out = (images, labels, os.path.dirname(img_path))
    if len(_FASHION_CACHE) >= 4:
        _FASHION_CACHE.clear()
    _FASHION_CACHE[key] = out
    return out


class FashionMNIST(Dataset):
    """Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 28x28 grey images of 10 kinds of
    clothing, 60000 for training (6000 per class) and 10000 for testing.

    ``FashionMNIST(root=None, train=True, transform=None, target_transform=None)`` reads the
    standard IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (gzip or not)
    from ``root`` (also ``root/FashionMNIST/raw`` and ``root/fashion-mnist``). With
    ``root=None`` it searches ``$MINIDL_DATA`` (if set), then
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist`` package:
    ``apt-get install dataset-fashion-mnist``), then ``~/.minidl/data``. Missing files are a
    FileNotFoundError saying how to get them; a corrupt or truncated file a ValueError naming
    the file and the problem. Unlike torchvision there is no ``download=``: nothing is ever
    fetched from the network.

    Differences from torchvision (minidl has no uint8 dtype and no PIL):
      * ``.data`` is a float32 tensor (N, 1, 28, 28) scaled to [0, 1] (torchvision: uint8
        (N, 28, 28) in 0..255); ``.targets`` is int64 (N,) as in torchvision.
      * ``dataset[i]`` is ``(image, label)`` with ``image`` a float32 tensor (1, 28, 28) in
        [0, 1] (what torchvision gives after ``ToTensor()``) and ``label`` a Python int;
        ``transform`` receives that tensor (``md.transforms`` accept it), ``target_transform``
        the int.
    """

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None):
        images, labels, folder = _load_fashion_arrays(root, bool(train))
        self.root, self.train, self.folder = root, bool(train), folder
        self.transform, self.target_transform = transform, target_transform
        # One float32 copy, scaled once: samples are views of it.
        self._images = (images.astype(np.float32) * np.float32(1.0 / 255.0)).reshape(-1, 1, *images.shape[1:])
        self._labels = labels.astype(np.int64)
        self.data = tensor(self._images)
        self.targets = tensor(self._labels)

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return self._labels.shape[0]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple, np.ndarray)):
            return [self[int(i)] for i in index]
        i = int(index)  # numpy and md integers too; out of range raises IndexError below
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {index} is out of range for FashionMNIST with {n} samples")
        img = tensor(self._images[i])
        target = int(self._labels[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return (f"Dataset FashionMNIST\n    Number of datapoints: {len(self)}\n    Root location: {self.folder}\n"
                f"    Split: {split}")
