"""The README's main demo trains to the promised accuracy (a real training run on real digits)."""
import pytest

from conftest import FASHION_MNIST_MISSING, fashion_mnist_installed, load_example, require


def test_digits_mlp_reaches_95_percent():
    require("sklearn")
    acc = load_example("train_digits_mlp").main(["--epochs", "30", "--seed", "0"])
    assert acc >= 0.95


@pytest.mark.slow  # 4 s on 2 busy cores (pytest --durations)
def test_digits_cnn_reaches_98_percent_and_checkpoint_round_trips(tmp_path):
    require("sklearn")
    acc, reloaded = load_example("train_digits_cnn").main(["--checkpoint", str(tmp_path / "cnn.mdl")])
    assert acc >= 0.98
    assert reloaded == acc
    assert (tmp_path / "cnn.mdl").stat().st_size > 100_000


def test_char_lstm_beats_unigram_perplexity():
    """150 small truncated-BPTT steps (~77k characters, a few seconds) already beat the unigram
    model by far (measured: perplexity ~7 vs 25.5)."""
    res = load_example("train_char_lstm").main([
        "--steps", "150", "--minutes", "10", "--hidden", "128", "--batch-size", "16", "--seq-len", "32",
        "--lr", "1e-2", "--no-progress", "--val-chars", "4000", "--sample-chars", "40", "--eval-every", "50",
        "--patience", "5"])
    assert res["steps"] == 150 and not res["stopped_early"]
    assert res["best_step"] in (50, 100, 150)  # early stopping checked the dev loss every 50 steps
    assert res["perplexity"] < 0.5 * res["unigram_perplexity"]
    assert len(res["sample"]) == len("The ") + 40


# --- issue 14 item 13: one set of flags, honoured by every example; nothing left in the temp dir

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import minidl as md  # noqa: E402

from conftest import EXAMPLES  # noqa: E402

SHARED_FLAGS = ["--batch-size", "--threads", "--amp", "--no-progress", "--seed"]

# each example's smallest run: (module, its length flag, extra arguments)
TINY_RUNS = {
    "train_digits_mlp": ("--epochs", ["--epochs", "1"]),
    "train_digits_cnn": ("--epochs", ["--epochs", "1"]),
    "train_fashion_cnn": ("--epochs", ["--epochs", "1", "--limit", "256", "--test-limit", "200"]),
    "train_char_lstm": ("--steps", ["--steps", "5", "--hidden", "32", "--seq-len", "16", "--val-chars", "2000",
                                    "--eval-every", "0", "--sample-chars", "5"]),
    "train_char_gpt": ("--steps", ["--steps", "3", "--block", "16", "--layers", "1", "--d-model", "32",
                                   "--sample-chars", "5"]),
    "train_ddp": ("--epochs", ["--epochs", "1", "--train-chars", "3000", "--block", "16", "--layers", "1",
                               "--d-model", "32", "--sample-chars", "5"]),
    "train_seq2seq": ("--steps", ["--steps", "3", "--max-len", "5", "--eval", "20"]),
    "train_text_classifier": ("--steps", ["--steps", "3", "--test", "50"]),
}


def test_every_example_is_covered():
    scripts = {p.stem for p in EXAMPLES.glob("train_*.py")}
    assert scripts == set(TINY_RUNS)


@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_example_help_lists_the_shared_flags_and_its_runtime(name, capsys):
    """issue 14 item 13: --epochs/--steps, --batch-size, --threads, --amp, --no-progress, --seed,
    each with a help text, and the expected running time in --help."""
    with pytest.raises(SystemExit) as exit_info:
        load_example(name).main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    length_flag = TINY_RUNS[name][0]
    for flag in [length_flag] + SHARED_FLAGS:
        line = next((ln for ln in text.splitlines() if ln.strip().startswith(flag + " ") or ln.strip() == flag
                     or ln.strip().startswith(flag + ",")), None)
        assert line is not None, f"{name}: {flag} missing from --help"
        at = text.index(line)
        assert len(text[at:at + 200].split(None, 2)) == 3, f"{name}: {flag} has no help text"
    assert "expected running time: ~" in text.replace("\n", " ")


@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_example_honours_the_shared_flags_and_leaves_no_temp_files(name, tmp_path, monkeypatch, capsys):
    """issue 14 item 13: --seed seeds, --threads sets the threads, --amp bf16 autocasts to bfloat16,
    --no-progress keeps stderr quiet, and the temporary directory is left empty."""
    if name == "train_fashion_cnn" and not fashion_mnist_installed():
        pytest.skip(FASHION_MNIST_MISSING)
    require("sklearn")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    seeds, casts, real_seed, real_autocast = [], [], md.manual_seed, md.autocast

    def recording_seed(seed):
        seeds.append(seed)
        return real_seed(seed)

    def recording_autocast(*args, **kwargs):
        casts.append((kwargs.get("dtype"), kwargs.get("enabled", True)))
        return real_autocast(*args, **kwargs)
    monkeypatch.setattr(md, "manual_seed", recording_seed)
    monkeypatch.setattr(md, "autocast", recording_autocast)
    threads = md.get_num_threads()
    try:
        load_example(name).main(TINY_RUNS[name][1] + ["--seed", "7", "--threads", "1", "--amp", "bf16",
                                                      "--batch-size", "16", "--no-progress"])
        assert md.get_num_threads() == 1
    finally:
        md.set_num_threads(threads)
    captured = capsys.readouterr()
    assert 7 in seeds, seeds
    assert (md.bfloat16, True) in casts, casts
    assert captured.err == "", captured.err[-500:]
    assert os.listdir(tmp) == []


def test_digits_cnn_leaves_nothing_in_tmpdir(tmp_path):
    """issue 14 item 13: run as a script with TMPDIR an empty folder; it is empty afterwards (the
    checkpoint round trip used tempfile.mkdtemp() and left digits_cnn.mdl behind)."""
    require("sklearn")
    env = dict(os.environ, TMPDIR=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "train_digits_cnn.py"), "--epochs", "1", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "reloaded model accuracy" in proc.stdout
    assert os.listdir(tmp_path) == []
