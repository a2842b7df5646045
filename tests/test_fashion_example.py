"""examples/train_fashion_cnn.py trains on real Fashion-MNIST: a short run (2000 training images,
2 epochs, 1000 test images; a few seconds on 2 cores) must learn, its checkpoint must round
trip, and its batch-level augmentation must only flip and shift. PyTorch is not needed."""
import sys

import numpy as np
import pytest

import minidl as md

from conftest import load_example

needs_real = pytest.mark.fashion_mnist  # skips where the files are missing (conftest.py says how to get them)


def _load():
    return load_example("train_fashion_cnn")


@pytest.mark.slow  # 4.4 s on 2 busy cores (pytest --durations)
@needs_real
def test_short_run_learns_and_checkpoint_round_trips(tmp_path, capsys, monkeypatch):
    # if torch is importable, make sure the minidl run does not import it
    monkeypatch.setitem(sys.modules, "torch", None)
    ckpt = tmp_path / "fashion.mdl"
    acc = _load().main(["--limit", "2000", "--epochs", "2", "--test-limit", "1000", "--no-progress",
                        "--checkpoint", str(ckpt)])
    out = capsys.readouterr().out
    assert acc > 0.7, out
    assert "epoch 2/2" in out and "time/epoch" in out and "reloaded model accuracy" in out
    assert ckpt.stat().st_size > 100_000


def test_augment_only_flips_and_shifts():
    mod = _load()
    md.manual_seed(0)
    x = md.randn(32, 1, 28, 28)
    y, xn = mod.augment(md, x).numpy(), x.numpy()
    assert y.shape == xn.shape
    seen_flip = seen_shift = False
    for b in range(len(xn)):
        matches = []
        for flip in (False, True):
            src = xn[b, :, :, ::-1] if flip else xn[b]
            p = np.pad(src, ((0, 0), (2, 2), (2, 2)))
            matches += [(flip, t, l) for t in range(5) for l in range(5)
                        if np.array_equal(p[:, t:t + 28, l:l + 28], y[b])]
        assert matches, f"image {b} is not a flip/shift of its input"
        seen_flip |= any(m[0] for m in matches) and not any(not m[0] for m in matches)
        seen_shift |= not any(m[1:] == (2, 2) for m in matches)
    assert seen_flip and seen_shift  # 32 images: both happen


def test_same_model_code_builds_on_minidl():
    m = _load().build_model(md)
    assert m(md.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_missing_data_prints_the_message_without_a_traceback(tmp_path):
    """issue 14 item 13: without the Fashion-MNIST files the example says where to get them and
    exits with status 1, without a traceback."""
    import os
    import subprocess

    from conftest import EXAMPLES
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "train_fashion_cnn.py"), "--data", str(empty),
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Fashion-MNIST training files not found" in proc.stderr
    assert "apt-get install dataset-fashion-mnist" in proc.stderr and "--data DIR" in proc.stderr
