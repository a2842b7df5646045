"""md.save / md.load: bitwise round trips, atomic writes, and corrupt or hostile files."""
import collections
import json
import math
import os
import pathlib
import pickle
import struct

import numpy as np
import pytest

import minidl as md
from minidl import io as mio
from minidl.io import CheckpointError

DTYPES = [md.float32, md.float64, md.float16, md.bfloat16, md.int64, md.bool]


def bits(t):
    """The raw bytes, shape and dtype of a tensor: equality here is bitwise equality."""
    a = np.ascontiguousarray(t.detach().numpy())
    return a.dtype.str, a.shape, a.tobytes()


def assert_same(a, b):
    """Structural, type-exact and bitwise equality of two checkpoint trees."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, md.Tensor):
        assert a.dtype is b.dtype
        assert bits(a) == bits(b)
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            assert type(k) is type([kk for kk in b if kk == k][0])
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b
        if isinstance(a, float):
            assert math.copysign(1, a) == math.copysign(1, b)


def roundtrip(obj, tmp_path):
    path = tmp_path / "ckpt.mdl"
    md.save(obj, path)
    return md.load(path)


def tensor_of(dtype, shape=(3, 5)):
    n = int(np.prod(shape))
    base = np.linspace(-3.7, 5.3, n).reshape(shape)
    if dtype is md.bool:
        return md.from_numpy(base > 0)
    if dtype is md.int64:
        return md.from_numpy((base * 1e12).astype(np.int64))
    return md.tensor(base, dtype=dtype)


# --- round trips -------------------------------------------------------------------------
def test_model_state_dict_roundtrip_and_load(tmp_path):
    md.manual_seed(0)
    model = md.nn.Sequential(md.nn.Linear(4, 8), md.nn.ReLU(), md.nn.Linear(8, 2))
    sd = model.state_dict()
    loaded = roundtrip(sd, tmp_path)
    assert isinstance(loaded, collections.OrderedDict)
    assert_same(sd, loaded)
    md.manual_seed(1)
    other = md.nn.Sequential(md.nn.Linear(4, 8), md.nn.ReLU(), md.nn.Linear(8, 2))
    x = md.randn(3, 4)
    assert not np.array_equal(other(x).detach().numpy(), model(x).detach().numpy())
    other.load_state_dict(loaded)
    assert np.array_equal(other(x).detach().numpy(), model(x).detach().numpy())


def test_optimizer_state_dict_with_momentum_roundtrip(tmp_path):
    md.manual_seed(0)
    model = md.nn.Sequential(md.nn.Linear(4, 8), md.nn.ReLU(), md.nn.Linear(8, 2))
    opt = md.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    for _ in range(2):
        opt.zero_grad()
        model(md.randn(5, 4)).pow(2).mean().backward()
        opt.step()
    sd = opt.state_dict()
    assert sd["state"], "momentum buffers expected"
    loaded = roundtrip(sd, tmp_path)
    assert_same(sd, loaded)
    assert all(type(k) is int for k in loaded["state"])
    opt2 = md.optim.SGD(model.parameters(), lr=0.5)
    opt2.load_state_dict(loaded)
    assert opt2.param_groups[0]["momentum"] == 0.9 and opt2.param_groups[0]["nesterov"] is True


def test_every_leaf_type_and_container(tmp_path):
    obj = {
        "none": None, "t": True, "f": False, "int": -7, "big": 2 ** 80, "zero": 0,
        "float": 0.1, "negzero": -0.0, "inf": math.inf, "ninf": -math.inf, "nan": math.nan,
        "tiny": 5e-324, "huge": 1.7976931348623157e308,
        "str": "héllo \"wörld\"\n\x00 \U0001F600", "surrogate": "\ud800",
        "empty_str": "", 3: "int key", "3": "str key", -1: [1, (2, [3, {}]), ()],
        "tuple": (1, 2.0, "3", None, (True,)), "list": [[], [[]], ((),)],
        "od": collections.OrderedDict([("b", 1), ("a", 2)]), "nested": {"a": {"b": {"c": {0: md.ones(2)}}}},
        "npint": np.int64(5), "npfloat": np.float32(0.5),
    }
    loaded = roundtrip(obj, tmp_path)
    # NumPy scalars come back as the Python numbers they equal
    obj["npint"], obj["npfloat"] = 5, 0.5
    assert_same(obj, loaded)
    assert loaded[3] == "int key" and loaded["3"] == "str key"
    assert type(loaded["tuple"]) is tuple and type(loaded["list"]) is list
    assert type(loaded["od"]) is collections.OrderedDict and type(loaded["nested"]) is dict


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (1,), (7,), (3, 5), (2, 3, 4, 1)])
def test_dtypes_and_shapes_bitwise(tmp_path, dtype, shape):
    if shape == ():
        t = md.from_numpy(np.array(-2.5, dtype=np.float64)).to(dtype)
    else:
        t = tensor_of(dtype, shape)
    loaded = roundtrip({"x": t}, tmp_path)["x"]
    assert loaded.shape == t.shape and loaded.dtype is dtype
    assert bits(loaded) == bits(t)


def test_special_float_bit_patterns(tmp_path):
    raw = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38], dtype=np.float32)
    raw = np.concatenate([raw, np.array([0x7FC00001, 0xFFC12345], dtype=np.uint32).view(np.float32)])
    t = md.from_numpy(raw)
    h = md.from_numpy(np.array([0x7C01, 0x0001, 0x8000], dtype=np.uint16).view(np.float16))
    b = md.tensor([1.0, -0.0, float("nan")]).bfloat16()
    loaded = roundtrip([t, h, b], tmp_path)
    for x, y in zip([t, h, b], loaded):
        assert bits(x) == bits(y)


def test_non_contiguous_tensors_saved_as_values(tmp_path):
    base = md.arange(24, dtype=md.float32).reshape(4, 6)
    views = [base.t(), base[:, ::2], base[1:3, 1:5], base.reshape(2, 3, 4).permute(2, 0, 1), base.flip(0)]
    assert not all(v.numpy().flags.c_contiguous for v in views)
    loaded = roundtrip(views, tmp_path)
    for v, w in zip(views, loaded):
        assert w.shape == v.shape and w.numpy().flags.c_contiguous
        assert np.array_equal(w.numpy(), v.numpy())


def test_loaded_tensors_own_writable_memory(tmp_path):
    t = md.arange(6, dtype=md.float32)
    a, b = roundtrip([t, t], tmp_path)
    a.numpy()[0] = 100.0
    assert b.numpy()[0] == 0.0 and t.numpy()[0] == 0.0


def test_requires_grad_kept(tmp_path):
    w = md.randn(3, requires_grad=True)
    loaded = roundtrip({"w": w, "d": w.detach()}, tmp_path)
    assert loaded["w"].requires_grad and not loaded["d"].requires_grad


def test_tensor_data_is_64_byte_aligned_and_file_size_exact(tmp_path):
    path = tmp_path / "a.mdl"
    md.save({"a": md.ones(3), "b": md.ones(5, dtype=md.float64), "c": md.zeros(0)}, path)
    raw = path.read_bytes()
    assert raw[:8] == b"MINIDLCK"
    (hlen,) = struct.unpack("<Q", raw[8:16])
    assert (16 + hlen) % 64 == 0
    header = json.loads(raw[16:16 + hlen])
    assert header["format"] == "minidl.checkpoint" and header["version"] == 1
    assert len(raw) == 16 + hlen + header["data_size"]
    for _, node in header["root"]["items"]:
        assert node["data_offsets"][0] % 64 == 0


def test_paths_and_file_objects(tmp_path):
    import io
    obj = {"x": md.arange(5), "y": [1, 2.5]}
    md.save(obj, str(tmp_path / "s.mdl"))
    assert_same(obj, md.load(str(tmp_path / "s.mdl")))
    assert_same(obj, md.load(pathlib.Path(tmp_path / "s.mdl"), map_location="cpu", weights_only=True))
    assert_same(obj, md.load(tmp_path / "s.mdl", map_location=md.device("cpu"), weights_only=False))
    buf = io.BytesIO()
    md.save(obj, buf)
    buf.seek(0)
    assert_same(obj, md.load(buf))
    with pytest.raises(TypeError, match="weights_only"):
        md.load(tmp_path / "s.mdl", weights_only="yes")
    with pytest.raises(TypeError, match="map_location"):
        md.load(tmp_path / "s.mdl", map_location=lambda s, loc: s)


def test_save_overwrites(tmp_path):
    path = tmp_path / "c.mdl"
    md.save({"v": 1}, path)
    md.save({"v": 2}, path)
    assert md.load(path) == {"v": 2}
    assert os.listdir(tmp_path) == ["c.mdl"]


@pytest.mark.parametrize("bad, what", [({"s": {1, 2}}, "set"), ({"f": lambda: 0}, "function"),
                                       ({(1, 2): 3}, "keys"), ({1.5: 3}, "keys"), ({"a": np.zeros(3)}, "ndarray"),
                                       ([b"bytes"], "bytes")])
def test_save_rejects_unsupported(tmp_path, bad, what):
    with pytest.raises(TypeError, match=what):
        md.save(bad, tmp_path / "x.mdl")
    assert not os.listdir(tmp_path)


def test_save_rejects_cycles_and_deep_nesting(tmp_path):
    a = []
    a.append(a)
    with pytest.raises(ValueError, match="cycle"):
        md.save(a, tmp_path / "x.mdl")
    deep = leaf = []
    for _ in range(mio.MAX_DEPTH + 1):
        nxt = []
        leaf.append(nxt)
        leaf = nxt
    with pytest.raises(ValueError, match="deeper"):
        md.save(deep, tmp_path / "x.mdl")
    shared = md.ones(2)
    assert len(roundtrip([shared, shared, {"s": shared}], tmp_path)) == 3  # shared, not cyclic


# --- atomic writes -----------------------------------------------------------------------
def test_failure_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.mdl"
    md.save({"w": md.arange(10, dtype=md.float32)}, path)
    before = path.read_bytes()

    calls = {"n": 0}
    real = mio._le_bytes

    def failing(arr):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return real(arr)

    monkeypatch.setattr(mio, "_le_bytes", failing)
    with pytest.raises(OSError, match="simulated"):
        md.save({"w": md.zeros(1000), "v": md.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.mdl"], "temporary file left behind"
    monkeypatch.undo()
    assert np.array_equal(md.load(path)["w"].numpy(), np.arange(10, dtype=np.float32))


def test_failure_in_replace_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.mdl"
    md.save([1, 2, 3], path)

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(mio.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        md.save([4, 5, 6], path)
    monkeypatch.undo()
    assert md.load(path) == [1, 2, 3]
    assert os.listdir(tmp_path) == ["model.mdl"]


def test_process_killed_mid_write_keeps_previous_checkpoint(tmp_path):
    # a real crash: the process dies (no cleanup runs) after part of the data is written
    import subprocess
    import sys
    path = tmp_path / "model.mdl"
    md.save({"w": md.arange(10, dtype=md.float32)}, path)
    before = path.read_bytes()
    script = (
        "import os, minidl as md, minidl.io as mio\n"
        "real = mio._le_bytes\n"
        "n = [0]\n"
        "def dying(arr):\n"
        "    n[0] += 1\n"
        "    if n[0] == 2: os._exit(3)\n"
        "    return real(arr)\n"
        "mio._le_bytes = dying\n"
        f"md.save({{'a': md.ones(100000), 'b': md.ones(100000)}}, {str(path)!r})\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(md.__file__)))
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == 3
    assert path.read_bytes() == before
    assert np.array_equal(md.load(path)["w"].numpy(), np.arange(10, dtype=np.float32))
    # the half-written temporary is a hidden sibling that never replaced the checkpoint
    assert all(n == "model.mdl" or (n.startswith(".model.mdl.") and n.endswith(".tmp")) for n in os.listdir(tmp_path))


def test_save_fsyncs_file_and_directory(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(mio.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    md.save({"a": 1}, tmp_path / "x.mdl")
    assert len(synced) >= 2


# --- corrupt files -----------------------------------------------------------------------
@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.mdl"
    md.save({"a": md.arange(16, dtype=md.float32), "b": md.ones(4, dtype=md.int64)}, path)
    raw = path.read_bytes()
    (hlen,) = struct.unpack("<Q", raw[8:16])
    return raw, hlen, json.loads(raw[16:16 + hlen])


def write_with_header(tmp_path, header, data, pad=True):
    text = json.dumps(header).encode()
    if pad:
        text += b" " * ((-(16 + len(text))) % 64)
    path = tmp_path / "bad.mdl"
    path.write_bytes(b"MINIDLCK" + struct.pack("<Q", len(text)) + text + data)
    return path


def load_error(path):
    with pytest.raises(CheckpointError) as info:
        md.load(path)
    assert isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize("cut", [0, 5, 15, 16, 40, -1, -64])
def test_truncated(tmp_path, good, cut):
    raw = good[0]
    path = tmp_path / "t.mdl"
    path.write_bytes(raw[:cut] if cut >= 0 else raw[:len(raw) + cut])
    assert "truncated" in load_error(path) or "larger than" in load_error(path)


def test_trailing_bytes(tmp_path, good):
    path = tmp_path / "t.mdl"
    path.write_bytes(good[0] + b"\0")
    assert "trailing" in load_error(path)


def test_garbage_and_wrong_magic(tmp_path):
    path = tmp_path / "g.mdl"
    path.write_bytes(bytes(range(256)) * 4)
    assert "magic" in load_error(path)
    path.write_bytes(b"MINIDLCX" + b"\0" * 100)
    assert "magic" in load_error(path)
    path.write_bytes(b"")
    assert "truncated" in load_error(path)


def test_header_length_larger_than_file(tmp_path, good):
    raw = good[0]
    path = tmp_path / "h.mdl"
    path.write_bytes(raw[:8] + struct.pack("<Q", len(raw)) + raw[16:])
    assert "larger than" in load_error(path)
    path.write_bytes(raw[:8] + struct.pack("<Q", 2 ** 64 - 1) + raw[16:])
    assert "larger than" in load_error(path)


def test_header_over_limit(tmp_path, monkeypatch, good):
    monkeypatch.setattr(mio, "MAX_HEADER_BYTES", 64)
    path = tmp_path / "h.mdl"
    path.write_bytes(good[0])
    assert "exceeds the limit" in load_error(path)


def test_header_not_json_or_not_utf8(tmp_path):
    for text in [b"{not json" + b" " * 39, b"\xff\xfe" + b" " * 46, b"[1, 2]" + b" " * 42]:
        path = tmp_path / "j.mdl"
        path.write_bytes(b"MINIDLCK" + struct.pack("<Q", len(text)) + text)
        msg = load_error(path)
        assert "JSON" in msg or "UTF-8" in msg


def test_nan_literal_rejected(tmp_path):
    text = b'{"format":"minidl.checkpoint","version":1,"data_size":0,"root":NaN}'
    path = tmp_path / "n.mdl"
    path.write_bytes(b"MINIDLCK" + struct.pack("<Q", len(text)) + text)
    assert "NaN" in load_error(path)


def test_deeply_nested_json(tmp_path):
    for depth in [mio.MAX_DEPTH + 1, 100000]:
        root = '{"type":"list","items":[' * depth + "]}" * depth
        header = '{"format":"minidl.checkpoint","version":1,"data_size":0,"root":' + root + "}"
        path = tmp_path / "d.mdl"
        text = header.encode()
        path.write_bytes(b"MINIDLCK" + struct.pack("<Q", len(text)) + text)
        assert "nested" in load_error(path)
    raw = "[" * 100000 + "]" * 100000
    text = raw.encode()
    path.write_bytes(b"MINIDLCK" + struct.pack("<Q", len(text)) + text)
    assert "nested" in load_error(path)


def test_wrong_version_and_format(tmp_path, good):
    _, hlen, header = good
    data = good[0][16 + hlen:]
    for key, value, word in [("version", 2, "version"), ("version", "1", "version"),
                             ("format", "safetensors", "format"),
                             ("data_size", -1, "data_size"), ("extra", 1, "keys")]:
        h = dict(header, **{key: value})
        assert word in load_error(write_with_header(tmp_path, h, data))


def tensor_node(header, key):
    return dict(header["root"]["items"])[key]


@pytest.mark.parametrize("offsets, word", [([0, 68], "needs"), ([0, 4096], "outside"), ([-64, 0], "outside"),
                                           ([4, 68], "aligned"), ("x", "data_offsets"),
                                           ([0, 64.0], "data_offsets"), ([64, 0], "outside")])
def test_bad_offsets(tmp_path, good, offsets, word):
    _, hlen, header = good
    tensor_node(header, "a")["data_offsets"] = offsets
    assert word in load_error(write_with_header(tmp_path, header, good[0][16 + hlen:]))


def test_overlapping_offsets(tmp_path, good):
    _, hlen, header = good
    tensor_node(header, "b")["data_offsets"] = [0, 32]  # inside a's [0, 64)
    assert "overlap" in load_error(write_with_header(tmp_path, header, good[0][16 + hlen:]))


def test_many_tensors_claiming_the_same_bytes(tmp_path):
    # 20000 tensors of 1 MiB each over one shared 1 MiB range: rejected before any allocation
    n = 1 << 20
    node = {"type": "tensor", "dtype": "float32", "shape": [n // 4], "data_offsets": [0, n]}
    h = {"format": "minidl.checkpoint", "version": 1, "data_size": n,
         "root": {"type": "list", "items": [node] * 20000}}
    assert "overlap" in load_error(write_with_header(tmp_path, h, b"\0" * n))


def test_bad_dtype_and_shape(tmp_path, good):
    _, hlen, header = good
    data = good[0][16 + hlen:]
    for key, value, word in [("dtype", "complex64", "unknown dtype"), ("dtype", "object", "unknown dtype"),
                             ("dtype", None, "unknown dtype"), ("shape", [4, -4], "shape"), ("shape", [16.0], "shape"),
                             ("shape", "16", "shape"), ("shape", [8], "needs"), ("shape", [1] * 100, "shape")]:
        h = json.loads(json.dumps(header))
        tensor_node(h, "a")[key] = value
        assert word in load_error(write_with_header(tmp_path, h, data))


def test_bool_bytes_must_be_0_or_1(tmp_path):
    path = tmp_path / "b.mdl"
    md.save({"m": md.tensor([True, False, True])}, path)
    raw = bytearray(path.read_bytes())
    raw[-3] = 7
    path.write_bytes(bytes(raw))
    assert "bool" in load_error(path)


def test_malformed_nodes(tmp_path):
    for root, word in [({"type": "set", "items": []}, "unknown node"), ([1, 2], "bare JSON array"),
                       ({"type": "dict", "items": [[1.5, 2]]}, "key"), ({"type": "dict", "items": [[1]]}, "pair"),
                       ({"type": "dict", "items": [["a", 1], ["a", 2]]}, "twice"),
                       ({"type": "list", "items": {}}, "items"), ({"type": "list", "items": [], "x": 1}, "keys"),
                       ({"type": "float", "value": "1e400"}, "bad float"), ({"type": "tensor"}, "keys")]:
        h = {"format": "minidl.checkpoint", "version": 1, "data_size": 0, "root": root}
        assert word in load_error(write_with_header(tmp_path, h, b""))


def test_duplicate_json_keys_rejected(tmp_path):
    text = b'{"format":"minidl.checkpoint","version":1,"version":1,"data_size":0,"root":null}'
    path = tmp_path / "d.mdl"
    path.write_bytes(b"MINIDLCK" + struct.pack("<Q", len(text)) + text)
    assert "twice" in load_error(path)


# --- hostile files -----------------------------------------------------------------------
class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_file_is_rejected_without_unpickling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"state": _Exploit()}, protocol=2))
    msg = load_error(path)
    assert "pickle" in msg and "magic" in msg
    assert not (tmp_path / "PWNED").exists()
    # a pickle smuggled after a valid prefix is just bytes that don't parse
    text = pickle.dumps(_Exploit())
    path.write_bytes(b"MINIDLCK" + struct.pack("<Q", len(text)) + text)
    load_error(path)
    assert not (tmp_path / "PWNED").exists()


def test_class_like_keys_load_as_plain_data_or_error(tmp_path):
    # '__class__'-style keys inside a dict are plain strings
    h = {"format": "minidl.checkpoint", "version": 1, "data_size": 0,
         "root": {"type": "dict", "items": [["__class__", "os.system"],
                                            ["__reduce__", {"type": "list", "items": ["rm", "-rf"]}],
                                            ["py/object", {"type": "tuple", "items": ["subprocess.Popen"]}]]}}
    obj = md.load(write_with_header(tmp_path, h, b""))
    assert obj == {"__class__": "os.system", "__reduce__": ["rm", "-rf"], "py/object": ("subprocess.Popen",)}
    # ... and as node tags they are unknown, hence errors
    for root in [{"__class__": "os.system"}, {"type": "object", "class": "os.system"},
                 {"type": "tensor", "dtype": "float32", "shape": [], "data_offsets": [0, 4], "__reduce__": 1}]:
        h = {"format": "minidl.checkpoint", "version": 1, "data_size": 4, "root": root}
        load_error(write_with_header(tmp_path, h, b"\0" * 4))
