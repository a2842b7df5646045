"""``md.save`` / ``md.load``: checkpoints in a documented, non-executable format.

A checkpoint holds any nesting of dicts (``str`` or ``int`` keys, ``OrderedDict`` kept),
lists and tuples whose leaves are tensors (every minidl dtype, any shape), Python numbers
(``int``, ``float`` including inf/nan, ``bool``), strings and ``None``: model, optimizer and
scheduler state dicts round-trip bit for bit. Nothing is pickled, nothing is evaluated:
loading a file can only ever produce the plain data described below, or raise
:class:`CheckpointError`.

File layout (all integers little-endian), close to the ``safetensors`` layout::

    offset 0    8 bytes   magic  b"MINIDLCK"
    offset 8    8 bytes   N, the header length in bytes (uint64)
    offset 16   N bytes   header: UTF-8 JSON, padded with spaces so that 16 + N is a
                          multiple of 64
    offset 16+N D bytes   data: the raw bytes of every tensor, C order, little-endian,
                          each tensor starting on a 64-byte boundary (zero padding between)

The file is exactly ``16 + N + D`` bytes long. The header is one JSON object::

    {"format": "minidl.checkpoint", "version": 1, "data_size": D, "root": NODE}

where a NODE is

- JSON ``null`` / ``true`` / ``false`` / a string: ``None`` / ``True`` / ``False`` / ``str``;
- a JSON integer: ``int``; a JSON number with a fraction or exponent: ``float`` (written with
  ``repr``, so it round-trips exactly);
- ``{"type": "float", "value": "inf" | "-inf" | "nan"}``: a non-finite float (the JSON
  literals ``NaN``/``Infinity`` are rejected);
- ``{"type": "list" | "tuple", "items": [NODE, ...]}``;
- ``{"type": "dict", "items": [[KEY, NODE], ...]}`` with KEY a JSON string or integer, so
  ``{1: ...}`` and ``{"1": ...}`` stay distinct; ``"ordered": true`` makes an ``OrderedDict``;
- ``{"type": "tensor", "dtype": NAME, "shape": [int, ...], "data_offsets": [begin, end]}``,
  NAME one of ``float32 float64 float16 bfloat16 int64 bool`` (bool: one byte, 0 or 1;
  bfloat16: the upper 16 bits of the float32), offsets relative to the start of the data
  section, ``end - begin == numel * itemsize``, ``begin % 64 == 0``; tensor ranges never
  overlap and lie inside the data section. ``"requires_grad": true`` may be present.

Any other object, an unknown or missing key, nesting deeper than :data:`MAX_DEPTH`, a header
larger than :data:`MAX_HEADER_BYTES`, more than :data:`MAX_TENSORS` tensors, or a shape whose
non-zero sizes times the itemsize exceed ``2**63 - 1`` bytes (even for an empty tensor: NumPy
can't make the array; PyTorch allows ``torch.empty(2**63 - 1, 0)``) is an error; ``md.save``
refuses to write what ``md.load`` would refuse. The limits guard against hostile files and
can be raised (``minidl.io.MAX_TENSORS = ...``) for files you trust. Tensors are stored by value: a
non-contiguous view is written as its elements, gradients and graph are not stored, and an
``nn.Parameter`` loads back as a plain tensor (``load_state_dict`` copies it in either way).

Writes to a path are atomic (:mod:`minidl.atomic_write`): the bytes go to a file in the
destination directory that has no name while it is written (Linux ``O_TMPFILE``; elsewhere a
named ``.<name>.<pid>.<hex>.tmp``), which is ``fsync``-ed and renamed over the destination.
An exception or a crash (even ``SIGKILL``) mid-save leaves the previous checkpoint untouched
and no partial file behind; with the named fallback a killed save's temporary stays until the
next save of the same path removes it.
"""
from __future__ import annotations

import collections
import io as _pyio
import contextlib
import gc
import json
import math
import numbers
import os
import struct
import sys

import numpy as np

from . import dtypes as _dt
from .atomic_write import replace_atomically
from .tensor import Tensor, device as _device

__all__ = ["save", "load", "CheckpointError", "MAGIC", "VERSION", "MAX_DEPTH", "MAX_HEADER_BYTES", "MAX_TENSORS"]

