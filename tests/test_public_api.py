"""Every public function and class of ``md`` and ``md.nn.functional`` is called at least once,
and gives what PyTorch's function of the same name gives (issue 14 item 4).

Each public name has an entry in ``MD`` or ``F`` below: a call written once against a library
``t`` (minidl or torch), run with both. Results compare by value, dtype and shape (tensors),
by value and type (Python numbers), element by element (tuples, named tuples, dicts), by
name (dtypes). Calls that draw random numbers compare shape and dtype only. Where PyTorch has
no such name, the entry gives a reference written with torch.

A new public function without an entry fails ``test_every_public_name_has_an_example``; an
entry whose call never reaches the function it is filed under fails its own test (the calls
are traced with ``sys.setprofile``). md.equal and md.allclose raised a TypeError for every
input before this file existed.
"""
from __future__ import annotations

import inspect
import math
import os
import sys
import tempfile
import types
import warnings

import numpy as np
import pytest

from conftest import require

import minidl as md

torch = require("torch")

VALUES, META = "values", "meta"  # compare everything / only shape and dtype (random draws)


class Example:
    """``call(t)`` runs with t = minidl and t = torch (or ``reference(torch)``) and the results
    compare as ``compare`` says."""

    def __init__(self, call, compare=VALUES, reference=None):
        self.call, self.compare, self.reference = call, compare, reference


def data(t, *shape):
    """Deterministic float32 values in [-1, 1] of ``shape``: sin(0), sin(1), ..."""
    return t.sin(t.arange(float(math.prod(shape)))).reshape(shape)


