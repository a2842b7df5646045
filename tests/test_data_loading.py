"""md.utils.data against torch.utils.data: samplers (structure, lengths, statistics), datasets,
default_collate / default_convert, DataLoader's argument checks, and worker processes
(ordering, seeding, worker_init_fn, get_worker_info, IterableDataset split, an exception in a
worker, a killed worker, timeout, persistent workers). Worker tests use tiny datasets and
check that no worker process is left behind."""
from __future__ import annotations

import collections
import gc
import multiprocessing
import os
import random
import signal
import time

import numpy as np
import pytest

import minidl as md
from minidl.utils import data as mdd

from conftest import require

torch = require("torch")
tud = torch.utils.data



def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


def _same_error(md_fn, torch_fn):
    got, want = _error(md_fn), _error(torch_fn)
    assert got == want


@pytest.fixture
def no_leftover_workers():
    before = set(p.pid for p in multiprocessing.active_children())
    yield
    gc.collect()
    deadline = time.time() + 10
    while time.time() < deadline and set(p.pid for p in multiprocessing.active_children()) - before:
        time.sleep(0.05)
    assert not set(p.pid for p in multiprocessing.active_children()) - before, "worker processes left behind"


# --- samplers ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7])
def test_sequential_and_batch_sampler_match_torch(n):
    assert list(mdd.SequentialSampler(range(n))) == list(tud.SequentialSampler(range(n)))
    for bs in (1, 3, 8):
        for drop_last in (False, True):
            m = mdd.BatchSampler(mdd.SequentialSampler(range(n)), bs, drop_last)
            t = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop_last)
            assert list(m) == list(t) and len(m) == len(t)


@pytest.mark.parametrize("n,num_samples", [(1, None), (7, None), (5, 12), (6, 4)])
def test_random_sampler_without_replacement_is_permutations(n, num_samples):
    s = mdd.RandomSampler(range(n), num_samples=num_samples)
    order = list(s)
    total = n if num_samples is None else num_samples
    assert len(order) == len(s) == len(tud.RandomSampler(range(n), num_samples=num_samples)) == total
    for start in range(0, total - total % n, n):  # every full block of n is a permutation
        assert sorted(order[start:start + n]) == list(range(n))
    assert len(set(order[total - total % n:])) == total % n  # the tail: distinct indices


def test_random_sampler_with_replacement_is_uniform():
    md.manual_seed(0)
    draws = np.array(list(mdd.RandomSampler(range(5), replacement=True, num_samples=20000)))
    counts = np.bincount(draws, minlength=5)
    assert draws.min() >= 0 and draws.max() < 5
    assert np.all(np.abs(counts / 20000 - 0.2) < 0.015)  # 5 sigma is ~0.014


def test_random_sampler_new_order_each_epoch_and_manual_seed_repeats():
    s = mdd.RandomSampler(range(50))
    md.manual_seed(3)
    a, b = list(s), list(s)
    md.manual_seed(3)
    assert a != b and list(s) == a


def test_samplers_follow_the_generator():
    def orders(seed):
        g = md.Generator().manual_seed(seed)
        return (list(mdd.RandomSampler(range(20), generator=g)), list(mdd.SubsetRandomSampler([5, 6, 7, 8], g)),
                list(mdd.WeightedRandomSampler([1., 2., 3.], 10, generator=g)))
    assert orders(1) == orders(1) and orders(1) != orders(2)


def test_subset_random_sampler():
    idx = [3, 9, 4, 11]
    s = mdd.SubsetRandomSampler(idx)
    assert sorted(s) == sorted(idx) and len(s) == len(tud.SubsetRandomSampler(idx)) == 4


def test_weighted_random_sampler_frequencies():
    md.manual_seed(1)
    w = [1.0, 0.0, 3.0, 4.0]
    draws = np.array(list(mdd.WeightedRandomSampler(w, 40000)))
    freq = np.bincount(draws, minlength=4) / 40000
    assert freq[1] == 0 and np.all(np.abs(freq - np.array(w) / 8) < 0.012)
    no_repeat = list(mdd.WeightedRandomSampler(w, 3, replacement=False))
    assert sorted(no_repeat) == [0, 2, 3]
    assert len(mdd.WeightedRandomSampler(w, 7)) == 7


