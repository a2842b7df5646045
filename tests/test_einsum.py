"""einsum against PyTorch: every form of equation (explicit/implicit output, ellipsis,
repeated letters, broadcasting size-1 dims, three operands, list form), values and
gradients, float64 gradcheck, non-contiguous operands, and the malformed equations."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md

from _parity import check
from conftest import require

CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(1, 1), (1, 1)]), ("ii->i", [(3, 3)]), ("ii", [(4, 4)]),
    ("i,j", [(3,), (2,)]), ("i,i", [(5,), (5,)]), ("i,i->i", [(1,), (3,)]), ("ij->", [(2, 3)]), ("ij->ji", [(2, 3)]),
    ("ij", [(2, 3)]), ("ji", [(2, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 6, 4)]), ("bhqk,bhkd->bhqd", [(2, 3, 5, 6), (2, 3, 6, 4)]),
    ("bij,bjk->bik", [(1, 3, 4), (5, 4, 2)]), ("...ij->ij", [(2, 3, 4)]), ("...ij->...ji", [(3, 2, 4)]),
    ("b...d,bkd->b...k", [(2, 4, 5, 3), (2, 6, 3)]), ("...,...->...", [(2, 1, 3), (4, 3)]),
    ("...ik,...kj", [(2, 3, 4), (4, 5)]), ("Ba,aB", [(2, 3), (3, 2)]), ("bA,aB", [(2, 3), (4, 5)]),
    ("iij,jk->ik", [(3, 3, 4), (4, 2)]), ("iji->j", [(3, 2, 3)]), ("iii->i", [(2, 2, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 1)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]), ("ij,ij->", [(7, 1), (7, 5)]), ("i j , j k -> i k", [(2, 3), (3, 1)]),
    ("abcd,dcba->", [(1, 2, 3, 4), (4, 3, 2, 1)]), ("ab,cd->abcd", [(2, 1), (3, 2)]),
]


@pytest.mark.parametrize("equation,shapes", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("non_contiguous", [False, True])
def test_einsum_matches_pytorch(rng, equation, shapes, non_contiguous):
    check(rng, lambda t, *ops: t.einsum(equation, *ops), shapes, non_contiguous)


def test_list_of_operands_and_float32(rng):
    check(rng, lambda t, a, b: t.einsum("bhqd,bhkd->bhqk", [a, b]), [(2, 2, 9, 8), (2, 2, 7, 8)], dtype=np.float32,
          rtol=1e-4, atol=1e-5)


def test_attention_scores_move_no_data():
    """The first operand reshapes to (b*h, q, d) as a view; only the GEMM reads the data."""
    q, k = md.randn(2, 3, 5, 4), md.randn(2, 3, 6, 4)
    assert md.allclose(md.einsum("bhqd,bhkd->bhqk", q, k), q @ k.transpose(-1, -2), atol=1e-6)


@pytest.mark.parametrize("equation,shapes", [("ij,jk->ik", [(2, 3), (3, 2)]), ("ii->i", [(3, 3)]),
                                             ("b...d,bkd->b...k", [(2, 1, 3), (2, 2, 3)]),
                                             ("ij,jk,k->i", [(2, 3), (3, 2), (2,)]), ("iij->", [(2, 2, 3)])])
def test_gradcheck(equation, shapes):
    rng = np.random.default_rng(7)
    xs = tuple(md.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)
    assert md.autograd.gradcheck(lambda *ops: md.einsum(equation, *ops), xs)


@pytest.mark.parametrize("equation,shapes,message", [
    ("ij,jk->ik", [(2, 3)], "fewer operands were provided than specified in the equation"),
    ("ij->ij", [(2, 3), (3, 4)], "more operands were provided than specified in the equation"),
    ("ij,jk", [(2, 3), (4, 5)], "subscript j has size 4 for operand 1 which does not broadcast with previously "
                                "seen size 3"),
    ("ijk->ij", [(2, 3)], "the number of subscripts in the equation \\(3\\) does not match the number of "
                          "dimensions \\(2\\) for operand 0 and no ellipsis was given"),
    ("i...jk->ij", [(2, 3)], "the number of subscripts in the equation \\(3\\) is more than the number of "
                             "dimensions \\(2\\) for operand 0"),
    ("ij->ik", [(2, 3)], "output subscript k does not appear in the equation for any input operand"),
    ("ij->ii", [(2, 3)], "output subscript i appears more than once in the output"),
    ("i1->i", [(2, 3)], "invalid subscript given at index 1 in the equation string, subscripts must be in \\[a-zA-Z\\]"),
    ("i.->i", [(2, 3)], "found '.' for operand 0 that is not part of any ellipsis"),
    ("ii->i", [(2, 3)], "subscript i is repeated for operand 0 but the sizes don't match, 3 != 2"),
])
def test_malformed_equations_raise_like_pytorch(equation, shapes, message):
    torch = require("torch")
    with pytest.raises(RuntimeError, match=message):
        torch.einsum(equation, *[torch.ones(s) for s in shapes])
    with pytest.raises(RuntimeError, match="einsum\\(\\): " + message):
        md.einsum(equation, *[md.ones(s) for s in shapes])


@pytest.mark.parametrize("args", [([0, 1], [1, 2], [0, 2]), ([0, 1], [1, 2]), ([Ellipsis, 30], [30, 51], [Ellipsis, 51]),
                                  ([3, 3], [3, 4])])
def test_sublist_form(rng, args):
    shapes = [(2, 3), (3, 4)] if args[0] != [Ellipsis, 30] else [(5, 2, 3), (3, 4)]
    if args[0] == [3, 3]:
        shapes = [(3, 3), (3, 4)]

    def fn(t, a, b):
        return t.einsum(a, args[0], b, args[1], *args[2:])
    check(rng, fn, shapes)


def test_bad_operands_raise():
    with pytest.raises(TypeError, match="operand 1 must be a Tensor"):
        md.einsum("i,i", md.ones(2), [1.0, 2.0])
    with pytest.raises(TypeError, match="the equation \\(a str\\) or a Tensor"):
        md.einsum(3, md.ones(2))
    with pytest.raises(ValueError, match="not within the valid range \\[0, 52\\)"):
        md.einsum(md.ones(2), [52])


def test_kernel_sets_agree(kernel_set):
    """einsum runs on the GEMM and norms/tril on the elementwise kernels: each CPU kernel set
    gives the scalar reference's result within float32 rounding (odd sizes, permuted views)."""
    rng = np.random.default_rng(11)
    a = md.tensor(rng.standard_normal((3, 33, 7)).astype(np.float32)).permute(2, 0, 1)
    b = md.tensor(rng.standard_normal((7, 3, 33)).astype(np.float32))
    runs = {"einsum": lambda: md.einsum("kbi,kbj->bij", a, b),
            "tril": lambda: md.tril(a, 1), "cdist": lambda: md.cdist(a, a, 3.0),
            "vector_norm": lambda: md.linalg.vector_norm(b, 2, (0, 2))}
    with md.backend.using("scalar"):
        reference = {name: run().numpy() for name, run in runs.items()}
    for name, run in runs.items():
        np.testing.assert_allclose(run().numpy(), reference[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_int64_operands_multiply_exactly_like_pytorch():
    torch = require("torch")
    a, b = np.arange(24).reshape(2, 3, 4) - 7, np.arange(20).reshape(4, 5) * 3
    for eq, ops in [("bij,jk->bik", (a, b)), ("bij->j", (a,)), ("bij,bij", (a, a)), ("i,j", (b[0], b[1]))]:
        got = md.einsum(eq, *[md.tensor(x) for x in ops])
        want = torch.einsum(eq, *[torch.tensor(x) for x in ops])
        assert got.dtype == md.int64 and got.tolist() == want.tolist(), eq
    assert md.tensordot(md.tensor(a), md.tensor(b), 1).tolist() == torch.tensordot(torch.tensor(a), torch.tensor(b), 1).tolist()
    assert md.dot(md.tensor(b[0]), md.tensor(b[1])).tolist() == torch.dot(torch.tensor(b[0]), torch.tensor(b[1])).tolist()
    assert md.inner(md.tensor(a), md.tensor(a[0])).tolist() == torch.inner(torch.tensor(a), torch.tensor(a[0])).tolist()


def test_attention_weights_times_values_is_one_batched_matmul():
    """"bhqk,bhkd->bhqd" has its dims in place: it lowers to matmul(a, b) itself, no permute or
    reshape node around it (each costs a node in the backward, and a reshaped gradient is a
    view the engine copies before it becomes .grad)."""
    a, b = md.randn(2, 3, 5, 4, requires_grad=True), md.randn(2, 3, 4, 6, requires_grad=True)
    y = md.einsum("bhqk,bhkd->bhqd", a, b)
    assert type(y.grad_fn).__name__ == "MatmulBackward"
    assert all(type(e[0]).__name__ == "AccumulateGrad" for e in y.grad_fn.next_functions)
    y.backward(md.ones(2, 3, 5, 6))
    torch = require("torch")
    ta, tb = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (a, b))
    torch.einsum("bhqk,bhkd->bhqd", ta, tb).backward(torch.ones(2, 3, 5, 6))
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)
