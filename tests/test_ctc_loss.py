"""F.ctc_loss and nn.CTCLoss vs PyTorch: values and gradients on random shapes (N = 1, odd
sizes, target length 0, repeated labels, targets too long for their inputs with and without
zero_infinity, padded and concatenated targets, every reduction, float32 and float64,
non-contiguous log_probs, unbatched input), float64 gradcheck through log_softmax (as
PyTorch's own tests do: the gradient ctc_loss returns is that of the composition), the
float32 SIMD step against the scalar reference, autocast, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from conftest import assert_close, require

torch = require("torch")
TF = torch.nn.functional

# (T, N, C, S): N = 1, odd sizes, S = 0 (every target empty), C = 2 (one label and the blank)
SHAPES = [(1, 1, 2, 1), (7, 1, 5, 3), (9, 3, 4, 4), (12, 5, 7, 5), (6, 4, 3, 0), (25, 2, 2, 6)]


def make_case(T, N, C, S, seed, blank=0, dtype=np.float32):
    """Random log-probabilities and targets with repeated labels, empty targets and, where the
    sizes allow, one target too long for its input (loss inf)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, C)) * 2  # (N, T, C): transposed below, a non-contiguous view
    logp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(dtype)
    labels = [c for c in range(C) if c != blank]
    targets = rng.choice(labels, size=(N, S)) if S else np.zeros((N, 0), np.int64)
    if S >= 2:
        targets[0, 1] = targets[0, 0]  # a repeated label: needs a blank between its copies
    input_lengths = rng.integers(1, T + 1, N)
    input_lengths[0] = T
    target_lengths = rng.integers(0, S + 1, N) if S else np.zeros(N, np.int64)
    if N > 1:
        target_lengths[-1] = S  # at least one full-width target (infeasible when S > input length)
    return logp, targets.astype(np.int64), input_lengths.astype(np.int64), target_lengths.astype(np.int64)


def run_both(logp, targets, il, tl, layout, reduction, zero_infinity, blank=0, contiguous=True, weights=None):
    """The loss and the gradient of sum(weights * loss) w.r.t. log_probs, in minidl and torch."""
    results = []
    for lib in (md, torch):
        x = lib.tensor(logp, requires_grad=True)
        lp = x.transpose(0, 1) if not contiguous else x.transpose(0, 1).contiguous()  # (T, N, C)
        if layout == "padded":
            tg = lib.tensor(targets)
        else:
            tg = lib.tensor(np.concatenate([targets[n, :tl[n]] for n in range(len(tl))]).astype(np.int64))
        loss = (lib.nn.functional.ctc_loss(lp, tg, lib.tensor(il), lib.tensor(tl), blank=blank,
                                           reduction=reduction, zero_infinity=zero_infinity))
        total = (loss * lib.tensor(weights.astype(logp.dtype))).sum() if reduction == "none" else loss * 1.5
        total.backward()
        results.append((loss, x.grad))
    return results


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_matches_torch_float32(shape, layout, reduction, zero_infinity):
    T, N, C, S = shape
    logp, targets, il, tl = make_case(T, N, C, S, seed=sum(shape))
    weights = np.linspace(0.5, 2.0, N)
    (lm, gm), (lt, gt) = run_both(logp, targets, il, tl, layout, reduction, zero_infinity,
                                  contiguous=(T + N) % 2 == 0, weights=weights)
    assert_close(lm, lt.detach())
    assert_close(gm, gt, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES[1:4])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_matches_torch_float64_noncontiguous(shape, reduction):
    T, N, C, S = shape
    logp, targets, il, tl = make_case(T, N, C, S, seed=7 + T, dtype=np.float64)
    (lm, gm), (lt, gt) = run_both(logp, targets, il, tl, "padded", reduction, False, contiguous=False,
                                  weights=np.ones(N))
    assert lm.dtype == md.float64
    assert_close(lm, lt.detach(), rtol=1e-10, atol=1e-12)
    assert_close(gm, gt, rtol=1e-10, atol=1e-12)


