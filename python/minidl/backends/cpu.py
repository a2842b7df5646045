"""``md.backends.cpu``: the CPU kernel set minidl runs (PyTorch's ``get_cpu_capability``) and the
switch of kernel path choice by measurement (``benchmark``, as ``torch.backends.cudnn.benchmark``).

``benchmark`` (default True; ``MINIDL_CPU_BENCHMARK=0`` starts with False): where the fastest
kernel path depends on the CPU (today the 16-bit GEMM: AMX tiles / ``vdpbf16ps`` / widen to
float32; the float32 convolution: the direct kernel / im2col + GEMM; and how an RNN / LSTM /
GRU time loop shares its steps between threads: batch rows / hidden units), minidl times the
candidates on the first call of each shape class and keeps the
fastest in ``~/.cache/minidl`` (see :mod:`minidl.tuning`). False: the fixed order, the same on
every run. Unlike PyTorch, minidl's default is True: the measurement is short (under 2 s for a
ResNet-20 step's shapes) and cached per CPU.

>>> import minidl as md
>>> md.backends.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")
True
>>> was = md.backends.cpu.benchmark
>>> md.backends.cpu.benchmark = False      # deterministic: the fixed path order
>>> md.backends.cpu.benchmark
False
>>> md.backends.cpu.benchmark = was
"""
import sys
import types

from .. import _C, tuning

# minidl's kernel set names (md.backend.name) -> PyTorch's capability strings
_CAPABILITY = {"avx512": "AVX512", "avx2": "AVX2", "scalar": "DEFAULT"}


def get_cpu_capability() -> str:
    """The widest SIMD instruction set the running kernels use: "AVX512", "AVX2" or "DEFAULT"
    (the scalar reference loops), as ``torch.backends.cpu.get_cpu_capability()``.

    >>> import minidl as md
    >>> with md.backend.using("scalar"):
    ...     md.backends.cpu.get_cpu_capability()
    'DEFAULT'
    """
    return _CAPABILITY.get(_C.isa_name(), _C.isa_name().upper())


def tuning_report() -> str:
    """The kernel path choices made by measurement on this CPU: the switch, the cache file, the
    CPU key and one line per shape class (``shape class -> path``); see :mod:`minidl.tuning`.

    >>> import minidl as md
    >>> print(md.backends.cpu.tuning_report())   # doctest: +ELLIPSIS
    kernel path choice by measurement: ...
    cache file: ...kernel_choices.json
    ...
    """
    return tuning.report()


# --8<-- [start:benchmark_switch]
class _CpuBackendModule(types.ModuleType):
    """This module's class, so that ``benchmark`` is a property that reaches the C++ switch."""

    @property
    def benchmark(self) -> bool:
        return tuning.enabled()

    @benchmark.setter
    def benchmark(self, on: bool) -> None:
        tuning.set_enabled(bool(on))


sys.modules[__name__].__class__ = _CpuBackendModule
# --8<-- [end:benchmark_switch]
