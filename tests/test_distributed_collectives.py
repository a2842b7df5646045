"""md.distributed over MPI (issue 19 items 1 and 3): every collective against NumPy on 2 and 3
ranks (tests/mpi_workers/collectives_worker.py: every ReduceOp, odd sizes, bfloat16/float16,
async handles, sub-groups, named errors), the launcher wrapper, a PyTorch program's
``torch.distributed``, and a failing rank ending the launch. The checks that need no second
process run here, in the test process (MPI started as a single process: a world of one)."""
from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from conftest import require
from _mpi_launch import run_worker

import minidl as md
import minidl.distributed as dist


def _worker_passed(result, nproc):
    assert result.returncode == 0, result.stdout
    done = re.findall(r"DONE (\d+) (\d+)", result.stdout)
    assert len(done) == nproc and all(failed == "0" for _, failed in done), result.stdout
    assert int(done[0][0]) >= 13, result.stdout  # every check ran


@pytest.mark.slow  # an MPI launch: 1.5-7 s on 2 busy cores
def test_collectives_match_numpy_on_2_ranks_started_by_the_wrapper():
    """python -m minidl.distributed.run --nproc 2 (mpiexec underneath) runs all the checks."""
    result, _ = run_worker("collectives_worker.py", 2, via_wrapper=True)
    _worker_passed(result, 2)


@pytest.mark.slow  # an MPI launch: 1.5-7 s on 2 busy cores
def test_collectives_match_numpy_on_3_ranks():
    """3 ranks: odd group sizes, a sub-group that leaves a rank out, ring send/recv."""
    result, _ = run_worker("collectives_worker.py", 3)
    _worker_passed(result, 3)


@pytest.mark.slow  # an MPI launch: 1.5-7 s on 2 busy cores
def test_an_uncaught_exception_on_one_rank_ends_every_rank():
    """Rank 1 raises while rank 0 waits in a barrier: the launch ends with an error, soon."""
    result, seconds = run_worker("abort_worker.py", 2, timeout=60)
    assert result.returncode != 0, result.stdout
    assert "RuntimeError: rank 1 fails on purpose" in result.stdout  # the traceback is printed
    assert "aborting all 2 ranks" in result.stdout
    assert "passed the barrier" not in result.stdout
    assert seconds < 30, f"the launch took {seconds:.1f} s to end"


@pytest.mark.slow  # an MPI launch: 1.5-7 s on 2 busy cores
def test_a_pytorch_program_runs_on_minidl_with_torch_distributed():
    """import torch.distributed, backend="gloo", init_method="env://": unchanged, on minidl."""
    result, _ = run_worker("torch_program.py", 2, torch=True)
    assert result.returncode == 0, result.stdout
    # the launcher forwards each rank's output as it comes: two lines may share one
    lines = sorted(re.findall(r"rank \d of 2: [^\n]*?\]", result.stdout))
    assert lines == [f"rank {r} of 2: backend gloo, library minidl, mean grad [1.5, 1.5, 1.5]" for r in (0, 1)], \
        result.stdout



# --- in this process: a world of one ------------------------------------------------------------

@pytest.fixture
def world_of_one():
    require("mpi4py")
    dist.init_process_group()
    yield
    dist.destroy_process_group()


def test_a_collective_before_init_process_group_raises_pytorchs_message():
    assert not dist.is_initialized()
    message = "Default process group has not been initialized, please make sure to call init_process_group."
    for call in (lambda: dist.all_reduce(md.ones(2)), dist.get_rank, dist.get_world_size, dist.barrier,
                 lambda: dist.new_group([0]), lambda: dist.broadcast(md.ones(2), 0)):
        with pytest.raises(ValueError, match=re.escape(message)):
            call()


def test_init_process_group_checks_what_it_is_given():
    require("mpi4py")
    with pytest.raises(RuntimeError, match="Distributed package doesn't have NCCL built in"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match=r"init_process_group\(rank=3\): this process is rank 0 of the MPI launch"):
        dist.init_process_group(rank=3)
    with pytest.raises(ValueError, match=r"world_size=4\): the MPI launch started 1 processes"):
        dist.init_process_group(world_size=4)
    with pytest.raises(ValueError, match="minidl takes rank and world size from the MPI launch"):
        dist.init_process_group(init_method="tcp://10.0.0.1:23456")
    with pytest.raises(ValueError, match="Invalid backend: 'ucc'"):
        dist.init_process_group("ucc")
    assert not dist.is_initialized()  # none of them left a half-made group
    dist.init_process_group("GLOO", init_method="env://", rank=0, world_size=1)
    try:
        assert dist.get_backend() == "gloo" and type(dist.get_backend()) is str
        assert dist.GroupMember.WORLD is not None and sys.excepthook is not sys.__excepthook__
    finally:
        dist.destroy_process_group()
    assert dist.GroupMember.WORLD is None and not dist.is_initialized()


