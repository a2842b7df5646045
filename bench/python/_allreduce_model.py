"""The alpha-beta cost model of ring all-reduce, and its fit to measured times.

A ring all-reduce of ``b`` bytes over ``N`` ranks is a reduce-scatter then an all-gather, each
``N-1`` steps in which every rank sends and receives one ``b/N`` chunk (Patarasuk & Yuan 2009;
Thakur, Rabenseifner & Gropp 2005, MPICH's algorithms):

    t(b, N) = 2 (N-1) alpha + 2 (N-1)/N * b / beta

``alpha``: the latency of one step (s), ``beta``: the link bandwidth (bytes/s). The bandwidth term
is what a large gradient all-reduce pays; alpha is what each of DDP's buckets adds.

    import sys; sys.path.insert(0, "bench/python")
    from _allreduce_model import AllReduceModel, fit_alpha_beta
    model = fit_alpha_beta(sizes_in_bytes, seconds, nproc=2)    # from bench_allreduce.py's runs
    model.time(100e6, nproc=8)                                  # predicted seconds at 8 ranks

bench/python/bench_allreduce.py measures the times and prints the fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AllReduceModel:
    """t(b, N) = 2(N-1) * alpha + 2(N-1)/N * b / beta (seconds; b in bytes).

    >>> m = AllReduceModel(alpha=10e-6, beta=1e9)
    >>> round(m.time(1e6, nproc=2) * 1e6, 1)      # 2 steps of 10 us + 1 MB at 1 GB/s
    1020.0
    """

    alpha: float  # seconds per step
    beta: float  # bytes per second

    # --8<-- [start:ring_allreduce_time]
    def time(self, nbytes: float, nproc: int) -> float:
        """Predicted seconds of an all-reduce of ``nbytes`` over ``nproc`` ranks (0 for one rank)."""
        if nproc < 2:
            return 0.0
        return 2 * (nproc - 1) * self.alpha + 2 * (nproc - 1) / nproc * nbytes / self.beta
    # --8<-- [end:ring_allreduce_time]


def fit_alpha_beta(nbytes, seconds, nproc: int) -> AllReduceModel:
    """The AllReduceModel closest to measured all-reduce times (``seconds[i]`` for ``nbytes[i]``
    on ``nproc`` ranks), in relative error: the least squares of (t_model - t) / t, so the
    latency-bound small sizes weigh as much as the bandwidth-bound large ones.

    The model is linear in (alpha, 1/beta): t = [2(N-1), 2(N-1)/N * b] . [alpha, 1/beta].

    >>> sizes = np.array([1e3, 1e5, 1e7])
    >>> truth = AllReduceModel(alpha=5e-6, beta=2e9)
    >>> fit = fit_alpha_beta(sizes, [truth.time(b, 3) for b in sizes], nproc=3)
    >>> round(fit.alpha * 1e6, 3), round(fit.beta / 1e9, 3)
    (5.0, 2.0)
    """
    b = np.asarray(nbytes, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    if b.shape != t.shape or b.size < 2:
        raise ValueError(f"fit_alpha_beta needs at least 2 (bytes, seconds) pairs of equal count, got {b.size} "
                         f"and {t.size}")
    if nproc < 2:
        raise ValueError(f"an all-reduce over {nproc} rank moves nothing: nproc must be at least 2")
    design = np.stack([np.full_like(b, 2 * (nproc - 1)), 2 * (nproc - 1) / nproc * b], axis=1)
    (alpha, inverse_beta), *_ = np.linalg.lstsq(design / t[:, None], np.ones_like(t), rcond=None)
    return AllReduceModel(alpha=float(alpha), beta=float(1.0 / inverse_beta))
