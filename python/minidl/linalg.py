"""``md.linalg``: linear-algebra functions under PyTorch's ``torch.linalg`` names.

So far the norms: :func:`vector_norm` and :func:`matrix_norm` (they live in
``ops/norms.py``, beside ``md.norm`` and ``md.cdist``). Decompositions (SVD, QR, ...) are
not in minidl yet.

>>> import minidl as md
>>> md.linalg.vector_norm(md.tensor([3., 4.]))
tensor(5.0000)
"""
from .ops.norms import matrix_norm, vector_norm

__all__ = ["matrix_norm", "vector_norm"]