def test_infeasible_targets_give_inf_and_nan_gradient_as_torch():
    # "1 1" needs 3 frames (1, blank, 1): with 2 the loss is inf; without zero_infinity the
    # gradient of that sample is NaN in both libraries, with it 0
    logp = np.log(np.full((2, 2, 3), 1 / 3)).astype(np.float64)
    targets = np.array([[1, 1], [1, 2]])
    il, tl = np.array([2, 2]), np.array([2, 2])
    for zero_infinity in (False, True):
        (lm, gm), (lt, gt) = run_both(logp.transpose(1, 0, 2).copy(), targets, il, tl, "padded", "none",
                                      zero_infinity, weights=np.ones(2))
        assert_close(lm, lt.detach())
        assert_close(gm, gt)
        assert float(lm[0]) == (0.0 if zero_infinity else float("inf"))
        assert np.isnan(gm.numpy()[0]).all() != zero_infinity


def test_peaked_log_probs_float32_gradient():
    # logits * 100: a label the path is forced through can have log-probability -164 at a frame
    # where its posterior is 1; its gradient is -1 (a first version, normalising the frame by
    # its largest alpha + beta instead of its largest posterior, returned 0 there)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 3, 6)) * 100
    logp = z - z.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    tg, il, tl = rng.integers(1, 6, (3, 8)), (30, 25, 20), (8, 5, 8)
    exact = torch.tensor(logp, requires_grad=True)
    TF.ctc_loss(exact, torch.tensor(tg), il, tl, reduction="sum").backward()
    for name in md.backend.available():
        with md.backend.using(name):
            x = md.tensor(logp.astype(np.float32), requires_grad=True)
            F.ctc_loss(x, md.tensor(tg), il, tl, reduction="sum").backward()
        assert_close(x.grad, exact.grad.float(), rtol=0, atol=1e-3)


def test_minus_inf_log_probs_give_zero_gradient_where_torch_gives_nan():
    logp = np.log(np.full((6, 1, 4), 1 / 3)).astype(np.float32)
    logp[:, :, 3] = -np.inf  # a masked class
    x, xt = md.tensor(logp, requires_grad=True), torch.tensor(logp, requires_grad=True)
    loss, want = F.ctc_loss(x, md.tensor([[1, 2]]), (6,), (2,)), TF.ctc_loss(xt, torch.tensor([[1, 2]]), (6,), (2,))
    assert_close(loss, want)
    loss.backward(), want.backward()
    assert np.isnan(xt.grad.numpy()[:, :, 3]).all()           # PyTorch: exp(-inf + inf)
    assert (x.grad.numpy()[:, :, 3] == 0).all()                # minidl: no probability, no gradient
    assert_close(x.grad[:, :, :3], xt.grad[:, :, :3])


def test_blank_not_zero_and_mean_divides_by_target_length():
    T, N, C, S = 10, 3, 6, 4
    logp, targets, il, tl = make_case(T, N, C, S, seed=3, blank=C - 1)
    tl[1] = 0  # mean divides its loss by max(0, 1)
    (lm, gm), (lt, gt) = run_both(logp, targets, il, tl, "padded", "mean", False, blank=C - 1)
    assert_close(lm, lt.detach())
    assert_close(gm, gt)


def test_unbatched_and_length_forms():
    logp, targets, _, _ = make_case(8, 1, 5, 3, seed=11)
    lp = logp[0]  # (T, C)
    t_tg = torch.tensor(targets[0])
    want = TF.ctc_loss(torch.tensor(lp), t_tg, torch.tensor(8), torch.tensor(3), reduction="none")
    for lengths in [(md.tensor(8), md.tensor(3)), ((8,), (3,)), ([8], [3]), (md.tensor([8]), md.tensor([3]))]:
        x = md.tensor(lp, requires_grad=True)
        got = F.ctc_loss(x, md.tensor(targets[0]), *lengths, reduction="none")
        assert got.shape == ()
        assert_close(got, want)
        got.backward()
        assert x.grad.shape == (8, 5)
    # unbatched input with (1, S) targets, as PyTorch accepts
    assert_close(F.ctc_loss(md.tensor(lp), md.tensor(targets[:1]), (8,), (3,)),
                 TF.ctc_loss(torch.tensor(lp), torch.tensor(targets[:1]), (8,), (3,)))
    # batched lengths as lists, and targets of another integer dtype (PyTorch casts them)
    logp, targets, il, tl = make_case(6, 2, 4, 2, seed=5)
    lp = np.ascontiguousarray(logp.transpose(1, 0, 2))
    assert_close(F.ctc_loss(md.tensor(lp), md.tensor(targets.astype(np.int32)), il.tolist(), tl.tolist()),
                 TF.ctc_loss(torch.tensor(lp), torch.tensor(targets), il.tolist(), tl.tolist()))


