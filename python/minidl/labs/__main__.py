"""``python -m minidl.labs [name] [--quick] [--out DIR]``: run an interview lab, or list them."""
from __future__ import annotations

import argparse
import sys

from . import LABS, list_labs, run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minidl.labs",
                                description="Interview labs: questions answered with numbers.")
    p.add_argument("name", nargs="?", help="lab to run (omit to list the labs)")
    p.add_argument("--quick", action="store_true", help="small, fast version (seconds)")
    p.add_argument("--out", default=None, help="directory for <lab>.png (default: current directory)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.name is None:
        print("available labs (python -m minidl.labs <name> [--quick] [--out DIR]):")
        for name, desc in list_labs().items():
            print(f"  {name:<12} {desc}")
        return 0
    if args.name not in LABS:
        print(f"unknown lab {args.name!r}; available: {', '.join(sorted(LABS))}", file=sys.stderr)
        return 2
    res = run(args.name, quick=args.quick, out=args.out, seed=args.seed)
    if res.get("png"):
        print(f"figure: {res['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
