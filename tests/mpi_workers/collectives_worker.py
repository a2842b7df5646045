"""Every md.distributed collective checked against NumPy, run by every rank of one MPI launch
(tests/test_distributed_collectives.py starts it with 2 and 3 ranks).

Each rank can compute every rank's input (the inputs are seeded by rank), so each checks its
own result against the NumPy answer. A check that fails prints ``FAIL <name>: <why>`` and the
run goes on (checks fail after their collectives, so the ranks stay in step); the last line is
``DONE <passed> <failed>``, and the exit status is 1 if anything failed.
"""
from __future__ import annotations

import os
import socket
import sys
import traceback

import ml_dtypes
import numpy as np

import minidl as md
import minidl.distributed as dist

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_,
          "bfloat16": ml_dtypes.bfloat16, "float16": np.float16}
SIZES = (1, 7, 33, 1000)
CHECKS = []


def say(line: str) -> None:
    """One line in one write(2): the launcher interleaves the ranks' output write by write."""
    os.write(1, (line + "\n").encode())


def check(fn):
    CHECKS.append(fn)
    return fn


def data(rank: int, n: int, dtype: str, salt: int = 0):
    """Rank ``rank``'s input: small integers (sums and products stay exact in every dtype)."""
    rng = np.random.default_rng(1000 * rank + 17 * n + salt)
    if dtype == "bool":
        return rng.random(n) < 0.5
    values = rng.integers(-3, 4, n) if dtype != "float32" else rng.standard_normal(n)
    return values.astype(np.float32 if dtype in ("bfloat16", "float16") else DTYPES[dtype]).astype(DTYPES[dtype])


def tensor(array):
    return md.from_numpy(np.array(array))


