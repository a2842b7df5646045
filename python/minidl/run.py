"""``python -m minidl.run SCRIPT.py [ARGS...]``: run an unmodified PyTorch program on minidl.

The program's ``import torch`` (and ``torch.nn``, ``torch.optim``, ``torch.utils.data`` ...)
gets minidl (see ``minidl/torch_alias.py``); then the script runs as ``python SCRIPT.py
ARGS`` would run it: ``sys.argv`` is ``[SCRIPT.py, ARGS...]``, its folder is first on
``sys.path``, and it runs as ``__main__``. Where the program uses something minidl lacks, it
stops there with an error that says so.

    python -m minidl.run tests/programs/char_mlp.py --steps 200
"""
from __future__ import annotations

import os
import runpy
import sys

from .torch_alias import install_torch_alias


def main(argv=None) -> None:
    """Run ``argv[0]`` (a script path) with ``argv[1:]`` as its arguments, torch -> minidl.

    >>> import os, subprocess, sys, tempfile
    >>> script = os.path.join(tempfile.mkdtemp(), "prog.py")
    >>> with open(script, "w") as f:
    ...     _ = f.write("import torch\\nprint(torch.__name__, torch.tensor([1., 2.]).sum().item())\\n")
    >>> subprocess.run([sys.executable, "-m", "minidl.run", script], capture_output=True,
    ...                text=True).stdout.splitlines()[-1]
    'minidl 3.0'
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        raise SystemExit(0 if argv else 2)
    script = argv[0]
    if not os.path.isfile(script):
        raise SystemExit(f"minidl.run: no such script: {script}")
    # --8<-- [start:run_body]
    install_torch_alias()
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    # --8<-- [end:run_body]


if __name__ == "__main__":
    main()
