"""md.save_safetensors / md.load_safetensors (issue 17 item 1): bit-exact round trips for every
dtype, interop both ways with ``safetensors.torch`` (byte-identical files), metadata, zero-copy
copy-on-write loading, and hostile files, each refused with a message that names the problem."""
from __future__ import annotations

import json
import mmap
import os
import struct

import numpy as np
import pytest

from conftest import require

import minidl as md
from minidl import io as mdio
from minidl.safetensors_io import SafetensorsError

torch = require("torch")


@pytest.fixture
def st():
    """safetensors.torch, the reference; the tests without it (hostile files, ...) run anyway."""
    return require("safetensors.torch")


DTYPES = [md.float32, md.float64, md.float16, md.bfloat16, md.int64, md.bool]
TORCH_DTYPES = {md.float32: torch.float32, md.float64: torch.float64, md.float16: torch.float16,
                md.bfloat16: torch.bfloat16, md.int64: torch.int64, md.bool: torch.bool}
SHAPES = [(), (1,), (0,), (3, 0, 2), (5,), (3, 7), (2, 1, 3)]


def random_array(rng, dtype, shape):
    """Values of every kind the dtype holds: negatives, tiny, huge, inf and nan for floats."""
    if dtype is md.bool:
        return rng.random(shape) < 0.5
    if dtype is md.int64:
        return rng.integers(-2 ** 62, 2 ** 62, size=shape, dtype=np.int64)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-5, 5, size=shape)).astype(dtype.np)
    if x.size >= 3:
        x.reshape(-1)[:3] = [np.inf, -np.inf, np.nan]
    return x


def raw_bytes(arr: np.ndarray) -> bytes:
    return arr.tobytes(order="C")


def to_torch(arr: np.ndarray):
    """The torch tensor with the same bytes (torch.from_numpy has no bfloat16)."""
    arr = np.array(arr, order="C")  # a copy that keeps a 0-d shape (np.ascontiguousarray makes it 1-d)
    if arr.dtype == md.bfloat16.np:
        return torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(arr)


def torch_bytes(t) -> bytes:
    t = t.contiguous()
    return t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()


def some_tensors(rng):
    return {f"{dt.name}.{i}": md.tensor(random_array(rng, dt, shape), dtype=dt)
            for dt in DTYPES for i, shape in enumerate(SHAPES)}


# --- round trips -------------------------------------------------------------------------
def test_round_trip_every_dtype_and_shape_bit_exact(tmp_path, rng):
    tensors = some_tensors(rng)
    tensors["transposed"] = md.tensor(random_array(rng, md.float32, (3, 4))).t()  # written as its elements
    tensors["sliced"] = md.tensor(random_array(rng, md.bfloat16, (6,)), dtype=md.bfloat16)[::2]
    path = tmp_path / "a.safetensors"
    md.save_safetensors(tensors, path)
    loaded = md.load_safetensors(path)
    assert set(loaded) == set(tensors)
    for name, t in tensors.items():
        assert loaded[name].dtype is t.dtype and loaded[name].shape == t.shape, name
        assert raw_bytes(loaded[name]._data) == raw_bytes(t._data), name
        assert not loaded[name].requires_grad


def test_files_are_byte_identical_to_safetensors_torch(tmp_path, rng, st):
    for metadata in (None, {"format": "pt"}, {}):
        tensors = some_tensors(rng)
        ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
        md.save_safetensors(tensors, ours, metadata=metadata)
        st.save_file({k: to_torch(v._data) for k, v in tensors.items()}, theirs, metadata=metadata)
        assert ours.read_bytes() == theirs.read_bytes(), metadata


def test_minidl_file_loads_in_safetensors_torch(tmp_path, rng, st):
    tensors = some_tensors(rng)
    path = tmp_path / "m.safetensors"
    md.save_safetensors(tensors, path, metadata={"a": "1", "name": "é ü"})
    loaded = st.load_file(path)
    for name, t in tensors.items():
        assert loaded[name].dtype == TORCH_DTYPES[t.dtype] and tuple(loaded[name].shape) == t.shape
        assert torch_bytes(loaded[name]) == raw_bytes(t._data), name
    with st.safe_open(path, "pt") as f:
        assert f.metadata() == {"a": "1", "name": "é ü"}


def test_safetensors_torch_file_loads_in_minidl(tmp_path, rng, st):
    tensors = {k: to_torch(v._data) for k, v in some_tensors(rng).items()}
    tensors["noncontiguous_made_contiguous"] = torch.arange(12.).reshape(3, 4).t().contiguous()
    path = tmp_path / "t.safetensors"
    st.save_file(tensors, path, metadata={"format": "pt", "n": "3"})
    loaded = md.load_safetensors(path)
    assert set(loaded) == set(tensors)
    for name, t in tensors.items():
        assert TORCH_DTYPES[loaded[name].dtype] == t.dtype and loaded[name].shape == tuple(t.shape)
        assert raw_bytes(loaded[name]._data) == torch_bytes(t), name
    assert md.safetensors_metadata(path) == {"format": "pt", "n": "3"}


