"""``md.save_safetensors`` / ``md.load_safetensors``: the Hugging Face ``safetensors`` format.

Pretrained checkpoints (``model.safetensors``) live in this format. Its layout, all integers
little-endian::

    offset 0    8 bytes   N, the header length in bytes (uint64)
    offset 8    N bytes   header: UTF-8 JSON, padded with spaces to a multiple of 8 bytes
    offset 8+N  D bytes   the data buffer: every tensor's elements, C order, little-endian

The header is one JSON object: ``{"__metadata__": {str: str, ...}, NAME: {"dtype": "F32",
"shape": [2, 3], "data_offsets": [begin, end]}, ...}`` (``__metadata__`` optional), offsets
relative to the start of the buffer. The tensors fill the buffer exactly, with neither holes
nor overlaps, so the file is ``8 + N + D`` bytes and every byte belongs to one tensor.
The dtypes minidl reads and writes are ``F64 F32 F16 BF16 I64 BOOL`` (bool: one byte, 0 or 1;
BF16: the upper 16 bits of a float32); the format's others (``I32``, ``U8``, ``F8_E4M3``, ...)
have no minidl dtype and are refused with an error that says so.

Why minidl parses the format itself rather than calling the ``safetensors`` package (an
optional extra, ``pip install 'minidl[safetensors]'``): its loaders accept files ``md.load``
refuses (checked with safetensors 0.8.0: a JSON key given twice loads the last one, BOOL bytes
other than 0 and 1 load as True, unknown keys in a tensor's entry are ignored); its NumPy API
returns arrays copied out of the file, not views of a mapping; and its bfloat16 support there
depends on the version and on ``ml_dtypes``. A parser of a few dozen lines is also the lesson:
a checkpoint format is a header that describes byte ranges, and every number in it comes from
the file, so every number is checked before it is used, and no memory is allocated before. The package is still the
reference: the tests write files with ``safetensors.torch.save_file`` and read them here, and
the other way round, bit for bit. ``md.save_safetensors`` writes the same bytes as
``save_file`` (same tensor order, same JSON spacing and padding) for metadata with one key or
none; with more, the key order of ``__metadata__`` may differ (the package's is a hash map's).

Loading maps the file into memory copy-on-write (``mmap.ACCESS_COPY``): the returned tensors
are views of the mapping, so loading copies nothing and only the pages a program touches are
read from disk. They are writable, and a write (``t.add_(1)``, an optimizer step) copies the
touched page privately: it is never written back to the file. A tensor whose bytes are not
aligned to its itemsize in the file (no writer of this format produces that) is copied, so
the kernels never see a misaligned array; on a big-endian machine every multi-byte tensor is
copied (byte-swapped). Files are replaced, never modified in place, by ``md.save_safetensors``
(through :mod:`minidl.atomic_write`), so a mapping keeps seeing the file it loaded; a program
that rewrites the bytes of a loaded file in place may change the tensors that were not written.

The limits against hostile files are those of ``md.load`` (:data:`minidl.io.MAX_HEADER_BYTES`,
:data:`minidl.io.MAX_TENSORS`, :data:`minidl.io.MAX_NDIM`): raise them for a file you trust.
"""
from __future__ import annotations

import json
import math
import mmap
import os
import struct
import sys

import numpy as np

from . import dtypes as _dt
from . import io as _io
from .atomic_write import replace_atomically
from .io import CheckpointError
from .tensor import Tensor, device as _device

__all__ = ["save_safetensors", "load_safetensors", "safetensors_metadata", "SafetensorsError", "DTYPES"]

#: the format's dtype names of the minidl dtypes
DTYPES = {"F64": _dt.float64, "F32": _dt.float32, "F16": _dt.float16, "BF16": _dt.bfloat16, "I64": _dt.int64,
          "BOOL": _dt.bool_}
_NAMES = {d: name for name, d in DTYPES.items()}
# The format's other dtypes: named in the error, so that a file of int32 or uint8 tensors is not
# reported as corrupt.
_FOREIGN = ("I8", "I16", "I32", "U8", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2",
            "F4", "C64")