def test_destroy_process_group_gives_back_the_excepthook(world_of_one):
    hook = sys.excepthook
    assert hook.__name__ == "_abort_all_ranks"
    dist.destroy_process_group()
    assert sys.excepthook is not hook
    dist.init_process_group()  # for the fixture to destroy


def test_async_handle_of_a_world_of_one(world_of_one):
    x = md.arange(5.)
    work = dist.all_reduce(x, op=dist.ReduceOp.AVG, async_op=True)
    assert isinstance(work, dist.Work) and work.wait() is True and work.is_completed() and work.is_success()
    assert work.exception() is None and work.result()[0] is x and x.tolist() == [0., 1., 2., 3., 4.]


def test_avg_of_an_integer_or_bool_tensor_raises_pytorchs_error(world_of_one):
    for x, kind in ((md.tensor([1, 2]), "Long"), (md.tensor([True]), "Bool")):
        with pytest.raises(RuntimeError, match=f"result type Float can't be cast to the desired output type {kind}"):
            dist.all_reduce(x, op=dist.ReduceOp.AVG)


def test_a_read_only_view_is_refused(world_of_one):
    with pytest.raises(RuntimeError, match="read-only"):
        dist.all_reduce(md.ones(1).expand(3))


def test_without_mpi4py_init_raises_an_import_error_naming_the_extra(monkeypatch):
    from minidl.distributed import mpi_library
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if not installed
    monkeypatch.setattr(mpi_library, "_loaded", [])  # as in a process that has not imported it yet
    assert dist.is_available() is False
    with pytest.raises(ImportError, match=re.escape('pip install "minidl[distributed]"')):
        dist.init_process_group()


def test_distributed_sampler_without_mpi4py_names_the_extra(monkeypatch):
    from minidl.distributed import mpi_library
    from minidl.utils.data import DistributedSampler
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(mpi_library, "_loaded", [])
    with pytest.raises(RuntimeError, match=re.escape('Requires distributed package to be available (pip install '
                                                     '"minidl[distributed]"')):
        DistributedSampler(range(4))
    assert len(list(DistributedSampler(range(4), num_replicas=2, rank=0))) == 2  # given both: no MPI needed


def test_the_launcher_without_mpiexec_names_the_extra(monkeypatch, tmp_path):
    from minidl.distributed import run
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(run.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(SystemExit, match=re.escape('pip install "minidl[distributed]"')):
        run.main(["--nproc", "2", "train.py"])


def test_torch_distributed_is_md_distributed_under_the_alias():
    from minidl.torch_alias import TorchAliasFinder
    assert TorchAliasFinder().find_spec("torch.distributed").loader.module is dist
    assert md.distributed is dist
    assert dist.is_available() is (importlib.util.find_spec("mpi4py") is not None)


def test_object_collectives_and_rank_helpers_name_bad_arguments(world_of_one):
    with pytest.raises(ValueError, match=r"object_list has 2 entries; it must be sized as the group \(1\)"):
        dist.all_gather_object([None, None], 1)
    with pytest.raises(TypeError, match="object_list must be a list, got tuple"):
        dist.broadcast_object_list((1, 2), src=0)
    with pytest.raises(ValueError, match="``object_gather_list`` must be specified on destination rank"):
        dist.gather_object(1, None, dst=0)
    with pytest.raises(ValueError, match="scatter_object_output_list to be a list of size at least 1"):
        dist.scatter_object_list([], [1], src=0)
    with pytest.raises(ValueError, match="Group rank 1 is not part of group"):
        dist.get_global_rank(None, 1)
    with pytest.raises(ValueError, match="Global rank 3 is not part of group"):
        dist.get_group_rank(None, 3)
    assert dist.is_nccl_available() is False and dist.is_mpi_available() and dist.is_gloo_available()