def expect_equal(got, want, what, rtol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if rtol:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=1e-6, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def reference(op, arrays, dtype):
    """NumPy's answer: 16-bit floats reduced in float32 and rounded once, as md.distributed does."""
    wide = [a.astype(np.float32) if dtype in ("bfloat16", "float16") else a for a in arrays]
    stacked = np.stack(wide)
    if dtype == "bool":
        result = stacked.any(0) if op in ("SUM", "MAX") else stacked.all(0)
    else:
        result = {"SUM": stacked.sum(0), "AVG": stacked.sum(0) / len(arrays), "PRODUCT": stacked.prod(0),
                  "MIN": stacked.min(0), "MAX": stacked.max(0)}[op]
    return result.astype(DTYPES[dtype])


def ops_for(dtype):
    return [op for op in ("SUM", "AVG", "PRODUCT", "MIN", "MAX") if op != "AVG" or dtype not in ("int64", "bool")]


@check
def process_group(rank, size):
    assert dist.is_initialized() and dist.get_rank() == rank and dist.get_world_size() == size
    assert dist.get_backend() == "mpi"
    try:
        dist.init_process_group()
    except ValueError as e:
        assert "twice" in str(e)
    else:
        raise AssertionError("a second init_process_group did not raise")


@check
def all_reduce_every_op_and_dtype(rank, size):
    for dtype in DTYPES:
        for op in ops_for(dtype):
            for n in SIZES:
                x = tensor(data(rank, n, dtype))
                before = x._version
                assert dist.all_reduce(x, op=getattr(dist.ReduceOp, op)) is None
                want = reference(op, [data(r, n, dtype) for r in range(size)], dtype)
                expect_equal(x.numpy(), want, f"all_reduce {op} {dtype} n={n}", 1e-6 if dtype == "float32" else 0)
                assert x._version > before, "the in-place write was not recorded"


@check
def all_reduce_async_and_int_avg(rank, size):
    x, y = tensor(data(rank, 100003, "float64")), tensor(data(rank, 5, "bfloat16"))
    wx = dist.all_reduce(x, async_op=True)
    wy = dist.all_reduce(y, op=dist.ReduceOp.MAX, async_op=True)
    while not wy.is_completed():
        pass
    assert wx.wait() is True and wx.is_completed() and wx.result()[0] is x
    expect_equal(x.numpy(), reference("SUM", [data(r, 100003, "float64") for r in range(size)], "float64"), "async")
    expect_equal(y.numpy(), reference("MAX", [data(r, 5, "bfloat16") for r in range(size)], "bfloat16"), "async bf16")
    try:
        dist.all_reduce(md.ones(2, dtype=md.int64), op=dist.ReduceOp.AVG)
    except RuntimeError as e:
        assert "ReduceOp.AVG needs a floating-point tensor: result type Float can't be cast" in str(e), e
    else:
        raise AssertionError("AVG on int64 did not raise")


@check
def non_contiguous_and_empty(rank, size):
    base = np.arange(12, dtype=np.float32).reshape(3, 4) * (rank + 1)
    x = md.from_numpy(base.copy()).t()  # a (4, 3) transposed view
    assert not x.is_contiguous()
    dist.all_reduce(x)
    expect_equal(x.numpy(), (np.arange(12, dtype=np.float32).reshape(3, 4) * sum(range(1, size + 1))).T, "transposed")
    for shape in ((0,), ()):
        e = md.zeros(*shape) + rank
        dist.all_reduce(e)
        expect_equal(e.numpy(), np.full(shape, sum(range(size)), np.float32), f"shape {shape}")


@check
def broadcast_from_every_rank(rank, size):
    for src in range(size):
        for dtype in DTYPES:
            x = tensor(data(rank, 33, dtype))
            dist.broadcast(x, src=src)
            expect_equal(x.numpy(), data(src, 33, dtype), f"broadcast {dtype} from {src}")
        w = dist.broadcast(t := md.zeros(3, 2).t() + rank, src=src, async_op=True)
        w.wait()
        expect_equal(t.numpy(), np.full((2, 3), src, np.float32), "async broadcast of a view")


@check
def reduce_to_every_rank(rank, size):
    for dst in range(size):
        for dtype in ("float32", "int64", "bfloat16"):
            for op in ops_for(dtype):
                x = tensor(data(rank, 7, dtype))
                dist.reduce(x, dst=dst, op=getattr(dist.ReduceOp, op))
                want = reference(op, [data(r, 7, dtype) for r in range(size)], dtype) if rank == dst else data(rank, 7, dtype)
                expect_equal(x.numpy(), want, f"reduce {op} {dtype} to {dst}", 1e-6 if dtype == "float32" else 0)


@check
def gathers(rank, size):
    for dtype in ("float32", "int64", "bool", "float16"):
        mine = data(rank, 7, dtype).reshape(7, 1)
        everyone = [data(r, 7, dtype).reshape(7, 1) for r in range(size)]
        out = [md.zeros(7, 1, dtype=md.from_numpy(mine).dtype) for _ in range(size)]
        dist.all_gather(out, tensor(mine))
        for r in range(size):
            expect_equal(out[r].numpy(), everyone[r], f"all_gather {dtype} [{r}]")
        for shape in ((size * 7, 1), (size, 7, 1)):
            big = md.zeros(*shape, dtype=out[0].dtype)
            dist.all_gather_into_tensor(big, tensor(mine), async_op=True).wait()
            expect_equal(big.numpy(), np.concatenate(everyone).reshape(shape), f"all_gather_into_tensor {shape}")
        for dst in range(size):
            gl = [md.zeros(7, 1, dtype=out[0].dtype) for _ in range(size)] if rank == dst else None
            dist.gather(tensor(mine), gl, dst=dst)
            if rank == dst:
                for r in range(size):
                    expect_equal(gl[r].numpy(), everyone[r], f"gather {dtype} to {dst} [{r}]")


@check
def scatter_and_reduce_scatter(rank, size):
    for src in range(size):
        x = md.zeros(5, dtype=md.int64)
        pieces = [tensor(data(src, 5, "int64", salt=r)) for r in range(size)] if rank == src else None
        dist.scatter(x, pieces, src=src)
        expect_equal(x.numpy(), data(src, 5, "int64", salt=rank), f"scatter from {src}")
    for dtype in ("float64", "bfloat16"):
        for op in ops_for(dtype):
            inputs = [data(r, 3 * size, dtype) for r in range(size)]
            out = md.zeros(3, dtype=md.from_numpy(inputs[0]).dtype)
            dist.reduce_scatter_tensor(out, tensor(inputs[rank]), op=getattr(dist.ReduceOp, op))
            expect_equal(out.numpy(), reference(op, inputs, dtype)[3 * rank:3 * rank + 3], f"reduce_scatter {op} {dtype}")


@check
def send_recv_ring(rank, size):
    right, left = (rank + 1) % size, (rank - 1) % size
    out = md.zeros(4, dtype=md.bfloat16)
    if rank % 2 == 0:
        dist.send(tensor(data(rank, 4, "bfloat16")), dst=right, tag=7)
        sender = dist.recv(out, src=left, tag=7)
    else:
        sender = dist.recv(out, tag=7)  # from any rank
        dist.send(tensor(data(rank, 4, "bfloat16")), dst=right, tag=7)
    assert sender == left, f"recv returned {sender}, expected {left}"
    expect_equal(out.numpy(), data(left, 4, "bfloat16"), "send/recv")
    incoming = md.zeros(3, dtype=md.float64)
    works = [dist.irecv(incoming, src=left), dist.isend(tensor(data(rank, 3, "float64")), dst=right)]
    for w in works:
        w.wait()
    expect_equal(incoming.numpy(), data(left, 3, "float64"), "isend/irecv")


@check
def sub_groups(rank, size):
    members = [0, size - 1]
    group = dist.new_group(members)
    lonely = dist.new_group([1])
    if rank in members:
        assert dist.get_rank(group) == members.index(rank) and dist.get_world_size(group) == 2
        x = tensor(data(rank, 9, "float32"))
        dist.all_reduce(x, group=group)
        expect_equal(x.numpy(), data(0, 9, "float32") + data(size - 1, 9, "float32"), "sub-group all_reduce", 1e-6)
        y = md.zeros(2) + rank
        dist.broadcast(y, src=size - 1, group=group)  # src: a global rank
        expect_equal(y.numpy(), np.full(2, size - 1, np.float32), "sub-group broadcast")
        z = md.zeros(2) + rank
        dist.broadcast(z, group_src=0, group=group)
        expect_equal(z.numpy(), np.zeros(2, np.float32), "group_src")
    else:
        assert group is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(group) == -1
        x = md.ones(3)
        assert dist.all_reduce(x, group=group) is None
        expect_equal(x.numpy(), np.ones(3, np.float32), "a non-member's tensor")
    if rank == 1:
        assert dist.get_world_size(lonely) == 1
    dist.barrier(group=lonely)
    dist.destroy_process_group(group)
    dist.barrier(async_op=True).wait()


@check
def objects_and_rank_helpers(rank, size):
    everyone = [None] * size
    dist.all_gather_object(everyone, {"rank": rank, "loss": 1.0 / (rank + 1)})
    assert everyone == [{"rank": r, "loss": 1.0 / (r + 1)} for r in range(size)], everyone
    config = [{"lr": 0.1, "src": size - 1}, "resnet20"] if rank == size - 1 else [None, None]
    dist.broadcast_object_list(config, src=size - 1)
    assert config == [{"lr": 0.1, "src": size - 1}, "resnet20"], config
    out = [None] * size if rank == 1 else None
    dist.gather_object(("done", rank), out, dst=1)
    assert rank != 1 or out == [("done", r) for r in range(size)], out
    mine = [None]
    dist.scatter_object_list(mine, [f"shard-{r}" for r in range(size)] if rank == 0 else None, src=0)
    assert mine == [f"shard-{rank}"], mine
    group = dist.new_group([size - 1, 0])  # sorted: group rank 0 is global rank 0
    if rank in (0, size - 1):
        assert dist.get_process_group_ranks(group) == [0, size - 1]
        assert dist.get_global_rank(group, 1) == size - 1 and dist.get_group_rank(group, size - 1) == 1
        pair = [None, None]
        dist.all_gather_object(pair, rank, group=group)
        assert pair == [0, size - 1], pair
    assert dist.get_process_group_ranks(None) == list(range(size))


@check
def distributed_sampler_reads_the_process_group(rank, size):
    from minidl.utils.data import DistributedSampler
    mine = list(DistributedSampler(range(10), shuffle=False))
    assert mine == list(DistributedSampler(range(10), num_replicas=size, rank=rank, shuffle=False)), mine
    everyone = [None] * size
    dist.all_gather_object(everyone, list(DistributedSampler(range(10), seed=3)))
    assert sorted(set(i for part in everyone for i in part)) == list(range(10)), everyone  # together: all of it


def expect_error(kind, text, call):
    try:
        call()
    except kind as e:
        assert text in str(e), f"message {str(e)!r} lacks {text!r}"
    else:
        raise AssertionError(f"no {kind.__name__} ({text})")


@check
def bad_arguments_are_named(rank, size):
    x = md.zeros(2)
    expect_error(RuntimeError, "tensor_list has 1 tensors; expected", lambda: dist.all_gather([x], x))
    expect_error(RuntimeError, "invalid tensor size at index 1 of tensor_list",
                 lambda: dist.all_gather([x] + [md.zeros(3)] * (size - 1), x))
    expect_error(ValueError, "has dtype minidl.float64", lambda: dist.all_gather([x.double()] * size, x))
    expect_error(ValueError, "output tensor size must be equal to world_size times input tensor size",
                 lambda: dist.all_gather_into_tensor(md.zeros(3), x))
    expect_error(ValueError, "input tensor size must be equal to world_size times output tensor size",
                 lambda: dist.reduce_scatter_tensor(x, md.zeros(2 * size + 1)))
    expect_error(RuntimeError, f"invalid root rank: {size}", lambda: dist.broadcast(x, src=size))
    expect_error(TypeError, "Expected parameter `tensor` of type minidl.Tensor", lambda: dist.all_reduce([1.0]))
    expect_error(TypeError, "op must be a md.distributed.ReduceOp", lambda: dist.all_reduce(x, op="sum"))
    if rank == 0:
        expect_error(ValueError, "``gather_list`` must be specified on destination", lambda: dist.gather(x, None))
    else:
        expect_error(ValueError, "must NOT be specified on non-destination", lambda: dist.gather(x, [x] * size))
    expect_error(ValueError, "not a rank of the default group", lambda: dist.new_group([0, size]))


def main():
    dist.init_process_group(backend="mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    if os.environ.get("print_hosts"):  # tests/test_distributed_across_hosts.py: which host ran which rank
        say(f"HOST rank {rank} on {socket.gethostname()}")
    passed = failed = 0
    for fn in CHECKS:
        try:
            fn(rank, size)
            passed += 1
            say(f"PASS {fn.__name__}")
        except Exception as e:  # a failed check is reported, and the next one runs
            failed += 1
            say(f"FAIL {fn.__name__} (rank {rank}): {type(e).__name__}: {e}\n{traceback.format_exc()}")
        dist.barrier()
    dist.destroy_process_group()
    say(f"DONE {passed} {failed}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
