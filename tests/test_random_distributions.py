"""The distributions of md.poisson, md.normal's tensor forms, md.bernoulli and Tensor's in-place
samplers (issue 15 item 5): sample moments within 5 standard errors and chi-square /
Kolmogorov-Smirnov tests against the exact distribution (every draw from a seeded
md.Generator, so a test gives the same verdict on every run), shapes and dtypes as PyTorch's,
PyTorch's errors for bad parameters, and PyTorch's gradients.

No float64 gradcheck here: PyTorch defines the gradient of a sample with respect to its
distribution's parameters as zero (NormalBackward, BernoulliBackward, PoissonBackward), which
finite differences of a re-seeded sampler would not give (mean + std * z moves with mean). The
tests compare the gradients with PyTorch's instead.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import require

import minidl as md

torch = require("torch")
stats = require("scipy.stats")

N = 200_000
SIGNIFICANCE = 1e-4  # a correct sampler fails a test at this level once in 10^4 seeds; the seeds are fixed


def _gen(seed=0):
    return md.Generator().manual_seed(seed)


def _chi_square_p(counts: np.ndarray, pmf: np.ndarray) -> float:
    """p-value of observed counts against probabilities (bins with < 5 expected are pooled at the ends)."""
    expected = pmf * counts.sum()
    keep = expected >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum() + counts.sum() - expected.sum())
    if exp[-1] < 5:
        obs, exp = obs[:-1], exp[:-1]
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def _assert_moments(x: np.ndarray, mean: float, var: float, fourth_central: float):
    n = x.size
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / n), f"mean {x.mean()} vs {mean}"
    se_var = math.sqrt(max(fourth_central - var * var, 1e-300) / n)
    assert abs(x.var() - var) < 5 * se_var, f"variance {x.var()} vs {var}"


# --- poisson -------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.05, 1.0, 4.0, 9.99, 10.0, 12.5, 50.0, 1000.0, 1e6])
def test_poisson_mean_and_variance(rate):
    """Both Knuth's method (rate < 10) and PTRS (rate >= 10), and the switch between them."""
    x = md.poisson(md.full((N,), rate, dtype=md.float64), generator=_gen(int(rate * 100))).numpy()
    assert (x == np.round(x)).all() and (x >= 0).all()
    _assert_moments(x, rate, rate, rate * (1 + 3 * rate))  # Poisson: mu4 = rate (1 + 3 rate)


@pytest.mark.parametrize("rate", [3.0, 9.5, 10.0, 30.0, 250.0])
def test_poisson_matches_its_pmf(rate):
    x = md.poisson(md.full((N,), rate, dtype=md.float64), generator=_gen(1)).numpy().astype(np.int64)
    top = int(rate + 12 * math.sqrt(rate) + 10)
    counts = np.bincount(np.minimum(x, top), minlength=top + 1)
    pmf = stats.poisson.pmf(np.arange(top + 1), rate)
    assert _chi_square_p(counts, pmf) > SIGNIFICANCE


def test_poisson_per_element_rates_shapes_and_dtypes():
    rates = md.tensor([[0.0, 2.0, 0.0], [40.0, 0.0, 1e3]], dtype=md.float64).t()  # non-contiguous
    out = md.poisson(rates, _gen())
    assert out.shape == (3, 2) and out.dtype is md.float64
    assert md.equal(out[rates == 0], md.zeros(3, dtype=md.float64))
    assert str(md.poisson(md.ones(2, 3)).dtype).split(".")[-1] == str(torch.poisson(torch.ones(2, 3)).dtype).split(".")[-1]
    assert md.poisson(md.zeros(0, 4)).shape == (0, 4)
    assert md.poisson(md.tensor(3.0)).shape == ()


def test_poisson_gradient_is_zero_as_pytorch():
    rate = md.tensor([1.0, 20.0], requires_grad=True)
    md.poisson(rate).sum().backward()
    r = torch.tensor([1.0, 20.0], requires_grad=True)
    torch.poisson(r).sum().backward()
    np.testing.assert_array_equal(rate.grad.numpy(), r.grad.numpy())


