"""``md.utils.tensorboard``: ``SummaryWriter``, PyTorch's logger for TensorBoard.

Training curves, weight histograms, images and notes go into event files that TensorBoard
(``tensorboard --logdir runs``) plots. The files are written by the ``tensorboard``
package itself (its protobufs and its event-file writer), an optional extra:
``pip install 'minidl[tensorboard]'``.
"""
from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
