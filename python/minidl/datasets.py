"""Real data sets available offline.

``load_digits()``: scikit-learn's bundled 8x8 handwritten digits (1797 images) as float32
images (N, 1, 8, 8) scaled to [0, 1] and int64 labels. ``text_corpus(name)``: real English
text that ships with Python (``"pydoc"``: ``pydoc_data.topics``) or Debian (``"kjv"``).
"""
from __future__ import annotations

import os

import numpy as np

from .ops.creation import tensor
from .tensor import Tensor


def load_digits(as_numpy: bool = False):
    """(images (1797, 1, 8, 8) float32 in [0, 1], labels (1797,) int64)."""
    try:
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
            from pydoc_data.topics import topics
        except ImportError:
            raise RuntimeError("this Python has no pydoc_data package (it is part of the standard library)") from None
        return "\n\n".join(topics[k] for k in sorted(topics))
    if name == "kjv":
        import shutil
        import subprocess
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
