"""``md.backends.cuda``: CUDA's switches (TF32 matmuls, the scaled-dot-product-attention
kernels). minidl has no CUDA: ``is_built()`` is False, and the switches keep what a script
sets, with PyTorch's defaults, and change nothing.

>>> import minidl as md
>>> md.backends.cuda.is_built(), md.backends.cuda.matmul.allow_tf32
(False, False)
>>> md.backends.cuda.enable_flash_sdp(False)
>>> md.backends.cuda.flash_sdp_enabled()
False
"""


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: reduced-precision switches of CUDA matrix products."""

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()
_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def is_built() -> bool:
    """Whether minidl was built with CUDA: False (the CUDA kernels are an optional build).

    >>> import minidl as md
    >>> md.backends.cuda.is_built()
    False
    """
    return False


def _switch(kind: str):
    def enable(enabled: bool) -> None:
        _sdp[kind] = bool(enabled)

    def is_enabled() -> bool:
        return _sdp[kind]
    enable.__name__, is_enabled.__name__ = f"enable_{kind}_sdp", f"{kind}_sdp_enabled"
    enable.__doc__ = f"Turn CUDA's {kind} attention kernel on or off (kept; minidl's attention runs on the CPU)."
    is_enabled.__doc__ = f"Whether CUDA's {kind} attention kernel is switched on (what was last set)."
    return enable, is_enabled


enable_flash_sdp, flash_sdp_enabled = _switch("flash")
enable_mem_efficient_sdp, mem_efficient_sdp_enabled = _switch("mem_efficient")
enable_math_sdp, math_sdp_enabled = _switch("math")
enable_cudnn_sdp, cudnn_sdp_enabled = _switch("cudnn")
