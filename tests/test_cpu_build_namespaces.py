"""The namespaces of a CPU-only PyTorch build (issue 16 item 3): md.cuda, md.backends,
devices, md.compile, the process-wide settings, and autograd's anomaly detection; each
compared with what torch 2.13's CPU wheel does."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import minidl as md
import minidl.nn as nn
from conftest import require

torch = require("torch")

# calls whose result (or exception type) a CPU-only PyTorch and minidl must share
SAME = [
    "cuda.is_available()", "cuda.device_count()", "cuda.is_initialized()", "cuda.manual_seed(1)",
    "cuda.manual_seed_all(1)", "cuda.seed()", "cuda.seed_all()", "cuda.empty_cache()", "cuda.memory_allocated()",
    "cuda.max_memory_allocated()", "cuda.is_bf16_supported()", "cuda.current_device()", "cuda.synchronize()",
    "cuda.get_device_name()", "cuda.get_device_capability()", "cuda.initial_seed()", "cuda.get_rng_state()",
    "backends.cudnn.is_available()", "backends.cudnn.enabled", "backends.cudnn.benchmark",
    "backends.cudnn.deterministic", "backends.cudnn.version()", "backends.cuda.is_built()",
    "backends.cuda.matmul.allow_tf32", "backends.mps.is_available()", "backends.mps.is_built()",
    "backends.openmp.is_available()", "get_float32_matmul_precision()", "are_deterministic_algorithms_enabled()",
    "zeros(2, device='cuda')", "zeros(2).to('cuda')", "zeros(2).cuda()", "zeros(2).to('mps')",
    "device('cuda').type", "is_floating_point(ones(1))", "is_floating_point(tensor([1]))",
]


def _outcome(lib, expr):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = eval("lib." + expr, {"lib": lib})
        return "value", value
    except Exception as e:  # noqa: BLE001  (the exception type is what is compared)
        return "raises", type(e).__name__


@pytest.mark.parametrize("expr", SAME)
def test_same_as_a_cpu_only_pytorch(expr):
    assert _outcome(md, expr) == _outcome(torch, expr)


def test_not_compiled_message_and_modules():
    for call in (lambda: md.zeros(2).to("cuda"), lambda: nn.Linear(2, 2).cuda(), lambda: nn.Linear(2, 2).to("cuda"),
                 md.cuda.synchronize):
        with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
            call()
    with pytest.raises(RuntimeError, match="not linked with support for mps devices"):
        md.zeros(2, device="mps")


def test_cuda_amp_aliases_warn_and_disable():
    with pytest.warns(UserWarning, match="CUDA is not available"):
        scaler = md.cuda.amp.GradScaler()
    assert not scaler.is_enabled()
    with pytest.warns(UserWarning, match="CUDA is not available. Disabling"):
        with md.cuda.amp.autocast():
            assert (md.ones(2, 2) @ md.ones(2, 2)).dtype == md.float32


def test_backend_flags_keep_what_is_set():
    assert md.backends.cpu.get_cpu_capability() == torch.backends.cpu.get_cpu_capability() or \
        md.backend.name != "avx512"
    before = md.backends.cudnn.benchmark
    md.backends.cudnn.benchmark = True
    try:
        assert md.backends.cudnn.benchmark is True
        with md.backends.cudnn.flags(enabled=False):
            assert md.backends.cudnn.enabled is False
        assert md.backends.cudnn.enabled is True and md.backends.cudnn.benchmark is True
    finally:
        md.backends.cudnn.benchmark = before
    md.backends.cuda.enable_flash_sdp(False)
    assert not md.backends.cuda.flash_sdp_enabled()
    md.backends.cuda.enable_flash_sdp(True)
    with md.backend.using("scalar"):
        assert md.backends.cpu.get_cpu_capability() == "DEFAULT"


def test_compile_and_settings():
    model = nn.Linear(2, 2)
    assert md.compile(model) is model
    assert md.compile(mode="max-autotune")(model) is model
    md.set_float32_matmul_precision("high")
    try:
        assert md.get_float32_matmul_precision() == "high"
        with pytest.warns(UserWarning, match="not one of 'highest', 'high', or 'medium'"):
            md.set_float32_matmul_precision("fast")
        assert md.get_float32_matmul_precision() == "high"
    finally:
        md.set_float32_matmul_precision("highest")
    md.use_deterministic_algorithms(True, warn_only=True)
    assert md.are_deterministic_algorithms_enabled() and md.is_deterministic_algorithms_warn_only_enabled()
    md.use_deterministic_algorithms(False)
    with pytest.raises(TypeError, match="must be bool"):
        md.use_deterministic_algorithms(1)
    md.set_num_interop_threads(3)
    assert md.get_num_interop_threads() == 3
    with pytest.raises(RuntimeError, match="positive number of threads"):
        md.set_num_interop_threads(0)


def _nan_backward(lib):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    w = lib.tensor([2.0, 3.0], requires_grad=True)
    h = (x * w).sqrt()   # d sqrt at 0 is inf ...
    y = h * 0.0          # ... times 0 is NaN, made by SqrtBackward
    _nan_backward.x = x
    return y.sum()


def test_detect_anomaly_names_the_op_and_its_forward_call():
    with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan values in its 0th output"):
        with torch.autograd.detect_anomaly(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _nan_backward(torch).backward()
    with pytest.raises(RuntimeError, match="Function 'SqrtBackward' returned nan values in its 0th output") as info:
        with md.autograd.detect_anomaly():
            _nan_backward(md).backward()
    assert "_nan_backward" in str(info.value) and "sqrt()" in str(info.value)  # the forward line
    _nan_backward(md).backward()  # off: the NaN reaches the leaves silently, as in PyTorch
    assert np.isnan(_nan_backward.x.grad.numpy()).any()
    assert not md.autograd.is_anomaly_enabled()
    md.autograd.set_detect_anomaly(True)
    try:
        assert md.autograd.is_anomaly_enabled()
        with pytest.raises(RuntimeError, match="returned nan values"):
            _nan_backward(md).backward()
    finally:
        md.autograd.set_detect_anomaly(False)
    with md.autograd.detect_anomaly(check_nan=False):
        _nan_backward(md).backward()  # recorded but not checked


def test_tensorboard_writes_what_tensorboard_reads(tmp_path):
    require("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from minidl.utils.tensorboard import SummaryWriter
    rng = np.random.default_rng(0)
    weights = rng.standard_normal(1000).astype(np.float32)
    image = rng.uniform(size=(3, 8, 5)).astype(np.float32)
    with SummaryWriter(tmp_path / "md") as w:
        for step in range(3):
            w.add_scalar("loss", md.tensor(1.0 / (step + 1)), step)
            w.add_scalars("acc", {"train": 0.5 + step / 10, "val": 0.4 + step / 10}, step)
        w.add_histogram("weights", md.tensor(weights), 0)
        w.add_image("sample", md.tensor(image), 0)
        w.add_text("note", "lr = 0.1", 0)
    from torch.utils.tensorboard import SummaryWriter as TorchWriter
    with TorchWriter(tmp_path / "torch") as w:
        w.add_histogram("weights", torch.tensor(weights), 0)
    acc = EventAccumulator(str(tmp_path / "md"), size_guidance={"tensors": 0}).Reload()
    assert [(s.step, round(s.value, 6)) for s in acc.Scalars("loss")] == [(0, 1.0), (1, 0.5), (2, 0.333333)]
    hist = acc.Histograms("weights")[0].histogram_value
    ref = EventAccumulator(str(tmp_path / "torch")).Reload().Histograms("weights")[0].histogram_value
    assert hist.num == ref.num == 1000 and hist.bucket == ref.bucket
    np.testing.assert_allclose(hist.bucket_limit, ref.bucket_limit)
    np.testing.assert_allclose([hist.min, hist.max, hist.sum, hist.sum_squares],
                               [ref.min, ref.max, ref.sum, ref.sum_squares], rtol=1e-5)
    img = acc.Images("sample")[0]
    assert (img.width, img.height) == (5, 8)
    assert acc.Tensors("note/text_summary")[0].tensor_proto.string_val == [b"lr = 0.1"]
    val = EventAccumulator(str(tmp_path / "md" / "acc_val")).Reload().Scalars("acc")
    assert [round(s.value, 6) for s in val] == [0.4, 0.5, 0.6]
    with pytest.raises(ValueError, match="single number"):
        SummaryWriter(tmp_path / "bad").add_scalar("x", md.ones(2))


def test_tensorboard_missing_names_the_extra(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    from minidl.utils.tensorboard import SummaryWriter
    with pytest.raises(ImportError, match=r"pip install 'minidl\[tensorboard\]'"):
        SummaryWriter("unused")
