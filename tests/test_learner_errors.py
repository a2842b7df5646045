"""The mistakes a learner makes in the first hour get PyTorch's error message, then the fix
(issue 14 item 8). Each test checks the start of the message against what PyTorch 2.13 says
for the same mistake, that the message names the fix, and that the fix it names works.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import require

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.utils.data import DataLoader, TensorDataset

torch = require("torch")


def _message(fn, exc=Exception):
    with pytest.raises(exc) as info:
        fn()
    return str(info.value)


def _torch_message(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001  (whatever PyTorch raises, its text is the reference)
        return str(e)
    raise AssertionError("PyTorch accepts this call")


@pytest.mark.parametrize("dtype,fix", [("int64", ".float()"), ("float64", ".float()"), ("float16", ".float()")])
def test_linear_on_the_wrong_dtype_says_call_float(dtype, fix):
    """issue 14 item 8: nn.Linear on int64 / float64 input: PyTorch's message, then .float() (or model.double())."""
    data = [[1, 2, 3], [4, 5, 6]]
    md_layer, torch_layer = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    x = md.tensor(data, dtype=getattr(md, dtype))
    got = _message(lambda: md_layer(x), RuntimeError)
    want = _torch_message(lambda: torch_layer(torch.tensor(data, dtype=getattr(torch, dtype))))
    assert got.startswith(want), f"{got!r} does not start with PyTorch's {want!r}"
    assert f"the input is {dtype} but the weights are float32" in got.lower()
    assert f"call {fix} on the input" in got
    if dtype != "int64":
        assert f"model.{ {'float64': 'double', 'float16': 'half'}[dtype] }()" in got
    assert md_layer(x.float()).dtype == md.float32  # the fix it names works


def test_linear_on_a_numpy_array_says_convert_it():
    """issue 14 item 8: a NumPy array into a layer: PyTorch's TypeError, then md.from_numpy."""
    a = np.zeros((2, 3), np.float32)
    got = _message(lambda: nn.Linear(3, 2)(a), TypeError)
    assert got.startswith(_torch_message(lambda: torch.nn.Linear(3, 2)(a)))
    assert "md.from_numpy" in got
    assert nn.Linear(3, 2)(md.from_numpy(a)).shape == (2, 2)


@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_conv_on_the_wrong_dtype_says_call_float(dtype):
    """issue 14 item 8: Conv2d on int64 pixels or float64 NumPy data: PyTorch's sentence, then the fix."""
    conv = nn.Conv2d(1, 2, 3)
    x = md.ones(1, 1, 5, 5, dtype=getattr(md, dtype))
    got = _message(lambda: conv(x), RuntimeError)
    assert got.startswith(f"Input type ({dtype}) and weight type (float32) should be the same")
    assert "call .float() on the input" in got
    assert ("model.double()" in got) == (dtype == "float64")
    assert conv(x.float()).shape == (1, 2, 3, 3)


def test_cross_entropy_with_float_class_indices_says_long():
    """issue 14 item 8: class indices stored as floats: PyTorch's message, then target.long()."""
    logits, labels = [[2.0, 0.5, 0.1], [0.1, 0.2, 3.0]], [0.0, 2.0]
    got = _message(lambda: nn.CrossEntropyLoss()(md.tensor(logits), md.tensor(labels)), RuntimeError)
    want = _torch_message(lambda: torch.nn.CrossEntropyLoss()(torch.tensor(logits), torch.tensor(labels)))
    assert got.startswith(want), f"{got!r} does not start with PyTorch's {want!r}"
    assert "target.long()" in got and "[2, 3]" in got  # the fix, and when floats would be probabilities
    assert nn.CrossEntropyLoss()(md.tensor(logits), md.tensor(labels).long()).item() == pytest.approx(
        torch.nn.CrossEntropyLoss()(torch.tensor(logits), torch.tensor(labels).long()).item(), rel=1e-5)
    got = _message(lambda: F.nll_loss(md.tensor(logits), md.tensor(labels)), RuntimeError)
    assert got.startswith(_torch_message(lambda: torch.nn.functional.nll_loss(torch.tensor(logits), torch.tensor(labels))))
    assert "target.long()" in got


