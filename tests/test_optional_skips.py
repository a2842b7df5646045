"""A fresh clone on a machine without the optional data or packages: the README's test command
passes, and every test that cannot run skips with a reason that says how to get what it needs
(issue 14 item 11).

The checks run pytest in a subprocess on the tests concerned, with the data hidden (the
Fashion-MNIST search path pointed at an empty folder) or a package made unimportable
(``sys.modules[name] = None``), and read the verbose report."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

import minidl as md
from conftest import HOW_TO_GET, require

ROOT = pathlib.Path(__file__).resolve().parent.parent
# the folder minidl was imported from (python/ of the checkout, or site-packages when installed)
MINIDL_PARENT = str(pathlib.Path(md.__file__).resolve().parent.parent)

# Runs pytest after hiding the Fashion-MNIST files (argv[1]: an empty folder that replaces
# Debian's data folder) and making the packages named in argv[2] (comma-separated) unimportable.
PYTEST_WITHOUT = """
import sys
import minidl.datasets
minidl.datasets.FASHION_MNIST_DEBIAN_DIR = sys.argv[1]
for name in filter(None, sys.argv[2].split(",")):
    sys.modules[name] = None
import pytest
sys.exit(pytest.main(sys.argv[3:]))
"""


def _pytest_without(tmp_path, packages, tests):
    """(exit code, {test id: (outcome, reason)}) of the tests run without the Fashion-MNIST files and
    without ``packages``."""
    empty = tmp_path / "empty"
    empty.mkdir()
    # COLUMNS: the verbose report cuts skip reasons at the terminal width
    env = dict(os.environ, MINIDL_DATA=str(empty), HOME=str(empty), OMP_NUM_THREADS="1", COLUMNS="1000")
    env["PYTHONPATH"] = os.pathsep.join([MINIDL_PARENT, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", PYTEST_WITHOUT, str(empty), ",".join(packages), *tests,
                           "-o", "addopts=", "-v", "-rs", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    outcomes = {}
    for m in re.finditer(r"^(tests/\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED)(?: \((.*)\))?", proc.stdout, re.M):
        outcomes[m.group(1)] = (m.group(2), m.group(3) or "")
    return proc.returncode, outcomes, proc.stdout + proc.stderr


@pytest.mark.slow  # 6 s on 2 busy cores (pytest --durations): a pytest subprocess
def test_fashion_mnist_tests_skip_and_say_how_to_get_the_data(tmp_path):
    """issue 14 item 11: without the Fashion-MNIST files, every test on them skips (the LeNet test of
    test_models.py failed with FileNotFoundError) and the reason names the package to install."""
    on_real_data = ["tests/test_models.py::test_md_lenet_learns_fashion_mnist_slice",
                    "tests/test_fashion_mnist.py::test_real_train_shapes_range_and_balance",
                    "tests/test_fashion_example.py::test_short_run_learns_and_checkpoint_round_trips"]
    code, outcomes, text = _pytest_without(tmp_path, [], ["tests/test_fashion_mnist.py", "tests/test_fashion_example.py",
                                                          on_real_data[0]])
    assert code == 0, text
    for test in on_real_data:
        assert outcomes[test][0] == "SKIPPED", (test, outcomes.get(test), text)
    skipped = [reason for outcome, reason in outcomes.values() if outcome == "SKIPPED"]
    assert skipped and all("apt-get install dataset-fashion-mnist" in r for r in skipped), skipped
    # the tests on fake IDX files written into tmp_path still run
    assert any(outcome == "PASSED" for outcome, _ in outcomes.values()), text


@pytest.mark.slow  # 2.7 s on 2 busy cores (pytest --durations): a pytest subprocess
def test_digits_tests_skip_without_scikit_learn(tmp_path):
    """issue 14 item 11: the labs, examples and tests that train on scikit-learn's bundled digits skip,
    saying `pip install scikit-learn`, where scikit-learn is missing (several failed with ImportError)."""
    tests = ["tests/test_data.py::test_load_digits", "tests/test_amp_training.py", "tests/test_labs_cnn.py",
             "tests/test_lab_mixed_precision.py", "tests/test_examples.py::test_digits_mlp_reaches_95_percent",
             "tests/test_labs_training.py::test_batch_size_linear_scaling_recovers_accuracy",
             "tests/test_labs.py::test_backprop_sigmoid_variant", "tests/test_labs.py::test_cli_lists_and_runs",
             "tests/test_labs.py::test_vanishing_sigmoid_vanishes_relu_does_not"]
    code, outcomes, text = _pytest_without(tmp_path, ["sklearn"], tests)
    assert code == 0, text
    ran = [test for test, (outcome, _) in outcomes.items() if outcome != "SKIPPED"]
    assert not ran, ran  # all of them need the digits
    assert text.count("sklearn is not installed: pip install scikit-learn") >= len(tests), text


@pytest.mark.slow  # a pytest subprocess
def test_distributed_tests_skip_without_mpi4py(tmp_path):
    """issue 19: without mpi4py (the extra minidl[distributed]) the multi-process tests skip, naming
    the extra, and the checks that need no MPI still pass (the missing-extra ImportError among them)."""
    tests = ["tests/test_distributed_collectives.py", "tests/test_distributed_across_hosts.py"]
    code, outcomes, text = _pytest_without(tmp_path, ["mpi4py"], tests)
    assert code == 0, text
    skipped = {test: reason for test, (outcome, reason) in outcomes.items() if outcome == "SKIPPED"}
    assert len(skipped) >= 6 and all("pip install 'minidl[distributed]'" in r for r in skipped.values()), skipped
    assert outcomes["tests/test_distributed_collectives.py::"
                    "test_without_mpi4py_init_raises_an_import_error_naming_the_extra"][0] == "PASSED", text


@pytest.mark.parametrize("package", sorted(HOW_TO_GET))
def test_require_skips_with_the_install_command(monkeypatch, package):
    """issue 14 item 11: require(package) skips, naming the command that installs it; for PyTorch,
    the CPU-only wheel (the default wheel pulls the multi-GB CUDA build)."""
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(pytest.skip.Exception) as info:
        require(package)
    msg = str(info.value)
    assert package in msg and "pip install" in msg, msg
    if package == "torch":
        assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in msg, msg


def test_every_optional_import_in_the_tests_goes_through_require():
    """issue 14 item 11: a bare pytest.importorskip of an optional package skips with "could not import
    'torch'", which does not say how to get it: the tests call conftest.require instead."""
    bare = re.compile(r"importorskip\(\s*[\"'](%s)[\"']" % "|".join(map(re.escape, HOW_TO_GET)))
    offenders = [f"{path.name}:{n}" for path in sorted((ROOT / "tests").glob("test_*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1) if bare.search(line)]
    assert not offenders, offenders
