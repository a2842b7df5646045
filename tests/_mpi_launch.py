"""Starting an MPI launch from a test: mpiexec (or minidl's wrapper) with a time limit, so a
hang fails the test instead of the CI run. MPI start-up costs ~0.3 s per launch on this machine,
so each test file launches a worker script that runs many checks (tests/mpi_workers/)."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
import time

import pytest

from conftest import require

WORKERS = pathlib.Path(__file__).resolve().parent / "mpi_workers"
# the folder holding the minidl this test process imports (site-packages in CI, python/ in a
# checkout built in place): the ranks must import the same one
PYTHON_DIR = pathlib.Path(importlib.util.find_spec("minidl").origin).parent.parent


def mpi_env(**extra) -> dict:
    """The environment of the ranks: this process's minidl importable, one thread each."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PYTHON_DIR), env.get("PYTHONPATH", "")) if p)
    return env


def mpiexec() -> str:
    """The launcher minidl.distributed.run would use; the test skips (naming the extra) if none."""
    require("mpi4py")
    from minidl.distributed.run import find_mpiexec
    try:
        return find_mpiexec()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def launch(command, timeout: float, env=None):
    """Run ``command``; (CompletedProcess, seconds). A launch that outlives ``timeout`` is killed
    (its whole process group: mpiexec and the ranks) and fails the test with what it printed."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env or mpi_env(), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(map(str, command))} still ran after {timeout} s (a hang); it printed:\n{out}")
    return subprocess.CompletedProcess(command, proc.returncode, out, None), time.perf_counter() - start


def run_worker(name: str, nproc: int, timeout: float = 120, via_wrapper: bool = False, torch: bool = False,
               args=(), env=None):
    """tests/mpi_workers/<name> on ``nproc`` ranks, by mpiexec or by ``python -m minidl.distributed.run``
    (``torch``: its ``--torch``, import torch = minidl)."""
    script = str(WORKERS / name)
    if via_wrapper or torch:
        mpiexec()  # skips without MPI
        command = [sys.executable, "-m", "minidl.distributed.run", "--nproc", str(nproc),
                   *(["--torch"] if torch else []), script, *args]
    else:
        command = [mpiexec(), "-n", str(nproc), sys.executable, script, *args]
    return launch(command, timeout, env)