MAGIC = b"MINIDLCK"
VERSION = 1
FORMAT = "minidl.checkpoint"
ALIGN = 64
# Limits against hostile files, save and load alike (issue 14 item 10). Measured on a busy
# 2-core VM: json.loads takes 0.05-0.3 us and 7-25 bytes of memory per header byte (ints the
# cheapest, floods of empty arrays the dearest), and the header's tensors ~10 us and ~1.4 KB
# each in all (800k zero-size tensors: 17 s, 1.1 GB). A real checkpoint's header has ~110
# bytes per tensor (ResNet-110 with AdamW state: 1673 tensors, 182 KB), so 16 MiB holds
# ~150k tensors and MAX_TENSORS binds first. Raise a limit (minidl.io.MAX_TENSORS = ...) to
# read a file you trust that exceeds it.
MAX_DEPTH = 64                      # containers inside containers
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TENSORS = 100_000
MAX_NDIM = 64
_MAX_TENSOR_BYTES = 2 ** 63 - 1     # itemsize x the non-zero sizes: NumPy's (and int64 strides') limit
_PREFIX = 16                        # magic + header length

_DTYPES = {d.name: d for d in _dt.ALL}
_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


class CheckpointError(ValueError):
    """A file that is not a valid minidl checkpoint (the message says what is wrong)."""


# --- saving ------------------------------------------------------------------------------
def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _encode_key(k, where):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, numbers.Integral)):
        raise TypeError(f"md.save: dict keys must be str or int, got {type(k).__name__} at {where}")
    return k if isinstance(k, str) else int(k)


