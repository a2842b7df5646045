"""The sequence-model labs (quick mode): their conclusions, asserted on the numbers they measure."""
import math

import pytest

from conftest import run_lab


@pytest.mark.slow  # 8 s on 2 busy cores (pytest --durations)
def test_lstm_vs_gru_gated_cells_solve_long_adding_problem(tmp_path):
    res, text = run_lab("lstm-vs-gru", tmp_path)
    r = res["results"]
    longest = max(res["lengths"])
    # the vanilla RNN stays near the predict-the-mean baseline (1/6) at the longest length ...
    assert r[f"RNN-{longest}"]["mse"] > 0.1
    # ... while both gated cells learn it
    assert r[f"LSTM-{longest}"]["mse"] < 0.02
    assert r[f"GRU-{longest}"]["mse"] < 0.02
    assert r[f"GRU-{longest}"]["solved"] > 0.5 and r[f"LSTM-{longest}"]["solved"] > 0.4
    # GRU: 3 gate blocks to the LSTM's 4
    assert math.isclose(res["gru_over_lstm_params"], 0.75)
    assert (tmp_path / "lstm-vs-gru.png").stat().st_size > 0
    assert "adding problem" in text


@pytest.mark.slow  # 3.5 s on 2 busy cores (pytest --durations)
def test_bptt_gradients_vanish_in_rnn_not_in_trained_lstm(tmp_path):
    res, text = run_lab("bptt-gradients", tmp_path)
    r = res["results"]
    # at initialisation both vanish over 50 steps ...
    assert r["RNN"]["log10_first_over_last_init"] < -5
    assert r["LSTM"]["log10_first_over_last_init"] < -5
    # ... after training the LSTM's gradient reaches the first step and it solves the task;
    # the RNN does not learn it. Where the trained RNN's ratio lands is chaotic (PyTorch -29,
    # minidl scalar -2.7, AVX2 -6.1, AVX-512 +1.0: the lab's docstring), so it is not asserted.
    assert abs(r["LSTM"]["log10_first_over_last_trained"]) < 1
    assert r["LSTM"]["mse"] < 0.02 and r["RNN"]["mse"] > 0.1
    assert (tmp_path / "bptt-gradients.png").stat().st_size > 0