# save_file's tensor order: dtypes in decreasing order of its Rust enum (widest first, so that
# every tensor is aligned), then names. Among the minidl dtypes that enum runs
# BOOL < F16 < BF16 < F32 < F64 < I64.
_WRITE_RANK = {_dt.int64: 0, _dt.float64: 1, _dt.float32: 2, _dt.bfloat16: 3, _dt.float16: 4, _dt.bool_: 5}
_METADATA = "__metadata__"
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


class SafetensorsError(CheckpointError):
    """A file that is not a valid safetensors file, or one minidl can't hold (the message says which)."""


# --- saving ------------------------------------------------------------------------------
def _check_tensors(tensors) -> list:
    if not isinstance(tensors, dict):
        raise TypeError(f"md.save_safetensors: tensors must be a dict of str -> Tensor, got {type(tensors).__name__}")
    items = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"md.save_safetensors: tensor names must be str, "
                            f"got {type(name).__name__} {_io._short(name)}")
        if name == _METADATA:
            raise ValueError(f"md.save_safetensors: {_METADATA!r} is reserved for the metadata; rename that tensor")
        if not isinstance(t, Tensor):
            raise TypeError(f"md.save_safetensors: the value of {_io._short(name)} is a {type(t).__name__}, "
                            "not a Tensor")
        items.append((name, t._data))
    if len(items) > _io.MAX_TENSORS:  # never write what load_safetensors refuses
        raise ValueError(f"md.save_safetensors: {len(items)} tensors, more than the {_io.MAX_TENSORS} "
                         "md.load_safetensors accepts (minidl.io.MAX_TENSORS); raise the limit if you need to")
    return items


