"""bench/python/ddp_model.py (issue 19 item 6): the ring all-reduce cost model and its fit.
The measurements themselves are the benchmark's; here, the formulas and the fit."""
import importlib.util
import pathlib

import numpy as np
import pytest

_PATH = pathlib.Path(__file__).resolve().parent.parent / "bench" / "python" / "ddp_model.py"


@pytest.fixture(scope="module")
def model():
    spec = importlib.util.spec_from_file_location("ddp_model", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ring_allreduce_formula(model):
    # 2 workers: each sends and receives the whole buffer once (half in reduce-scatter, half in
    # all-gather), in 2 message steps
    assert model.allreduce_time(2, 1e9, 1e9, 1e-6) == pytest.approx(1.0 + 2e-6)
    # N workers: 2(N-1)/N of the bytes, 2(N-1) latencies; a single worker communicates nothing
    assert model.allreduce_time(8, 8e6, 1e9, 5e-6) == pytest.approx(2 * 7 / 8 * 8e-3 + 14 * 5e-6)
    assert model.allreduce_time(1, 8e6, 1e9, 5e-6) == 0.0
    # the bandwidth term tends to 2 x bytes / bandwidth, the latency term grows linearly
    big = model.allreduce_time(512, 1e6, 1e9, 0.0)
    assert 2e-3 * 0.99 < big < 2e-3


def test_step_hides_the_overlap_and_no_more(model):
    ar = model.allreduce_time(4, 4e6, 1e9, 1e-5)
    assert model.step_time(4, 0.1, 4e6, 1e9, 1e-5, overlap=0.0) == pytest.approx(0.1 + ar)
    assert model.step_time(4, 0.1, 4e6, 1e9, 1e-5, overlap=ar / 2) == pytest.approx(0.1 + ar / 2)
    assert model.step_time(4, 0.1, 4e6, 1e9, 1e-5, overlap=10 * ar) == pytest.approx(0.1)  # fully hidden


def test_fit_recovers_alpha_and_beta(model):
    sizes = [1 << k for k in range(10, 25, 2)]
    a, bw = 12e-6, 3e9
    rng = np.random.default_rng(0)
    times = [(a + n / bw) * (1 + 0.02 * rng.standard_normal()) for n in sizes]  # 2% noise
    fit_a, fit_bw = model.fit_alpha_beta(sizes, times)
    assert fit_a == pytest.approx(a, rel=0.05) and fit_bw == pytest.approx(bw, rel=0.05)


def test_fit_takes_the_bandwidth_from_the_large_messages(model):
    """A busy machine slows the medium messages (MPICH's protocol switch): the slope still comes
    from the 1-16 MiB messages that DDP's buckets are made of."""
    sizes = [1 << k for k in range(10, 25, 2)]
    a, bw = 12e-6, 3e9
    times = [(a + n / bw) * (3.0 if 1 << 14 <= n <= 1 << 18 else 1.0) for n in sizes]
    fit_a, fit_bw = model.fit_alpha_beta(sizes, times)
    assert fit_a == pytest.approx(a, rel=0.02) and fit_bw == pytest.approx(bw, rel=0.02)
    with pytest.raises(ValueError, match="need messages of"):
        model.fit_alpha_beta([1 << 20, 1 << 22], [1e-3, 2e-3])
