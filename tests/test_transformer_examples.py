"""The Transformer examples train for real (smaller settings than their defaults where the
default takes longer than a test should; the defaults' numbers are in each script's docstring).
Run on 1 thread: the CI machine's two cores are shared with other test processes."""
import math

import pytest

from conftest import load_example


def test_char_gpt_learns_and_samples(capsys):
    r = load_example("train_char_gpt").main(["--steps", "30", "--block", "32", "--batch-size", "16", "--layers", "2",
                                             "--d-model", "64", "--sample-chars", "40", "--threads", "1"])
    assert r["first_loss"] > math.log(r["vocab"]) - 0.3     # starts at chance (ln 103 = 4.63)
    assert r["val_loss"] < 3.4                               # measured ~3.1 after 30 steps
    assert len(r["sample"]) == 4 + 40 and r["sample"].startswith("The ")
    assert r["tokens_per_s"] > 0
    out = capsys.readouterr().out
    assert "tokens/s" in out and "validation loss" in out


@pytest.mark.slow  # 38 s on 2 busy cores (pytest --durations)
def test_seq2seq_sorts_digit_strings():
    # max length 6 and 1000 steps (the default: 3..10 digits, 2000 steps, exact match 0.995);
    # measured exact match 0.974 (seed 0) and 0.966 (seed 1)
    acc = load_example("train_seq2seq").main(["--max-len", "6", "--steps", "1000", "--eval", "500", "--threads", "1"])
    assert acc >= 0.95


@pytest.mark.slow  # 155 s on 2 busy cores (pytest --durations)
def test_text_classifier_beats_bag_of_words():
    acc, bow = load_example("train_text_classifier").main(["--test", "1000", "--threads", "1"])
    assert acc >= 0.95        # measured 0.998-1.0 with the defaults (seeds 0-3)
    assert bow < 0.7          # word counts alone cannot tell "not good" from "good"