def test_sampler_bad_input_matches_torch():
    for n in (-1, 0):
        _same_error(lambda: mdd.RandomSampler(range(3), num_samples=n), lambda: tud.RandomSampler(range(3), num_samples=n))
        _same_error(lambda: mdd.WeightedRandomSampler([1.0], n), lambda: tud.WeightedRandomSampler([1.0], n))
    _same_error(lambda: mdd.RandomSampler(range(3), replacement=1), lambda: tud.RandomSampler(range(3), replacement=1))
    _same_error(lambda: mdd.WeightedRandomSampler([[1.0]], 2), lambda: tud.WeightedRandomSampler([[1.0]], 2))
    _same_error(lambda: mdd.BatchSampler(range(3), 0, False), lambda: tud.BatchSampler(range(3), 0, False))
    _same_error(lambda: mdd.BatchSampler(range(3), 2, 1), lambda: tud.BatchSampler(range(3), 2, 1))
    nan = [1.0, float("nan"), 2.0]
    # PyTorch's float64 path says "invalid multinomial distribution (encountering probability entry < 0)";
    # md.multinomial words it as PyTorch's float32 path does
    with pytest.raises(RuntimeError, match="probability tensor contains either `inf`, `nan` or element < 0"):
        list(mdd.WeightedRandomSampler(nan, 2))
    assert _error(lambda: list(tud.WeightedRandomSampler(nan, 2)))[0] is RuntimeError


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 5, False), (12, 4, False),
                                                  (7, 2, True), (1, 1, False)])
def test_distributed_sampler_shards_partition_the_padded_permutation(n, replicas, drop_last):
    for shuffle in (False, True):
        mine = [mdd.DistributedSampler(range(n), replicas, r, shuffle=shuffle, seed=5, drop_last=drop_last)
                for r in range(replicas)]
        theirs = [tud.DistributedSampler(range(n), replicas, r, shuffle=shuffle, seed=5, drop_last=drop_last)
                  for r in range(replicas)]
        shards = [list(s) for s in mine]
        assert [len(s) for s in mine] == [len(s) for s in theirs] == [len(s) for s in shards]
        assert mine[0].total_size == theirs[0].total_size
        # interleaving the shards back gives the padded (or cut) permutation
        merged = [shards[i % replicas][i // replicas] for i in range(mine[0].total_size)]
        if not shuffle:
            assert shards == [list(s) for s in theirs]
        base = merged[:n] if not drop_last else merged
        assert len(set(base)) == len(base) and set(base) <= set(range(n))
        if not drop_last:
            assert sorted(merged[:n]) == list(range(n))
            assert merged[n:] == (merged[:n] * replicas)[:len(merged) - n]  # padding repeats from the start


def test_distributed_sampler_epochs_and_errors():
    s = mdd.DistributedSampler(range(40), num_replicas=2, rank=1, seed=0)
    first = list(s)
    assert list(s) == first  # same epoch, same order
    s.set_epoch(1)
    assert list(s) != first
    _same_error(lambda: mdd.DistributedSampler(range(4), num_replicas=2, rank=2),
                lambda: tud.DistributedSampler(range(4), num_replicas=2, rank=2))


def test_distributed_sampler_without_a_process_group_raises_pytorchs_error():
    """No num_replicas/rank and no init_process_group: both read them from the default group."""
    require("mpi4py")
    _same_error(lambda: mdd.DistributedSampler(range(4)), lambda: tud.DistributedSampler(range(4)))


# --- datasets ------------------------------------------------------------------------------
def test_datasets_match_torch():
    a, b = list(range(3)), [10, 11]
    m, t = mdd.ConcatDataset([a, b]), tud.ConcatDataset([a, b])
    assert len(m) == len(t) and [m[i] for i in range(-5, 5)] == [t[i] for i in range(-5, 5)]
    assert m.cumulative_sizes == t.cumulative_sizes
    _same_error(lambda: m[-6], lambda: t[-6])
    assert mdd.StackDataset(a, a)[1] == tud.StackDataset(a, a)[1]
    assert mdd.StackDataset(x=a, y=a)[2] == tud.StackDataset(x=a, y=a)[2]
    _same_error(lambda: mdd.StackDataset(a, b), lambda: tud.StackDataset(a, b))
    _same_error(lambda: mdd.StackDataset(a, y=a), lambda: tud.StackDataset(a, y=a))
    sub = mdd.Subset(list("abcdef"), [5, 0, 2])
    assert [sub[i] for i in range(3)] == list("fac") and sub.__getitems__([2, 0]) == ["c", "f"]

    class Stream(mdd.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n
    chain = Stream(2) + Stream(3)
    assert isinstance(chain, mdd.ChainDataset) and list(chain) == [0, 1, 0, 1, 2] and len(chain) == 5
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        mdd.ConcatDataset([Stream(1)])


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.3, 0.4], [0.5, 0.5], [1 / 3] * 3])
def test_random_split_lengths_match_torch(lengths):
    mine = mdd.random_split(range(10), lengths)
    theirs = tud.random_split(range(10), lengths)
    assert [len(s) for s in mine] == [len(s) for s in theirs]
    assert sorted(i for s in mine for i in s.indices) == list(range(10))
    _same_error(lambda: mdd.random_split(range(10), [3, 3]), lambda: tud.random_split(range(10), [3, 3]))
    _same_error(lambda: mdd.random_split(range(10), [1.5, -0.5]), lambda: tud.random_split(range(10), [1.5, -0.5]))