def _encode(obj, where, depth, tensors, active):
    """The JSON node for ``obj``; tensors are appended to ``tensors`` as (array, node)."""
    if obj is None or isinstance(obj, (bool, np.bool_)):
        return None if obj is None else bool(obj)
    if isinstance(obj, str):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if math.isfinite(v):
            return v
        return {"type": "float", "value": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    if isinstance(obj, Tensor):
        node = {"type": "tensor", "dtype": obj.dtype.name, "shape": list(obj._data.shape),
                "data_offsets": None}
        if obj.requires_grad:
            node["requires_grad"] = True
        tensors.append((obj._data, node))
        return node
    if isinstance(obj, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            raise ValueError(f"md.save: nesting deeper than {MAX_DEPTH} containers at {where}")
        if id(obj) in active:
            raise ValueError(f"md.save: the object contains itself (a reference cycle) at {where}")
        active.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = [[_encode_key(k, where), _encode(v, f"{where}[{k!r}]", depth + 1, tensors, active)]
                         for k, v in obj.items()]
                node = {"type": "dict", "items": items}
                if isinstance(obj, collections.OrderedDict):
                    node["ordered"] = True
                return node
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {"type": kind,
                    "items": [_encode(v, f"{where}[{i}]", depth + 1, tensors, active) for i, v in enumerate(obj)]}
        finally:
            active.discard(id(obj))
    raise TypeError(f"md.save: can't store an object of type {type(obj).__module__}.{type(obj).__qualname__} "
                    f"at {where}; checkpoints hold tensors, numbers, strings, None, dicts, lists and tuples")


def _le_bytes(arr: np.ndarray) -> memoryview:
    """The elements of ``arr`` in C order as little-endian bytes."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.dtype.itemsize > 1:
        flat = flat.view(f"u{flat.dtype.itemsize}")
        if sys.byteorder == "big":
            flat = flat.byteswap()
    return memoryview(flat.view(np.uint8))


def _serialize_header(root, data_size: int) -> bytes:
    header = {"format": FORMAT, "version": VERSION, "data_size": data_size, "root": root}
    text = json.dumps(header, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return text + b" " * (_align(_PREFIX + len(text)) - _PREFIX - len(text))


def _write(f, root, tensors) -> None:
    offset = 0
    for arr, node in tensors:
        nbytes = arr.size * arr.dtype.itemsize
        node["data_offsets"] = [offset, offset + nbytes]
        offset = _align(offset + nbytes)
    data_size = tensors[-1][1]["data_offsets"][1] if tensors else 0
    header = _serialize_header(root, data_size)
    if len(header) > MAX_HEADER_BYTES:  # never write what md.load refuses
        raise ValueError(f"md.save: the checkpoint's header would take {len(header)} bytes, more than the "
                         f"{MAX_HEADER_BYTES} md.load accepts (minidl.io.MAX_HEADER_BYTES); long strings or very "
                         "many tensors? Raise the limit before saving and loading if you need to")
    f.write(MAGIC + struct.pack("<Q", len(header)))
    f.write(header)
    pos = 0
    for arr, node in tensors:
        begin, end = node["data_offsets"]
        if begin > pos:
            f.write(b"\0" * (begin - pos))
        if end > begin:
            f.write(_le_bytes(arr))
        pos = end


def save(obj, f) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of tensors, numbers, str, None) to ``f``.

    ``f`` is a path (str or ``os.PathLike``; written atomically, see the module docstring)
    or a binary file object with ``write`` (written in place). Raises ``TypeError`` for an
    object that can't be stored, naming where it sits in ``obj``.

    Typical use: ``md.save(model.state_dict(), "model.ckpt")``. Where minidl differs from
    PyTorch: ``torch.save`` pickles arbitrary Python objects; minidl writes only data, in
    the documented format above, so a checkpoint can never run code when loaded (and a
    whole model object can't be saved, only its state dict). Tensors are stored by value:
    no gradient, no graph.

    >>> import io
    >>> import minidl as md
    >>> buf = io.BytesIO()
    >>> md.save({"w": md.tensor([1., 2.]), "step": 3}, buf)
    >>> buf.getvalue()[:8]
    b'MINIDLCK'
    """
    tensors = []
    root = _encode(obj, "obj", 0, tensors, set())
    if len(tensors) > MAX_TENSORS:  # never write what md.load refuses
        raise ValueError(f"md.save: {len(tensors)} tensors, more than the {MAX_TENSORS} md.load accepts "
                         "(minidl.io.MAX_TENSORS); raise the limit before saving and loading if you need to")
    if hasattr(f, "write"):
        _write(f, root, tensors)
        return
    replace_atomically(f, lambda out: _write(out, root, tensors))


# --- loading -----------------------------------------------------------------------------
def _reject_constant(name):
    raise CheckpointError(f"header contains the non-standard JSON constant {name}")


def _short(value) -> str:
    """``repr(value)``, cut to 60 characters: messages quote what a hostile file may make huge."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@contextlib.contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector for a block (restored as it was found)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _JsonObjects:
    """``object_pairs_hook`` for ``json.loads``, called once per JSON object as it is parsed.

    Rejects a key given twice, and stops the parse at the tensor node after MAX_TENSORS, so a
    header listing a million tensors costs what MAX_TENSORS of them do (issue 14 item 10).
    """

    def __init__(self):
        self.tensors = 0

    def __call__(self, pairs):
        out = dict(pairs)
        if len(out) != len(pairs):
            seen = set()
            for k, _ in pairs:
                if k in seen:
                    raise CheckpointError(f"header has the key {_short(k)} twice in one JSON object")
                seen.add(k)
        if out.get("type") == "tensor":
            self.tensors += 1
            if self.tensors > MAX_TENSORS:
                raise CheckpointError(f"the header lists more than {MAX_TENSORS} tensors, the limit against hostile "
                                      "files (minidl.io.MAX_TENSORS); raise it if you trust this file")
        return out


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_PLAIN = frozenset([bool, int, float, str, type(None)])  # leaves that decode to themselves


def _where(where: str, key) -> str:
    """The path of an item, for messages: ``obj['layer.weight']``, with long keys cut short."""
    return f"{where}[{_short(key)}]"


class _Decoder:
    def __init__(self, data_size: int):
        self.data_size = data_size
        self.tensors = []  # (begin, end, where, tensor placeholder, (dtype, shape, requires_grad))

    def node(self, v, where, depth):
        if type(v) in _PLAIN:
            return v
        if isinstance(v, list):
            raise CheckpointError(f"bad node at {where}: a bare JSON array (containers are tagged objects)")
        if not isinstance(v, dict):
            raise CheckpointError(f"bad node at {where}: {type(v).__name__}")
        kind = v.get("type")
        if kind == "float":
            self._keys(v, {"type", "value"}, set(), where)
            if not isinstance(v["value"], str) or v["value"] not in _NONFINITE:
                raise CheckpointError(f"bad float at {where}: {_short(v['value'])} (expected 'inf', '-inf' or 'nan')")
            return _NONFINITE[v["value"]]
        if kind == "tensor":
            return self.tensor(v, where)
        if kind in ("list", "tuple", "dict"):
            if depth >= MAX_DEPTH:
                raise CheckpointError(f"nested too deeply: more than {MAX_DEPTH} containers at {where}")
            items = v.get("items")
            if not isinstance(items, list):
                raise CheckpointError(f"bad {kind} at {where}: 'items' must be a JSON array")
            if kind == "dict":
                self._keys(v, {"type", "items"}, {"ordered"}, where)
                ordered = v.get("ordered", False)
                if not isinstance(ordered, bool):
                    raise CheckpointError(f"bad dict at {where}: 'ordered' must be true or false")
                out = collections.OrderedDict() if ordered else {}
                for pair in items:
                    if not (isinstance(pair, list) and len(pair) == 2):
                        raise CheckpointError(f"bad dict at {where}: an item is not a [key, value] pair")
                    k = pair[0]
                    if not (isinstance(k, str) or _is_int(k)):
                        raise CheckpointError(f"bad dict key at {where}: {_short(k)} (keys are strings or integers)")
                    if k in out:
                        raise CheckpointError(f"bad dict at {where}: key {_short(k)} appears twice")
                    x = pair[1]
                    out[k] = x if type(x) in _PLAIN else self.node(x, _where(where, k), depth + 1)
                return out
            self._keys(v, {"type", "items"}, set(), where)
            # the path string is built only for containers and tensors: it is the cost of a node
            vals = [x if type(x) in _PLAIN else self.node(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(items)]
            return tuple(vals) if kind == "tuple" else vals
        raise CheckpointError(f"unknown node type {_short(kind)} at {where}")

    @staticmethod
    def _keys(v, required, optional, where):
        keys = set(v)
        if not required <= keys or not keys <= required | optional:
            raise CheckpointError(f"bad {v.get('type')} node at {where}: keys {_short(sorted(keys))}, expected "
                                  f"{sorted(required)}" + (f" and optionally {sorted(optional)}" if optional else ""))

    def tensor(self, v, where):
        self._keys(v, {"type", "dtype", "shape", "data_offsets"}, {"requires_grad"}, where)
        name = v["dtype"]
        if not isinstance(name, str) or name not in _DTYPES:
            raise CheckpointError(f"unknown dtype {_short(name)} for the tensor at {where} "
                                  f"(known: {', '.join(_DTYPES)})")
        dt = _DTYPES[name]
        shape = v["shape"]
        if not (isinstance(shape, list) and len(shape) <= MAX_NDIM and all(_is_int(s) and s >= 0 for s in shape)):
            raise CheckpointError(f"bad shape {_short(shape)} for the tensor at {where} (expected at most "
                                  f"{MAX_NDIM} non-negative integers)")
        # An empty tensor needs no data, but NumPy still multiplies its other sizes into byte
        # strides (issue 14 item 7: [2**63 - 1, 0] made np.empty raise "array is too big").
        # PyTorch accepts some of these shapes (torch.empty(2**63 - 1, 0)); minidl can't hold them.
        span = dt.itemsize * math.prod(s for s in shape if s)
        if span > _MAX_TENSOR_BYTES:
            raise CheckpointError(f"shape {_short(shape)} of the tensor at {where} is too large: {dt.itemsize} bytes per "
                                  f"{name} element times its non-zero sizes make {span} bytes, more than the "
                                  f"limit of 2**63 - 1 (the largest byte stride an array can have)")
        offs = v["data_offsets"]
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) for o in offs)):
            raise CheckpointError(f"bad data_offsets {_short(offs)} for the tensor at {where}")
        begin, end = offs
        numel = math.prod(shape)
        if not 0 <= begin <= end <= self.data_size:
            raise CheckpointError(f"data_offsets {_short(offs)} of the tensor at {where} lie outside the data section "
                                  f"[0, {self.data_size}]")
        if end - begin != numel * dt.itemsize:
            raise CheckpointError(f"data_offsets {_short(offs)} of the tensor at {where} span {end - begin} bytes "
                                  f"but shape {_short(shape)} of {name} needs {numel * dt.itemsize}")
        if begin % ALIGN:
            raise CheckpointError(f"data_offsets {_short(offs)} of the tensor at {where} are not {ALIGN}-byte aligned")
        rg = v.get("requires_grad", False)
        if not isinstance(rg, bool) or (rg and not dt.is_floating_point):
            raise CheckpointError(f"bad requires_grad {_short(rg)} for the tensor at {where}")
        # memory is allocated only once every range has been checked (see _read)
        t = Tensor._wrap(None)
        self.tensors.append((begin, end, where, t, (dt, tuple(shape), rg)))
        return t

    def check_overlaps(self):
        prev_end, prev_where = 0, None
        for begin, end, where, _, _ in sorted(self.tensors, key=lambda e: (e[0], e[1])):
            if begin < prev_end and end > begin:
                raise CheckpointError(f"the data of the tensors at {prev_where} and {where} overlap")
            if end > begin:
                prev_end, prev_where = end, where


def _read_exact(f, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CheckpointError(f"file truncated: expected {n} bytes of {what}, got {len(data)}")
    return data


def _read(f, size: int):
    if size < _PREFIX:
        raise CheckpointError(f"file truncated: {size} bytes, shorter than the {_PREFIX}-byte prefix")
    # --8<-- [start:read_prefix]
    prefix = _read_exact(f, _PREFIX, "prefix")
    if prefix[:8] != MAGIC:
        hint = " (it looks like a pickle, e.g. from torch.save; minidl never unpickles)" \
            if prefix[:1] == b"\x80" or prefix[:2] == b"PK" else ""
        raise CheckpointError(f"not a minidl checkpoint: bad magic {prefix[:8]!r}, expected {MAGIC!r}{hint}")
    (hlen,) = struct.unpack("<Q", prefix[8:])
    if hlen > size - _PREFIX:
        raise CheckpointError(f"header length {hlen} is larger than the rest of the file ({size - _PREFIX} bytes); "
                              "the file is truncated or corrupt")
    if hlen > MAX_HEADER_BYTES:
        raise CheckpointError(f"header length {hlen} exceeds the limit of {MAX_HEADER_BYTES} bytes against hostile "
                              "files (minidl.io.MAX_HEADER_BYTES); raise it if you trust this file")
    # --8<-- [end:read_prefix]
    raw = _read_exact(f, hlen, "header")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"header is not valid UTF-8: {e}") from None
    # The parse makes one dict per JSON object, and none of them can be part of a cycle: the
    # cyclic collector, which walks every object of the process on each full collection that
    # the new dicts trigger, is paused (200k tensors: 0.27 s of CPU alone, 1.0 s inside the
    # test suite's large process).
    try:
        with _collector_paused():
            header = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_JsonObjects())
    except RecursionError:
        raise CheckpointError("header JSON is nested too deeply") from None
    except CheckpointError:
        raise
    except ValueError as e:  # JSONDecodeError, or an integer with too many digits
        raise CheckpointError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError("header is not a JSON object")
    if header.get("format") != FORMAT:
        raise CheckpointError(f"header format is {_short(header.get('format'))}, expected {FORMAT!r}")
    version = header.get("version")
    if version != VERSION or not _is_int(version):
        raise CheckpointError(f"unsupported checkpoint version {_short(version)} (this minidl reads version {VERSION})")
    extra = set(header) - {"format", "version", "data_size", "root"}
    if extra or "root" not in header:
        raise CheckpointError(f"header keys {_short(sorted(header))}, expected format, version, data_size, root")
    data_size = header.get("data_size")
    if not _is_int(data_size) or data_size < 0:
        raise CheckpointError(f"bad data_size {_short(data_size)}")
    if _PREFIX + hlen + data_size != size:
        raise CheckpointError(f"file is {size} bytes but the header describes {_PREFIX + hlen + data_size} "
                              f"({'truncated' if size < _PREFIX + hlen + data_size else 'trailing bytes'})")
    dec = _Decoder(data_size)
    try:
        obj = dec.node(header["root"], "obj", 0)
    except RecursionError:
        raise CheckpointError("header JSON is nested too deeply") from None
    dec.check_overlaps()
    start = _PREFIX + hlen
    # --8<-- [start:read_tensors]
    for begin, end, where, t, (dt, shape, rg) in sorted(dec.tensors, key=lambda e: e[0]):
        try:
            t._data = arr = np.empty(shape, dtype=dt.np)
        except ValueError as e:  # a limit of this NumPy (e.g. 32 dimensions before NumPy 2)
            raise CheckpointError(f"can't hold the tensor at {where} of shape {list(shape)}: {e}") from None
        t._rg = rg
        if end == begin:
            continue
        f.seek(start + begin)
        buf = arr.reshape(-1).view(np.uint8)
        if f.readinto(memoryview(buf)) != end - begin:
            raise CheckpointError(f"file truncated while reading the tensor at {where}")
        if sys.byteorder == "big" and arr.dtype.itemsize > 1:
            arr.view(f"u{arr.dtype.itemsize}").byteswap(inplace=True)
        if arr.dtype == np.bool_ and buf.max(initial=0) > 1:
            raise CheckpointError(f"bool tensor at {where} holds bytes other than 0 and 1")
    # --8<-- [end:read_tensors]
    return obj


def _check_map_location(map_location):
    if map_location is None:
        return None
    if isinstance(map_location, (str, _device)):
        dev = _device(map_location)
        return None if dev.type == "cpu" else dev
    raise TypeError(f"md.load: map_location must be None, a device or a device string, got "
                    f"{type(map_location).__name__} (dicts and callables are not supported)")


def _move(obj, dev):
    if isinstance(obj, Tensor):
        return obj.to(dev)
    if isinstance(obj, dict):
        out = type(obj)()
        for k, v in obj.items():
            out[k] = _move(v, dev)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(v, dev) for v in obj)
    return obj


def load(f, map_location=None, weights_only=None, **kwargs):
    """Read a checkpoint written by :func:`save` from a path or a binary file object.

    ``map_location`` (None, ``"cpu"`` or a device) and ``weights_only`` (None/True/False) are
    accepted for PyTorch compatibility; the format can only hold data, so loading is always
    "weights only". Raises :class:`CheckpointError` (a ``ValueError``) for anything that is not
    a valid checkpoint, naming the problem; nothing in the file is ever executed.

    The object comes back with the same nesting and types (dict, OrderedDict, list,
    tuple, int, float, bool, str, None) and tensors bit for bit, with their
    ``requires_grad`` flag but no ``.grad`` and no graph (leaves). Typical use:
    ``model.load_state_dict(md.load("model.ckpt"))``.

    >>> import io
    >>> import minidl as md
    >>> buf = io.BytesIO()
    >>> md.save({"w": md.tensor([1., 2.]), "step": 3}, buf)
    >>> _ = buf.seek(0)
    >>> md.load(buf)
    {'w': tensor([1.0000, 2.0000]), 'step': 3}
    """
    if kwargs:
        raise TypeError(f"md.load got unexpected keyword argument(s): {', '.join(kwargs)}")
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(f"md.load: weights_only must be a bool or None, got {type(weights_only).__name__}")
    dev = _check_map_location(map_location)
    if hasattr(f, "read"):
        if hasattr(f, "readinto") and hasattr(f, "seek") and getattr(f, "seekable", lambda: False)():
            here = f.tell()
            size = f.seek(0, os.SEEK_END) - here
            f.seek(here)
            if here:  # offsets are relative to the start of the checkpoint
                f = _pyio.BytesIO(f.read())
        else:
            data = f.read()
            size, f = len(data), _pyio.BytesIO(data)
        obj = _read(f, size)
    else:
        with open(os.fspath(f), "rb") as fh:
            obj = _read(fh, os.fstat(fh.fileno()).st_size)
    return obj if dev is None else _move(obj, dev)
