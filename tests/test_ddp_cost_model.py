"""bench/python/ddp_model.py (issue 19 item 6): the DDP step model on top of the ring all-reduce
model of bench/python/_allreduce_model.py, and its fit. The measurements are the benchmark's."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

_BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench" / "python"


@pytest.fixture(scope="module")
def model():
    sys.path.insert(0, str(_BENCH))  # ddp_model imports its neighbours, as when run as a script
    try:
        spec = importlib.util.spec_from_file_location("ddp_model", _BENCH / "ddp_model.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(_BENCH))
    return mod


def test_step_hides_the_overlap_and_no_more(model):
    ring = model.AllReduceModel(alpha=1e-5, beta=1e9)
    ar = ring.time(4e6, 4)
    assert ar == pytest.approx(2 * 3 * 1e-5 + 2 * 3 / 4 * 4e6 / 1e9)
    assert model.step_time(4, 0.1, 4e6, ring, overlap=0.0) == pytest.approx(0.1 + ar)
    assert model.step_time(4, 0.1, 4e6, ring, overlap=ar / 2) == pytest.approx(0.1 + ar / 2)
    assert model.step_time(4, 0.1, 4e6, ring, overlap=10 * ar) == pytest.approx(0.1)  # fully hidden
    assert model.step_time(1, 0.1, 4e6, ring, overlap=0.0) == pytest.approx(0.1)      # one worker: no all-reduce


def test_fit_recovers_alpha_and_beta(model):
    sizes = [1 << k for k in range(10, 25, 2)]
    truth = model.AllReduceModel(alpha=6e-6, beta=3e9)
    rng = np.random.default_rng(0)
    times = [truth.time(n, 2) * (1 + 0.02 * rng.standard_normal()) for n in sizes]  # 2% noise
    fit = model.fit_where_each_dominates(sizes, times, nproc=2)
    assert fit.alpha == pytest.approx(truth.alpha, rel=0.05) and fit.beta == pytest.approx(truth.beta, rel=0.05)
    three = model.fit_where_each_dominates(sizes, [truth.time(n, 3) for n in sizes], nproc=3)
    assert three.alpha == pytest.approx(truth.alpha, rel=1e-6) and three.beta == pytest.approx(truth.beta, rel=1e-6)


def test_fit_takes_the_bandwidth_from_the_large_messages(model):
    """Medium messages far off the line (measured on the busy machine: 64-256 KiB 5x faster than
    the 4-16 MiB ones' bandwidth): the slope still comes from the 1-16 MiB messages that DDP's
    buckets are made of, the intercept from the smallest."""
    sizes = [1 << k for k in range(10, 25, 2)]
    truth = model.AllReduceModel(alpha=6e-6, beta=3e9)
    times = [truth.time(n, 2) * (0.2 if 1 << 14 <= n <= 1 << 18 else 1.0) for n in sizes]
    fit = model.fit_where_each_dominates(sizes, times, nproc=2)
    assert fit.alpha == pytest.approx(truth.alpha, rel=1e-6) and fit.beta == pytest.approx(truth.beta, rel=1e-6)
    with pytest.raises(ValueError, match="need messages of <= 4096 and >= 1048576 bytes"):
        model.fit_where_each_dominates([1 << 20, 1 << 22], [1e-3, 2e-3])
