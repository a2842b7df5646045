"""``md.utils.dlpack``, as ``torch.utils.dlpack``: ``from_dlpack`` and ``to_dlpack`` (the
code is in ``minidl/ops/dlpack.py``)."""
from ..ops.dlpack import from_dlpack, to_dlpack

__all__ = ["from_dlpack", "to_dlpack"]
