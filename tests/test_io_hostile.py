"""md.load on hostile checkpoints (issue 14 item 10): floods of tensors get the loader's own
error, naming the limit, quickly."""
import io
import json
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
