"""Wrong shapes, dtypes, indices and sizes raise Python exceptions whose message names the
problem; nothing crashes the interpreter."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import require

import minidl as md
import minidl.nn as nn
import minidl.nn.functional as F


def test_broadcast_mismatch_in_add_names_shapes():
    with pytest.raises((RuntimeError, ValueError), match=r"3.*4|4.*3"):
        md.ones(2, 3) + md.ones(2, 4)


def test_matmul_shape_mismatch_names_shapes():
    with pytest.raises(RuntimeError, match=r"2x3 and 4x5"):
        md.ones(2, 3) @ md.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"\[2, 2, 3\].*\[4, 5\]"):
        md.ones(2, 2, 3) @ md.ones(4, 5)
    with pytest.raises(RuntimeError, match="1D"):
        md.tensor(2.0) @ md.ones(2)
    with pytest.raises(RuntimeError, match="3D"):
        md.bmm(md.ones(2, 3), md.ones(3, 2))
    with pytest.raises(RuntimeError, match="batches"):
        md.bmm(md.ones(2, 2, 3), md.ones(3, 3, 2))


def test_linear_wrong_feature_count():
    lin = nn.Linear(4, 2)
    with pytest.raises(RuntimeError, match=r"4.*\[3, 5\]"):
        lin(md.ones(3, 5))


def test_dtype_errors():
    with pytest.raises(RuntimeError, match="int64"):
        md.ones(2, 2, dtype=md.int64) @ md.ones(2, 2, dtype=md.int64)
    with pytest.raises(RuntimeError, match="float32 != float64|same dtype"):
        md.ones(2, 2) @ md.ones(2, 2, dtype=md.float64)
    with pytest.raises(RuntimeError, match="floating point"):
        md.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        md.zeros(2, dtype=md.int64, requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        md.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="[Ll]ong|int64"):
        F.cross_entropy(md.randn(3, 4), md.tensor([0.0, 1.0, 2.0]).bool())
    with pytest.raises(TypeError, match="bool"):
        -md.tensor([True])
    with pytest.raises(RuntimeError, match="mean"):
        md.tensor([1, 2]).mean()
    with pytest.raises(TypeError):
        md.tensor(["a", "b"])
    with pytest.raises(TypeError, match="boolean"):
        md.ones(3).masked_fill(md.ones(3), 0.0)


def test_index_out_of_range():
    x = md.arange(12.0).reshape(3, 4)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[3]
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 1 with size 4"):
        x[0, -5]
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        x[md.tensor([0, 7])]
    with pytest.raises(IndexError, match="index 4 is out of bounds"):
        x[:, [1, 4]]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="mask"):
        x[md.tensor([True, False])]
    with pytest.raises(IndexError):
        x[md.tensor([0.5])]
    with pytest.raises(IndexError, match="out of bounds"):
        x[5] = 1.0
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.sum(2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.softmax(-3)
    with pytest.raises(IndexError, match="Dimension out of range"):
        md.cat([x, x], 2)


@pytest.mark.parametrize("target", [[0, 4, 1], [0, -1, 1], [0, 1, 100000000]])
def test_cross_entropy_target_out_of_range(target):
    with pytest.raises((IndexError, RuntimeError, ValueError), match=r"[Tt]arget|out of bounds|range"):
        F.cross_entropy(md.randn(3, 4), md.tensor(target))
    with pytest.raises((IndexError, RuntimeError, ValueError), match=r"[Tt]arget|out of bounds|range"):
        F.nll_loss(md.randn(3, 4), md.tensor(target))


def test_cross_entropy_batch_mismatch():
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(md.randn(3, 4), md.tensor([0, 1]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(md.randn(3, 4), md.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="target size"):
        F.mse_loss(md.randn(3), md.randn(3, 1))


def test_bad_sizes():
    with pytest.raises(RuntimeError, match="negative dimension -1"):
        md.zeros(-1)
    with pytest.raises(RuntimeError, match="negative"):
        md.ones(2, -3)
    with pytest.raises(TypeError, match="float"):
        md.zeros(2.5)
    with pytest.raises(TypeError, match="float"):
        md.randn(2, 1.5)
    with pytest.raises((RuntimeError, ValueError), match="negative"):
        md.randn(-2)
    with pytest.raises(RuntimeError, match=r"invalid for input of size 6"):
        md.ones(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match="expanded size"):
        md.ones(2, 3).expand(4, 4)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        md.arange(0, 5, 0)
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        md.stack([md.ones(2), md.ones(3)])
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        md.cat([md.ones(2, 3), md.ones(2, 4)])


def test_huge_shape_is_a_clean_error():
    with pytest.raises((MemoryError, ValueError, RuntimeError)):
        md.zeros(2 ** 40, 2 ** 30)
    with pytest.raises((MemoryError, ValueError, RuntimeError)):
        md.randn(2 ** 62)


def test_empty_reductions():
    e = md.zeros(0)
    with pytest.raises(RuntimeError, match="numel\\(\\) == 0"):
        e.max()
    with pytest.raises(RuntimeError, match="numel\\(\\) == 0"):
        e.argmax()
    with pytest.raises(IndexError, match="non-zero size"):
        md.zeros(3, 0).max(1)
    assert e.sum().item() == 0.0
    assert np.isnan(e.mean().item())


def test_backward_errors():
    x = md.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs.*\\[3\\]"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        md.ones(2).sum().backward()
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(md.ones(2))
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    leaf = md.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf += 1
    with pytest.raises(RuntimeError):
        x.numpy()


def test_custom_function_second_backward_and_wrong_count():
    class Sq(md.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * 2 * a

    x = md.ones(2, requires_grad=True)
    out = Sq.apply(x).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()

    class Bad(md.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="returned 1 gradients, expected 2"):
        Bad.apply(x, md.ones(2, requires_grad=True)).sum().backward()


def test_load_state_dict_wrong_keys_message():
    m = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "weight", "bias"'):
        m.load_state_dict({})
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "extra"'):
        m.load_state_dict(dict(m.state_dict(), extra=md.ones(1)))


def test_nan_inputs_propagate_without_crashing():
    x = md.tensor([1.0, float("nan"), -2.0])
    assert np.isnan(x.exp().numpy()[1]) and np.isnan(x.sum().item())
    assert np.isnan(x.max().item()) or x.max().item() == 1.0
    assert np.isnan(F.softmax(x, 0).numpy()).all()
    assert np.isnan(x.clamp(-1, 1).numpy()[1])
    assert np.isnan(F.relu(x).numpy()[1])
    assert np.isnan(md.tensor([[float("nan"), 1.0]]) @ md.ones(2, 1)).all()
    assert np.isnan(md.log(md.tensor([-1.0])).item())
    assert md.tensor([0.0]).log().item() == float("-inf")
    big = md.full((1000003,), float("nan"))
    assert np.isnan((big * 2).sum().item())


def test_dangerous_indices_into_kernels_raise_cleanly():
    x = md.randn(5, 3, requires_grad=True)
    big = md.tensor([2 ** 62])
    with pytest.raises(IndexError):
        x[big]
    with pytest.raises(IndexError):
        x[md.tensor([-6])]
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        F.nll_loss(F.log_softmax(x, 1), md.tensor([0, 1, 2, 3, 2 ** 62]))
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        F.nll_loss(F.log_softmax(x, 1), md.tensor([0, 1, 2, -3, 0]), ignore_index=-100)
    with pytest.raises(RuntimeError, match="Class values"):
        F.one_hot(md.tensor([0, 5]), 3)
    with pytest.raises(RuntimeError, match="weight tensor should be defined"):
        F.cross_entropy(x, md.tensor([0, 1, 2, 0, 1]), weight=md.ones(4))


def test_optimizer_and_module_misuse():
    with pytest.raises(TypeError, match="cannot assign"):
        lin = nn.Linear(2, 2)
        lin.weight = md.ones(2, 2)
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="bogus")
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.5)
    with pytest.raises(RuntimeError, match="approximate"):
        F.gelu(md.ones(2), approximate="fast")


@pytest.mark.parametrize("call", [
    lambda L: L.tensor([1., 2.]) + L.tensor([1., 2., 3.]),
    lambda L: L.ones(2, 3) * L.ones(4),
    lambda L: L.where(L.ones(2, dtype=L.bool), L.ones(3), L.ones(2)),
    lambda L: L.ones(3).add_(L.ones(2, 3)),
    lambda L: L.ones(3).add_(L.ones(2)),
    lambda L: L.ones(1, 3).mul_(L.ones(2, 1)),
    lambda L: L.ones(3).addcmul_(L.ones(2, 3), L.ones(3)),
])
def test_shapes_that_do_not_broadcast_raise_pytorchs_runtime_error(call):
    # the same exception class and message as PyTorch, so `except RuntimeError` code works
    torch = require("torch")
    with pytest.raises(RuntimeError) as want:
        call(torch)
    with pytest.raises(RuntimeError) as got:
        call(md)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("args", [(0, 2, 5), (0, -1, 1), (0, 4, 0), (0, 3, 0), (0, -4, 1), (0, 1, -1), (0, -3, 3),
                                  (0, -1, 5), (1, -2, 2), (-1, 0, 3)])
def test_narrow_counts_a_negative_start_from_the_end_and_refuses_what_does_not_fit(args):
    # narrow(-1, 1) is the last element (it was an empty slice) and a window past the end raises
    # (it was cut short), with PyTorch's exception classes and messages
    torch = require("torch")
    outcomes = []
    for lib in (torch, md):
        x = lib.arange(12).reshape(3, 4) if args[0] else lib.arange(3)
        try:
            outcomes.append(("ok", x.narrow(*args).tolist()))
        except (IndexError, RuntimeError) as e:
            outcomes.append((type(e).__name__, str(e)))
    assert outcomes[1] == outcomes[0]


@pytest.mark.parametrize("call", [lambda x: x.select(1, -1), lambda x: x.select(-1, 3), lambda x: x.select(0, 2),
                                  lambda x: x.select(1, -5), lambda x: x.select(2, 0), lambda x: x.flip(0, 1),
                                  lambda x: x.flip((1,)), lambda x: x.flip(dims=[0, -1]), lambda x: x.flip(-1)])
def test_select_and_flip_take_pytorchs_arguments(call):
    torch = require("torch")
    outcomes = []
    for lib in (torch, md):
        try:
            outcomes.append(("ok", call(lib.arange(8).reshape(2, 4)).tolist()))
        except (IndexError, RuntimeError) as e:
            outcomes.append((type(e).__name__, str(e)))
    assert outcomes[1] == outcomes[0]