def _check_metadata(metadata):
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise TypeError(f"md.save_safetensors: metadata must be a dict of str -> str or None, "
                        f"got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            bad = k if not isinstance(k, str) else v
            raise TypeError(f"md.save_safetensors: metadata holds str keys and str values only, got "
                            f"{type(bad).__name__} {_io._short(bad)} (convert numbers with str() first)")
    return metadata


def _header_bytes(items, metadata) -> bytes:
    header = {} if metadata is None else {_METADATA: metadata}
    offset = 0
    for name, arr in items:
        nbytes = arr.size * arr.dtype.itemsize
        header[name] = {"dtype": _NAMES[_dt_of(arr)], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > _io.MAX_HEADER_BYTES:
        raise ValueError(f"md.save_safetensors: the header would take {len(text)} bytes, more than the "
                         f"{_io.MAX_HEADER_BYTES} md.load_safetensors accepts (minidl.io.MAX_HEADER_BYTES)")
    return text


def _dt_of(arr: np.ndarray):
    return next(d for d in _dt.ALL if d.np == arr.dtype)


def save_safetensors(tensors, path, metadata=None) -> None:
    """Write ``tensors`` (a dict of name -> Tensor) to ``path`` in the safetensors format.

    The counterpart of ``safetensors.torch.save_file(tensors, filename, metadata)``: the file
    loads there, and in ``md.load_safetensors``, bit for bit; see the module docstring for the
    layout. ``metadata`` is ``None`` or a dict of str -> str (stored as ``__metadata__``). The
    write is atomic (:mod:`minidl.atomic_write`): a crash leaves the previous file untouched.

    Where minidl differs from ``save_file``: a non-contiguous tensor is written as its elements
    (``save_file`` raises), tensors that share memory are each written in full (``save_file``
    raises), and a tensor named ``"__metadata__"`` is a ``ValueError`` (``save_file`` writes
    a file it can't read back). Gradients and ``requires_grad`` are not stored.

    >>> import os, tempfile
    >>> import minidl as md
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.safetensors")
    ...     md.save_safetensors({"w": md.ones(2, 3), "b": md.zeros(3)}, path, metadata={"format": "pt"})
    ...     print(os.path.getsize(path))
    188
    """
    items = _check_tensors(tensors)
    metadata = _check_metadata(metadata)
    items.sort(key=lambda item: (_WRITE_RANK[_dt_of(item[1])], item[0]))
    header = _header_bytes(items, metadata)

    def write(f):
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for _, arr in items:
            if arr.size:
                f.write(_io._le_bytes(arr))

    replace_atomically(path, write)


# --- loading -----------------------------------------------------------------------------
def _entry(name, v, buffer_size):
    """(dtype, shape, begin, end) of the header entry ``v`` of the tensor ``name``, checked."""
    where = f"tensor {_io._short(name)}"
    if not isinstance(v, dict) or set(v) != _ENTRY_KEYS:
        keys = sorted(v) if isinstance(v, dict) else type(v).__name__
        raise SafetensorsError(f"bad header entry for {where}: {_io._short(keys)}, expected an object with the keys "
                               "dtype, shape, data_offsets")
    code = v["dtype"]
    if code not in DTYPES:
        if code in _FOREIGN:
            raise SafetensorsError(f"{where} has the safetensors dtype {code}, which minidl has no dtype for "
                                   f"(it holds {', '.join(DTYPES)}); convert the file's tensors, e.g. with torch")
        raise SafetensorsError(f"unknown dtype {_io._short(code)} for {where} (known: {', '.join(DTYPES)})")
    dt = DTYPES[code]
    shape = v["shape"]
    if not (isinstance(shape, list) and len(shape) <= _io.MAX_NDIM and all(_io._is_int(s) and s >= 0 for s in shape)):
        raise SafetensorsError(f"bad shape {_io._short(shape)} for {where} (expected at most {_io.MAX_NDIM} "
                               "non-negative integers)")
    span = dt.itemsize * math.prod(s for s in shape if s)  # see minidl.io: NumPy's limit, even when empty
    if span > _io._MAX_TENSOR_BYTES:
        raise SafetensorsError(f"shape {_io._short(shape)} of {where} is too large: {span} bytes, more than 2**63 - 1")
    offs = v["data_offsets"]
    if not (isinstance(offs, list) and len(offs) == 2 and all(_io._is_int(o) for o in offs)):
        raise SafetensorsError(f"bad data_offsets {_io._short(offs)} for {where} (expected [begin, end])")
    begin, end = offs
    if not 0 <= begin <= end <= buffer_size:
        raise SafetensorsError(f"data_offsets {offs} of {where} lie outside the data buffer [0, {buffer_size}]")
    if end - begin != math.prod(shape) * dt.itemsize:
        raise SafetensorsError(f"data_offsets {offs} of {where} span {end - begin} bytes but shape {shape} "
                               f"of {code} needs {math.prod(shape) * dt.itemsize}")
    return dt, tuple(shape), begin, end


def _parse_header(raw: bytes, buffer_size: int):
    """(metadata, {name: (dtype, shape, begin, end)}) from the header bytes, every range checked."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"header is not valid UTF-8: {e}") from None
    try:
        header = json.loads(text, parse_constant=_io._reject_constant, object_pairs_hook=_io._JsonObjects())
    except RecursionError:
        raise SafetensorsError("header JSON is nested too deeply") from None
    except CheckpointError as e:  # a key given twice
        raise SafetensorsError(str(e)) from None
    except ValueError as e:
        raise SafetensorsError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop(_METADATA, None)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise SafetensorsError(f"__metadata__ must map strings to strings, got {_io._short(metadata)}")
    if len(header) > _io.MAX_TENSORS:
        raise SafetensorsError(f"the header lists {len(header)} tensors, more than the limit of {_io.MAX_TENSORS} "
                               "against hostile files (minidl.io.MAX_TENSORS); raise it if you trust this file")
    entries = {name: _entry(name, v, buffer_size) for name, v in header.items()}
    # The tensors must tile the buffer: sorted by offsets, each begins where the previous ended.
    expected, previous = 0, None
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: (e[1][2], e[1][3])):
        if begin != expected:
            what = (f"overlaps tensor {_io._short(previous)}" if begin < expected
                    else f"leaves a hole of {begin - expected} bytes after byte {expected}")
            raise SafetensorsError(f"data_offsets of tensor {_io._short(name)} [{begin}, {end}] {what}: the tensors "
                                   "must fill the data buffer back to back")
        expected, previous = end, name
    if expected != buffer_size:
        raise SafetensorsError(f"the data buffer has {buffer_size} bytes but the tensors cover {expected}: "
                               f"{buffer_size - expected} trailing bytes belong to no tensor")
    return metadata, entries


def _read_file(path):
    """(metadata, {name: ndarray}) of the safetensors file at ``path``, mapped copy-on-write."""
    with open(os.fspath(path), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise SafetensorsError(f"file truncated: {size} bytes, shorter than the 8-byte header length")
        (hlen,) = struct.unpack("<Q", f.read(8))
        if hlen > size - 8:
            raise SafetensorsError(f"header length {hlen} is larger than the rest of the file ({size - 8} bytes); "
                                   "the file is truncated or not a safetensors file")
        if hlen > _io.MAX_HEADER_BYTES:
            raise SafetensorsError(f"header length {hlen} exceeds the limit of {_io.MAX_HEADER_BYTES} bytes against "
                                   "hostile files (minidl.io.MAX_HEADER_BYTES); raise it if you trust this file")
        start = 8 + hlen
        metadata, entries = _parse_header(f.read(hlen), size - start)
        mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if size > start else None
    arrays = {}
    for name, (dt, shape, begin, end) in entries.items():
        if begin == end:
            arrays[name] = np.empty(shape, dtype=dt.np)
            continue
        raw = np.frombuffer(mapping, dtype=np.uint8, count=end - begin, offset=start + begin)
        if dt.itemsize > 1 and (sys.byteorder == "big" or (start + begin) % dt.itemsize):
            # the kernels expect aligned native-endian arrays: copy this one (see the module docstring)
            raw = raw.view(f"<u{dt.itemsize}").astype(f"=u{dt.itemsize}").view(np.uint8)
        if dt is _dt.bool_ and raw.max() > 1:
            raise SafetensorsError(f"BOOL tensor {_io._short(name)} holds bytes other than 0 and 1")
        arrays[name] = raw.view(dt.np).reshape(shape)
    return metadata, arrays


def load_safetensors(path, device="cpu") -> dict:
    """The tensors of the safetensors file at ``path``, as a dict of name -> Tensor.

    The counterpart of ``safetensors.torch.load_file(filename, device="cpu")``, in the file's
    order of names. The tensors are copy-on-write views of the memory-mapped file (see the
    module docstring): loading copies nothing, and writing to a tensor never changes the file.
    ``device`` moves them (a copy) to another device. Raises :class:`SafetensorsError` (a
    ``ValueError``) naming the problem for a truncated or malformed file: a header length past
    the end, invalid UTF-8 or JSON, a key given twice, an unknown dtype, a bad shape, a byte
    count that disagrees with the shape, offsets outside the buffer, overlapping or leaving holes,
    metadata that is not str -> str. Use :func:`safetensors_metadata` for ``__metadata__``.

    >>> import os, tempfile
    >>> import minidl as md
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.safetensors")
    ...     md.save_safetensors({"w": md.tensor([[1., 2.]]), "step": md.tensor(3)}, path)
    ...     state = md.load_safetensors(path)
    >>> state
    {'step': tensor(3), 'w': tensor([[1.0000, 2.0000]])}
    """
    dev = _device(device)
    _, arrays = _read_file(path)
    out = {name: Tensor._wrap(arr) for name, arr in arrays.items()}
    return out if dev.type == "cpu" else {name: t.to(dev) for name, t in out.items()}


def safetensors_metadata(path):
    """The ``__metadata__`` dict (str -> str) of the safetensors file at ``path``, or None.

    As ``safetensors.safe_open(path, "np").metadata()``; the whole file is validated as by
    :func:`load_safetensors` (nothing is copied).

    >>> import os, tempfile
    >>> import minidl as md
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.safetensors")
    ...     md.save_safetensors({"w": md.ones(1)}, path, metadata={"format": "pt"})
    ...     print(md.safetensors_metadata(path))
    {'format': 'pt'}
    """
    return _read_file(path)[0]
