"""Cosine similarity, pairwise distance (issue 15 group 12) and nn.utils.parameters_to_vector /
vector_to_parameters against PyTorch: values, gradients (including at a zero vector), float64
gradcheck, broadcasting and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import require

torch = require("torch")


def _pair(rng, *shapes, zero_row=False):
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    if zero_row:
        arrays[0][0] = 0.0
    return arrays


@pytest.mark.parametrize("shapes,dim", [(((4, 5), (4, 5)), 1), (((4, 5), (1, 5)), 1), (((3, 4, 2), (3, 4, 2)), -2),
                                        (((6,), (6,)), 0), (((1, 1), (1, 1)), 1)])
@pytest.mark.parametrize("zero_row", [False, True])
def test_cosine_similarity_matches_pytorch(shapes, dim, zero_row):
    a, b = _pair(np.random.default_rng(0), *shapes, zero_row=zero_row)
    ma, mb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    m, t = F.cosine_similarity(ma, mb, dim=dim), torch.nn.functional.cosine_similarity(ta, tb, dim=dim)
    np.testing.assert_allclose(m.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    (m * 1.3).sum().backward()
    (t * 1.3).sum().backward()
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("tiny", [[3e-9, 4e-9], [0.0, 0.0]])
@pytest.mark.parametrize("other", [[1.0, 2.0], [1e-9, -2e-9]])
def test_cosine_similarity_gradient_below_eps_is_pytorchs(tiny, other):
    """A norm below eps is clamped in value only: PyTorch's gradient still goes through the
    unclamped norm (a clamp op would give (4.5, 8.9)e7 instead of (1.5, 5.0)e7 for (3, 4)e-9)."""
    a, b = np.array([tiny]), np.array([other])
    ma, mb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    F.cosine_similarity(ma, mb).sum().backward()
    torch.nn.functional.cosine_similarity(ta, tb).sum().backward()
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-7)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-7)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shapes", [((4, 5), (4, 5)), ((4, 5), (5,)), ((7,), (7,))])
def test_pairwise_distance_matches_pytorch(p, keepdim, shapes):
    a, b = _pair(np.random.default_rng(1), *shapes)
    ma, mb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    m = F.pairwise_distance(ma, mb, p=p, keepdim=keepdim)
    t = torch.nn.functional.pairwise_distance(ta, tb, p=p, keepdim=keepdim)
    np.testing.assert_allclose(m.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    m.sum().backward()
    t.sum().backward()
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_float64_gradcheck():
    rng = np.random.default_rng(2)
    a, b = (md.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(2))
    assert md.autograd.gradcheck(lambda x, y: F.cosine_similarity(x, y), (a, b), eps=1e-6, atol=1e-5)
    assert md.autograd.gradcheck(lambda x, y: F.pairwise_distance(x, y, p=3.0), (a, b), eps=1e-6, atol=1e-5)
    assert md.autograd.gradgradcheck(lambda x, y: F.cosine_similarity(x, y), (a, b), eps=1e-6, atol=1e-4)


def test_modules_match_the_functions():
    rng = np.random.default_rng(3)
    a, b = (md.tensor(rng.standard_normal((3, 4))) for _ in range(2))
    assert np.array_equal(md.nn.CosineSimilarity(dim=1)(a, b).numpy(), F.cosine_similarity(a, b).numpy())
    assert np.array_equal(md.nn.PairwiseDistance(p=1.0, keepdim=True)(a, b).numpy(),
                          F.pairwise_distance(a, b, 1.0, keepdim=True).numpy())


def test_parameters_to_vector_and_back_match_pytorch():
    torch.manual_seed(0)
    tl = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    ml = md.nn.Sequential(md.nn.Linear(3, 4), md.nn.Linear(4, 2))
    ml.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in tl.state_dict().items()})
    tv = torch.nn.utils.parameters_to_vector(tl.parameters())
    mv = md.nn.utils.parameters_to_vector(ml.parameters())
    np.testing.assert_array_equal(mv.detach().numpy(), tv.detach().numpy())
    mv.pow(2).sum().backward()                     # the vector is in the graph
    np.testing.assert_allclose(ml[0].weight.grad.numpy(), 2 * ml[0].weight.detach().numpy())
    new = np.arange(mv.numel(), dtype=np.float32)
    md.nn.utils.vector_to_parameters(md.tensor(new), ml.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), tl.parameters())
    for (k, p), q in zip(ml.named_parameters(), tl.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=k)


def test_vector_to_parameters_bad_input():
    layer = md.nn.Linear(2, 1)
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        md.nn.utils.vector_to_parameters([1.0, 2.0, 3.0], layer.parameters())
    with pytest.raises(RuntimeError, match="exactly that many"):
        md.nn.utils.vector_to_parameters(md.zeros(4), layer.parameters())
