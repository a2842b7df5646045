"""nn.ParameterList and nn.ParameterDict (issue 15 group 12) against PyTorch: registration
names, state_dict keys, wrapping of plain tensors, optimizer updates and errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from conftest import require

torch = require("torch")


def _build(lib):
    class Heads(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(3) * (i + 1)) for i in range(2)])
            self.scales.append(lib.zeros(3))
            self.bias = lib.nn.ParameterDict({"a": lib.nn.Parameter(lib.ones(3)), "b": lib.full((3,), 2.0)})

        def forward(self, x):
            return sum(s * x for s in self.scales) + self.bias["a"] - self.bias["b"]
    return Heads()


def test_names_state_dict_and_gradients_match_pytorch():
    m, t = _build(md), _build(torch)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(m.state_dict()) == list(t.state_dict())
    assert all(type(p).__name__ == "Parameter" for p in m.parameters())
    x = np.arange(3, dtype=np.float32)
    m(md.tensor(x)).sum().backward()
    t(torch.tensor(x)).sum().backward()
    for (k, p), q in zip(m.named_parameters(), t.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), err_msg=k)


def test_an_optimizer_sees_every_parameter():
    m = _build(md)
    opt = md.optim.SGD(m.parameters(), lr=0.5)
    m(md.ones(3)).sum().backward()
    opt.step()
    np.testing.assert_allclose(m.scales[2].detach().numpy(), -0.5 * np.ones(3))
    np.testing.assert_allclose(m.bias["b"].detach().numpy(), 2.5 * np.ones(3))


def test_list_and_dict_protocols():
    pl = md.nn.ParameterList([md.zeros(1), md.zeros(2)])
    assert len(pl) == 2 and pl[-1].shape == (2,) and len(pl[0:1]) == 1
    pl[0] = md.ones(4)
    assert pl[0].shape == (4,) and [p.shape for p in pl] == [(4,), (2,)]
    with pytest.raises(IndexError):
        pl[2]
    pd = md.nn.ParameterDict()
    pd.update([("x", md.zeros(1))])
    pd["y"] = md.nn.Parameter(md.ones(1))
    assert "x" in pd and list(pd) == ["x", "y"] and len(pd) == 2
    assert pd.pop("x").shape == (1,) and list(pd.keys()) == ["y"]
    with pytest.raises(KeyError):
        pd["a.b"] = md.zeros(1)
