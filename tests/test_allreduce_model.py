"""bench/python/_allreduce_model.py: the alpha-beta model of ring all-reduce that
bench_allreduce.py fits and the DDP cost model imports (issue 19 item 6)."""
from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bench" / "python"))
from _allreduce_model import AllReduceModel, fit_alpha_beta  # noqa: E402


def test_the_model_is_2_n_minus_1_steps_of_latency_plus_the_ring_bandwidth_term():
    m = AllReduceModel(alpha=3e-6, beta=5e9)
    assert m.time(1e9, 1) == 0.0
    assert m.time(0, 4) == pytest.approx(6 * 3e-6)  # 2(N-1) steps
    assert m.time(1e9, 4) - m.time(0, 4) == pytest.approx(1.5 * 1e9 / 5e9)  # 2(N-1)/N * b / beta
    # the bandwidth term approaches 2 b / beta with many ranks: ring all-reduce's known limit
    assert m.time(1e9, 1000) - m.time(0, 1000) == pytest.approx(2 * 1e9 / 5e9, rel=1e-2)


def test_the_fit_recovers_alpha_and_beta_from_noisy_times():
    truth = AllReduceModel(alpha=2.5e-6, beta=5.1e9)
    sizes = np.array([1 << k for k in range(10, 29, 2)], dtype=float)
    noise = np.random.default_rng(0).uniform(0.95, 1.05, sizes.size)  # +-5%, as a shared machine gives
    fit = fit_alpha_beta(sizes, [truth.time(b, 2) * e for b, e in zip(sizes, noise)], nproc=2)
    assert fit.alpha == pytest.approx(truth.alpha, rel=0.1) and fit.beta == pytest.approx(truth.beta, rel=0.1)


def test_the_fit_names_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        fit_alpha_beta([1e3], [1e-5], nproc=2)
    with pytest.raises(ValueError, match="nproc must be at least 2"):
        fit_alpha_beta([1e3, 1e6], [1e-5, 1e-3], nproc=1)
