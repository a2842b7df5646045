"""``md.backends``: the backend switches of ``torch.backends``, as a CPU-only PyTorch has them.

PyTorch scripts set these before training (``torch.backends.cudnn.benchmark = True``,
``torch.backends.cuda.matmul.allow_tf32 = True``) or ask them
(``torch.backends.mps.is_available()``). minidl has no cuDNN, CUDA, MPS or oneDNN: the flags
are kept (reading back what was set) and the ``is_available()`` answers are False, so those
scripts take their CPU path. ``md.backends.cpu`` describes minidl's own CPU kernels; the
switch between minidl's kernel sets is ``md.backend`` (singular: ``md.backend.use("scalar")``).

>>> import minidl as md
>>> md.backends.cudnn.is_available(), md.backends.mps.is_available()
(False, False)
>>> md.backends.cudnn.benchmark = True     # accepted, as on a CPU-only PyTorch
>>> md.backends.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")
True
>>> md.backends.cudnn.benchmark = False    # PyTorch's default again
"""
from . import cpu, cuda, cudnn, mkldnn, mps, openmp  # noqa: F401
