"""md.Generator (issue 15 item 5): each generator owns its xoshiro256** state, so two with
the same seed draw the same numbers, and drawing from one moves neither the default stream
nor any other generator; every random function honours ``generator=``; state round trips;
the default generator and md.random mirror torch.random."""
from __future__ import annotations

import pytest

from conftest import require

import minidl as md
from minidl.nn import init

torch = require("torch")


def _fresh(n=64):
    return md.empty(n)


# every function that takes generator=, as a call drawing from g (large enough that two seeds differ)
DRAWS = {
    "rand": lambda g: md.rand(64, generator=g),
    "randn": lambda g: md.randn(8, 8, generator=g, dtype=md.float64),
    "randint(low, high, size)": lambda g: md.randint(-5, 1000, (64,), generator=g),
    "randint(high, size)": lambda g: md.randint(1000, (64,), generator=g),
    "randperm": lambda g: md.randperm(64, generator=g),
    "rand_like": lambda g: md.rand_like(md.zeros(64), generator=g),
    "randn_like": lambda g: md.randn_like(md.zeros(64), generator=g),
    "randint_like": lambda g: md.randint_like(md.zeros(64), 1000, generator=g),
    "normal(float, float, size)": lambda g: md.normal(1.0, 2.0, (64,), generator=g),
    "normal(Tensor, float)": lambda g: md.normal(md.zeros(64), 2.0, generator=g),
    "normal(float, Tensor)": lambda g: md.normal(1.0, md.ones(64), generator=g),
    "normal(Tensor, Tensor)": lambda g: md.normal(md.zeros(8, 1), md.ones(8), generator=g),
    "bernoulli(Tensor)": lambda g: md.bernoulli(md.full((64,), 0.5), generator=g),
    "bernoulli(Tensor, p)": lambda g: md.bernoulli(md.zeros(64), 0.5, generator=g),
    "Tensor.bernoulli": lambda g: md.full((64,), 0.5).bernoulli(generator=g),
    "poisson": lambda g: md.poisson(md.full((64,), 20.0), g),
    "multinomial(replacement)": lambda g: md.multinomial(md.ones(50), 64, replacement=True, generator=g),
    "multinomial": lambda g: md.multinomial(md.ones(64), 64, generator=g),
    "Tensor.multinomial": lambda g: md.ones(64).multinomial(64, generator=g),
    "uniform_": lambda g: _fresh().uniform_(-1, 1, generator=g),
    "normal_": lambda g: _fresh().normal_(generator=g),
    "bernoulli_(p)": lambda g: _fresh().bernoulli_(0.5, generator=g),
    "bernoulli_(Tensor)": lambda g: _fresh().bernoulli_(md.full((64,), 0.5), generator=g),
    "random_()": lambda g: _fresh().random_(generator=g),
    "random_(to)": lambda g: md.empty(64, dtype=md.int64).random_(1000, generator=g),
    "random_(from, to)": lambda g: _fresh().random_(-50, 50, generator=g),
    "exponential_": lambda g: _fresh().exponential_(generator=g),
    "geometric_": lambda g: _fresh().geometric_(0.1, generator=g),
    "cauchy_": lambda g: _fresh().cauchy_(generator=g),
    "log_normal_": lambda g: _fresh().log_normal_(generator=g),
    "init.uniform_": lambda g: init.uniform_(md.empty(8, 8), generator=g),
    "init.normal_": lambda g: init.normal_(md.empty(8, 8), generator=g),
    "init.trunc_normal_": lambda g: init.trunc_normal_(md.empty(8, 8), generator=g),
    "init.xavier_uniform_": lambda g: init.xavier_uniform_(md.empty(8, 8), generator=g),
    "init.xavier_normal_": lambda g: init.xavier_normal_(md.empty(8, 8), generator=g),
    "init.kaiming_uniform_": lambda g: init.kaiming_uniform_(md.empty(8, 8), generator=g),
    "init.kaiming_normal_": lambda g: init.kaiming_normal_(md.empty(8, 8), generator=g),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_every_random_function_honours_generator(name):
    draw = DRAWS[name]
    md.manual_seed(123)
    default_before = md.get_rng_state()
    other = md.Generator().manual_seed(99)
    other_before = other.get_state()

    a = draw(md.Generator().manual_seed(7))
    b = draw(md.Generator().manual_seed(7))
    c = draw(md.Generator().manual_seed(8))

    assert md.equal(a, b), "the same seed must give the same draws"
    assert not md.equal(a, c), "another seed must give other draws"
    assert md.equal(md.get_rng_state(), default_before), "drawing from a Generator moved the default stream"
    assert md.equal(other.get_state(), other_before), "drawing from one Generator moved another"


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_a_generator_of_the_wrong_type_is_refused(name):
    with pytest.raises(TypeError, match="generator must be a md.Generator"):
        DRAWS[name](0)  # a seed where the generator belongs: the usual mistake


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_without_generator_the_default_stream_is_used(name):
    """generator=None draws from md.default_generator: a seed reproduces it, and it moves."""
    draw = DRAWS[name]
    md.manual_seed(5)
    a = draw(None)
    after = md.get_rng_state()
    assert md.equal(draw(md.default_generator.manual_seed(5)), a)
    assert md.equal(md.get_rng_state(), after)


def test_interleaved_generators_do_not_disturb_each_other():
    g1, g2 = md.Generator().manual_seed(1), md.Generator().manual_seed(1)
    alone = [md.rand(5, generator=g1) for _ in range(3)]
    g1.manual_seed(1)
    for k in range(3):
        assert md.equal(md.rand(5, generator=g1), alone[k])
        md.randn(7, generator=g2)  # another generator ...
        md.rand(11)                # ... and the default one draw in between
    assert not md.equal(g1.get_state(), g2.get_state())


def test_state_round_trip_and_copy_between_generators():
    g = md.Generator().manual_seed(3)
    md.rand(10, generator=g)
    state = g.get_state()
    a = md.randn(20, generator=g)
    assert g.set_state(state) is g
    assert md.equal(md.randn(20, generator=g), a)
    h = md.Generator().set_state(state)  # a state moves to another generator
    assert md.equal(md.randn(20, generator=h), a)
    state[0] = 0  # get_state returns a copy: editing it changes nothing
    assert not md.equal(g.get_state(), state)


def test_clone_deepcopy_and_pickle_give_an_independent_generator_at_the_same_position():
    import copy
    import pickle
    g = md.Generator().manual_seed(9)
    md.rand(3, generator=g)
    for twin in (g.clone_state(), copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert twin is not g and twin.initial_seed() == 9
        before = g.get_state()
        assert md.equal(md.rand(4, generator=twin), md.rand(4, generator=md.Generator().set_state(before)))
        assert md.equal(g.get_state(), before), "drawing from the copy moved the original"
    tg = torch.Generator().manual_seed(9)
    assert copy.deepcopy(tg).initial_seed() == pickle.loads(pickle.dumps(tg)).initial_seed() == 9


def test_generator_api_as_pytorch():
    g = md.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed() == 67280421310721
    assert g.manual_seed(11) is g and g.initial_seed() == 11
    assert str(g.device) == str(torch.Generator().device) == "cpu"
    assert g.manual_seed(-1).initial_seed() == torch.Generator().manual_seed(-1).initial_seed() == 2 ** 64 - 1
    s = g.seed()
    assert isinstance(s, int) and g.initial_seed() == s and 0 <= s < 2 ** 64
    assert md.Generator(device="cpu").initial_seed() == 67280421310721
    assert md.Generator(md.device("cpu")).device == "cpu"


def test_bad_generator_arguments():
    with pytest.raises(RuntimeError, match="no CUDA generator"):
        md.Generator(device="cuda")
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        md.Generator(device="tpu")
    g = md.Generator()
    with pytest.raises(TypeError, match="int seed"):
        g.manual_seed(1.5)
    with pytest.raises(RuntimeError, match="Overflow"):
        g.manual_seed(2 ** 64)
    with pytest.raises(TypeError, match="int64 tensor of shape"):
        g.set_state(md.zeros(4))
    with pytest.raises(TypeError, match="int64 tensor of shape"):
        g.set_state(md.zeros(5, dtype=md.int64) + 1)
    with pytest.raises(TypeError, match="int64 tensor of shape"):
        g.set_state([1, 2, 3, 4])
    with pytest.raises(ValueError, match="all zeros"):
        g.set_state(md.zeros(4, dtype=md.int64))


def test_default_generator_and_module_functions():
    assert isinstance(md.default_generator, md.Generator)
    assert md.manual_seed(21) is md.default_generator
    assert md.initial_seed() == md.default_generator.initial_seed() == 21
    assert md.equal(md.get_rng_state(), md.default_generator.get_state())
    s = md.seed()
    assert md.initial_seed() == s
    for name in ("Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
                 "set_rng_state", "fork_rng"):
        assert hasattr(torch.random, name) and hasattr(md.random, name), name
    assert md.random.default_generator is md.default_generator


def test_fork_rng_restores_the_default_stream():
    md.manual_seed(0)
    with md.random.fork_rng():
        md.rand(100)
    after = md.rand(3)
    md.manual_seed(0)
    assert md.equal(md.rand(3), after), "the draws inside fork_rng moved the stream outside it"
    md.manual_seed(0)
    with pytest.raises(ZeroDivisionError):
        with md.random.fork_rng():
            md.rand(10)
            1 / 0
    first = md.rand(3)
    md.manual_seed(0)
    assert md.equal(md.rand(3), first), "fork_rng restores the state when its block raises"
    md.manual_seed(0)
    with md.random.fork_rng(enabled=False):
        md.rand(3)
    assert not md.equal(md.rand(3), first), "enabled=False does not restore"


def test_reseeding_the_default_generator_reproduces_init_and_dropout():
    """What a learner relies on: md.manual_seed makes a model's init and dropout repeat."""
    def run():
        md.manual_seed(4)
        layer = md.nn.Linear(5, 3)
        drop = md.nn.Dropout(0.5)
        return layer.weight.detach().clone(), drop(md.ones(20))
    (w1, d1), (w2, d2) = run(), run()
    assert md.equal(w1, w2) and md.equal(d1, d2)


def test_data_shuffling_honours_generator():
    """DataLoader(shuffle=True, generator=g) and random_split(..., generator=g), as PyTorch's."""
    from minidl.utils.data import DataLoader, TensorDataset, random_split
    ds = TensorDataset(md.arange(50))

    def epoch(seed):
        loader = DataLoader(ds, batch_size=50, shuffle=True, generator=md.Generator().manual_seed(seed))
        return next(iter(loader))[0].tolist()

    md.manual_seed(0)
    before = md.get_rng_state()
    assert epoch(1) == epoch(1) != epoch(2)
    assert sorted(epoch(1)) == list(range(50))
    split = [s.indices for s in random_split(ds, [30, 20], generator=md.Generator().manual_seed(1))]
    assert split == [s.indices for s in random_split(ds, [30, 20], generator=md.Generator().manual_seed(1))]
    assert md.equal(md.get_rng_state(), before)
    with pytest.raises(TypeError, match="generator must be a md.Generator"):
        random_split(ds, [30, 20], generator=1)


@pytest.mark.parametrize("dtype", [md.float32, md.float64])
def test_normal_draws_are_the_same_on_every_thread_count_and_kernel_set(dtype):
    # fill_normal draws its uniforms in stream order and spreads only their transforms over the
    # threads, on the kernel set's vectors (box_muller.h: the same operations in the same order
    # on every lane width): one seed, the same bits (and the same stream afterwards) on 1, 2 and
    # 3 threads and every kernel set, across several blocks of 8K pairs, vector tails and an odd
    # count; and they are the textbook Box-Muller of the stream's uniforms
    import numpy as np
    old, old_set = md.get_num_threads(), md.backend.name
    try:
        runs = []
        for kernel_set in md.backend.available():
            md.backend.use(kernel_set)
            for threads in (1, 2, 3):
                md.set_num_threads(threads)
                g = md.Generator().manual_seed(11)
                runs.append((md.randn(70001, generator=g, dtype=dtype).numpy(), md.rand(3, generator=g).numpy()))
        for values, after in runs[1:]:
            np.testing.assert_array_equal(values.view(np.uint8), runs[0][0].view(np.uint8))
            np.testing.assert_array_equal(after, runs[0][1])
    finally:
        md.set_num_threads(old)
        md.backend.use(old_set)
    g = md.Generator().manual_seed(11)
    u = md.rand(70002, generator=g, dtype=md.float64).numpy()  # the pairs' uniforms, in stream order
    r = np.sqrt(-2.0 * np.log(1.0 - u[0::2]))
    want = np.stack([r * np.cos(2 * np.pi * u[1::2]), r * np.sin(2 * np.pi * u[1::2])], 1).reshape(-1)[:70001]
    got = runs[0][0]
    if dtype == md.float64:
        # libm's and minidl's log / sin / cos differ by an ulp or two of a double; near a zero
        # of sin or cos, libm's argument 2 pi u (rounded) is what errs, by ~4e-16 absolute
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=4e-15)
    else:  # rounded to float32: at most one float32 ulp from libm's value rounded
        w32 = want.astype(np.float32)
        assert np.all(np.abs(got.astype(np.float64) - w32) <= np.spacing(np.abs(w32)))