@pytest.mark.parametrize("rates", [[1.0, -1.0], [float("nan")]])
def test_poisson_bad_rates_raise_pytorchs_error(rates):
    for lib in (md, torch):
        with pytest.raises(RuntimeError, match="invalid Poisson rate, expected rate to be non-negative"):
            lib.poisson(lib.tensor(rates))


def test_poisson_refuses_what_pytorch_cannot_sample():
    with pytest.raises(RuntimeError, match="rate inf at index 1"):  # PyTorch returns garbage here
        md.poisson(md.tensor([1.0, float("inf")]))
    with pytest.raises(RuntimeError, match="floating point"):
        md.poisson(md.tensor([1, 2]))
    with pytest.raises(TypeError, match="must be Tensor"):
        md.poisson([1.0])


# --- the in-place samplers ------------------------------------------------------------------------
def _sample(method, *args, dtype=md.float64, seed=0, **kwargs):
    return getattr(md.empty(N, dtype=dtype), method)(*args, generator=_gen(seed), **kwargs).numpy()


@pytest.mark.parametrize("lambd", [0.5, 1.0, 7.0])
def test_exponential_(lambd):
    x = _sample("exponential_", lambd)
    _assert_moments(x, 1 / lambd, 1 / lambd ** 2, 9 / lambd ** 4)
    assert stats.kstest(x, stats.expon(scale=1 / lambd).cdf).pvalue > SIGNIFICANCE


@pytest.mark.parametrize("p", [0.02, 0.3, 0.9])
def test_geometric_(p):
    x = _sample("geometric_", p).astype(np.int64)
    assert x.min() >= 1
    top = int(30 / p)
    counts = np.bincount(np.minimum(x, top), minlength=top + 1)
    pmf = stats.geom.pmf(np.arange(top + 1), p)  # scipy's geom counts trials, support 1, 2, ...
    assert _chi_square_p(counts, pmf) > SIGNIFICANCE
    assert abs(x.mean() - 1 / p) < 5 * math.sqrt((1 - p) / p ** 2 / N)


@pytest.mark.parametrize("median,sigma", [(0.0, 1.0), (5.0, 0.1)])
def test_cauchy_(median, sigma):
    x = _sample("cauchy_", median, sigma)
    assert stats.kstest(x, stats.cauchy(loc=median, scale=sigma).cdf).pvalue > SIGNIFICANCE


@pytest.mark.parametrize("mean,std", [(1.0, 2.0), (0.0, 0.25)])
def test_log_normal_(mean, std):
    x = _sample("log_normal_", mean, std)
    assert (x > 0).all()
    assert stats.kstest(np.log(x), stats.norm(loc=mean, scale=std).cdf).pvalue > SIGNIFICANCE


def test_uniform_and_normal_():
    assert stats.kstest(_sample("uniform_", -2.0, 3.0), stats.uniform(loc=-2, scale=5).cdf).pvalue > SIGNIFICANCE
    assert stats.kstest(_sample("normal_", 1.0, 3.0), stats.norm(loc=1, scale=3).cdf).pvalue > SIGNIFICANCE
    assert (_sample("normal_", 4.0, 0.0) == 4.0).all()


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_bernoulli_(p):
    x = _sample("bernoulli_", p, dtype=md.int64)
    assert set(np.unique(x)) <= {0, 1}
    assert abs(x.mean() - p) <= 5 * math.sqrt(p * (1 - p) / N)
    probs = md.tensor([0.0, 0.2, 1.0])  # a tensor p broadcasts to x
    y = md.empty(N, 3).bernoulli_(probs, generator=_gen()).numpy()
    assert (y[:, 0] == 0).all() and (y[:, 2] == 1).all() and abs(y[:, 1].mean() - 0.2) < 5 * math.sqrt(.16 / N)


