"""``python -m minidl.labs [name] [--quick] [--out DIR] [--no-progress]``: run an interview lab, or list them.

``python -m minidl.labs --help`` lists every lab with its expected running time (quick and
full mode); ``python -m minidl.labs NAME --help`` adds that lab's question and answer.
"""
from __future__ import annotations

import argparse
import sys

from . import LABS, _module, list_labs, run, runtime


def _lab_table() -> str:
    lines = ["labs and their expected running times on 2 idle cores (quick / full mode; a busy machine is slower):"]
    lines += [f"  {name:<16} {runtime(name)}" for name in LABS]
    return "\n".join(lines)


class _HelpAction(argparse.Action):
    """``--help``: the usual help; after a lab's name, that lab's docstring and running time too."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        name = getattr(namespace, "name", None)
        if name in LABS:
            print(f"\nlab {name} ({runtime(name)}):\n")
            print((_module(name).__doc__ or "").strip())
        parser.exit()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minidl.labs", add_help=False,
                                description="Interview labs: questions answered with numbers.",
                                epilog=_lab_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="lab to run (omit to list the labs)")
    p.add_argument("-h", "--help", action=_HelpAction, help="show this help (after NAME: that lab's too) and exit")
    p.add_argument("--quick", action="store_true", help="small, fast version (seconds)")
    p.add_argument("--out", default=None, help="directory for <lab>.png (default: current directory)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (still prints what it does)")
    args = p.parse_args(argv)
    if args.name is None:
        print("available labs (python -m minidl.labs <name> [--quick] [--out DIR] [--no-progress]):")
        for name, desc in list_labs().items():
            print(f"  {name:<16} {desc}  [{runtime(name)}]")
        return 0
    if args.name not in LABS:
        print(f"unknown lab {args.name!r}; available: {', '.join(sorted(LABS))}", file=sys.stderr)
        return 2
    res = run(args.name, quick=args.quick, out=args.out, seed=args.seed, progress=not args.no_progress)
    if res.get("png"):
        print(f"figure: {res['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
