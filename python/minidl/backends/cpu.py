"""``md.backends.cpu``: the CPU kernel set minidl runs (PyTorch's ``get_cpu_capability``).

>>> import minidl as md
>>> md.backends.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")
True
"""
from .. import _C

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