def test_random_ranges_as_pytorch():
    x = _sample("random_", -3, 4, dtype=md.int64)
    counts = np.bincount(x + 3, minlength=7)
    assert counts.size == 7 and _chi_square_p(counts, np.full(7, 1 / 7)) > SIGNIFICANCE
    assert set(np.unique(_sample("random_", 5, dtype=md.int64))) == set(range(5))
    f32 = _sample("random_", dtype=md.float32)
    assert f32.min() >= 0 and f32.max() <= 2 ** 24 and (f32 == np.round(f32)).all() and f32.max() > 2 ** 23
    f64 = _sample("random_", dtype=md.float64)
    assert f64.max() <= 2 ** 53 and f64.max() > 2 ** 52
    assert set(np.unique(md.empty(100, dtype=md.bool).random_().numpy())) == {False, True}
    big = md.empty(1000, dtype=md.int64).random_().numpy()
    assert big.min() >= 0 and big.max() > 2 ** 62
    assert md.empty(1000, dtype=md.int64).random_(2 ** 62, None).numpy().min() >= 2 ** 62
    for lib in (md, torch):  # 'to' by name, as PyTorch's keyword
        assert set(lib.zeros(1000).random_(to=3).tolist()) == {0.0, 1.0, 2.0}
        assert set(lib.zeros(1000).random_(2, to=4).tolist()) == {2.0, 3.0}
        assert lib.zeros(1000).uniform_(to=0.5).max().item() < 0.5
        assert set(lib.zeros(10).uniform_(1).tolist()) == {1.0}  # from = 1 = to


def test_uniform_never_reaches_to():
    """A float64 draw rounded to float32 reached ``to`` about once in 2^24 draws; 2^24 draws here."""
    g = _gen(0)
    for sampler in (lambda x: x.uniform_(0.0, 1e-8, generator=g), lambda x: md.nn.init.uniform_(x, 0.0, 1e-8, g)):
        x = md.empty(1 << 23)
        for _ in range(2):
            assert float(sampler(x).max()) < 1e-8
    for dtype in (md.float16, md.bfloat16):  # 11 and 8 significant bits: without the guard ~1 in 4000 / 500 hit 1
        assert float(md.rand(1 << 20, dtype=dtype, generator=g).max()) < 1
        assert float(md.empty(1 << 20, dtype=dtype).uniform_(-1, 1, generator=g).max()) < 1


def test_in_place_samplers_write_views_and_other_dtypes():
    x = md.zeros(4, 6)
    x[:, ::2].exponential_()  # a strided view: only its elements change
    assert (x.numpy()[:, 1::2] == 0).all() and (x.numpy()[:, ::2] > 0).all()
    y = md.zeros(3, 5).t()
    assert y.uniform_(1, 2) is y and bool((y >= 1).all())
    h = md.zeros(1000, dtype=md.float16).geometric_(0.5)
    assert h.dtype is md.float16 and bool((h >= 1).all())
    assert md.empty(0).cauchy_().shape == (0,)


@pytest.mark.parametrize("method,args", [("uniform_", ()), ("normal_", ()), ("bernoulli_", (0.5,)),
                                         ("random_", (0, 5)), ("exponential_", ()), ("geometric_", (0.5,)),
                                         ("cauchy_", ()), ("log_normal_", ())])
def test_in_place_samplers_and_autograd_as_pytorch(method, args):
    """A non-leaf overwritten by a sampler passes a zero gradient back; a leaf that requires grad is refused."""
    grads = []
    for lib in (md, torch):
        w = lib.ones(3, requires_grad=True)
        y = w * 2
        out = getattr(y, method)(*args)
        assert out is y
        (y * 3).sum().backward()
        grads.append(w.grad.numpy())
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            getattr(lib.ones(3, requires_grad=True), method)(*args)
    np.testing.assert_array_equal(grads[0], grads[1])


