"""Size-0 tensors through matmul, Linear, Embedding, LayerNorm and var/std: the values,
shapes and gradients PyTorch gives (issue 14 item 5). Each case is written once against the
shared API and run with ``lib`` = minidl and ``lib`` = torch; it returns its output and the
leaves whose gradients are compared after ``output.sum().backward()``."""
from __future__ import annotations

import warnings

import pytest

import minidl as md
from conftest import assert_close, require

torch = require("torch")


def _matmul(a_shape, b_shape):
    def case(lib):
        a, b = lib.zeros(*a_shape, requires_grad=True), lib.ones(*b_shape, requires_grad=True)
        return lib.matmul(a, b), [a, b]
    return case


def _linear(in_features, x_shape):
    def case(lib):
        layer = lib.nn.Linear(in_features, 3)
        with lib.no_grad():  # a non-zero bias (PyTorch's init gives 0 when in_features is 0)
            layer.bias.copy_(lib.tensor([1.0, 2.0, 3.0]))
            layer.weight.copy_(lib.arange(3 * in_features, dtype=lib.float32).reshape(3, in_features))
        x = lib.ones(*x_shape, requires_grad=True)
        return layer(x), [x, layer.weight, layer.bias]
    return case


def _embedding(index_shape):
    def case(lib):
        table = lib.nn.Embedding(5, 3)
        with lib.no_grad():
            table.weight.copy_(lib.arange(15, dtype=lib.float32).reshape(5, 3))
        return table(lib.zeros(*index_shape, dtype=lib.int64)), [table.weight]
    return case


def _layer_norm(normalized, x_shape):
    def case(lib):
        norm = lib.nn.LayerNorm(normalized)
        x = lib.ones(*x_shape, requires_grad=True)
        return norm(x), [x, norm.weight, norm.bias]
    return case


def _reduction(name, x_shape, **kw):
    def case(lib):
        x = lib.zeros(*x_shape, requires_grad=True)
        return getattr(x, name)(**kw), [x]
    return case


CASES = {
    "matmul (2,3,0)@(0,)": _matmul((2, 3, 0), (0,)),
    "matmul (2,0)@(0,4)": _matmul((2, 0), (0, 4)),
    "matmul (0,3)@(3,2)": _matmul((0, 3), (3, 2)),
    "matmul (2,3,0)@(2,0,4)": _matmul((2, 3, 0), (2, 0, 4)),
    "matmul (0,)@(0,)": _matmul((0,), (0,)),
    "matmul (4,2,0)@(0,5)": _matmul((4, 2, 0), (0, 5)),
    "Linear(0,3) on (2,0)": _linear(0, (2, 0)),
    "Linear(0,3) on (4,2,0)": _linear(0, (4, 2, 0)),
    "Linear(2,3) on (0,2)": _linear(2, (0, 2)),
    "Embedding on []": _embedding((0,)),
    "Embedding on (2,0)": _embedding((2, 0)),
    "LayerNorm(0) on (3,0)": _layer_norm(0, (3, 0)),
    "LayerNorm(4) on (0,4)": _layer_norm(4, (0, 4)),
    "var dim=1 on (2,0)": _reduction("var", (2, 0), dim=1),
    "std dim=1 on (2,0)": _reduction("std", (2, 0), dim=1),
    "var dim=1 on (0,3)": _reduction("var", (0, 3), dim=1),
    "var on (0,)": _reduction("var", (0,)),
    "var correction=0 dim=1 on (2,0)": _reduction("var", (2, 0), dim=1, correction=0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_size_zero_matches_torch(name):
    """issue 14 item 5: these raised (reshape of an empty array, ZeroDivisionError, 'not a
    whole number of rows'); PyTorch returns values, shapes and gradients."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTorch: "var(): degrees of freedom is <= 0"
        out_t, leaves_t = CASES[name](torch)
        out_t.sum().backward()
    out_m, leaves_m = CASES[name](md)
    assert_close(out_m, out_t)  # shape, dtype, values (NaN where PyTorch has NaN)
    out_m.sum().backward()
    for leaf_m, leaf_t in zip(leaves_m, leaves_t):
        assert leaf_m.grad is not None
        assert_close(leaf_m.grad, leaf_t.grad)