def _quietly(call):
    """call() with its warnings silenced (the deprecated F.upsample* warn in both libraries)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def _alias_refused(t):
    try:
        t.install_torch_alias()
    except RuntimeError:
        return "refused"
    return "installed"


def _with_default_dtype(t):
    before = t.get_default_dtype()
    t.set_default_dtype(t.float64)
    try:
        return t.get_default_dtype(), t.tensor([1.5]).dtype
    finally:
        t.set_default_dtype(before)


def _with_threads(t):
    before = t.get_num_threads()
    t.set_num_threads(1)
    try:
        return t.get_num_threads()
    finally:
        t.set_num_threads(before)


def _rng_round_trip(t):
    t.manual_seed(7)
    state = t.get_rng_state()
    first = t.rand(4)
    t.set_rng_state(state)
    return t.equal(first, t.rand(4)), t.initial_seed()


def _generator_round_trip(t):
    g = t.Generator().manual_seed(5)
    state = g.get_state()
    first = t.randn(3, generator=g)
    g.set_state(state)
    return (t.equal(first, t.randn(3, generator=g)), g.initial_seed(), str(g.device),
            t.Generator().initial_seed())


def _save_load(t):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "state.pt")
        t.save({"w": data(t, 2, 3), "step": 3}, path)
        return t.load(path)


def _safetensors_round_trip(t):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        t.save_safetensors({"w": data(t, 2, 3), "b": t.tensor([True, False])}, path, metadata={"format": "pt"})
        return t.load_safetensors(path), t.safetensors_metadata(path)


def _safetensors_reference(torch):
    """The same tensors and metadata, in the file's order (the interop with safetensors.torch
    itself is tested in tests/test_safetensors.py, where that package is installed)."""
    return {"w": data(torch, 2, 3), "b": torch.tensor([True, False])}, {"format": "pt"}


def _grad_modes(t):
    x = t.ones(2, requires_grad=True)
    with t.no_grad():
        a = (x * 2).requires_grad, t.is_grad_enabled()
        with t.enable_grad():
            b = (x * 2).requires_grad
    with t.set_grad_enabled(False):
        c = (x * 2).requires_grad
    with t.inference_mode():
        d = (x * 2).requires_grad
    return a, b, c, d, t.is_grad_enabled()


def _autocast(t):
    with t.autocast("cpu", dtype=t.bfloat16):
        y = t.matmul(data(t, 2, 3), data(t, 3, 2))
        inside = t.is_autocast_enabled("cpu"), t.get_autocast_dtype("cpu")
    return y.dtype, inside, t.is_autocast_enabled("cpu")


INF, NAN = float("inf"), float("nan")

MD = {
    # --- classes ------------------------------------------------------------------------
    "Tensor": Example(lambda t: (t.Tensor([1, 2]), isinstance(t.tensor(1.), t.Tensor))),
    "Size": Example(lambda t: (t.Size([2, 3]).numel(), t.zeros(2, 3).shape == t.Size([2, 3]))),
    "device": Example(lambda t: (str(t.device("cpu")), t.zeros(1).device == t.device("cpu"))),
    "dtype": Example(lambda t: (isinstance(t.float32, t.dtype), t.float32.is_floating_point)),
    "autocast": Example(_autocast),
    "no_grad": Example(_grad_modes),
    "enable_grad": Example(_grad_modes),
    "set_grad_enabled": Example(_grad_modes),
    "inference_mode": Example(_grad_modes),
    "is_grad_enabled": Example(_grad_modes),
    "get_autocast_dtype": Example(_autocast),
    "is_autocast_enabled": Example(_autocast),
    # --- creation -----------------------------------------------------------------------
    "tensor": Example(lambda t: (t.tensor([[1, 2]]), t.tensor([1.5, 2]), t.tensor(True), t.tensor([1.], dtype=t.float64))),
    "as_tensor": Example(lambda t: (t.as_tensor([1, 2]), t.as_tensor(np.arange(3.)))),
    "from_numpy": Example(lambda t: t.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))),
    "zeros": Example(lambda t: (t.zeros(2, 3), t.zeros((2,), dtype=t.int64))),
    "ones": Example(lambda t: (t.ones(2, 3), t.ones(0, dtype=t.bool))),
    "empty": Example(lambda t: t.empty(2, 3), META),
    "full": Example(lambda t: (t.full((2, 2), 1.5), t.full((2,), 3))),
    "zeros_like": Example(lambda t: t.zeros_like(data(t, 2, 3))),
    "ones_like": Example(lambda t: t.ones_like(t.tensor([1, 2]))),
    "empty_like": Example(lambda t: t.empty_like(data(t, 2, 3)), META),
    "full_like": Example(lambda t: t.full_like(data(t, 2), 7.0)),
    "arange": Example(lambda t: (t.arange(5), t.arange(1., 2., 0.25), t.arange(0, 10, 3))),
    "linspace": Example(lambda t: t.linspace(0, 1, 5)),
    "multinomial": Example(lambda t: (t.multinomial(t.tensor([0.2, 0.3, 0.5]), 2),
                                      t.multinomial(t.tensor([[1.0, 1.0], [1.0, 0.0]]), 3, replacement=True)), META),
    "logspace": Example(lambda t: (t.logspace(0, 1, 5), t.logspace(-1, 3, 3, base=2.0, dtype=t.float64))),
    "eye": Example(lambda t: (t.eye(3), t.eye(2, 3))),
    "rand": Example(lambda t: t.rand(2, 3), META),
    "randn": Example(lambda t: t.randn(2, 3), META),
    "rand_like": Example(lambda t: t.rand_like(data(t, 4)), META),
    "randn_like": Example(lambda t: t.randn_like(data(t, 4)), META),
    "randint": Example(lambda t: (t.randint(0, 1, (3,)), t.randint(5, (2, 2)).shape)),
    "randint_like": Example(lambda t: (t.randint_like(t.zeros(2, 3), 1), t.randint_like(t.zeros(4), 3, 4),
                                       t.randint_like(t.zeros(2, dtype=t.int64), 7).dtype)),
    "randperm": Example(lambda t: (t.randperm(6).sum(), t.randperm(6).dtype)),
    "normal": Example(lambda t: (t.normal(0.0, 1.0, (2, 3)), t.normal(t.zeros(2, 1, dtype=t.float64), t.ones(3)),
                                 t.normal(t.zeros(4), 2.0), t.normal(1.0, t.ones(2))), META),
    "bernoulli": Example(lambda t: (t.bernoulli(t.ones(3)), t.bernoulli(t.zeros(2)), t.bernoulli(t.zeros(2), p=1.0),
                                    t.bernoulli(t.ones(2), generator=t.Generator()))),
    "poisson": Example(lambda t: (t.poisson(t.zeros(2, 3)), t.poisson(t.full((4,), 3.0), t.Generator())), META),
    "Generator": Example(_generator_round_trip),
    "seed": Example(lambda t: (type(t.seed()), t.initial_seed() >= 0)),
    "manual_seed": Example(_rng_round_trip),
    "initial_seed": Example(_rng_round_trip),
    "get_rng_state": Example(_rng_round_trip),
    "set_rng_state": Example(_rng_round_trip),
    "get_default_dtype": Example(_with_default_dtype),
    "set_default_dtype": Example(_with_default_dtype),
    "get_num_threads": Example(_with_threads),
    "set_num_threads": Example(_with_threads),
    "save": Example(_save_load),
    "load": Example(_save_load),
    "save_safetensors": Example(_safetensors_round_trip, reference=_safetensors_reference),
    "load_safetensors": Example(_safetensors_round_trip, reference=_safetensors_reference),
    "safetensors_metadata": Example(_safetensors_round_trip, reference=_safetensors_reference),
    "is_tensor": Example(lambda t: (t.is_tensor(t.zeros(1)), t.is_tensor([1.0]))),
    "numel": Example(lambda t: (t.numel(t.zeros(2, 3)), t.numel(t.tensor(1.)))),
    # --- shape --------------------------------------------------------------------------
    "cat": Example(lambda t: t.cat([data(t, 2, 3), data(t, 1, 3)])),
    "concat": Example(lambda t: t.concat([data(t, 2, 1), data(t, 2, 2)], dim=1)),
    "stack": Example(lambda t: t.stack([data(t, 3), data(t, 3)], dim=1)),
    "split": Example(lambda t: (t.split(data(t, 5, 2), 2), t.split(data(t, 5, 2), [1, 4]))),
    "chunk": Example(lambda t: t.chunk(data(t, 2, 5), 3, dim=1)),
    "tensor_split": Example(lambda t: (t.tensor_split(data(t, 2, 5), 3, dim=1), t.tensor_split(data(t, 7), [1, 4]))),
    "unbind": Example(lambda t: t.unbind(data(t, 2, 3), dim=1)),
    "reshape": Example(lambda t: t.reshape(data(t, 2, 3), (3, -1))),
    "flatten": Example(lambda t: t.flatten(data(t, 2, 3, 4), 1)),
    "squeeze": Example(lambda t: (t.squeeze(data(t, 1, 3, 1)), t.squeeze(data(t, 1, 3, 1), 0))),
    "unsqueeze": Example(lambda t: t.unsqueeze(data(t, 3), -1)),
    "permute": Example(lambda t: t.permute(data(t, 2, 3, 4), (2, 0, 1))),
    "transpose": Example(lambda t: t.transpose(data(t, 2, 3), 0, 1)),
    "narrow": Example(lambda t: t.narrow(data(t, 4, 3), 0, 1, 2)),
    "select": Example(lambda t: (t.select(data(t, 4, 3), 1, -1), data(t, 2, 3, 4).select(-2, 0))),
    "flip": Example(lambda t: t.flip(data(t, 2, 3), (0, 1))),
    "t": Example(lambda t: (t.t(data(t, 2, 3)), t.t(data(t, 4)))),
    "unflatten": Example(lambda t: (t.unflatten(data(t, 2, 6), 1, (3, 2)), t.unflatten(data(t, 2, 6), -1, (-1, 3)))),
    "movedim": Example(lambda t: t.movedim(data(t, 2, 3, 4), (0, 2), (1, 0))),
    "moveaxis": Example(lambda t: t.moveaxis(data(t, 2, 3, 4), 0, -1)),
    "broadcast_to": Example(lambda t: t.broadcast_to(data(t, 3, 1), (2, 3, 4))),
    "broadcast_tensors": Example(lambda t: t.broadcast_tensors(data(t, 3, 1), data(t, 4))),
    "meshgrid": Example(lambda t: (t.meshgrid(data(t, 3), data(t, 2), indexing="ij"),
                                   t.meshgrid(data(t, 3), data(t, 2), data(t, 4), indexing="xy"))),
    "tile": Example(lambda t: (t.tile(data(t, 2, 3), (2,)), t.tile(data(t, 3), (2, 1, 2)))),
    "roll": Example(lambda t: (t.roll(data(t, 2, 3), 4), t.roll(data(t, 2, 3), (1, -2), (0, 1)))),
    "rot90": Example(lambda t: (t.rot90(data(t, 2, 3)), t.rot90(data(t, 2, 3, 4), -1, (2, 1)))),
    "repeat_interleave": Example(lambda t: (t.repeat_interleave(data(t, 2, 3), 2),
                                            t.repeat_interleave(data(t, 2, 3), t.tensor([1, 0, 2]), dim=1),
                                            t.repeat_interleave(t.tensor([2, 1])))),
    "clone": Example(lambda t: t.clone(data(t, 2, 3))),
    # --- elementwise: binary ------------------------------------------------------------
    "add": Example(lambda t: (t.add(data(t, 2, 3), data(t, 3)), t.add(t.tensor([1, 2]), 0.5))),
    "sub": Example(lambda t: t.sub(data(t, 2, 1), data(t, 3))),
    "subtract": Example(lambda t: t.subtract(t.tensor([5, 7]), 2)),
    "mul": Example(lambda t: t.mul(data(t, 2, 3), 3)),
    "multiply": Example(lambda t: t.multiply(data(t, 3), data(t, 3))),
    "div": Example(lambda t: (t.div(data(t, 3), 4), t.div(t.tensor([1, 3]), 2))),
    "divide": Example(lambda t: t.divide(t.tensor([1., 2.]), t.tensor([4., 0.]))),
    "pow": Example(lambda t: (t.pow(t.tensor([1., 2., 3.]), 2), t.pow(t.tensor([4., 9.]), t.tensor([0.5, 0.5])))),
    "maximum": Example(lambda t: t.maximum(data(t, 4), t.zeros(4))),
    "minimum": Example(lambda t: t.minimum(data(t, 4), t.zeros(4))),
    "remainder": Example(lambda t: (t.remainder(t.tensor([-3., 5., 7.5]), 2), t.remainder(t.tensor([-3, 5]), 3))),
    "eq": Example(lambda t: t.eq(t.tensor([1, 2, 3]), t.tensor([1, 0, 3]))),
    "ne": Example(lambda t: t.ne(t.tensor([1, 2, 3]), 2)),
    "lt": Example(lambda t: t.lt(data(t, 4), 0)),
    "le": Example(lambda t: t.le(t.tensor([1., 2.]), t.tensor([1., 1.]))),
    "gt": Example(lambda t: t.gt(data(t, 4), 0)),
    "ge": Example(lambda t: t.ge(t.tensor([1., 2.]), t.tensor([1., 3.]))),
    "logical_and": Example(lambda t: t.logical_and(t.tensor([True, True, False]), t.tensor([True, False, False]))),
    "logical_or": Example(lambda t: t.logical_or(t.tensor([True, False]), t.tensor([0., 0.]))),
    "logical_xor": Example(lambda t: t.logical_xor(t.tensor([True, True]), t.tensor([True, False]))),
    # --- elementwise: unary -------------------------------------------------------------
    "neg": Example(lambda t: t.neg(data(t, 3))),
    "negative": Example(lambda t: t.negative(t.tensor([1, -2]))),
    "abs": Example(lambda t: (t.abs(data(t, 4)), t.abs(t.tensor([-3, 2])))),
    "exp": Example(lambda t: t.exp(data(t, 4))),
    "log": Example(lambda t: t.log(t.tensor([1., 2., 0.])), ),
    "sqrt": Example(lambda t: t.sqrt(t.tensor([4., 2.]))),
    "rsqrt": Example(lambda t: t.rsqrt(t.tensor([4., 0.25]))),
    "square": Example(lambda t: (t.square(data(t, 3)), t.square(t.tensor([3])))),
    "reciprocal": Example(lambda t: t.reciprocal(t.tensor([2., -4.]))),
    "sign": Example(lambda t: t.sign(t.tensor([-2., 0., 3.]))),
    "sin": Example(lambda t: t.sin(t.tensor([0., 1.]))),
    "cos": Example(lambda t: t.cos(t.tensor([0., 1.]))),
    "log1p": Example(lambda t: t.log1p(t.tensor([1e-8, 1.]))),
    "expm1": Example(lambda t: t.expm1(t.tensor([1e-8, 1.]))),
    "erf": Example(lambda t: t.erf(data(t, 5) * 3)),
    "erfinv": Example(lambda t: t.erfinv(t.tensor([-1.0, -0.5, 0.0, 0.9, 1.0, 2.0]))),
    "floor": Example(lambda t: t.floor(t.tensor([-1.5, 1.5]))),
    "ceil": Example(lambda t: t.ceil(t.tensor([-1.5, 1.5]))),
    "round": Example(lambda t: t.round(t.tensor([0.5, 1.5, -2.5, 2.4]))),
    "trunc": Example(lambda t: t.trunc(t.tensor([-1.7, 1.7]))),
    "isnan": Example(lambda t: t.isnan(t.tensor([1., NAN, INF]))),
    "isinf": Example(lambda t: t.isinf(t.tensor([1., NAN, -INF]))),
    "isfinite": Example(lambda t: t.isfinite(t.tensor([1., NAN, INF]))),
    "logical_not": Example(lambda t: t.logical_not(t.tensor([0., 3.]))),
    "clamp": Example(lambda t: (t.clamp(data(t, 5), -0.5, 0.5), t.clamp(data(t, 5), min=0))),
    "clamp_min": Example(lambda t: t.clamp_min(data(t, 5), 0.1)),
    "clamp_max": Example(lambda t: t.clamp_max(data(t, 5), data(t, 5) * 0.5)),
    "tan": Example(lambda t: t.tan(data(t, 5) * 1.5)),
    "clip": Example(lambda t: t.clip(data(t, 5), max=0.1)),
    "where": Example(lambda t: t.where(data(t, 4) > 0, data(t, 4), t.zeros(4))),
    "masked_fill": Example(lambda t: t.masked_fill(data(t, 2, 2), t.tensor([[True, False], [False, True]]), -1.0)),
    "gather": Example(lambda t: t.gather(data(t, 3, 4), 1, t.tensor([[0, 3], [2, 2], [1, 0]]))),
    "scatter": Example(lambda t: t.scatter(data(t, 3, 4), 0, t.tensor([[2, 0, 1, 1]]), data(t, 1, 4))),
    "scatter_add": Example(lambda t: t.scatter_add(data(t, 3, 4), 1, t.tensor([[3, 3], [0, 1], [2, 2]]), data(t, 3, 2))),
    "scatter_reduce": Example(lambda t: t.scatter_reduce(data(t, 3, 4), 1, t.tensor([[3, 3], [0, 1], [2, 2]]),
                                                         data(t, 3, 2), "amax", include_self=False)),
    "index_select": Example(lambda t: t.index_select(data(t, 3, 4), 1, t.tensor([3, 0, 3]))),
    "index_add": Example(lambda t: t.index_add(data(t, 3, 4), 0, t.tensor([2, 2]), data(t, 2, 4), alpha=0.5)),
    "index_copy": Example(lambda t: t.index_copy(data(t, 3, 4), 1, t.tensor([1, 3]), data(t, 3, 2))),
    "index_fill": Example(lambda t: t.index_fill(data(t, 3, 4), 1, t.tensor([-1, 0]), 2.5)),
    "take": Example(lambda t: t.take(data(t, 3, 4), t.tensor([[11, -12], [5, 5]]))),
    "take_along_dim": Example(lambda t: t.take_along_dim(data(t, 3, 4), t.tensor([[1], [0], [-1]]), dim=1)),
    "masked_select": Example(lambda t: t.masked_select(data(t, 3, 4), data(t, 1, 4) > 0)),
    "masked_scatter": Example(lambda t: t.masked_scatter(data(t, 3, 4), data(t, 1, 4) > 0, data(t, 12))),
    "nonzero": Example(lambda t: (t.nonzero(data(t, 3, 4) > 0), t.nonzero(data(t, 3, 4) > 0, as_tuple=True))),
    "argwhere": Example(lambda t: t.argwhere(data(t, 3, 4) > 0.5)),
    # --- comparing whole tensors --------------------------------------------------------
    "isclose": Example(lambda t: (t.isclose(t.tensor([1., 2., NAN, INF, -INF]), t.tensor([1. + 1e-6, 2.1, NAN, INF, INF])),
                                  t.isclose(t.tensor([NAN, 1.]), t.tensor([NAN, 1.]), equal_nan=True))),
    "allclose": Example(lambda t: (t.allclose(data(t, 3), data(t, 3) + 1e-7), t.allclose(data(t, 3), data(t, 3) + 1e-3),
                                   t.allclose(t.tensor([INF, 1.]), t.tensor([INF, 1.])))),
    "equal": Example(lambda t: (t.equal(data(t, 2), data(t, 2)), t.equal(data(t, 2), data(t, 1, 2)),
                                t.equal(t.tensor([NAN]), t.tensor([NAN])))),
    # --- GEMM ---------------------------------------------------------------------------
    "matmul": Example(lambda t: (t.matmul(data(t, 2, 3), data(t, 3)), t.matmul(data(t, 2, 2, 3), data(t, 3, 4)))),
    "mm": Example(lambda t: t.mm(data(t, 2, 3), data(t, 3, 4))),
    "bmm": Example(lambda t: t.bmm(data(t, 2, 2, 3), data(t, 2, 3, 1))),
    "addmm": Example(lambda t: (t.addmm(data(t, 3), data(t, 2, 4), data(t, 4, 3)),
                                t.addmm(data(t, 2, 1), data(t, 2, 4), data(t, 4, 3), beta=0.5, alpha=2))),
    "baddbmm": Example(lambda t: t.baddbmm(data(t, 3), data(t, 2, 2, 4), data(t, 2, 4, 3), beta=2)),
    "einsum": Example(lambda t: (t.einsum("bhqd,bhkd->bhqk", data(t, 2, 2, 3, 4), data(t, 2, 2, 5, 4)),
                                 t.einsum("ii", data(t, 3, 3)), t.einsum("...j,j", [data(t, 2, 3), data(t, 3)]))),
    "tensordot": Example(lambda t: (t.tensordot(data(t, 2, 3, 4), data(t, 3, 4, 5)),
                                    t.tensordot(data(t, 2, 3), data(t, 3, 2), ([0], [1])))),
    "outer": Example(lambda t: t.outer(data(t, 3), data(t, 2))),
    "dot": Example(lambda t: t.dot(data(t, 4), data(t, 4))),
    "inner": Example(lambda t: (t.inner(data(t, 2, 3), data(t, 4, 3)), t.inner(data(t, 3), data(t, 3)))),
    # --- triangles and diagonals --------------------------------------------------------
    "tril": Example(lambda t: (t.tril(data(t, 3, 4)), t.tril(t.ones(2, 3, 3, dtype=t.bool), -1))),
    "triu": Example(lambda t: (t.triu(data(t, 3, 4), 1), t.triu(t.tensor([[1, 2], [3, 4]])))),
    "diagonal": Example(lambda t: (t.diagonal(data(t, 3, 4)), t.diagonal(data(t, 2, 3, 4), -1, 1, 2))),
    "diag": Example(lambda t: (t.diag(data(t, 3)), t.diag(data(t, 3, 4), 1))),
    "diag_embed": Example(lambda t: t.diag_embed(data(t, 2, 3), 1)),
    "trace": Example(lambda t: (t.trace(data(t, 3, 4)), t.trace(t.tensor([[1, 2], [3, 4]])))),
    # --- fused add + product, interpolation ---------------------------------------------
    "addcmul": Example(lambda t: t.addcmul(data(t, 3), data(t, 2, 3), data(t, 3), value=0.5)),
    "addcdiv": Example(lambda t: t.addcdiv(data(t, 3), data(t, 2, 3), data(t, 3) + 2, value=-2)),
    "lerp": Example(lambda t: (t.lerp(data(t, 3), t.ones(3), 0.3), t.lerp(data(t, 2, 3), t.ones(3), data(t, 3)))),
    # --- norms and distances ------------------------------------------------------------
    "norm": Example(lambda t: (t.norm(data(t, 2, 3)), t.norm(data(t, 2, 3), 1, 1), t.norm(data(t, 2, 3), dim=0),
                               t.norm(data(t, 2, 3), "nuc"))),
    "cdist": Example(lambda t: (t.cdist(data(t, 4, 3), data(t, 2, 3)), t.cdist(data(t, 2, 4, 3), data(t, 2, 5, 3), 1.0))),
    # --- reductions ---------------------------------------------------------------------
    "sum": Example(lambda t: (t.sum(data(t, 2, 3)), t.sum(data(t, 2, 3), 1, keepdim=True), t.sum(t.tensor([True, True])))),
    "mean": Example(lambda t: (t.mean(data(t, 2, 3)), t.mean(data(t, 2, 3), (0, 1)))),
    "var": Example(lambda t: (t.var(data(t, 2, 3)), t.var(data(t, 2, 3), 1, correction=0))),
    "std": Example(lambda t: (t.std(data(t, 2, 3)), t.std(data(t, 2, 3), 0, keepdim=True))),
    "max": Example(lambda t: (t.max(data(t, 2, 3)), t.max(data(t, 2, 3), 1))),
    "min": Example(lambda t: (t.min(data(t, 2, 3)), t.min(data(t, 2, 3), 0, keepdim=True))),
    "amax": Example(lambda t: t.amax(data(t, 2, 3), 1)),
    "amin": Example(lambda t: t.amin(data(t, 2, 3), (0, 1))),
    "argmax": Example(lambda t: (t.argmax(data(t, 2, 3)), t.argmax(data(t, 2, 3), 1))),
    "argmin": Example(lambda t: (t.argmin(data(t, 2, 3)), t.argmin(data(t, 2, 3), 0, keepdim=True))),
    "logsumexp": Example(lambda t: t.logsumexp(data(t, 2, 3) * 100, 1)),
    "prod": Example(lambda t: (t.prod(data(t, 2, 3)), t.prod(t.tensor([[1, 2], [3, 4]]), 0))),
    "any": Example(lambda t: (t.any(t.tensor([[True, False], [False, False]])), t.any(t.tensor([[0., 1.], [0., 0.]]), 1))),
    "all": Example(lambda t: (t.all(t.tensor([[True, False], [True, True]])), t.all(t.tensor([[1, 1], [0, 2]]), 1))),
    "count_nonzero": Example(lambda t: (t.count_nonzero(t.tensor([[0, 1, 2], [3, 0, 0]])),
                                        t.count_nonzero(t.tensor([[0., 1.], [2., 0.]]), 1))),
    # --- sorting and selection, scans ----------------------------------------------------
    "sort": Example(lambda t: (t.sort(data(t, 3, 4)), t.sort(t.tensor([2, 1, 2, 1]), descending=True, stable=True))),
    "argsort": Example(lambda t: t.argsort(data(t, 3, 4), dim=0, descending=True)),
    "msort": Example(lambda t: t.msort(data(t, 3, 4))),
    "topk": Example(lambda t: (t.topk(data(t, 3, 7), 3), t.topk(data(t, 3, 7), 2, dim=0, largest=False))),
    "kthvalue": Example(lambda t: (t.kthvalue(data(t, 3, 5), 2), t.kthvalue(data(t, 3, 5), 3, 0, True))),
    "median": Example(lambda t: (t.median(data(t, 3, 5)), t.median(data(t, 3, 4), 1), t.median(data(t, 3, 4), 0, True))),
    "searchsorted": Example(lambda t: (t.searchsorted(t.tensor([1., 3., 5.]), data(t, 2, 3) * 6),
                                       t.searchsorted(t.tensor([1., 3., 5.]), 3.0, right=True))),
    "bucketize": Example(lambda t: t.bucketize(data(t, 2, 3) * 6, t.tensor([1., 3., 5.]), right=True)),
    "bincount": Example(lambda t: (t.bincount(t.tensor([0, 3, 3, 1])), t.bincount(t.tensor([1, 1]), data(t, 2), 4))),
    "histc": Example(lambda t: (t.histc(data(t, 4, 5), bins=6), t.histc(data(t, 10), 4, -0.5, 0.5))),
    "unique": Example(lambda t: (t.unique(t.tensor([3, 1, 3, 2])),
                                 t.unique(t.tensor([[2., 1.], [2., 0.]]), return_inverse=True, return_counts=True))),
    # (minidl's additions: this process has the real torch loaded, so installing the alias is refused)
    "install_torch_alias": Example(lambda t: _alias_refused(t), reference=lambda t: "refused"),
    "uninstall_torch_alias": Example(lambda t: t.uninstall_torch_alias(), reference=lambda t: None),
    "compile": Example(lambda t: t.compile(lambda x: x * 3)(t.ones(2))),
    "set_float32_matmul_precision": Example(lambda t: (t.set_float32_matmul_precision("high"),
                                                       t.get_float32_matmul_precision(),
                                                       t.set_float32_matmul_precision("highest"))),
    "get_float32_matmul_precision": Example(lambda t: t.get_float32_matmul_precision()),
    "use_deterministic_algorithms": Example(lambda t: (t.use_deterministic_algorithms(True),
                                                       t.are_deterministic_algorithms_enabled(),
                                                       t.use_deterministic_algorithms(False))),
    "are_deterministic_algorithms_enabled": Example(lambda t: t.are_deterministic_algorithms_enabled()),
    "is_deterministic_algorithms_warn_only_enabled": Example(
        lambda t: t.is_deterministic_algorithms_warn_only_enabled()),
    # (torch allows it once, before any parallel work: the reference is what it returns then)
    "set_num_interop_threads": Example(lambda t: t.set_num_interop_threads(1), reference=lambda t: None),
    "get_num_interop_threads": Example(lambda t: t.get_num_interop_threads() >= 1),
    "is_floating_point": Example(lambda t: (t.is_floating_point(t.ones(1)), t.is_floating_point(t.tensor([1])))),
    "from_dlpack": Example(lambda t: t.from_dlpack(np.arange(3.0)) * 2),
    "unique_consecutive": Example(lambda t: t.unique_consecutive(t.tensor([[1, 1], [1, 1], [0, 2]]), dim=0,
                                                                 return_inverse=True, return_counts=True)),
    "cumsum": Example(lambda t: (t.cumsum(data(t, 3, 4), 1), t.cumsum(t.tensor([True, True, False]), 0))),
    "cumprod": Example(lambda t: t.cumprod(data(t, 3, 4), dim=-1)),
    "cummax": Example(lambda t: t.cummax(data(t, 3, 4), 1)),
    "cummin": Example(lambda t: t.cummin(data(t, 3, 4), 0)),
    "logcumsumexp": Example(lambda t: t.logcumsumexp(data(t, 3, 4) * 100, 1)),
    "diff": Example(lambda t: (t.diff(data(t, 3, 4)), t.diff(data(t, 3, 4), n=2, dim=0, prepend=data(t, 1, 4)))),
    # --- activations --------------------------------------------------------------------
    "relu": Example(lambda t: t.relu(data(t, 5))),
    "sigmoid": Example(lambda t: t.sigmoid(data(t, 5) * 10)),
    "tanh": Example(lambda t: t.tanh(data(t, 5) * 10)),
    "softmax": Example(lambda t: (t.softmax(data(t, 2, 3), 1), t.softmax(t.tensor([1000., 0.]), 0))),
    "log_softmax": Example(lambda t: t.log_softmax(data(t, 2, 3) * 100, dim=0)),
}


def _focal_reference(t):
    """-alpha (1 - p_t)^gamma log p_t, mean over the batch (minidl's focal loss; torch has none)."""
    logits, target = data(t, 4, 3) * 3, t.tensor([0, 2, 1, 2])
    log_p = t.nn.functional.log_softmax(logits, 1).gather(1, target[:, None])[:, 0]
    return (-0.25 * (1 - log_p.exp()) ** 2.0 * log_p).mean()


F = {
    "relu": Example(lambda t: t.nn.functional.relu(data(t, 5))),
    "leaky_relu": Example(lambda t: t.nn.functional.leaky_relu(data(t, 5), 0.2)),
    "sigmoid": Example(lambda t: t.nn.functional.sigmoid(data(t, 5))),
    "tanh": Example(lambda t: t.nn.functional.tanh(data(t, 5))),
    "gelu": Example(lambda t: (t.nn.functional.gelu(data(t, 5) * 3), t.nn.functional.gelu(data(t, 5) * 3, approximate="tanh"))),
    "softmax": Example(lambda t: t.nn.functional.softmax(data(t, 2, 3), dim=-1)),
    "log_softmax": Example(lambda t: t.nn.functional.log_softmax(data(t, 2, 3), dim=1)),
    "silu": Example(lambda t: t.nn.functional.silu(data(t, 5) * 5)),
    "mish": Example(lambda t: t.nn.functional.mish(data(t, 5) * 5)),
    "elu": Example(lambda t: t.nn.functional.elu(data(t, 5) * 5, alpha=0.5)),
    "selu": Example(lambda t: t.nn.functional.selu(data(t, 5) * 5)),
    "celu": Example(lambda t: t.nn.functional.celu(data(t, 5) * 5, alpha=2.0)),
    "softplus": Example(lambda t: (t.nn.functional.softplus(data(t, 5) * 5),
                                   t.nn.functional.softplus(data(t, 5) * 5, beta=2.0, threshold=3.0))),
    "softsign": Example(lambda t: t.nn.functional.softsign(data(t, 5) * 5)),
    "hardtanh": Example(lambda t: t.nn.functional.hardtanh(data(t, 5) * 5, -2.0, 3.0)),
    "relu6": Example(lambda t: t.nn.functional.relu6(data(t, 5) * 9)),
    "hardswish": Example(lambda t: t.nn.functional.hardswish(data(t, 5) * 5)),
    "hardsigmoid": Example(lambda t: t.nn.functional.hardsigmoid(data(t, 5) * 5)),
    "logsigmoid": Example(lambda t: t.nn.functional.logsigmoid(data(t, 5) * 50)),
    "softshrink": Example(lambda t: t.nn.functional.softshrink(data(t, 5), 0.3)),
    "hardshrink": Example(lambda t: t.nn.functional.hardshrink(data(t, 5), 0.3)),
    "threshold": Example(lambda t: t.nn.functional.threshold(data(t, 5), 0.1, -3.0)),
    "tanhshrink": Example(lambda t: t.nn.functional.tanhshrink(data(t, 5) * 3)),
    "softmin": Example(lambda t: t.nn.functional.softmin(data(t, 2, 3), dim=0)),
    "glu": Example(lambda t: (t.nn.functional.glu(data(t, 2, 4)), t.nn.functional.glu(data(t, 4, 3), 0))),
    "prelu": Example(lambda t: t.nn.functional.prelu(data(t, 2, 3, 2), t.tensor([0.1, 0.2, 0.3]))),
    "rrelu": Example(lambda t: (t.nn.functional.rrelu(data(t, 5), 0.1, 0.3),
                                t.nn.functional.rrelu(data(t, 5), training=True))[0]),
    "linear": Example(lambda t: t.nn.functional.linear(data(t, 2, 3), data(t, 4, 3), data(t, 4))),
    "conv1d": Example(lambda t: t.nn.functional.conv1d(data(t, 1, 2, 7), data(t, 3, 2, 3), data(t, 3), stride=2, padding=1)),
    "conv2d": Example(lambda t: t.nn.functional.conv2d(data(t, 1, 2, 5, 5), data(t, 4, 1, 3, 3), None, padding=1, groups=2)),
    "max_pool1d": Example(lambda t: t.nn.functional.max_pool1d(data(t, 1, 2, 7), 3, stride=2)),
    "max_pool2d": Example(lambda t: t.nn.functional.max_pool2d(data(t, 1, 2, 5, 5), 2, ceil_mode=True, return_indices=True)),
    "avg_pool1d": Example(lambda t: t.nn.functional.avg_pool1d(data(t, 1, 2, 7), 2, padding=1)),
    "avg_pool2d": Example(lambda t: t.nn.functional.avg_pool2d(data(t, 1, 2, 5, 5), 3, stride=2, padding=1, count_include_pad=False)),
    "adaptive_avg_pool2d": Example(lambda t: t.nn.functional.adaptive_avg_pool2d(data(t, 1, 2, 5, 7), (2, 3))),
    "batch_norm": Example(lambda t: t.nn.functional.batch_norm(data(t, 4, 3), t.zeros(3), t.ones(3), training=True)),
    "layer_norm": Example(lambda t: t.nn.functional.layer_norm(data(t, 2, 5), (5,), data(t, 5), data(t, 5))),
    "dropout": Example(lambda t: (t.nn.functional.dropout(data(t, 4), 0.5, training=False),
                                  t.nn.functional.dropout(data(t, 4), 0.0))),
    "dropout1d": Example(lambda t: (t.nn.functional.dropout1d(data(t, 2, 3, 4), 0.5, training=False),
                                    t.nn.functional.dropout1d(data(t, 3, 4), 0.0))),
    "dropout2d": Example(lambda t: (t.nn.functional.dropout2d(data(t, 2, 3, 2, 2), 0.5, training=False),
                                    t.nn.functional.dropout2d(data(t, 2, 3, 2, 2), 1.0))),
    "alpha_dropout": Example(lambda t: (t.nn.functional.alpha_dropout(data(t, 4), 0.5),
                                        t.nn.functional.alpha_dropout(data(t, 4), 0.0, training=True))),
    "adaptive_avg_pool1d": Example(lambda t: t.nn.functional.adaptive_avg_pool1d(data(t, 2, 3, 7), 3)),
    "adaptive_max_pool1d": Example(lambda t: t.nn.functional.adaptive_max_pool1d(data(t, 2, 3, 7), 3)),
    "adaptive_max_pool2d": Example(lambda t: t.nn.functional.adaptive_max_pool2d(data(t, 2, 5, 6), (2, 4))),
    "max_unpool1d": Example(lambda t: t.nn.functional.max_unpool1d(
        *t.nn.functional.max_pool1d(data(t, 2, 3, 8), 2, return_indices=True), 2)),
    "max_unpool2d": Example(lambda t: t.nn.functional.max_unpool2d(
        *t.nn.functional.max_pool2d(data(t, 1, 2, 4, 6), 2, return_indices=True), 2)),
    "lp_pool1d": Example(lambda t: t.nn.functional.lp_pool1d(data(t, 2, 3, 7).abs() + 0.1, 3, 2, stride=2)),
    "lp_pool2d": Example(lambda t: t.nn.functional.lp_pool2d(data(t, 1, 2, 4, 6), 2, (2, 3), ceil_mode=True)),
    "interpolate": Example(lambda t: (t.nn.functional.interpolate(data(t, 1, 2, 3, 5), scale_factor=1.7, mode="bicubic"),
                                      t.nn.functional.interpolate(data(t, 2, 1, 4), size=7, mode="linear", align_corners=True),
                                      t.nn.functional.interpolate(data(t, 1, 2, 5, 4), scale_factor=(0.5, 2)))),
    "upsample": Example(lambda t: _quietly(lambda: t.nn.functional.upsample(data(t, 1, 2, 3, 5), scale_factor=1.5,
                                                                          mode="bilinear"))),
    "upsample_nearest": Example(lambda t: _quietly(lambda: t.nn.functional.upsample_nearest(data(t, 1, 2, 3, 5), (4, 7)))),
    "upsample_bilinear": Example(lambda t: _quietly(lambda: t.nn.functional.upsample_bilinear(data(t, 1, 2, 3, 5), 6))),
    "pixel_shuffle": Example(lambda t: t.nn.functional.pixel_shuffle(data(t, 2, 8, 3, 2), 2)),
    "pixel_unshuffle": Example(lambda t: t.nn.functional.pixel_unshuffle(data(t, 2, 2, 6, 4), 2)),
    "group_norm": Example(lambda t: t.nn.functional.group_norm(data(t, 2, 4, 3), 2, data(t, 4), data(t, 4) * 2)),
    "instance_norm": Example(lambda t: t.nn.functional.instance_norm(data(t, 2, 3, 5) * 3)),
    "rms_norm": Example(lambda t: t.nn.functional.rms_norm(data(t, 3, 4), (4,), data(t, 4) + 2)),
    "local_response_norm": Example(lambda t: t.nn.functional.local_response_norm(data(t, 2, 5, 3), 3, alpha=0.5)),
    "normalize": Example(lambda t: t.nn.functional.normalize(data(t, 3, 4), p=1.0, dim=0)),
    "unfold": Example(lambda t: t.nn.functional.unfold(data(t, 1, 2, 4, 5), (2, 3), padding=1, stride=2)),
    "fold": Example(lambda t: t.nn.functional.fold(data(t, 1, 2 * 4, 6), (3, 4), 2)),
    "embedding_bag": Example(lambda t: t.nn.functional.embedding_bag(t.tensor([0, 2, 1, 1, 2]), data(t, 3, 4),
                                                                     t.tensor([0, 2]), mode="mean")),
    "embedding": Example(lambda t: t.nn.functional.embedding(t.tensor([[0, 2], [1, 0]]), data(t, 3, 4))),
    "one_hot": Example(lambda t: (t.nn.functional.one_hot(t.tensor([0, 2, 1])), t.nn.functional.one_hot(t.tensor([1]), 4))),
    "pad": Example(lambda t: t.nn.functional.pad(data(t, 1, 2, 3), (1, 2), value=-1.0)),
    "scaled_dot_product_attention": Example(lambda t: t.nn.functional.scaled_dot_product_attention(
        data(t, 1, 2, 4, 8), data(t, 1, 2, 5, 8), data(t, 1, 2, 5, 8) * 2, is_causal=True)),
    "mse_loss": Example(lambda t: t.nn.functional.mse_loss(data(t, 2, 3), t.zeros(2, 3))),
    "l1_loss": Example(lambda t: t.nn.functional.l1_loss(data(t, 2, 3), t.ones(2, 3), reduction="sum")),
    "smooth_l1_loss": Example(lambda t: t.nn.functional.smooth_l1_loss(data(t, 2, 3) * 3, t.zeros(2, 3), beta=0.5)),
    "ctc_loss": Example(lambda t: (t.nn.functional.ctc_loss(t.log_softmax(data(t, 6, 2, 4), 2), t.tensor([[1, 1, 2], [3, 2, 0]]),
                                                           (6, 5), (3, 2)),
                                   t.nn.functional.ctc_loss(t.log_softmax(data(t, 5, 2, 4), 2), t.tensor([1, 3, 3]), (5, 2),
                                                           (1, 2), reduction="none", zero_infinity=True))),
    "huber_loss": Example(lambda t: t.nn.functional.huber_loss(data(t, 2, 3) * 3, t.zeros(2, 3), delta=2.0)),
    "poisson_nll_loss": Example(lambda t: t.nn.functional.poisson_nll_loss(data(t, 4), t.tensor([0., 1., 2., 5.]))),
    "kl_div": Example(lambda t: t.nn.functional.kl_div(t.log_softmax(data(t, 2, 3), 1), t.softmax(data(t, 2, 3), 1),
                                                       reduction="batchmean")),
    "soft_margin_loss": Example(lambda t: t.nn.functional.soft_margin_loss(data(t, 4), t.tensor([1., -1., 1., -1.]))),
    "multilabel_soft_margin_loss": Example(lambda t: t.nn.functional.multilabel_soft_margin_loss(
        data(t, 2, 3), t.tensor([[1., 0., 1.], [0., 0., 1.]]))),
    "margin_ranking_loss": Example(lambda t: t.nn.functional.margin_ranking_loss(
        data(t, 4), data(t, 4) * 2, t.tensor([1., -1., 1., -1.]), margin=0.1)),
    "hinge_embedding_loss": Example(lambda t: t.nn.functional.hinge_embedding_loss(
        data(t, 4).abs(), t.tensor([1., -1., 1., -1.]))),
    "cosine_embedding_loss": Example(lambda t: t.nn.functional.cosine_embedding_loss(
        data(t, 2, 3), data(t, 2, 3) * 2 - 1, t.tensor([1., -1.]))),
    "gaussian_nll_loss": Example(lambda t: t.nn.functional.gaussian_nll_loss(data(t, 3, 2), data(t, 3, 2) * 2,
                                                                             data(t, 3).abs() + 0.1)),
    "multi_margin_loss": Example(lambda t: t.nn.functional.multi_margin_loss(data(t, 3, 4), t.tensor([0, 3, 1]))),
    "multilabel_margin_loss": Example(lambda t: t.nn.functional.multilabel_margin_loss(
        data(t, 2, 4), t.tensor([[3, 0, -1, 1], [1, -1, 0, 0]]))),
    "conv_transpose1d": Example(lambda t: t.nn.functional.conv_transpose1d(data(t, 1, 2, 5), data(t, 2, 3, 3), stride=2)),
    "conv_transpose2d": Example(lambda t: t.nn.functional.conv_transpose2d(data(t, 1, 2, 3, 3), data(t, 2, 2, 2, 2),
                                                                           data(t, 2), stride=2, padding=1)),
    "bilinear": Example(lambda t: t.nn.functional.bilinear(data(t, 2, 3), data(t, 2, 4), data(t, 5, 3, 4), data(t, 5))),
    "cosine_similarity": Example(lambda t: t.nn.functional.cosine_similarity(data(t, 3, 4), data(t, 1, 4) - 1)),
    "pairwise_distance": Example(lambda t: t.nn.functional.pairwise_distance(data(t, 3, 4), data(t, 3, 4) * 2, p=1.5)),
    "triplet_margin_loss": Example(lambda t: t.nn.functional.triplet_margin_loss(
        data(t, 2, 3), data(t, 2, 3) * 2, data(t, 2, 3) - 1)),
    "binary_cross_entropy": Example(lambda t: t.nn.functional.binary_cross_entropy(
        t.sigmoid(data(t, 4)), t.tensor([0., 1., 1., 0.]))),
    "binary_cross_entropy_with_logits": Example(lambda t: t.nn.functional.binary_cross_entropy_with_logits(
        data(t, 4) * 5, t.tensor([0., 1., 1., 0.]), pos_weight=t.tensor([2.]))),
    "cross_entropy": Example(lambda t: (t.nn.functional.cross_entropy(data(t, 4, 3), t.tensor([0, 2, 1, -100])),
                                        t.nn.functional.cross_entropy(data(t, 4, 3), t.tensor([0, 2, 1, 1]), label_smoothing=0.1))),
    "nll_loss": Example(lambda t: t.nn.functional.nll_loss(t.nn.functional.log_softmax(data(t, 4, 3), 1), t.tensor([0, 2, 1, 1]),
                                                           reduction="none")),
    "focal_loss": Example(lambda t: t.nn.functional.focal_loss(data(t, 4, 3) * 3, t.tensor([0, 2, 1, 2])),
                          reference=_focal_reference),
}



def _graph_summary(t):
    """(nodes, edges, leaf labels) of the backward graph of a tanh layer's summed output: from
    md.viz.draw_graph for minidl, by walking grad_fn as torchviz does for PyTorch."""
    t.manual_seed(0)
    w, b = t.ones(2, 3, requires_grad=True), t.zeros(2, requires_grad=True)
    y = t.tanh(data(t, 4, 3) @ w.t() + b).sum()
    if t is md:
        require("graphviz")
        body = md.viz.draw_graph(y, params={"w": w, "b": b}).body
        nodes = [line for line in body if "[label=" in line]
        leaves = sorted(line.split('"')[1] for line in nodes if "lightblue" in line)
        return len(nodes), sum(" -> " in line for line in body), leaves
    names, seen, edges, stack = {id(w): "w", id(b): "b"}, {y.grad_fn}, 1, [y.grad_fn]
    while stack:
        fn = stack.pop()
        if hasattr(fn, "variable"):  # AccumulateGrad -> its leaf
            edges += 1
            continue
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                edges += 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    leaves = sorted(f"{names[id(fn.variable)]}\n{tuple(fn.variable.shape)}".replace(",)", ")") for fn in seen
                    if hasattr(fn, "variable"))
    return 1 + len(seen) + len(leaves), edges, leaves


# md.viz: compared with the graph PyTorch records (torchviz is no test dependency)
VIZ = {
    "draw_graph": Example(_graph_summary, reference=_graph_summary),
}

NAMESPACES = {"md": (md, MD), "F": (md.nn.functional, F), "viz": (md.viz, VIZ)}


def _public_callables(namespace):
    names = getattr(namespace, "__all__", None) or dir(namespace)  # md.viz lists its public names
    return sorted(n for n in names if not n.startswith("_") and callable(getattr(namespace, n))
                  and not isinstance(getattr(namespace, n), types.ModuleType))


def test_every_public_name_has_an_example():
    """issue 14 item 4: a public function or class of md / md.nn.functional without an entry fails here."""
    for prefix, (namespace, table) in NAMESPACES.items():
        public = set(_public_callables(namespace))
        missing, stale = sorted(public - set(table)), sorted(set(table) - public)
        assert not missing, f"public {prefix}.<name> without an example in tests/test_public_api.py: {missing}"
        assert not stale, f"examples for names {prefix} does not export: {stale}"


def _to_python(x):
    """A result as plain Python/NumPy values, library-independent: tensors -> (dtype name,
    shape, array); dtypes -> name; sequences and dicts element by element."""
    if isinstance(x, (md.Tensor, torch.Tensor)):
        name = str(x.dtype).split(".")[-1]
        if isinstance(x, torch.Tensor):
            array = x.detach().float().numpy() if x.dtype in (torch.bfloat16, torch.float16) else x.detach().numpy()
        else:
            array = x.detach().numpy().astype(np.float32) if x.dtype in (md.bfloat16, md.float16) else x.detach().numpy()
        return ("tensor", name, tuple(x.shape), array)
    if isinstance(x, (md.dtype, torch.dtype)):
        return ("dtype", str(x).split(".")[-1])
    if isinstance(x, (md.Size, torch.Size)):
        return ("size", tuple(x))
    if isinstance(x, dict):
        return {k: _to_python(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return (type(x).__name__ if not hasattr(x, "_fields") else tuple(x._fields), [_to_python(v) for v in x])
    return x


def _assert_same(got, want, compare, where="result"):
    if isinstance(want, tuple) and want and want[0] == "tensor":
        assert isinstance(got, tuple) and got[0] == "tensor", f"{where}: {got!r} is not a tensor"
        assert got[1] == want[1], f"{where}: dtype {got[1]} != PyTorch's {want[1]}"
        assert got[2] == want[2], f"{where}: shape {got[2]} != PyTorch's {want[2]}"
        if compare == VALUES:
            np.testing.assert_allclose(got[3].astype(np.float64), want[3].astype(np.float64), rtol=1e-4, atol=1e-5,
                                       equal_nan=True, err_msg=where)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{where}: keys {got!r} != {set(want)}"
        for k in want:
            _assert_same(got[k], want[k], compare, f"{where}[{k!r}]")
    elif isinstance(want, tuple) and len(want) == 2 and isinstance(want[1], list):
        assert isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], list), f"{where}: {got!r} is no sequence"
        if isinstance(want[0], tuple):  # a named tuple (torch.return_types.max, ...): the same fields
            assert got[0] == want[0], f"{where}: fields {got[0]} != PyTorch's {want[0]}"
        assert len(got[1]) == len(want[1]), f"{where}: {len(got[1])} items, PyTorch gives {len(want[1])}"
        for i, (g, w) in enumerate(zip(got[1], want[1])):
            _assert_same(g, w, compare, f"{where}[{i}]")
    elif isinstance(want, float):
        assert type(got) is float and math.isclose(got, want, rel_tol=1e-5), f"{where}: {got!r} != PyTorch's {want!r}"
    else:
        assert type(got) is type(want) and got == want, f"{where}: {got!r} != PyTorch's {want!r}"


def _run_traced(call, target):
    """Run ``call`` and report whether ``target`` (a Python function) was entered."""
    code = getattr(inspect.unwrap(target), "__code__", None)
    seen = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is code:
            seen.append(True)

    sys.setprofile(profile)
    try:
        result = call()
    finally:
        sys.setprofile(None)
    return result, (code is None or bool(seen))


CASES = [(prefix, name) for prefix, (_, table) in NAMESPACES.items() for name in sorted(table)]


@pytest.mark.parametrize("prefix,name", CASES, ids=[f"{p}.{n}" for p, n in CASES])
def test_public_name_matches_pytorch(prefix, name):
    """issue 14 item 4: md.<name>(...) runs and gives torch.<name>(...)'s values, dtype and shape."""
    namespace, table = NAMESPACES[prefix]
    example = table[name]
    md.manual_seed(0)
    got, reached = _run_traced(lambda: example.call(md), getattr(namespace, name))
    assert reached, f"the example filed under {prefix}.{name} never calls it"
    torch_namespace = torch if prefix == "md" else torch.nn.functional
    if example.reference is None:
        assert hasattr(torch_namespace, name), f"torch has no {name}: give the example a reference"
        want = example.call(torch)
    else:
        want = example.reference(torch)
    _assert_same(_to_python(got), _to_python(want), example.compare, f"{prefix}.{name}")


def test_dtype_names_match_pytorch():
    """md.float, md.bool, md.long, ... are the dtypes torch.float, torch.bool, torch.long, ... name."""
    names = [n for n in dir(md) if isinstance(getattr(md, n), md.dtype)]
    assert {"float32", "float", "bool", "int64", "long", "double", "half", "bfloat16"} <= set(names)
    for n in names:
        assert str(getattr(md, n)).split(".")[-1] == str(getattr(torch, n)).split(".")[-1], n


@pytest.mark.parametrize("name", ["exp", "abs", "round", "logical_not"])
def test_unary_functions_name_the_argument_that_is_not_a_tensor(name):
    """md.exp(1.0) raises PyTorch's TypeError, not "'float' object has no attribute 'exp'"."""
    with pytest.raises(TypeError, match=rf"^{name}\(\): argument 'input' \(position 1\) must be Tensor, not float$"):
        getattr(md, name)(1.0)
