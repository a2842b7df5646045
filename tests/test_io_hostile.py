"""md.load on hostile and corrupt checkpoints (issue 14 items 7 and 10): impossible shapes and
floods of tensors get the loader's own error, naming what is wrong and the limit, quickly; and
seeded random mutations of a valid file never give anything but that error."""
import io
import json
import math
import pickle
import random
import struct
import time

import pytest

import minidl as md
from minidl import io as mio
from minidl.io import CheckpointError


def checkpoint_bytes(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-(16 + len(text))) % 64)
    return b"MINIDLCK" + struct.pack("<Q", len(text)) + text + data


def load_error(raw: bytes) -> str:
    with pytest.raises(CheckpointError) as info:
        md.load(io.BytesIO(raw))
    return str(info.value)


def one_tensor(dtype, shape, data=b""):
    node = {"type": "tensor", "dtype": dtype, "shape": shape, "data_offsets": [0, len(data)]}
    header = {"format": "minidl.checkpoint", "version": 1, "data_size": len(data),
              "root": {"type": "dict", "items": [["w", node]]}}
    return checkpoint_bytes(header, data)


# --- item 7: shapes no array can have ---------------------------------------------------------
@pytest.mark.parametrize("dtype, shape", [("float32", [2 ** 63 - 1, 0]), ("float32", [2 ** 62, 4, 0]),
                                          ("float32", [2 ** 62, 4]), ("float64", [0, 2 ** 61, 2, 2]),
                                          ("bool", [0, 2 ** 63]), ("int64", [2 ** 64, 0])])
def test_shape_too_large_names_the_tensor_the_shape_and_the_limit(dtype, shape):
    """issue 14 item 7: the loader's error, not NumPy's "array is too big"."""
    msg = load_error(one_tensor(dtype, shape))
    assert "obj['w']" in msg and str(shape) in msg and "2**63 - 1" in msg, msg


@pytest.mark.parametrize("dtype, shape", [("bool", [2 ** 63 - 1, 0]), ("float32", [0, 2 ** 61 - 1]),
                                          ("float64", [3, 0, 2 ** 58])])
def test_empty_shapes_within_the_limit_load(dtype, shape):
    """issue 14 item 7: the limit is exact: itemsize x the non-zero sizes up to 2**63 - 1 load."""
    t = md.load(io.BytesIO(one_tensor(dtype, shape)))["w"]
    assert list(t.shape) == shape and t.numel() == 0 and t.dtype.name == dtype


def test_non_string_float_tag_is_the_loaders_error():
    """issue 14 item 7, found by the fuzzing below: {"type": "float", "value": [...]} gave TypeError."""
    for value in [[1], {"a": 1}, 1.5, None]:
        header = {"format": "minidl.checkpoint", "version": 1, "data_size": 0,
                  "root": {"type": "float", "value": value}}
        assert "bad float" in load_error(checkpoint_bytes(header))


# --- item 10: floods of tensors ----------------------------------------------------------------
def zero_size_tensors(n: int) -> bytes:
    node = b'{"type":"tensor","dtype":"float32","shape":[0],"data_offsets":[0,0]}'
    text = (b'{"format":"minidl.checkpoint","version":1,"data_size":0,"root":{"type":"list","items":['
            + b",".join([node] * n) + b"]}}")
    text += b" " * ((-(16 + len(text))) % 64)
    return b"MINIDLCK" + struct.pack("<Q", len(text)) + text


@pytest.mark.parametrize("n, limit", [(200_000, "MAX_TENSORS"), (800_000, "MAX_HEADER_BYTES")])
def test_header_listing_many_empty_tensors_is_rejected_quickly(n, limit):
    """issue 14 item 10: 800k zero-size tensors took 10.8 s and 1.16 GB to load.

    200k of them fit in the header limit and meet the tensor limit; the audit's 800k (55 MB of
    header) meet the header limit. CPU time, not wall time: other processes share the machine.
    """
    raw = zero_size_tensors(n)
    began = time.process_time()
    msg = load_error(raw)
    elapsed = time.process_time() - began
    assert f"minidl.io.{limit}" in msg and str(getattr(mio, limit)) in msg, msg
    assert elapsed < 1.0, f"{elapsed:.2f} s of CPU to reject {n} tensors"


