"""The interview labs run in quick mode and their numbers support their stated conclusions."""
import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import require, run_lab as _run
require("matplotlib")

from minidl import labs  # noqa: E402


def test_registry_lists_labs():
    names = labs.list_labs()
    assert {"backprop", "vanishing"} <= set(names)
    assert all(desc.endswith("?") for desc in names.values())  # each states its question
    with pytest.raises(ValueError, match="unknown lab"):
        labs.run("no-such-lab", quick=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backprop_hand_equals_autograd_equals_finite_differences(tmp_path, seed):
    require("sklearn")  # the lab trains on the digits
    res, printed = _run("backprop", tmp_path, seed=seed)
    assert abs(res["loss_numpy"] - res["loss_minidl"]) < 1e-12
    for k in ("W1", "b1", "W2", "b2"):
        assert res["grad_scale"][k] > 1e-3  # the gradients compared are not trivially zero
        assert res["hand_vs_autograd"][k] < 1e-12
        assert res["hand_vs_fd"][k] < 1e-6
        assert res["autograd_vs_fd"][k] < 1e-6
    assert "hand-autograd" in printed
    assert os.path.getsize(res["png"]) > 1000
    assert res["png"] == os.path.join(str(tmp_path), "backprop.png")


def test_backprop_sigmoid_variant(tmp_path):
    require("sklearn")  # the lab trains on the digits
    res, _ = _run("backprop", tmp_path, activation="sigmoid")
    assert max(res["hand_vs_autograd"].values()) < 1e-12
    assert max(res["hand_vs_fd"].values()) < 1e-6


def _small_backprop_problem():
    import numpy as np
    from minidl.labs import backprop as bp
    rng = np.random.default_rng(0)
    return bp, bp.init_params(rng), rng.random((8, 64)), rng.integers(0, 10, 8)


def test_backprop_draws_the_graph_autograd_walks(tmp_path):
    """issue 20 item 4: the lab's picture is md.viz.draw_graph of its loss, leaves named W1 ... b2."""
    require("graphviz")
    import shutil
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed: apt-get install graphviz")
    bp, params, x, y = _small_backprop_problem()
    path = bp.draw_autograd_graph(params, x, y, "tanh", str(tmp_path))
    assert path == os.path.join(str(tmp_path), "backprop-graph.svg")
    svg = open(path).read()
    for text in ("CrossEntropyBackward", "LinearBackward", "Activation.tanh", "saved (8, 64) (32, 64)",
                 ">W1<", ">(32, 64)<", ">b2<"):
        assert text in svg, text


def test_backprop_runs_without_graphviz(tmp_path, monkeypatch, capsys):
    """Without the graphviz package, or without dot, the lab skips its picture and says why."""
    bp, params, x, y = _small_backprop_problem()
    monkeypatch.setitem(sys.modules, "graphviz", None)
    assert bp.draw_autograd_graph(params, x, y, "tanh", str(tmp_path)) is None
    assert 'pip install "minidl[viz]"' in capsys.readouterr().out
    monkeypatch.undo()
    if importlib.util.find_spec("graphviz") is not None:
        monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot
        assert bp.draw_autograd_graph(params, x, y, "tanh", str(tmp_path)) is None
        assert "apt-get install graphviz" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []


def test_backprop_detects_a_wrong_gradient():
    """The check can fail: drop the activation's derivative and finite differences disagree."""
    import numpy as np
    from minidl.labs import backprop as bp
    rng = np.random.default_rng(0)
    params = bp.init_params(rng)
    x = rng.random((16, 64))
    y = rng.integers(0, 10, 16)
    good = bp.backward_by_hand(params, x, y)
    _, (z1, h, p) = bp.forward_numpy(params, x, y)
    onehot = np.eye(10)[y]
    wrong_dW1 = (((p - onehot) / 16) @ params["W2"]).T @ x  # forgot * (1 - h^2)
    fd = bp.finite_difference(params, x, y, "tanh", samples=30, rng=rng)
    idx, num = fd["W1"]
    assert np.abs(good["W1"].reshape(-1)[idx] - num).max() < 1e-6
    assert np.abs(wrong_dW1.reshape(-1)[idx] - num).max() > 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_vanishing_sigmoid_vanishes_relu_does_not(tmp_path, seed):
    require("sklearn")  # the lab trains on the digits
    res, printed = _run("vanishing", tmp_path, seed=seed)
    r = res["ratio_first_last"]
    assert len(res["norms"]["sigmoid"]) == 20
    # measured over seeds 0-7: sigmoid ~1e-16, tanh ~7e-4, relu 0.25..0.8
    assert r["sigmoid"] < 1e-10
    assert 1e-6 < r["tanh"] < 1e-2
    assert 0.05 < r["relu"] < 20
    assert r["sigmoid"] < r["tanh"] < r["relu"]
    # sigmoid's norms shrink monotonically from the output back to the input
    s = res["norms"]["sigmoid"]
    assert all(a < b for a, b in zip(s, s[1:]))
    assert "first/last" in printed
    assert os.path.getsize(res["png"]) > 1000


@pytest.mark.slow  # 7 s on 2 busy cores (pytest --durations)
def test_cli_lists_and_runs(tmp_path):
    require("sklearn")  # the lab trains on the digits
    env = dict(os.environ)
    py_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(labs.__file__))))  # above minidl/
    env["PYTHONPATH"] = py_dir + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "minidl.labs"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0 and "backprop" in out.stdout and "vanishing" in out.stdout
    out = subprocess.run([sys.executable, "-m", "minidl.labs", "backprop", "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "backprop.png").exists()
    bad = subprocess.run([sys.executable, "-m", "minidl.labs", "nope"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode != 0 and "unknown lab" in bad.stderr


@pytest.mark.parametrize("seed", [0, 1])
def test_bias_variance_u_shape_and_regularization(tmp_path, seed):
    require("sklearn")
    from minidl import labs
    r = labs.run("bias-variance", quick=True, out=tmp_path, seed=seed)
    val, train = r["validation"], r["train"]
    best = min(val)
    # U shape: the constant model (degree 0) underfits, the top degree overfits
    assert val[0] > 1.2 * best and val[-1] > 1.2 * best
    assert 0 < r["best_degree"] < r["degrees"][-1]
    # more capacity fits the training set better
    assert train[-1] < train[1] < train[0]
    # each regularizer lowers the top-degree model's validation error
    none = r["regularized"]["none"]["validation"]
    for name in ("weight decay 0.1", "dropout 0.3", "early stopping"):
        assert r["regularized"][name]["validation"] < none, name
    assert r["regularized"]["early stopping"]["steps"] < r["regularized"]["none"]["steps"]
    assert (tmp_path / "bias-variance.png").exists()


@pytest.mark.slow  # 19-22 s on 2 busy cores (pytest --durations)
@pytest.mark.parametrize("seed", [0, 1])
def test_why_conv_sharing_and_translation(tmp_path, seed):
    require("sklearn")
    r = labs.run("why-conv", quick=True, out=tmp_path, seed=seed)
    dense, cnn = r["dense (MLP)"], r["CNN"]
    assert cnn["params"] * 2 < dense["params"]            # weight sharing: far fewer parameters
    assert cnn["accuracy"] > 0.95 and cnn["accuracy"] >= dense["accuracy"] - 0.03
    assert cnn["mean_shifted"] > dense["mean_shifted"] + 0.15   # robust to shifted inputs
    assert cnn["shifted"][(1, 0)] > dense["shifted"][(1, 0)] + 0.1
    assert (tmp_path / "why-conv.png").exists()