# --- collate -------------------------------------------------------------------------------
Point = collections.namedtuple("Point", "x y")


def _as_numpy(x):
    if isinstance(x, (md.Tensor, torch.Tensor)):
        return ("tensor", str(x.dtype).split(".")[-1], x.numpy().tolist())
    if isinstance(x, dict):
        return {k: _as_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_as_numpy(v) for v in x])
    return x


def test_default_collate_matches_torch():
    def samples(t):
        return [{"img": t.ones(2, 3) * i, "label": i, "w": 0.5 * i, "name": f"s{i}", "np": np.full(2, i, np.int64),
                 "pt": Point(i, [i, np.float32(i)]), "pair": (i, 2.0)} for i in range(3)]
    assert _as_numpy(mdd.default_collate(samples(md))) == _as_numpy(tud.default_collate(samples(torch)))
    bools = [True, False]
    # minidl's one integer dtype is int64: narrower NumPy integers widen (PyTorch keeps int32)
    assert mdd.default_collate([np.zeros(2, np.int32)] * 2).dtype is md.int64
    assert _as_numpy(mdd.default_collate(bools)) == _as_numpy(tud.default_collate(bools))
    one = (np.arange(3.0), (4, "a"), {"k": np.int64(2)})
    assert _as_numpy(mdd.default_convert(one)) == _as_numpy(tud.default_convert(one))


def test_default_collate_bad_input_matches_torch():
    _same_error(lambda: mdd.default_collate([md.zeros(3), md.zeros(4)]),
                lambda: tud.default_collate([torch.zeros(3), torch.zeros(4)]))
    assert "stack expects each tensor to be equal size, but got [3] at entry 0 and [4] at entry 1" in \
        _error(lambda: mdd.default_collate([md.zeros(3), md.zeros(4)]))[1]
    _same_error(lambda: mdd.default_collate([[1, 2], [1]]), lambda: tud.default_collate([[1, 2], [1]]))
    _same_error(lambda: mdd.default_collate([object()]), lambda: tud.default_collate([object()]))
    _same_error(lambda: mdd.default_collate([np.array(["a"])]), lambda: tud.default_collate([np.array(["a"])]))


# --- DataLoader, main process --------------------------------------------------------------
def _pair_datasets(n=11):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n) % 4
    return (mdd.TensorDataset(md.tensor(x), md.tensor(y)), tud.TensorDataset(torch.tensor(x), torch.tensor(y)))


def _batches(loader):
    return [_as_numpy(b) for b in loader]


@pytest.mark.parametrize("kwargs", [dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=None),
                                    dict(batch_size=1), dict(batch_size=20)])
def test_loader_matches_torch_in_order(kwargs):
    mds, tds = _pair_datasets()
    m, t = mdd.DataLoader(mds, **kwargs), tud.DataLoader(tds, **kwargs)
    assert len(m) == len(t) == len(iter(m)) and _batches(m) == _batches(t)


def test_loader_with_a_given_order_matches_torch():
    mds, tds = _pair_datasets()
    order = [5, 0, 10, 3, 3, 7]
    m = mdd.DataLoader(mds, batch_size=4, sampler=order)
    t = tud.DataLoader(tds, batch_size=4, sampler=order)
    assert _batches(m) == _batches(t)
    groups = [[1, 2], [9], [0, 4, 8]]
    m = mdd.DataLoader(list(range(10)), batch_sampler=groups, collate_fn=lambda b: sum(b))
    t = tud.DataLoader(list(range(10)), batch_sampler=groups, collate_fn=lambda b: sum(b))
    assert list(m) == list(t) and len(m) == len(t)


