"""The RNN time loop's thread split by measurement (cpp/ops/rnn/rnn_tune.cpp, the policy and
cache file of python/minidl/tuning.py, family ``rnn_split``):

* each split (``rows``, ``units``) forced at 2 threads, odd batch and hidden sizes, both
  directions, against torch.nn.RNN / LSTM / GRU (outputs, final states and every gradient), also
  on variable-length (packed) batches;
* the tuner measures once per shape class and pass, leaves the outputs equal to a forced split's,
  measures nothing with one thread or with ``benchmark = False`` (then the fixed rule);
* the rnn_split choices round-trip through the cache file beside the other families'.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import minidl as md
from minidl import _C, tuning
from test_packed_sequence import _run as _check_packed
from test_rnn import _check, torch  # noqa: F401  (torch: the parity tests need it)
from conftest import tuner_choices_kept


@pytest.fixture(autouse=True)
def kept_state():
    """No remembered split choices, no forced split, the switch and thread count as they were."""
    threads = md.get_num_threads()
    with tuner_choices_kept(_C.rnn_split_choices, _C.rnn_split_clear_choices, _C.rnn_force_split,
                            _C.rnn_split_set_choice):
        yield
    md.set_num_threads(threads)


@pytest.mark.parametrize("split", ["rows", "units"])
@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_each_split_matches_torch_at_two_threads(rng, kind, split):
    """B = 37 (rows 18 | 19), H = 171 (3 panels of 64, the last of 43 units: 1 | 2); >= 2^20
    multiply-adds per step even for the Elman RNN, so the loop runs on both threads."""
    md.set_num_threads(2)
    _C.rnn_force_split(split)
    _check(rng, kind, T=4, B=37, I=7, H=171, bidir=True, with_h0=True, atol=5e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_rows_split_with_fewer_rows_than_threads(rng, kind):
    """One batch row on 2 threads: the rows split leaves thread 0 with nothing to do."""
    md.set_num_threads(2)
    _C.rnn_force_split("rows")
    _check(rng, kind, T=3, B=1, I=5, H=513, with_h0=True, atol=5e-5)


@pytest.mark.parametrize("split", ["rows", "units", "auto"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_each_split_and_the_measured_first_use_on_variable_lengths(rng, kind, split):
    """Carried states past a row's end under each split; 'auto' with tuning on measures on this
    first call (every candidate rerun on the same operands) and must still match PyTorch."""
    md.set_num_threads(2)
    tuning.set_enabled(True)
    _C.rnn_force_split(split)
    before = _C.rnn_split_measurements()
    _check_packed(kind, rng, list(rng.integers(1, 6, size=37)), I=6, H=171, bidir=True, with_h0=True, atol=5e-5)
    # forward and backward of each direction: 2 classes (the two directions share them)
    assert _C.rnn_split_measurements() - before == (2 if split == "auto" else 0)


def _lstm_step(module, xa):
    """(y, x.grad, every parameter's grad) of one forward + backward."""
    module.zero_grad()
    x = md.tensor(xa, requires_grad=True)
    y, _ = module(x)
    (y * y).sum().backward()
    return [y.detach().numpy().copy(), x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in module.parameters()]


def test_measures_once_per_class_and_pass_and_leaves_the_winners_result(rng):
    md.set_num_threads(2)
    tuning.set_enabled(True)
    module = md.nn.LSTM(7, 171)
    xa = rng.standard_normal((4, 37, 7)).astype(np.float32)
    before = _C.rnn_split_measurements()
    first = _lstm_step(module, xa)
    assert _C.rnn_split_measurements() == before + 2          # the forward and the backward loop
    assert sorted(_C.rnn_split_choices()) == [
        "lstm backward float32 batch37 hidden192 seq4 threads2", "lstm forward float32 batch37 hidden192 seq4 threads2"]
    assert set(_C.rnn_split_choices().values()) <= {"rows", "units"}
    again = _lstm_step(module, xa)
    assert _C.rnn_split_measurements() == before + 2          # remembered
    for split in ("rows", "units"):
        _C.rnn_force_split(split)
        forced = _lstm_step(module, xa)
        for a, f, c in zip(first, forced, again):
            np.testing.assert_allclose(a, f, rtol=1e-6, atol=1e-6, err_msg=split)
            np.testing.assert_allclose(c, f, rtol=1e-6, atol=1e-6, err_msg=split)
    # H 161 fills the same 6 panels and T 3 rounds up to 4: the same classes
    _C.rnn_force_split("auto")
    _lstm_step(md.nn.LSTM(7, 161), xa[:3])
    assert _C.rnn_split_measurements() == before + 2
    # another batch is another class
    _lstm_step(module, xa[:, :36])
    assert _C.rnn_split_measurements() == before + 4


def test_one_thread_and_benchmark_false_measure_nothing(rng):
    xa = rng.standard_normal((4, 37, 7)).astype(np.float32)
    module = md.nn.GRU(7, 171)
    before = _C.rnn_split_measurements()
    tuning.set_enabled(True)
    md.set_num_threads(1)                     # one thread: nothing to share between threads
    _lstm_step(module, xa)
    tuning.set_enabled(False)
    md.set_num_threads(2)
    _lstm_step(module, xa)
    assert _C.rnn_split_measurements() == before and _C.rnn_split_choices() == {}


def test_the_fixed_rule_takes_rows_from_eight_rows_per_thread():
    assert _C.rnn_split_fixed(16, 2) == "rows"
    assert _C.rnn_split_fixed(15, 2) == "units"
    assert _C.rnn_split_fixed(32, 4) == "rows"
    assert _C.rnn_split_fixed(1000, 1) == "units"   # one thread: the single loop


def test_names_and_splits_that_cannot_be_read_are_refused():
    with pytest.raises(ValueError, match="unknown split 'fastest'"):
        _C.rnn_force_split("fastest")
    good = "lstm forward float32 batch32 hidden256 seq64 threads2"
    assert not _C.rnn_split_set_choice(good, "auto")
    assert not _C.rnn_split_set_choice(good.replace("lstm", "transformer"), "rows")
    assert not _C.rnn_split_set_choice(good.replace("threads2", "threads1"), "rows")   # nothing to choose
    assert not _C.rnn_split_set_choice(good + " extra", "rows")
    assert _C.rnn_split_choices() == {}


def test_split_choices_round_trip_through_the_cache_file(tmp_path):
    path = str(tmp_path / "choices.json")
    name = "gru backward float64 batch9 hidden64 seq128 threads4"
    assert _C.rnn_split_set_choice(name, "units")
    assert tuning.save(path, force=True)
    build = json.load(open(path))["builds"][f"{md.__version__} {tuning.kernels_build()}"]
    assert build["cpus"][tuning.cpu_key()]["rnn_split"] == {name: "units"}
    _C.rnn_split_clear_choices()
    assert tuning.load(path) >= 1 and _C.rnn_split_choices() == {name: "units"}
    assert f"rnn_split: {name}" in tuning.report()
