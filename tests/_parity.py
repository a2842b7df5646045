"""Shared by test_triangular / test_linalg / test_einsum: run one call on minidl and torch
with the same leaves and compare the values and the gradients of every leaf."""
from __future__ import annotations

import numpy as np

import minidl as md

from conftest import assert_close, require

torch = require("torch")


def leaves(rng, shapes, non_contiguous=False, dtype=np.float64):
    """(minidl operands, torch operands, minidl leaves, torch leaves). With ``non_contiguous``
    each operand is a permuted view (reversed dims) of a leaf, in both libraries."""
    ms, ts, ml, tl = [], [], [], []
    for shape in shapes:
        base = rng.standard_normal(tuple(reversed(shape)) if non_contiguous else shape).astype(dtype)
        m, t = md.tensor(base, requires_grad=True), torch.tensor(base, requires_grad=True)
        ml.append(m)
        tl.append(t)
        if non_contiguous and len(shape) > 1:
            order = tuple(range(len(shape) - 1, -1, -1))
            m, t = m.permute(order), t.permute(order)
        ms.append(m)
        ts.append(t)
    return ms, ts, ml, tl


def check(rng, fn, shapes, non_contiguous=False, dtype=np.float64, rtol=1e-6, atol=1e-8, torch_fn=None):
    """fn(md, *operands) against (torch_fn or fn)(torch, *operands): values and gradients."""
    ms, ts, ml, tl = leaves(rng, shapes, non_contiguous, dtype)
    got = fn(md, *ms)
    want = (torch_fn or fn)(torch, *ts)
    assert_close(got, want, rtol=rtol, atol=atol)
    if want.requires_grad:
        g = rng.standard_normal(tuple(want.shape)).astype(dtype)
        got.backward(md.tensor(g))
        want.backward(torch.tensor(g))
        for m, t in zip(ml, tl):
            if t.grad is None or (m.grad is None and not t.grad.any()):  # no gradient, or PyTorch's zeros
                assert m.grad is None or not np.any(m.grad.numpy())
            else:
                assert_close(m.grad, t.grad, rtol=rtol, atol=atol)
    return got