def test_loader_argument_errors_match_torch():
    ds = list(range(5))
    cases = [dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2), dict(persistent_workers=True),
             dict(batch_size=0), dict(batch_size=-3), dict(shuffle=True, sampler=[0, 1]),
             dict(batch_sampler=[[0]], batch_size=2), dict(batch_sampler=[[0]], shuffle=True),
             dict(batch_sampler=[[0]], drop_last=True), dict(batch_size=None, drop_last=True),
             dict(num_workers=1, prefetch_factor=-1), dict(multiprocessing_context="fork"),
             dict(num_workers=1, multiprocessing_context="nope"), dict(num_workers=1, multiprocessing_context=3)]
    for kw in cases:
        _same_error(lambda: mdd.DataLoader(ds, **kw), lambda: tud.DataLoader(ds, **kw))

    class Stream(mdd.IterableDataset, tud.IterableDataset):
        def __iter__(self):
            return iter(range(3))
    for kw in (dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])):
        assert _error(lambda: mdd.DataLoader(Stream(), **kw))[0] is ValueError
    loader = mdd.DataLoader(ds)
    _same_error(lambda: setattr(loader, "batch_size", 3), lambda: setattr(tud.DataLoader(ds), "batch_size", 3))


def test_pin_memory_is_accepted_with_torchs_warning():
    with pytest.warns(UserWarning, match="no accelerator is found"):
        assert [b.tolist() for b in mdd.DataLoader(list(range(3)), batch_size=2, pin_memory=True)] == [[0, 1], [2]]


def test_iterable_dataset_batches_match_torch():
    class Stream(mdd.IterableDataset, tud.IterableDataset):
        def __iter__(self):
            return iter(range(7))

        def __len__(self):
            return 7
    for kw in (dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None)):
        m, t = mdd.DataLoader(Stream(), **kw), tud.DataLoader(Stream(), **kw)
        assert _batches(m) == _batches(t) and len(m) == len(t) == len(iter(m))


