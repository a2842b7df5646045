"""``python -m minidl.distributed.run --nproc N [--hosts a,b] [--torch] SCRIPT.py [ARGS...]``:
start N processes of SCRIPT under MPI's own launcher.

A thin wrapper: it replaces itself (``os.execv``) with

    mpiexec -n N [-hosts a,b] PYTHON .../rank_environment.py [-m minidl.run] SCRIPT.py ARGS...

where ``mpiexec`` is the one installed next to this Python (the ``mpich`` wheel of
``pip install "minidl[distributed]"`` puts it there) or else the first on PATH, and PYTHON is this
interpreter. minidl has no process manager of its own: MPI's (Hydra for MPICH) starts, wires up
and tears down the ranks, on one machine or many. ``--torch`` runs the script as
``python -m minidl.run`` does, so a PyTorch program's ``import torch.distributed`` is minidl's.
Each rank first sets torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``
from the MPI launcher's variables (``rank_environment.py``), then runs the script.

    python -m minidl.distributed.run --nproc 2 examples/train_ddp.py --epochs 1
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys

RANK_ENVIRONMENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rank_environment.py")
MISSING_LAUNCHER = ('minidl.distributed.run: no mpiexec next to {python} nor on PATH: '
                    'pip install "minidl[distributed]" (installs mpi4py and mpich, which brings mpiexec)')


def find_mpiexec(python=None, path=None) -> str:
    """The MPI launcher to use: ``mpiexec`` in the folder of ``python`` (a virtual environment's
    bin/; default: this interpreter), else the first on ``path`` (default: $PATH); a FileNotFoundError naming the extra if none.

    >>> from minidl.distributed.run import find_mpiexec
    >>> find_mpiexec(python="/nonexistent/bin/python", path="/nonexistent")
    Traceback (most recent call last):
    FileNotFoundError: minidl.distributed.run: no mpiexec next to /nonexistent/bin/python nor on PATH: pip install "minidl[distributed]" (installs mpi4py and mpich, which brings mpiexec)
    """
    python = python or sys.executable
    beside = os.path.join(os.path.dirname(os.path.abspath(python)), "mpiexec")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("mpiexec", path=path)
    if found is None:
        raise FileNotFoundError(MISSING_LAUNCHER.format(python=python))
    return found


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minidl.distributed.run",
                                description="Start N ranks of a script with MPI's launcher (mpiexec).")
    p.add_argument("--nproc", "--nproc-per-node", "--nproc_per_node", type=int, required=True, dest="nproc",
                   help="number of processes (ranks) to start")
    p.add_argument("--hosts", default=None, help="comma-separated host names (mpiexec -hosts): ranks across machines")
    p.add_argument("--torch", action="store_true", help="run the script with import torch = minidl (minidl.run)")
    p.add_argument("script", help="the Python script every rank runs")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    return p


def build_command(argv, python=None, mpiexec=None) -> list:
    """The mpiexec command line ``main(argv)`` runs, as a list.

    >>> from minidl.distributed.run import build_command
    >>> build_command(["--nproc", "2", "train.py", "--lr", "0.1"], python="python", mpiexec="mpiexec")
    ['mpiexec', '-n', '2', 'python', '.../minidl/distributed/rank_environment.py', 'train.py', '--lr', '0.1']
    >>> build_command(["--nproc", "8", "--hosts", "a,b", "--torch", "t.py"], python="python", mpiexec="mpiexec")
    ['mpiexec', '-n', '8', '-hosts', 'a,b', 'python', '.../rank_environment.py', '-m', 'minidl.run', 't.py']
    """
    python = python or sys.executable
    ns = _parser().parse_args(argv)
    if ns.nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {ns.nproc}")
    command = [mpiexec or find_mpiexec(python), "-n", str(ns.nproc)]
    if ns.hosts:
        command += ["-hosts", ns.hosts]
    command += [python, RANK_ENVIRONMENT]
    if ns.torch:
        command += ["-m", "minidl.run"]
    return command + [ns.script] + list(ns.args)


def main(argv=None) -> None:
    """Replace this process with ``build_command(argv)`` (mpiexec starting the ranks).

    >>> from minidl.distributed.run import main
    >>> main(["--nproc", "0", "x.py"])
    Traceback (most recent call last):
    SystemExit: python -m minidl.distributed.run: --nproc must be at least 1, got 0
    """
    try:
        command = build_command(sys.argv[1:] if argv is None else argv)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"python -m minidl.distributed.run: {e}".replace("run: minidl.distributed.run: ", "run: "))
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
