"""``SummaryWriter``: scalars, scalar groups, histograms, images and text into TensorBoard
event files, with PyTorch's method names and arguments.

An event file is a sequence of records, each an ``Event`` protobuf (wall time, step, and a
``Summary`` of tagged values). The protobufs and the record writer (length, CRC, queue,
flush thread) come from the ``tensorboard`` package, so the files are exactly what
TensorBoard reads; this module turns minidl tensors into the summaries: a scalar is a
``simple_value``, a histogram a ``HistogramProto`` (bucket limits and counts), an image a
PNG (encoded by Pillow, a dependency of tensorboard), a text a string tensor tagged for the
text plugin. ``add_graph`` is not implemented (minidl records no forward graph to draw).
"""
from __future__ import annotations

import os
import socket
import time
from datetime import datetime

import numpy as np

from ...ops.dlpack import array_from

_EXTRA = ("md.utils.tensorboard needs the tensorboard package, an optional extra: "
          "pip install 'minidl[tensorboard]' (or: pip install tensorboard)")


def _tensorboard():
    """The tensorboard modules this writer uses; ImportError naming the extra without them."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2  # deferred: optional extra
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # deferred: optional extra
    except ImportError as e:
        raise ImportError(_EXTRA) from e
    return event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, EventFileWriter


def _numpy(value) -> np.ndarray:
    """A tensor, array, list or number as a float64/uint8 NumPy array (for logging only)."""
    arr = array_from(value)
    arr = np.asarray(value) if arr is None else arr
    if arr.dtype.kind == "V":  # bfloat16
        arr = arr.astype(np.float32)
    return arr


def _scalar(value) -> float:
    arr = _numpy(value)
    if arr.size != 1:
        raise ValueError(f"add_scalar: the value must be a single number, got a tensor of shape {arr.shape}")
    return float(arr.reshape(()))


def _tensorflow_bins() -> np.ndarray:
    """TensorBoard's default histogram edges (``bins="tensorflow"``): +-1e-12 * 1.1^k up to
    1e20, symmetric around 0, so small and huge weights both get resolution."""
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    pos = np.array(pos)
    return np.concatenate([-pos[::-1], [0.0], pos, [np.finfo(np.float64).max]])


class SummaryWriter:
    """Write TensorBoard summaries under ``log_dir`` (default ``runs/<date>_<host><comment>``).

    Methods as PyTorch's: ``add_scalar``, ``add_scalars``, ``add_histogram``, ``add_image``,
    ``add_text``, ``flush``, ``close``; usable as a context manager. Values may be minidl or
    PyTorch tensors, NumPy arrays or numbers. ``add_graph`` raises NotImplementedError.

    Where minidl differs: without the ``tensorboard`` package, PyTorch fails at
    ``import torch.utils.tensorboard``; minidl fails when a SummaryWriter is made, with an
    ImportError naming the extra.

    >>> import os, tempfile
    >>> import minidl as md
    >>> from minidl.utils.tensorboard import SummaryWriter
    >>> folder = tempfile.mkdtemp()
    >>> with SummaryWriter(folder) as w:
    ...     for step in range(3):
    ...         w.add_scalar("loss", 1.0 / (step + 1), step)
    >>> [f.startswith("events.out.tfevents") for f in os.listdir(folder)]
    [True]
    """

    def __init__(self, log_dir=None, comment: str = "", purge_step=None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = ""):
        self._pb = _tensorboard()
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self._max_queue, self._flush_secs, self._suffix = max_queue, flush_secs, filename_suffix
        self._writer = self._pb[4](self.log_dir, max_queue, flush_secs, filename_suffix)
        self._scalar_writers = {}  # add_scalars: one writer per sub-run, as PyTorch
        self._closed = False
        if purge_step is not None:  # TensorBoard drops the events after purge_step it saw before a crash
            event = self._pb[0].Event(step=purge_step, file_version="brain.Event:2")
            event.session_log.status = 1  # SessionLog.START
            self._writer.add_event(event)

    def get_logdir(self) -> str:
        """The folder the event files go into."""
        return self.log_dir

    # --- writing events -----------------------------------------------------------------------
    def _add(self, values, global_step, walltime, writer=None):
        if self._closed:
            raise RuntimeError("SummaryWriter: add_* after close()")
        event_pb2, summary_pb2 = self._pb[0], self._pb[1]
        event = event_pb2.Event(summary=summary_pb2.Summary(value=values))
        event.wall_time = time.time() if walltime is None else float(walltime)
        if global_step is not None:
            event.step = int(_scalar(global_step))
        (writer or self._writer).add_event(event)

    def add_scalar(self, tag: str, scalar_value, global_step=None, walltime=None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """Log one number (a loss, an accuracy, a learning rate) at ``global_step``."""
        summary_pb2 = self._pb[1]
        self._add([summary_pb2.Summary.Value(tag=tag, simple_value=_scalar(scalar_value))], global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step=None, walltime=None) -> None:
        """Log several numbers on one chart (e.g. train and validation loss): each key goes to
        its own sub-run ``log_dir/<main_tag>_<key>``, as PyTorch writes it."""
        summary_pb2 = self._pb[1]
        for key, value in tag_scalar_dict.items():
            sub = os.path.join(self.log_dir, f"{main_tag.replace('/', '_')}_{key}")
            writer = self._scalar_writers.get(sub)
            if writer is None:
                writer = self._scalar_writers[sub] = self._pb[4](sub, self._max_queue, self._flush_secs, self._suffix)
            self._add([summary_pb2.Summary.Value(tag=main_tag, simple_value=_scalar(value))], global_step, walltime,
                      writer)

    def add_histogram(self, tag: str, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None) -> None:
        """Log the distribution of ``values`` (weights, gradients, activations).

        ``bins``: "tensorflow" (TensorBoard's exponential edges, the default), a number, a
        NumPy rule name ("auto", "fd", ...) or explicit edges, as PyTorch passes them on to
        ``np.histogram``; ``max_bins`` merges neighbouring buckets down to at most that many.
        The empty buckets at both ends are dropped, as PyTorch does."""
        summary_pb2 = self._pb[1]
        v = _numpy(values).astype(np.float64).reshape(-1)
        if v.size == 0:
            raise ValueError("add_histogram: the input has no element")
        if not np.isfinite(v).all():
            raise ValueError("add_histogram: the input has NaN or inf values")
        # --8<-- [start:tb_histogram]
        edges = _tensorflow_bins() if isinstance(bins, str) and bins == "tensorflow" else bins
        counts, limits = np.histogram(v, bins=edges)
        if max_bins is not None and counts.size > max_bins:  # merge neighbouring buckets
            group = counts.size // max_bins
            counts = np.pad(counts, (0, (-counts.size) % group)).reshape(-1, group).sum(-1)
            limits = np.append(limits[:-1:group], limits[-1])
        # Keep the buckets from the first to the last non-empty one. TensorBoard stores only
        # each bucket's right edge, so one empty bucket is kept on the left to carry the left
        # edge of the first real one (as PyTorch writes it).
        nonzero = np.nonzero(counts)[0]
        start, end = (nonzero[0], nonzero[-1] + 1) if nonzero.size else (0, 1)
        counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
        limits = limits[start:end + 1]
        # --8<-- [end:tb_histogram]
        hist = summary_pb2.HistogramProto(min=float(v.min()), max=float(v.max()), num=int(v.size),
                                          sum=float(v.sum()), sum_squares=float((v * v).sum()),
                                          bucket_limit=limits.tolist(), bucket=counts.astype(np.float64).tolist())
        self._add([summary_pb2.Summary.Value(tag=tag, histo=hist)], global_step, walltime)

    def add_image(self, tag: str, img_tensor, global_step=None, walltime=None, dataformats: str = "CHW") -> None:
        """Log one image: float values in [0, 1] or uint8 in [0, 255], laid out as
        ``dataformats`` says ("CHW" default, "HWC", "HW"; C = 1 grey, 3 RGB, 4 RGBA)."""
        summary_pb2 = self._pb[1]
        img = _numpy(img_tensor)
        fmt = dataformats.upper()
        if len(fmt) != img.ndim or sorted(fmt) not in (sorted("CHW"), sorted("HW")):
            raise ValueError(f"add_image: dataformats '{dataformats}' does not match an image of shape {img.shape}")
        if fmt == "HW":
            img, fmt = img[None], "CHW"
        img = np.transpose(img, [fmt.index(c) for c in "HWC"])
        if img.shape[2] not in (1, 3, 4):
            raise ValueError(f"add_image: an image needs 1, 3 or 4 channels, got {img.shape[2]}")
        if img.dtype != np.uint8:
            img = (np.clip(img.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        png = _png(img)
        image = summary_pb2.Summary.Image(height=img.shape[0], width=img.shape[1], colorspace=img.shape[2],
                                          encoded_image_string=png)
        self._add([summary_pb2.Summary.Value(tag=tag, image=image)], global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step=None, walltime=None) -> None:
        """Log a text (markdown), shown in TensorBoard's Text tab."""
        summary_pb2, tensor_pb2, shape_pb2 = self._pb[1], self._pb[2], self._pb[3]
        meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
        tensor = tensor_pb2.TensorProto(dtype="DT_STRING", string_val=[str(text_string).encode("utf-8")],
                                        tensor_shape=shape_pb2.TensorShapeProto(
                                            dim=[shape_pb2.TensorShapeProto.Dim(size=1)]))
        self._add([summary_pb2.Summary.Value(tag=tag + "/text_summary", metadata=meta, tensor=tensor)],
                  global_step, walltime)

    def add_graph(self, model, input_to_model=None, verbose: bool = False, use_strict_trace: bool = True):
        """Not in minidl: PyTorch traces the model with TorchScript to draw it; minidl has no
        tracer. ``md.viz`` draws the backward graph instead (when present)."""
        raise NotImplementedError("SummaryWriter.add_graph is not implemented in minidl (it needs a model tracer)")

    # --- lifetime -----------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every queued event to disk now."""
        for w in [self._writer, *self._scalar_writers.values()]:
            w.flush()

    def close(self) -> None:
        """Flush and close the event files (later add_* calls raise)."""
        if self._closed:
            return
        for w in [self._writer, *self._scalar_writers.values()]:
            w.flush()
            w.close()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _png(img: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, C) uint8 image, through Pillow (installed with tensorboard)."""
    import io  # deferred: only images need it
    from PIL import Image  # deferred: Pillow comes with the tensorboard extra
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[img.shape[2]]
    buf = io.BytesIO()
    Image.fromarray(img[:, :, 0] if mode == "L" else img, mode).save(buf, format="PNG")
    return buf.getvalue()