BAD_IN_PLACE = [
    ("uniform_", (2.0, 1.0), "uniform_ expects to return a \\[from, to\\) range, but found from=2 > to=1$"),
    ("normal_", (0.0, -1.0), "normal expects std >= 0.0, but found std -1$"),
    ("bernoulli_", (1.5,), "bernoulli_ expects p to be in \\[0, 1\\], but got p=1.5$"),
    ("bernoulli_", (-0.1,), "bernoulli_ expects p to be in \\[0, 1\\], but got p=-0.1$"),
    ("random_", (5, 3), "random_ expects 'from' to be less than 'to', but got from=5 >= to=3$"),
    ("random_", (0,), "random_ expects 'from' to be less than 'to', but got from=0 >= to=0$"),
    ("exponential_", (0.0,), "exponential_ expects lambda > 0.0, but found lambda=0$"),
    ("exponential_", (-1.0,), "exponential_ expects lambda > 0.0, but found lambda=-1$"),
    ("geometric_", (0.0,), "geometric_ expects p to be in \\(0, 1\\), but got p=0$"),
    ("geometric_", (1.0,), "geometric_ expects p to be in \\(0, 1\\), but got p=1$"),
    ("cauchy_", (0.0, -1.0), "cauchy_ expects sigma > 0.0, but found sigma=-1$"),
    ("log_normal_", (0.0, 0.0), "log_normal_ expects std > 0.0, but found std=0$"),
]


@pytest.mark.parametrize("method,args,message", BAD_IN_PLACE, ids=[f"{m}{a}" for m, a, _ in BAD_IN_PLACE])
def test_bad_in_place_parameters_raise_pytorchs_error(method, args, message):
    for lib in (md, torch):
        with pytest.raises(RuntimeError, match=message):
            getattr(lib.zeros(3), method)(*args)


@pytest.mark.parametrize("method", ["exponential_", "cauchy_", "log_normal_", "normal_", "uniform_"])
def test_continuous_samplers_refuse_integer_tensors(method):
    with pytest.raises((RuntimeError, NotImplementedError)):
        getattr(torch.zeros(3, dtype=torch.int64), method)()
    with pytest.raises(RuntimeError, match="floating point"):
        getattr(md.zeros(3, dtype=md.int64), method)()


def test_bernoulli_tensor_p_out_of_range():
    for p in ([0.5, 1.5], [float("nan")]):
        for lib in (md, torch):
            with pytest.raises(RuntimeError, match="Expected p_in >= 0 && p_in <= 1"):
                lib.bernoulli(lib.tensor(p))
        with pytest.raises(RuntimeError, match="Expected p_in >= 0 && p_in <= 1"):
            md.zeros(len(p)).bernoulli_(md.tensor(p))


# --- normal's four forms and bernoulli ------------------------------------------------------------
NORMAL_FORMS = {
    "float, float, size": lambda t: t.normal(1.0, 2.0, (3, 4)),
    "float, float, size, dtype": lambda t: t.normal(1.0, 2.0, size=(5,), dtype=t.float64),
    "Tensor": lambda t: t.normal(t.zeros(2, 3)),
    "Tensor, float": lambda t: t.normal(t.zeros(2, 3, dtype=t.float64), 2.0),
    "float, Tensor": lambda t: t.normal(1.0, t.ones(2, 3)),
    "Tensor, Tensor broadcast": lambda t: t.normal(t.zeros(2, 1), t.ones(3)),
    "Tensor f64, Tensor f32": lambda t: t.normal(t.zeros(3, dtype=t.float64), t.ones(3)),
    "Tensor non-contiguous": lambda t: t.normal(t.zeros(3, 4).t(), t.ones(3, 4).t()),
    "Tensor 0-d": lambda t: t.normal(t.tensor(0.0), 1.0),
}


@pytest.mark.parametrize("form", sorted(NORMAL_FORMS))
def test_normal_forms_shapes_and_dtypes_as_pytorch(form):
    a, b = NORMAL_FORMS[form](md), NORMAL_FORMS[form](torch)
    assert tuple(a.shape) == tuple(b.shape) and str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]