@pytest.mark.parametrize("labels_dtype,fix", [("int64", "target.squeeze(1)"), ("float32", "target.squeeze(1).long()")])
def test_cross_entropy_with_a_column_of_labels_says_squeeze(labels_dtype, fix):
    """issue 14 item 8: a (N, 1) target: PyTorch's message, then target.squeeze(1) (and .long() for floats)."""
    logits, labels = [[2.0, 0.5, 0.1], [0.1, 0.2, 3.0]], [[0], [2]]
    target = md.tensor(labels, dtype=getattr(md, labels_dtype))
    for md_loss, torch_loss in ((nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                                (nn.NLLLoss(), torch.nn.NLLLoss())):
        got = _message(lambda: md_loss(md.tensor(logits), target), RuntimeError)
        want = _torch_message(lambda: torch_loss(torch.tensor(logits), torch.tensor(labels, dtype=getattr(torch, labels_dtype))))
        assert got.startswith(want), f"{got!r} does not start with PyTorch's {want!r}"
        assert got.endswith(fix) and "[2, 1]" in got and "[2]" in got
    fixed = target.squeeze(1) if labels_dtype == "int64" else target.squeeze(1).long()
    assert nn.CrossEntropyLoss()(md.tensor(logits), fixed).item() == pytest.approx(
        torch.nn.CrossEntropyLoss()(torch.tensor(logits), torch.tensor([0, 2])).item(), rel=1e-5)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW", "LAMB"])
def test_optimizer_given_the_model_says_pass_model_parameters(optimizer):
    """issue 14 item 8: optim.SGD(model): PyTorch's TypeError, then "pass model.parameters()"."""
    model = nn.Sequential(nn.Linear(2, 2))
    got = _message(lambda: getattr(md.optim, optimizer)(model, lr=0.1), TypeError)
    if hasattr(torch.optim, optimizer):
        want = _torch_message(lambda: getattr(torch.optim, optimizer)(torch.nn.Sequential(torch.nn.Linear(2, 2)), lr=0.1))
        assert got.startswith(want.replace("torch.nn.modules.linear", "minidl.nn.linear")), (got, want)
    assert "pass model.parameters()" in got
    got = _message(lambda: getattr(md.optim, optimizer)(nn.Linear(2, 2), lr=0.1), TypeError)  # not iterable
    assert got.startswith("'Linear' object is not iterable") and "pass model.parameters()" in got
    getattr(md.optim, optimizer)(model.parameters(), lr=0.1)


def test_optimizer_given_parameters_uncalled_or_named_says_what_to_pass():
    """issue 14 item 8: model.parameters without (), and named_parameters(): each names model.parameters()."""
    model = nn.Linear(2, 2)
    got = _message(lambda: md.optim.SGD(model.parameters, lr=0.1), TypeError)
    assert got.startswith(_torch_message(lambda: torch.optim.SGD(torch.nn.Linear(2, 2).parameters, lr=0.1)))
    assert "model.parameters()" in got
    got = _message(lambda: md.optim.SGD(model.named_parameters(), lr=0.1), TypeError)
    assert got.startswith("optimizer can only optimize Tensors, but one of the params is tuple")
    assert "pass model.parameters()" in got


def test_load_state_dict_given_a_model_says_pass_its_state_dict():
    """issue 14 item 8: model.load_state_dict(model): PyTorch's TypeError, then "state_dict()"."""
    model, other = nn.Linear(2, 2), nn.Linear(2, 2)
    got = _message(lambda: model.load_state_dict(other), TypeError)
    want = _torch_message(lambda: torch.nn.Linear(2, 2).load_state_dict(torch.nn.Linear(2, 2)))
    assert re.sub(r"<class '[^']*'>", "<class>", got).startswith(re.sub(r"<class '[^']*'>", "<class>", want))
    assert "model.load_state_dict(other_model.state_dict())" in got
    model.load_state_dict(other.state_dict())
    assert md.equal(model.weight, other.weight)
    got = _message(lambda: model.load_state_dict("checkpoint.pt"), TypeError)
    assert "md.load(path)" in got


def test_dataloader_batch_size_none_yields_single_samples_as_pytorch():
    """issue 14 item 8: DataLoader(batch_size=None) turns batching off (PyTorch 2.13), not a TypeError."""
    md_ds = TensorDataset(md.arange(5.0), md.arange(5))
    torch_ds = torch.utils.data.TensorDataset(torch.arange(5.0), torch.arange(5))
    md_loader = DataLoader(md_ds, batch_size=None)
    torch_loader = torch.utils.data.DataLoader(torch_ds, batch_size=None)
    assert len(md_loader) == len(torch_loader) == 5
    md_items, torch_items = list(md_loader), list(torch_loader)
    assert len(md_items) == len(torch_items)
    for a, b in zip(md_items, torch_items):
        assert type(a) is type(b)  # a list of the sample's fields, as PyTorch's default_convert gives
        for x, y in zip(a, b):
            assert x.shape == tuple(y.shape) and str(x.dtype).split(".")[-1] == str(y.dtype).split(".")[-1]
            assert x.item() == y.item()
    shuffled = sorted(int(y.item()) for _, y in DataLoader(md_ds, batch_size=None, shuffle=True))
    assert shuffled == [0, 1, 2, 3, 4]
    assert list(DataLoader(md_ds, batch_size=None, collate_fn=lambda s: int(s[1].item()) * 10)) == [0, 10, 20, 30, 40]
    got = _message(lambda: DataLoader(md_ds, batch_size=None, drop_last=True), ValueError)
    assert got == _torch_message(lambda: torch.utils.data.DataLoader(torch_ds, batch_size=None, drop_last=True))
