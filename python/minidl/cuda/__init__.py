"""``md.cuda``: the CUDA namespace as a CPU-only build of PyTorch has it.

minidl runs on the CPU (its CUDA kernels are an optional build, CMake option MINIDL_CUDA,
and hold no kernels yet), so this module answers the questions a PyTorch script asks before
it picks a device, the way ``torch.cuda`` of a CPU-only PyTorch answers them:

* ``is_available()`` is False and ``device_count()`` 0, so the usual
  ``device = "cuda" if torch.cuda.is_available() else "cpu"`` picks the CPU;
* the seeding calls most scripts make (``manual_seed``, ``manual_seed_all``, ``seed``,
  ``seed_all``) do nothing: PyTorch queues them until CUDA starts, which never happens;
* the memory queries (``memory_allocated`` ...) return 0 and ``empty_cache`` does nothing;
* everything that needs a device (``current_device``, ``synchronize``, ``get_device_name``,
  ``initial_seed``, ``get_rng_state`` ..., and ``.to("cuda")`` / ``.cuda()`` anywhere) raises
  PyTorch's ``AssertionError: Torch not compiled with CUDA enabled``.

>>> import minidl as md
>>> md.cuda.is_available(), md.cuda.device_count()
(False, 0)
>>> md.cuda.manual_seed_all(0)      # accepted, as on a CPU-only PyTorch
"""
from __future__ import annotations

from .. import _C

_NOT_COMPILED = ("Torch not compiled with CUDA enabled (minidl runs on the CPU: use device 'cpu', or pick it with "
                 "'cuda' if md.cuda.is_available() else 'cpu')")


def not_compiled_error() -> AssertionError:
    """The error every CUDA-only call raises, PyTorch's own (an AssertionError).

    >>> import minidl as md
    >>> str(md.cuda.not_compiled_error()).split(" (")[0]
    'Torch not compiled with CUDA enabled'
    """
    return AssertionError(_NOT_COMPILED)


def is_available() -> bool:
    """Whether a CUDA device can be used: False (no CUDA kernels in this build).

    >>> import minidl as md
    >>> md.cuda.is_available()
    False
    """
    return bool(_C.has_cuda()) and device_count() > 0


def device_count() -> int:
    """Number of CUDA devices: 0.

    >>> import minidl as md
    >>> md.cuda.device_count()
    0
    """
    return 0  # device enumeration comes with the CUDA kernels


def is_initialized() -> bool:
    """Whether CUDA has been initialised: never, on the CPU.

    >>> import minidl as md
    >>> md.cuda.is_initialized()
    False
    """
    return False


def manual_seed(seed: int) -> None:
    """Seed the current GPU's generator: nothing to seed here (as on a CPU-only PyTorch, where
    the call is queued until CUDA starts). Seed the CPU with ``md.manual_seed``.

    >>> import minidl as md
    >>> md.cuda.manual_seed(0) is None
    True
    """
    int(seed)  # (a seed that is not a number still fails, as in PyTorch)


def manual_seed_all(seed: int) -> None:
    """Seed every GPU's generator: does nothing, as :func:`manual_seed`.

    >>> import minidl as md
    >>> md.cuda.manual_seed_all(0) is None
    True
    """
    int(seed)


def seed() -> None:
    """Seed the current GPU's generator from the OS: does nothing here (as PyTorch's CPU build).

    >>> import minidl as md
    >>> md.cuda.seed() is None
    True
    """


def seed_all() -> None:
    """Seed every GPU's generator from the OS: does nothing here.

    >>> import minidl as md
    >>> md.cuda.seed_all() is None
    True
    """


def empty_cache() -> None:
    """Release cached GPU memory: there is none.

    >>> import minidl as md
    >>> md.cuda.empty_cache() is None
    True
    """


def memory_allocated(device=None) -> int:
    """Bytes of GPU memory held by tensors: 0. (``max_memory_allocated``,
    ``memory_reserved``, ``max_memory_reserved`` likewise.)

    >>> import minidl as md
    >>> md.cuda.memory_allocated(), md.cuda.max_memory_reserved()
    (0, 0)
    """
    return 0


max_memory_allocated = memory_reserved = max_memory_reserved = memory_allocated


def reset_peak_memory_stats(device=None) -> None:
    """Reset the peak-memory counters: nothing to reset. (A CPU-only PyTorch 2.13 raises an
    AttributeError from its internals here; minidl does nothing instead.)

    >>> import minidl as md
    >>> md.cuda.reset_peak_memory_stats() is None
    True
    """


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """Whether the GPU supports bfloat16: False (no GPU). bfloat16 on the CPU: ``md.autocast``.

    >>> import minidl as md
    >>> md.cuda.is_bf16_supported()
    False
    """
    return False


# --8<-- [start:needs_cuda]
def _needs_cuda(name: str):
    def call(*args, **kwargs):
        raise not_compiled_error()
    call.__name__ = call.__qualname__ = name
    call.__doc__ = (f"``torch.cuda.{name}``: needs a CUDA device, so it raises PyTorch's "
                    "``AssertionError: Torch not compiled with CUDA enabled``.")
    return call


# the calls a CPU-only PyTorch refuses with "Torch not compiled with CUDA enabled"
current_device = _needs_cuda("current_device")
synchronize = _needs_cuda("synchronize")
get_device_name = _needs_cuda("get_device_name")
get_device_capability = _needs_cuda("get_device_capability")
get_device_properties = _needs_cuda("get_device_properties")
set_device = _needs_cuda("set_device")
initial_seed = _needs_cuda("initial_seed")
get_rng_state = _needs_cuda("get_rng_state")
get_rng_state_all = _needs_cuda("get_rng_state_all")
set_rng_state = _needs_cuda("set_rng_state")
set_rng_state_all = _needs_cuda("set_rng_state_all")
# --8<-- [end:needs_cuda]


def __getattr__(name):
    """``md.cuda.amp`` on first use (PEP 562), so that this module stays a leaf of the import
    graph: the tensor factories import it, and cuda.amp imports the autocast machinery."""
    if name == "amp":
        import importlib  # deferred: md.cuda is imported by the tensor factories, before md.amp exists
        return importlib.import_module(".amp", __name__)
    raise AttributeError(f"module 'minidl.cuda' has no attribute '{name}'")
