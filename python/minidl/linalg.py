"""``md.linalg``: linear-algebra functions under PyTorch's ``torch.linalg`` names.

The norms (:func:`vector_norm`, :func:`matrix_norm`, :func:`norm`; in ``ops/norms.py``,
beside ``md.norm`` and ``md.cdist``) and the decompositions :func:`svd`, :func:`svdvals`
and :func:`qr` (``ops/decomposition.py``; the C++ in cpp/ops/decomposition/: one-sided
Jacobi SVD, Householder QR).

>>> import minidl as md
>>> md.linalg.vector_norm(md.tensor([3., 4.]))
tensor(5.0000)
>>> md.linalg.svdvals(md.tensor([[3., 0.], [0., 4.]]))
tensor([4.0000, 3.0000])
"""
from .ops.decomposition import qr, svd, svdvals
from .ops.norms import linalg_norm as norm
from .ops.norms import matrix_norm, vector_norm

__all__ = ["matrix_norm", "norm", "qr", "svd", "svdvals", "vector_norm"]