def test_metadata_round_trip_and_absence(tmp_path):
    path = tmp_path / "m.safetensors"
    md.save_safetensors({"w": md.ones(2)}, path, metadata={"k": "v", "empty": "", "ключ": "значение"})
    assert md.safetensors_metadata(path) == {"k": "v", "empty": "", "ключ": "значение"}
    md.save_safetensors({"w": md.ones(2)}, path)
    assert md.safetensors_metadata(path) is None


def test_empty_files(tmp_path, st):
    path = tmp_path / "e.safetensors"
    md.save_safetensors({}, path)
    assert path.read_bytes() == struct.pack("<Q", 8) + b"{}      "
    assert md.load_safetensors(path) == {} and st.load_file(path) == {}
    md.save_safetensors({"a": md.zeros(0, 3), "b": md.zeros(0, dtype=md.int64)}, path)
    loaded = md.load_safetensors(path)
    assert loaded["a"].shape == (0, 3) and loaded["b"].dtype is md.int64


# --- zero copy, copy on write ------------------------------------------------------------
def mapping_of(arr: np.ndarray):
    """The mmap.mmap an array views, found along its chain of bases, or None."""
    base = arr
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return None


def test_loading_is_zero_copy(tmp_path, rng):
    tensors = some_tensors(rng)
    path = tmp_path / "z.safetensors"
    md.save_safetensors(tensors, path)
    for name, t in md.load_safetensors(path).items():
        if t.numel():
            assert mapping_of(t._data) is not None, name