def test_normal_tensor_forms_draw_per_element():
    mean = md.tensor([[-100.0], [0.0], [100.0]], dtype=md.float64)
    std = md.tensor([0.5, 2.0], dtype=md.float64)
    x = md.normal(mean.expand(3, 2).contiguous().unsqueeze(0).expand(N // 6, 3, 2), std, generator=_gen()).numpy()
    for i, m in enumerate([-100.0, 0.0, 100.0]):
        for j, s in enumerate([0.5, 2.0]):
            assert stats.kstest(x[:, i, j], stats.norm(loc=m, scale=s).cdf).pvalue > SIGNIFICANCE


@pytest.mark.parametrize("which", ["mean", "std", "both"])
def test_normal_gradients_are_zero_as_pytorch(which):
    grads = {}
    for lib in (md, torch):
        mean = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=which in ("mean", "both"))
        std = lib.tensor([1.0, 2.0, 0.5], dtype=lib.float64, requires_grad=which in ("std", "both"))
        y = lib.normal(mean if which != "std" else 0.0, std if which != "mean" else 1.0)
        assert y.requires_grad
        (y * y).sum().backward()
        grads[lib.__name__] = [t.grad.numpy() for t in (mean, std) if t.requires_grad]
    for a, b in zip(grads["minidl"], grads["torch"]):
        np.testing.assert_array_equal(a, b)


def test_bernoulli_forms_and_gradient_as_pytorch():
    p = md.full((N,), 0.3, dtype=md.float64)
    assert abs(md.bernoulli(p, generator=_gen()).numpy().mean() - 0.3) < 5 * math.sqrt(0.21 / N)
    assert abs(md.bernoulli(md.zeros(N), 0.7, generator=_gen()).numpy().mean() - 0.7) < 5 * math.sqrt(0.21 / N)
    assert md.bernoulli(md.zeros(2, 3, dtype=md.float64), p=1.0).dtype is md.float64
    assert md.equal(md.bernoulli(md.tensor([[0.0, 1.0], [1.0, 0.0]]).t()), md.tensor([[0.0, 1.0], [1.0, 0.0]]))
    for lib in (md, torch):
        with pytest.raises(RuntimeError, match="bernoulli_ expects p to be in \\[0, 1\\], but got p=1.5$"):
            lib.bernoulli(lib.ones(2), p=1.5)
    grads = []
    for lib in (md, torch):
        q = lib.full((4,), 0.5, requires_grad=True)
        lib.bernoulli(q).sum().backward()
        grads.append(q.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.parametrize("call,error,message", [
    (lambda t: t.normal(0.0, -1.0, (3,)), RuntimeError, "normal expects std >= 0.0, but found std -1$"),
    (lambda t: t.normal(t.zeros(3), -1.0), RuntimeError, "normal expects std >= 0.0, but found std -1$"),
    (lambda t: t.normal(t.zeros(3), t.tensor([1.0, -1.0, 1.0])), RuntimeError,
     "normal expects all elements of std >= 0.0"),
    (lambda t: t.normal(t.zeros(3), t.ones(2)), (RuntimeError, ValueError), "3.*2|2.*3"),
])
def test_normal_bad_input_as_pytorch(call, error, message):
    for lib in (md, torch):
        with pytest.raises(error, match=message):
            call(lib)


def test_normal_bad_input_minidl_messages():
    with pytest.raises(TypeError, match="give size"):
        md.normal(0.0, 1.0)
    with pytest.raises(TypeError, match="size is only for a float mean"):
        md.normal(md.zeros(2), 1.0, (2,))
    with pytest.raises(RuntimeError, match="floating point"):
        md.normal(md.zeros(2, dtype=md.int64), 1.0)


def test_randperm_and_randint_dtypes_and_requires_grad():
    assert md.randperm(5, dtype=md.float64).dtype is md.float64
    assert sorted(md.randperm(5, dtype=md.float32).tolist()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert md.rand(3, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        md.randint(5, (3,), requires_grad=True)