# --- DataLoader, worker processes ----------------------------------------------------------
class Draws(mdd.Dataset):
    """Each sample: its index, the worker's id and a draw from each generator the worker seeded."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = mdd.get_worker_info()
        return {"i": i, "worker": -1 if info is None else info.id, "seed": -1 if info is None else info.seed,
                "md": float(md.rand(1).item()), "py": random.random(), "np": float(np.random.rand())}


def _flat(loader):
    return [{k: v.tolist() for k, v in b.items()} for b in loader]


def test_two_workers_keep_order_and_seed_each_worker(no_leftover_workers):
    batches = _flat(mdd.DataLoader(Draws(), batch_size=2, num_workers=2))
    assert [i for b in batches for i in b["i"]] == list(range(12))
    assert [b["worker"][0] for b in batches] == [0, 1] * 3  # task t goes to worker t % 2
    seeds = {b["worker"][0]: b["seed"][0] for b in batches}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker_id
    first = {w: next(b for b in batches if b["worker"][0] == w) for w in (0, 1)}
    for key in ("md", "py", "np"):
        assert first[0][key][0] != first[1][key][0]  # the workers' streams differ


def test_worker_seeds_are_reproducible_with_a_generator(no_leftover_workers):
    def run(seed):
        return _flat(mdd.DataLoader(Draws(), batch_size=3, num_workers=2, generator=md.Generator().manual_seed(seed)))
    assert run(4) == run(4) and run(4) != run(5)


def test_worker_init_fn_and_get_worker_info(no_leftover_workers):
    class Tagged(mdd.Dataset):
        tag = "main"

        def __len__(self):
            return 4

        def __getitem__(self, i):
            info = mdd.get_worker_info()
            return f"{info.dataset.tag}:{info.num_workers}:{i}"

    def init(worker_id):
        mdd.get_worker_info().dataset.tag = f"w{worker_id}"
    out = list(mdd.DataLoader(Tagged(), batch_size=None, num_workers=2, worker_init_fn=init))
    assert out == ["w0:2:0", "w1:2:1", "w0:2:2", "w1:2:3"]
    assert mdd.get_worker_info() is None


def test_iterable_dataset_split_by_worker_info(no_leftover_workers):
    class Shards(mdd.IterableDataset):
        def __iter__(self):
            info = mdd.get_worker_info()
            return iter(range(info.id, 11, info.num_workers))
    got = [v for b in mdd.DataLoader(Shards(), batch_size=2, num_workers=2) for v in b.tolist()]
    assert sorted(got) == list(range(11))

    class Whole(mdd.IterableDataset):  # not split: each worker yields all of it, as in PyTorch
        def __iter__(self):
            return iter(range(3))
    assert sorted(v for b in mdd.DataLoader(Whole(), batch_size=2, num_workers=2) for v in b.tolist()) == \
        [0, 0, 1, 1, 2, 2]


class FailsAt5(mdd.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise KeyError(f"no sample {i} in the table")
        return i


def test_worker_exception_is_reraised_with_its_traceback(no_leftover_workers):
    it = iter(mdd.DataLoader(FailsAt5(), batch_size=2, num_workers=2))
    assert next(it).tolist() == [0, 1] and next(it).tolist() == [2, 3]
    with pytest.raises(KeyError) as info:
        next(it)
    msg = str(info.value)
    assert "Caught KeyError in DataLoader worker process 0." in msg
    assert "Traceback (most recent call last)" in msg and "in __getitem__" in msg and "no sample 5" in msg
    del it, info


def test_killed_worker_raises_instead_of_hanging(no_leftover_workers):
    class KillsItself(mdd.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            if i == 3 and mdd.get_worker_info() is not None:
                os.kill(os.getpid(), signal.SIGKILL)
            return i
    start = time.time()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) is killed by signal: Killed"):
        list(mdd.DataLoader(KillsItself(), batch_size=2, num_workers=2))
    assert time.time() - start < 10


def test_timeout_raises(no_leftover_workers):
    class Slow(mdd.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.6 if i else 0)
            return i
    it = iter(mdd.DataLoader(Slow(), batch_size=None, num_workers=1, timeout=0.2))
    assert next(it) == 0
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        next(it)
    del it


def test_persistent_workers_keep_their_processes(no_leftover_workers):
    class Pid(mdd.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return os.getpid()
    loader = mdd.DataLoader(Pid(), batch_size=2, num_workers=2, persistent_workers=True)
    epochs = [sorted({p for b in loader for p in b.tolist()}) for _ in range(3)]
    assert epochs[0] == epochs[1] == epochs[2] and len(epochs[0]) == 2 and os.getpid() not in epochs[0]
    fresh = mdd.DataLoader(Pid(), batch_size=2, num_workers=2)
    assert sorted({p for b in fresh for p in b.tolist()}) != sorted({p for b in fresh for p in b.tolist()})
    del loader


def test_breaking_out_early_and_spawn_context(no_leftover_workers):
    loader = mdd.DataLoader(list(range(40)), batch_size=2, num_workers=2)
    for b in loader:
        break
    assert b.tolist() == [0, 1]
    spawned = mdd.DataLoader(mdd.TensorDataset(md.arange(6.)), batch_size=4, num_workers=1,
                             multiprocessing_context="spawn")
    assert [b[0].tolist() for b in spawned] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0]]


def test_shuffled_workers_see_each_sample_once(no_leftover_workers):
    mds, _ = _pair_datasets(17)
    seen = [v for _, y in mdd.DataLoader(mds, batch_size=3, shuffle=True, num_workers=2) for v in y.tolist()]
    xs = sorted(int(x[0, 0].item()) // 3 for x, _ in mdd.DataLoader(mds, batch_size=1, shuffle=True, num_workers=2))
    assert sorted(seen) == sorted(np.arange(17) % 4) and xs == list(range(17))


def test_ctrl_c_shuts_the_workers_down(no_leftover_workers):
    class Slow(mdd.Dataset):
        def __len__(self):
            return 100

        def __getitem__(self, i):
            time.sleep(0.05)
            return i
    # A shell runs a background job (`.ci/run &`) with SIGINT ignored, and interrupt_main does
    # nothing while it is: give this test Python's own handler, as an interactive run has.
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_a_slow_loader(Slow)
    finally:
        signal.signal(signal.SIGINT, saved)


def _interrupt_a_slow_loader(Slow):
    import _thread
    import threading
    it = iter(mdd.DataLoader(Slow(), batch_size=4, num_workers=2))
    workers = list(it._workers)
    next(it)
    timer = threading.Timer(0.1, _thread.interrupt_main)  # as Ctrl-C: KeyboardInterrupt in the main thread
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for _ in it:
            pass
    timer.join()
    assert all(w.exitcode is not None for w in workers)  # stopped before the exception got here


def test_too_many_workers_warns_as_torch():
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mdd.DataLoader([1], num_workers=512)
        tud.DataLoader([1], num_workers=512)
    assert len(caught) == 2 and str(caught[0].message) == str(caught[1].message)


def test_what_crosses_from_a_worker(no_leftover_workers):
    class Samples(mdd.Dataset):
        def __init__(self, kind):
            self.kind = kind

        def __len__(self):
            return 2

        def __getitem__(self, i):
            if self.kind == "leaf":
                return md.ones(2, requires_grad=True), md.ones(2, dtype=md.bfloat16) * i
            if self.kind == "graph":
                return md.ones(2, requires_grad=True) * 2
            return lambda: i  # can't be pickled
    leaf, half = next(iter(mdd.DataLoader(Samples("leaf"), batch_size=None, num_workers=1)))
    assert leaf.requires_grad and leaf.is_leaf and half.dtype is md.bfloat16
    # PyTorch's message for a tensor with a graph; an unpicklable sample raises instead of hanging
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor which requires_grad"):
        list(mdd.DataLoader(Samples("graph"), batch_size=None, num_workers=1, timeout=20))
    with pytest.raises(Exception, match="in DataLoader worker process 0"):
        list(mdd.DataLoader(Samples("lambda"), batch_size=None, num_workers=1, timeout=20))


def test_persistent_workers_after_an_epoch_left_early(no_leftover_workers):
    loader = mdd.DataLoader(list(range(30)), batch_size=2, num_workers=2, persistent_workers=True,
                            sampler=mdd.DistributedSampler(range(30), num_replicas=1, rank=0))
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)
        it = iter(loader)
        first = next(it).tolist()
        assert first == list(loader.sampler)[:2]  # the new epoch's order, not a stale batch
        if epoch == 2:  # read to the end: the whole epoch, each sample once
            assert sorted(first + [v for b in it for v in b.tolist()]) == list(range(30))
    del loader, it


def test_submodules_hold_pytorchs_names():
    import importlib
    for name in ("dataset", "sampler", "distributed", "dataloader"):
        theirs = importlib.import_module(f"torch.utils.data.{name}")
        mine = importlib.import_module(f"minidl.utils.data.{name}")
        wanted = {n for n in dir(theirs) if n in mdd.__all__ and getattr(theirs, n).__module__ == theirs.__name__}
        if name == "dataloader":  # re-exported there, and imported from there by scripts
            wanted |= {"default_collate", "default_convert", "get_worker_info"}
        assert wanted and {n for n in wanted if not hasattr(mine, n)} == set(), name
    assert {n for n in tud.__all__ if n in dir(mdd)} == set(mdd.__all__)


CTRL_C_SCRIPT = """
import time
from minidl.utils.data import DataLoader, Dataset

class Slow(Dataset):
    def __len__(self):
        return 10000

    def __getitem__(self, i):
        time.sleep(0.01)
        return i

for batch in DataLoader(Slow(), batch_size=4, num_workers=2):
    print("batch", flush=True)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds the workers through Linux's /proc")
def test_ctrl_c_in_a_terminal_stops_the_script_and_its_workers():
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    # its own process group, as a terminal's job; SIGINT back to its default (a background job of
    # a shell, e.g. `.ci/run &`, ignores it, and the child would inherit that and never stop)
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().strip() == "batch"
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            workers = [int(p) for p in f.read().split()]
        assert len(workers) == 2
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: SIGINT to the main process and its workers
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and err.count("Traceback") == 1 and err.rstrip().endswith("KeyboardInterrupt")
    deadline = time.time() + 5
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in workers):
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in workers)


def test_shuffled_order_does_not_depend_on_num_workers(no_leftover_workers):
    def order(workers):
        g = md.Generator().manual_seed(11)
        loader = mdd.DataLoader(list(range(20)), batch_size=3, shuffle=True, num_workers=workers, generator=g)
        return [[v for b in loader for v in b.tolist()] for _ in range(2)]
    assert order(0) == order(2)