def test_module_matches_torch():
    logp, targets, il, tl = make_case(9, 3, 4, 3, seed=2)
    lp = np.ascontiguousarray(logp.transpose(1, 0, 2))
    for kwargs in [{}, {"reduction": "sum", "zero_infinity": True}, {"blank": 0, "reduction": "none"}]:
        got = md.nn.CTCLoss(**kwargs)(md.tensor(lp), md.tensor(targets), md.tensor(il), md.tensor(tl))
        want = torch.nn.CTCLoss(**kwargs)(torch.tensor(lp), torch.tensor(targets), torch.tensor(il),
                                          torch.tensor(tl))
        assert_close(got, want)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        md.nn.CTCLoss(reduction="avg")


def test_input_length_zero():
    logp = np.log(np.full((4, 2, 3), 1 / 3)).astype(np.float32)
    for tl in ([0, 1], [1, 0]):
        want = TF.ctc_loss(torch.tensor(logp), torch.tensor([[1], [2]]), (0, 4), tl, reduction="none")
        x = md.tensor(logp, requires_grad=True)
        got = F.ctc_loss(x, md.tensor([[1], [2]]), (0, 4), tl, reduction="none")
        assert_close(got, want)
        (got * md.tensor([1.0, 0.0])).sum().backward()
        assert (x.grad.numpy() == 0).all()  # no frame of sample 0 counts


@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_through_log_softmax(layout, reduction):
    rng = np.random.default_rng(0)
    T, N, C = 6, 3, 4
    logits = md.tensor(rng.standard_normal((T, N, C)), requires_grad=True)
    targets = np.array([[1, 1, 2], [3, 2, 0], [2, 0, 0]])  # a repeat, then shorter targets
    tl = [3, 2, 0]
    tg = md.tensor(targets) if layout == "padded" else md.tensor([1, 1, 2, 3, 2])
    f = lambda z: F.ctc_loss(F.log_softmax(z, 2), tg, (6, 5, 4), tl, reduction=reduction)  # noqa: E731
    assert md.autograd.gradcheck(f, (logits,))


def test_gradcheck_zero_infinity_and_unbatched():
    rng = np.random.default_rng(1)
    logits = md.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    # sample 1 ("1 1 1" in 4 frames) has no alignment: its loss and gradient are 0
    f = lambda z: F.ctc_loss(F.log_softmax(z, 2), md.tensor([[1, 2, 0], [1, 1, 1]]), (4, 4), (2, 3),  # noqa: E731
                             zero_infinity=True)
    assert md.autograd.gradcheck(f, (logits,))
    single = md.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    g = lambda z: F.ctc_loss(F.log_softmax(z, 1), md.tensor([2, 2]), md.tensor(5), md.tensor(2))  # noqa: E731
    assert md.autograd.gradcheck(g, (single,))


