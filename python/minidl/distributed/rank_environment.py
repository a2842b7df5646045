"""The first program of every rank that ``python -m minidl.distributed.run`` starts: it sets
torchrun's environment variables from the MPI launcher's, then replaces itself with the script.

PyTorch programs written for ``torchrun`` read ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (the rank
among the processes of this machine, e.g. to pick a GPU or a data shard on local disk) and
``LOCAL_WORLD_SIZE`` from the environment, often before ``init_process_group``. MPI launchers set
the same facts under their own names: Hydra (MPICH) ``PMI_RANK``, ``PMI_SIZE``, ``MPI_LOCALRANKID``,
``MPI_LOCALNRANKS``; Open MPI ``OMPI_COMM_WORLD_RANK``, ``_SIZE``, ``_LOCAL_RANK``, ``_LOCAL_SIZE``.

Run by path (``python .../rank_environment.py [-m minidl.run] SCRIPT.py ARGS``), not as
``-m minidl.distributed.rank_environment``: it imports nothing of minidl, so a rank starts the
interpreter once more (~20 ms) but imports minidl only once, in the script.
"""
from __future__ import annotations

import os
import sys

#: torchrun's name -> the names MPI launchers use for it, in the order they are looked up
LAUNCHER_NAMES = {
    "RANK": ("PMI_RANK", "OMPI_COMM_WORLD_RANK"),
    "WORLD_SIZE": ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"),
    "LOCAL_RANK": ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK"),
    "LOCAL_WORLD_SIZE": ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE"),
}


def torchrun_environment(environ) -> dict:
    """torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) with the values the
    MPI launcher put in ``environ``; those it did not set are left out.

    >>> from minidl.distributed.rank_environment import torchrun_environment
    >>> torchrun_environment({"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"})
    {'RANK': '3', 'WORLD_SIZE': '4', 'LOCAL_RANK': '1', 'LOCAL_WORLD_SIZE': '2'}
    >>> torchrun_environment({"HOME": "/root"})
    {}
    """
    found = {}
    for name, sources in LAUNCHER_NAMES.items():
        value = next((environ[s] for s in sources if s in environ), None)
        if value is not None:
            found[name] = value
    return found


def main(argv) -> None:
    """Set torchrun's variables in this process's environment, then exec ``python ARGV``."""
    if not argv:
        raise SystemExit("rank_environment.py: give the command to run: [-m minidl.run] SCRIPT.py [ARGS]")
    os.environ.update(torchrun_environment(os.environ))
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
