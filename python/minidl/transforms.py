"""``md.transforms``: data augmentation on one image sample, as torchvision's transforms.

Every transform takes one ``(C, H, W)`` sample, given as a NumPy array or a minidl tensor,
and returns the same kind, float32 (other dtypes are converted first, values unchanged: a
uint8 image stays on 0..255). Random choices are drawn from minidl's own generator, so
``md.manual_seed(n)`` makes an augmentation pipeline reproducible. The arithmetic runs in
minidl's C++ kernels; cropping and flipping are strided views made contiguous.

    aug = md.transforms.Compose([
        md.transforms.RandomCrop(28, padding=2),
        md.transforms.RandomHorizontalFlip(),
        md.transforms.Normalize([0.2860], [0.3530]),
    ])
    x = aug(image)            # image: (1, 28, 28)
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .dtypes import float32
from .ops.creation import from_numpy, tensor, zeros
from .ops.random import rand, randint, randn
from .tensor import Tensor

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "RandomNoise"]


def _to_tensor(x, who: str):
    """(float32 tensor, input was NumPy) for one (C, H, W) sample."""
    if isinstance(x, Tensor):
        is_numpy = False
        t = x if x.dtype is float32 else x.float()
    elif isinstance(x, np.ndarray):
        is_numpy = True
        t = from_numpy(x) if x.dtype == np.float32 else tensor(x, dtype=float32)
    else:
        raise TypeError(f"{who} expects a NumPy array or a minidl Tensor, got {type(x).__name__}")
    if t.ndim != 3:
        raise ValueError(f"{who} expects one (C, H, W) sample, got shape {tuple(t.shape)} ({t.ndim} dims)")
    return t, is_numpy


def _back(t: Tensor, is_numpy: bool):
    return t.detach().numpy() if is_numpy else t


def _pair(v, name: str):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (int(v), int(v))
    if not (isinstance(v, (tuple, list)) and len(v) == 2
            and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in v)):
        raise TypeError(f"{name} must be an int or a pair of ints (h, w), got {v!r}")
    return int(v[0]), int(v[1])


class Compose:
    """Applies ``transforms`` in order: ``Compose([f, g])(x) == g(f(x))``."""

    def __init__(self, transforms):
        transforms = list(transforms)
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose expects callables, got {type(t).__name__}")
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Normalize:
    """Per channel c: ``out[c] = (x[c] - mean[c]) / std[c]``.

    ``mean`` and ``std`` are sequences of length C (or length 1, used for every channel);
    ``std`` must be non-zero.
    """

    def __init__(self, mean, std):
        m = np.asarray(mean.tolist() if isinstance(mean, Tensor) else mean, dtype=np.float64).reshape(-1)
        s = np.asarray(std.tolist() if isinstance(std, Tensor) else std, dtype=np.float64).reshape(-1)
        if m.size == 0 or s.size == 0:
            raise ValueError("Normalize needs at least one mean and one std value")
        if m.size != s.size:
            raise ValueError(f"Normalize: mean has {m.size} values but std has {s.size}")
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
            raise ValueError("Normalize: mean and std must be finite")
        if np.any(s == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {s.tolist()}")
        self.mean, self.std = m.tolist(), s.tolist()
        self._mean = tensor(m.reshape(-1, 1, 1), dtype=float32)
        self._std = tensor(s.reshape(-1, 1, 1), dtype=float32)

    def __call__(self, x):
        t, is_numpy = _to_tensor(x, "Normalize")
        c = t.shape[0]
        if len(self.mean) not in (1, c):
            raise ValueError(f"Normalize has {len(self.mean)} mean/std values but the sample has {c} channels")
        return _back((t - self._mean) / self._std, is_numpy)

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomCrop:
    """Zero-pads each side of H and W by ``padding``, then crops a random ``size`` window.

    ``size`` is an int (square) or ``(h, w)``. The window's top-left corner is uniform over
    the ``(H + 2p - h + 1) x (W + 2p - w + 1)`` positions (top drawn first, then left).
    """

    def __init__(self, size, padding=0):
        self.size = _pair(size, "RandomCrop size")
        if min(self.size) <= 0:
            raise ValueError(f"RandomCrop size must be positive, got {self.size}")
        if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"RandomCrop padding must be a non-negative int, got {padding!r}")
        self.padding = int(padding)

    def __call__(self, x):
        t, is_numpy = _to_tensor(x, "RandomCrop")
        c, H, W = t.shape
        p = self.padding
        h, w = self.size
        Hp, Wp = H + 2 * p, W + 2 * p
        if h > Hp or w > Wp:
            raise ValueError(f"RandomCrop size {(h, w)} is larger than the padded image {(Hp, Wp)} "
                             f"(image {(H, W)}, padding {p})")
        # --8<-- [start:random_crop]
        if p:
            padded = zeros(c, Hp, Wp)
            padded[:, p:p + H, p:p + W] = t
            t = padded
        top = int(randint(0, Hp - h + 1, (1,)).item())
        left = int(randint(0, Wp - w + 1, (1,)).item())
        return _back(t[:, top:top + h, left:left + w].contiguous(), is_numpy)
        # --8<-- [end:random_crop]

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Reverses the W axis with probability ``p`` (one uniform draw per call)."""

    def __init__(self, p=0.5):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, x):
        t, is_numpy = _to_tensor(x, "RandomHorizontalFlip")
        if rand(1).item() < self.p:
            t = t.flip(-1).contiguous()
        return _back(t, is_numpy)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomNoise:
    """Adds Gaussian noise: ``out = x + std * n``, n ~ N(0, 1) element-wise."""

    def __init__(self, std):
        if isinstance(std, bool) or not isinstance(std, numbers.Real) or not (std >= 0 and math.isfinite(std)):
            raise ValueError(f"RandomNoise std must be a finite number >= 0, got {std!r}")
        self.std = float(std)

    def __call__(self, x):
        t, is_numpy = _to_tensor(x, "RandomNoise")
        return _back(t + randn(*t.shape) * self.std, is_numpy)

    def __repr__(self):
        return f"RandomNoise(std={self.std})"