@pytest.mark.parametrize("shape", [(1, 1, 2, 1), (30, 3, 9, 17), (64, 2, 30, 40)])
def test_simd_step_equals_scalar(shape):
    # the float32 step runs Vec::width positions at a time (odd S: 2S + 1 leaves a tail)
    T, N, C, S = shape
    logp, targets, il, tl = make_case(T, N, C, S, seed=S)
    lp = np.ascontiguousarray(logp.transpose(1, 0, 2))
    results = {}
    for name in md.backend.available():
        with md.backend.using(name):
            x = md.tensor(lp, requires_grad=True)
            loss = F.ctc_loss(x, md.tensor(targets), md.tensor(il), md.tensor(tl), reduction="sum")
            loss.backward()
            results[name] = (loss, x.grad)
    for name, (loss, grad) in results.items():
        assert_close(loss, results["scalar"][0], rtol=1e-5)
        assert_close(grad, results["scalar"][1], rtol=1e-4, atol=1e-5)


def test_autocast_runs_in_float32():
    logp, targets, il, tl = make_case(8, 2, 5, 3, seed=4)
    lp = md.tensor(np.ascontiguousarray(logp.transpose(1, 0, 2)))
    with md.autocast("cpu", dtype=md.bfloat16):
        got = F.ctc_loss(lp.bfloat16(), md.tensor(targets), md.tensor(il), md.tensor(tl))
    assert got.dtype == md.float32
    assert_close(got, F.ctc_loss(lp.bfloat16().float(), md.tensor(targets), md.tensor(il), md.tensor(tl)))


def _bad(**override):
    args = dict(log_probs=md.zeros(6, 2, 5), targets=md.tensor([[1, 2, 3], [4, 1, 0]]), input_lengths=(6, 5),
                target_lengths=(3, 2))
    args.update(override)
    return lambda: F.ctc_loss(**args)


@pytest.mark.parametrize("call,error,message", [
    (_bad(input_lengths=(7, 5)), RuntimeError, "input_lengths to have value at most 6, but got value 7"),
    (_bad(target_lengths=(4, 2)), RuntimeError, "size at least 4 at dimension 1, but got size 3"),
    (_bad(blank=5), RuntimeError, "blank must be in label range"),
    (_bad(blank=-1), RuntimeError, "blank must be in label range"),
    (_bad(targets=md.tensor([[1, 0, 3], [4, 1, 0]])), ValueError, "is the blank label 0"),
    (_bad(targets=md.tensor([[1, 5, 3], [4, 1, 0]])), IndexError, "target 5 .* out of range for 5 classes"),
    (_bad(targets=md.tensor([[1, -1, 3], [4, 1, 0]])), IndexError, "target -1"),
    (_bad(log_probs=md.zeros(6, 2, 5, 1)), RuntimeError, "must be \\(T, N, C\\)"),
    (_bad(log_probs=md.zeros(6)), RuntimeError, "must be \\(T, N, C\\)"),
    (_bad(targets=md.zeros(2, 3, 1, dtype=md.int64)), RuntimeError, "Expected 1 to 2 dimensions"),
    (_bad(targets=md.tensor([[1, 2, 3]])), RuntimeError, "size 2 at dimension 0, but got size 1"),
    (_bad(targets=md.tensor([1, 2, 3, 4])), RuntimeError, "size 5 at dimension 0, but got size 4"),
    (_bad(input_lengths=(6, 5, 4)), RuntimeError, "input_lengths must be of size batch_size"),
    (_bad(target_lengths=md.tensor([3])), RuntimeError, "target_lengths must be of size batch_size"),
    (_bad(input_lengths=(-1, 5)), RuntimeError, "input_lengths to have value at least 0, but got value -1"),
    (_bad(target_lengths=(3, -2)), RuntimeError, "target_lengths to have value at least 0, but got value -2"),
    (_bad(input_lengths=md.tensor([6.0, 5.0])), RuntimeError, "input_lengths must be integral"),
    (_bad(input_lengths=(6.0, 5.0)), TypeError, "tuple/list of ints"),
    (_bad(reduction="avg"), ValueError, "avg is not a valid value for reduction"),
    (_bad(log_probs=md.zeros(6, 2, 5, dtype=md.int64)), NotImplementedError, "float32 or float64"),
    (_bad(log_probs=md.zeros(6, 2, 5).half()), NotImplementedError, "float32 or float64"),
    (_bad(log_probs=md.zeros(0, 2, 5), input_lengths=(0, 0)), RuntimeError, "must not be empty"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