def test_writes_to_loaded_tensors_never_reach_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    md.save_safetensors({"w": md.arange(6.).reshape(2, 3), "b": md.tensor([True, False])}, path)
    before = path.read_bytes()
    loaded = md.load_safetensors(path)
    loaded["w"].add_(100.0)                      # a kernel writing through the mapping
    loaded["w"][0, 0] = -1.0                     # an indexed write
    assert mapping_of(loaded["w"]._data) is not None  # written in place, in the private pages
    loaded["b"][1] = True
    loaded["b"][0] = False
    assert loaded["w"].tolist() == [[-1.0, 101.0, 102.0], [103.0, 104.0, 105.0]]
    assert loaded["b"].tolist() == [False, True]
    del loaded
    assert path.read_bytes() == before
    assert md.load_safetensors(path)["w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_gradients_flow_through_loaded_tensors(tmp_path):
    path = tmp_path / "g.safetensors"
    md.save_safetensors({"w": md.tensor([1.0, 2.0, 3.0])}, path)
    w = md.load_safetensors(path)["w"].requires_grad_()
    (w * w).sum().backward()
    assert w.grad.tolist() == [2.0, 4.0, 6.0]


def test_saving_replaces_the_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "a.safetensors"
    md.save_safetensors({"w": md.ones(3)}, path)
    before = path.read_bytes()

    def fail(arr):
        raise OSError("disk full")

    monkeypatch.setattr(mdio, "_le_bytes", fail)
    with pytest.raises(OSError, match="disk full"):
        md.save_safetensors({"w": md.zeros(3)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["a.safetensors"]


def test_device_argument(tmp_path):
    path = tmp_path / "d.safetensors"
    md.save_safetensors({"w": md.ones(2)}, path)
    assert md.load_safetensors(path, device="cpu")["w"].device == md.device("cpu")
    assert md.load_safetensors(path, device=md.device("cpu"))["w"].tolist() == [1.0, 1.0]
    with pytest.raises((RuntimeError, ValueError)):
        md.load_safetensors(path, device="nonsense")


# --- bad arguments to save ---------------------------------------------------------------
@pytest.mark.parametrize("tensors, metadata, error, match", [
    ([md.ones(1)], None, TypeError, "must be a dict"),
    ({1: md.ones(1)}, None, TypeError, "names must be str"),
    ({"w": np.ones(1)}, None, TypeError, "not a Tensor"),
    ({"__metadata__": md.ones(1)}, None, ValueError, "reserved"),
    ({"w": md.ones(1)}, {"epoch": 3}, TypeError, "str values only"),
    ({"w": md.ones(1)}, {1: "a"}, TypeError, "str keys"),
    ({"w": md.ones(1)}, [("a", "b")], TypeError, "metadata must be a dict"),
])
def test_save_refuses_bad_arguments(tmp_path, tensors, metadata, error, match):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(error, match=match):
        md.save_safetensors(tensors, path, metadata=metadata)
    assert not path.exists()


def test_save_refuses_what_load_would_refuse(tmp_path, monkeypatch):
    monkeypatch.setattr(mdio, "MAX_TENSORS", 2)
    with pytest.raises(ValueError, match="MAX_TENSORS"):
        md.save_safetensors({str(i): md.ones(1) for i in range(3)}, tmp_path / "x")
    monkeypatch.setattr(mdio, "MAX_HEADER_BYTES", 64)
    with pytest.raises(ValueError, match="MAX_HEADER_BYTES"):
        md.save_safetensors({"x" * 100: md.ones(1)}, tmp_path / "x")


# --- hostile files -----------------------------------------------------------------------
def write_file(path, header, data=b"", header_length=None):
    """A file with ``header`` (a dict, made JSON, or raw bytes) and the data buffer ``data``."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if header_length is None else header_length) + raw + data)
    return path


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


HOSTILE = [
    ("header length past the end", b"{}", b"", 1000, "larger than the rest of the file"),
    ("header length of 2**64 - 1", b"{}", b"", 2 ** 64 - 1, "larger than the rest of the file"),
    ("invalid UTF-8", b'{"\xff": 1}', b"", None, "not valid UTF-8"),
    ("invalid JSON", b'{"w": ', b"", None, "not valid JSON"),
    ("NaN constant", b'{"__metadata__": {"a": NaN}}', b"", None, "NaN"),
    ("a JSON array", b"[]", b"", None, "not an object"),
    ("key given twice", b'{"w": %s, "w": %s}' % (json.dumps(entry()).encode(), json.dumps(entry()).encode()),
     bytes(8), None, "twice"),
    ("unknown dtype", {"w": entry(dtype="F128")}, bytes(8), None, "unknown dtype 'F128'"),
    ("dtype minidl lacks", {"w": entry(dtype="I32")}, bytes(8), None, "I32, which minidl has no dtype for"),
    ("dtype not a string", {"w": entry(dtype=4)}, bytes(8), None, "unknown dtype 4"),
    ("negative shape", {"w": entry(shape=(-2,))}, bytes(8), None, "bad shape"),
    ("float shape", {"w": entry(shape=(2.0,))}, bytes(8), None, "bad shape"),
    ("bool shape", {"w": entry(shape=(True, 2))}, bytes(8), None, "bad shape"),
    ("string shape", {"w": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}, bytes(8), None, "bad shape"),
    ("too many dims", {"w": entry(shape=(1,) * 65, offsets=(0, 4))}, bytes(4), None, "bad shape"),
    ("huge empty shape", {"w": entry(shape=(2 ** 62, 2 ** 62, 0), offsets=(0, 0))}, b"", None, "too large"),
    ("byte count != shape", {"w": entry(shape=(3,))}, bytes(8), None, "span 8 bytes but shape \\[3\\]"),
    ("huge shape, small file", {"w": entry(shape=(2 ** 40,), offsets=(0, 2 ** 42))}, bytes(8), None,
     "outside the data buffer"),
    ("offsets out of bounds", {"w": entry(offsets=(8, 16))}, bytes(8), None, "outside the data buffer"),
    ("end before begin", {"w": entry(offsets=(8, 0))}, bytes(8), None, "outside the data buffer"),
    ("negative offset", {"w": entry(offsets=(-8, 0))}, bytes(8), None, "outside the data buffer"),
    ("offsets not ints", {"w": entry(offsets=(0.0, 8))}, bytes(8), None, "bad data_offsets"),
    ("three offsets", {"w": entry(offsets=(0, 8, 8))}, bytes(8), None, "bad data_offsets"),
    ("overlapping offsets", {"a": entry(offsets=(0, 8)), "b": entry(offsets=(4, 12))}, bytes(12), None, "overlaps"),
    ("same range twice", {"a": entry(), "b": entry()}, bytes(8), None, "overlaps"),
    ("a hole", {"a": entry(offsets=(0, 8)), "b": entry(offsets=(12, 20))}, bytes(20), None, "hole of 4 bytes"),
    ("hole at the start", {"a": entry(offsets=(4, 12))}, bytes(12), None, "hole of 4 bytes"),
    ("trailing bytes", {"a": entry()}, bytes(12), None, "4 trailing bytes"),
    ("empty tensor inside another", {"a": entry(offsets=(0, 8)), "b": entry(shape=(0,), offsets=(4, 4))},
     bytes(8), None, "overlaps"),
    ("metadata value not a string", {"__metadata__": {"epoch": 3}}, b"", None, "strings to strings"),
    ("metadata a list", {"__metadata__": ["a"]}, b"", None, "strings to strings"),
    ("entry with an extra key", {"w": dict(entry(), extra=1)}, bytes(8), None, "bad header entry"),
    ("entry missing a key", {"w": {"dtype": "F32", "shape": [2]}}, bytes(8), None, "bad header entry"),
    ("entry not an object", {"w": [1, 2]}, bytes(8), None, "bad header entry"),
    ("bool bytes other than 0/1", {"b": entry(dtype="BOOL", shape=(2,), offsets=(0, 2))}, b"\x01\x07", None,
     "bytes other than 0 and 1"),
]


@pytest.mark.parametrize("case, header, data, header_length, match", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_files_are_refused_with_a_clear_message(tmp_path, case, header, data, header_length, match):
    path = write_file(tmp_path / "h.safetensors", header, data, header_length)
    with pytest.raises(SafetensorsError, match=match):
        md.load_safetensors(path)
    with pytest.raises(ValueError):  # SafetensorsError is a ValueError, like md.load's CheckpointError
        md.safetensors_metadata(path)


@pytest.mark.parametrize("size", range(8))
def test_files_shorter_than_the_header_length(tmp_path, size):
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\x08" * size)
    with pytest.raises(SafetensorsError, match=f"file truncated: {size} bytes"):
        md.load_safetensors(path)


def test_every_truncation_of_a_valid_file_is_refused(tmp_path, rng):
    path = tmp_path / "v.safetensors"
    md.save_safetensors({"a": md.randn(3, 2), "b": md.tensor([True, False]), "c": md.arange(3)}, path)
    whole = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    for n in range(len(whole)):
        cut.write_bytes(whole[:n])
        with pytest.raises(SafetensorsError):
            md.load_safetensors(cut)


def test_limits_are_those_of_md_load(tmp_path, monkeypatch):
    path = write_file(tmp_path / "l.safetensors", {str(i): entry(shape=(0,), offsets=(0, 0)) for i in range(5)})
    assert len(md.load_safetensors(path)) == 5
    monkeypatch.setattr(mdio, "MAX_TENSORS", 4)
    with pytest.raises(SafetensorsError, match="more than the limit of 4"):
        md.load_safetensors(path)
    monkeypatch.setattr(mdio, "MAX_HEADER_BYTES", 16)
    with pytest.raises(SafetensorsError, match="exceeds the limit of 16 bytes"):
        md.load_safetensors(path)


def test_misaligned_tensors_are_copied_and_correct(tmp_path):
    # a header of odd length puts the float64 at an odd address: valid, but not what kernels expect
    values = np.array([1.5, -2.25, 3.0])
    header = json.dumps({"w": entry(dtype="F64", shape=(3,), offsets=(0, 24))}).encode() + b" "
    assert (8 + len(header)) % 8
    path = write_file(tmp_path / "m.safetensors", header, values.astype("<f8").tobytes())
    w = md.load_safetensors(path)["w"]
    assert w.tolist() == values.tolist() and w._data.flags.aligned
    assert (w * 2).tolist() == (values * 2).tolist()


def test_a_model_state_dict_round_trips(tmp_path, st):
    md.manual_seed(0)
    model = md.nn.Sequential(md.nn.Linear(5, 7), md.nn.LayerNorm(7), md.nn.Linear(7, 3))
    path = tmp_path / "model.safetensors"
    md.save_safetensors(model.state_dict(), path, metadata={"format": "pt"})
    copy = md.nn.Sequential(md.nn.Linear(5, 7), md.nn.LayerNorm(7), md.nn.Linear(7, 3))
    copy.load_state_dict(md.load_safetensors(path))
    x = md.randn(4, 5)
    assert copy(x).tolist() == model(x).tolist()
    torch_model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.LayerNorm(7), torch.nn.Linear(7, 3))
    torch_model.load_state_dict(st.load_file(path))
    assert np.allclose(torch_model(torch.from_numpy(x.numpy())).detach().numpy(), model(x).detach().numpy(), atol=1e-6)


def test_corrupted_bytes_load_or_raise_safetensors_error(tmp_path, rng):
    """Random byte flips anywhere in a valid file: either a valid file or a SafetensorsError,
    never another exception (a crash, a KeyError, NumPy's "array is too big")."""
    path = tmp_path / "v.safetensors"
    md.save_safetensors({"a": md.randn(3, 2), "b": md.tensor([True, False]), "c": md.arange(3),
                         "d": md.zeros(0, 2, dtype=md.bfloat16)}, path, metadata={"k": "v"})
    whole = bytearray(path.read_bytes())
    bad = tmp_path / "bad.safetensors"
    refused = 0
    for _ in range(400):
        mutated = bytearray(whole)
        for i in rng.integers(0, len(whole), size=rng.integers(1, 4)):
            mutated[i] = int(rng.integers(0, 256))
        bad.write_bytes(bytes(mutated))
        try:
            md.load_safetensors(bad)
        except SafetensorsError:
            refused += 1
    assert refused > 100  # most flips land in the header or break a bool / a length