def test_tensor_limit_is_exact_and_save_refuses_what_load_would(tmp_path, monkeypatch):
    """issue 14 item 10: MAX_TENSORS tensors load, one more doesn't, and md.save says so first."""
    monkeypatch.setattr(mio, "MAX_TENSORS", 5)
    path = tmp_path / "c.mdl"
    md.save([md.ones(2)] * 5, path)
    assert len(md.load(path)) == 5
    monkeypatch.setattr(mio, "MAX_TENSORS", 4)
    assert "MAX_TENSORS" in load_error(path.read_bytes())
    before = path.read_bytes()
    with pytest.raises(ValueError, match="MAX_TENSORS"):
        md.save([md.ones(2)] * 5, path)
    monkeypatch.setattr(mio, "MAX_HEADER_BYTES", 128)
    with pytest.raises(ValueError, match="MAX_HEADER_BYTES"):
        md.save({"long": "x" * 200}, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["c.mdl"]


def test_thousands_of_tensors_still_load(tmp_path):
    """issue 14 item 10: the limits leave real checkpoints alone (ResNet-110 + AdamW: 1673 tensors)."""
    state = {f"layer{i}.weight": md.full((3,), float(i)) for i in range(5000)}
    path = tmp_path / "big.mdl"
    md.save(state, path)
    loaded = md.load(path)
    assert list(loaded) == list(state) and loaded["layer4999.weight"].tolist() == [4999.0] * 3


# --- fuzzing: every corrupt file gives CheckpointError ------------------------------------------
INTERESTING = [0, -1, 1, 3, 64, 2 ** 31, 2 ** 32, 2 ** 53 + 1, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64, -2 ** 63,
               10 ** 30, 0.5, -0.0, 1e308, "", "x", "tensor", "dict", "float32", "bool", None, True, False,
               [], {}, [0, 0], [0, 64], [64, 0], [2 ** 63 - 1, 0], [0, 2 ** 63], [2 ** 62, 4], [2 ** 62, 4, 0],
               [-1], [1.5], list(range(70)), [[]], {"type": "tensor"}, {"type": "list", "items": []},
               {"type": "dict", "items": [[1, 2], [1, 3]]}, {"type": "float", "value": "nan"}]


def base_checkpoint():
    buf = io.BytesIO()
    md.save({"w": md.arange(12, dtype=md.float32).reshape(3, 4), "b": md.arange(5), "m": md.tensor([[True, False]]),
             "h": md.zeros(0, 3, dtype=md.float16), "opt": {"state": {0: {"buf": md.ones(2).bfloat16()}},
                                                            "lr": 0.1, "nan": math.nan},
             "t": (1, "x", None)}, buf)
    raw = buf.getvalue()
    (hlen,) = struct.unpack("<Q", raw[8:16])
    return json.loads(raw[16:16 + hlen]), raw[16 + hlen:], raw


def containers(value, out):
    """Every JSON object and array inside ``value`` (including itself)."""
    if isinstance(value, (dict, list)):
        out.append(value)
        for child in (value.values() if isinstance(value, dict) else value):
            containers(child, out)
    return out


def random_shape(rng):
    """1-4 sizes from the interesting integers, often with a 0 (then the tensor needs no data)."""
    sizes = [rng.choice([v for v in INTERESTING if type(v) is int]) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.6:
        sizes[rng.randrange(len(sizes))] = 0
    return sizes


def mutate_header(header, data, rng):
    header = json.loads(json.dumps(header))
    if rng.random() < 0.3:  # aim at the shape checks: an empty tensor passes the data-range checks
        node = rng.choice([c for c in containers(header, []) if isinstance(c, dict) and c.get("type") == "tensor"])
        node["shape"] = random_shape(rng)
        if 0 in node["shape"]:
            node["data_offsets"] = [node["data_offsets"][0]] * 2
        return checkpoint_bytes(header, data)
    for _ in range(rng.randint(1, 3)):
        target = rng.choice(containers(header, []))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            continue
        key = rng.choice(keys)
        action = rng.random()
        if action < 0.75:
            target[key] = json.loads(json.dumps(rng.choice(INTERESTING)))
        elif action < 0.9:
            del target[key]
        else:
            target[key] = [target[key]] * rng.randint(2, 4)
    if rng.random() < 0.2:
        data = data[:rng.randrange(len(data) + 1)]
    return checkpoint_bytes(header, data)


def mutate_bytes(raw, rng):
    raw = bytearray(raw)
    action = rng.random()
    if action < 0.5:
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    elif action < 0.7:
        raw = raw[:rng.randrange(len(raw))]
    elif action < 0.85:
        raw[8:16] = struct.pack("<Q", rng.choice([0, 1, 63, len(raw), 2 ** 63, 2 ** 64 - 1, rng.randrange(len(raw))]))
    else:
        at = rng.randrange(len(raw))
        raw[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(raw)


def test_fuzzed_checkpoints_give_only_checkpoint_errors(monkeypatch):
    """issue 14 item 7: 2000 seeded mutations of a valid file: each loads or raises CheckpointError
    (no NumPy error, no MemoryError, no crash), within a second of CPU, and nothing is unpickled."""
    def no_pickle(*args, **kwargs):
        raise AssertionError("md.load must never unpickle")

    for name in ["load", "loads", "Unpickler"]:
        monkeypatch.setattr(pickle, name, no_pickle)
    header, data, raw = base_checkpoint()
    rng = random.Random(14_7)
    foreign, loaded, rejected = [], 0, 0
    for case in range(2000):
        mutated = mutate_header(header, data, rng) if case % 4 else mutate_bytes(raw, rng)
        began = time.process_time()
        try:
            md.load(io.BytesIO(mutated))
            loaded += 1
        except CheckpointError:
            rejected += 1
        except BaseException as e:  # noqa: BLE001 - anything else is the finding
            foreign.append((case, type(e).__name__, str(e)[:200]))
        assert time.process_time() - began < 1.0, f"case {case} took {time.process_time() - began:.2f} s"
    assert not foreign, foreign[:10]
    assert rejected > 1000 and loaded > 10, (rejected, loaded)  # the mutations reach both outcomes
