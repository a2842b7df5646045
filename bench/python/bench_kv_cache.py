"""GPT generation tokens/s with and without the KV cache, minidl and the same model on PyTorch.

    PYTHONPATH=python python3 bench/python/bench_kv_cache.py [--threads 1 2] [--repeat 3]
        [--new 120] [--prompt 8]

``md.models.GPT(vocab 103, block 256, d_model 128, 4 layers, 4 heads)`` (the char-GPT of
examples/train_char_gpt.py with a longer context) and its twin built from the same file on
``torch.nn`` (``minidl.models.build(torch.nn).GPT``, weights copied), greedy generation of
``--new`` tokens after a ``--prompt``-token prompt, batch 1: ``generate(use_cache=True)``
(each step runs one token against the cached keys and values) against
``generate(use_cache=False)`` (each step recomputes the whole prefix). Both give the same
tokens (checked before timing). The four runs alternate (:func:`paired_timeit`); medians.

Columns: tokens/s of each, the cache's speed-up, and minidl / PyTorch speed with the cache.
The torch column runs this project's cache code on torch ops, not ``transformers``' own
``generate``: bench_gpt_generate.py compares against ``transformers`` on one GPT-2 checkpoint.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)

import minidl as md  # noqa: E402
import torch  # noqa: E402

from _common import machine_header, cpu_model, paired_timeit, print_table  # noqa: E402

CONFIG = dict(vocab=103, block=256, d_model=128, num_layers=4, nhead=4)


def make_models():
    c = dict(CONFIG)
    vocab, block = c.pop("vocab"), c.pop("block")
    md.manual_seed(0)
    mine = md.models.GPT(vocab, block, **c).eval()
    theirs = md.models.build(torch.nn).GPT(vocab, block, **c).eval()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mine.state_dict().items()})
    return mine, theirs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--new", type=int, default=120)
    p.add_argument("--prompt", type=int, default=8)
    args = p.parse_args(argv)
    print(machine_header(args.threads))
    mine, theirs = make_models()
    prompt = np.random.default_rng(0).integers(0, CONFIG["vocab"], (1, args.prompt))
    runs = {(lib, cache): (lambda m=m, x=x, cache=cache: m.generate(x, args.new, temperature=0, use_cache=cache))
            for lib, m, x in (("minidl", mine, md.tensor(prompt)), ("torch", theirs, torch.tensor(prompt)))
            for cache in (True, False)}
    outs = [f().numpy() for f in runs.values()]
    assert all(np.array_equal(outs[0], o) for o in outs), "cached and full generation disagree"

    print(f"CPU: {cpu_model()}; minidl kernels: {md.backend.name}; torch {torch.__version__}")
    print(f"GPT {CONFIG}, greedy, batch 1, prompt {args.prompt}, {args.new} new tokens; "
          f"median of {args.repeat}; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rows = []
    for n in args.threads:
        md.set_num_threads(n)
        torch.set_num_threads(n)
        times = dict(zip(runs, paired_timeit(list(runs.values()), repeat=args.repeat)))
        tps = {k: args.new / t for k, t in times.items()}
        rows.append([n, tps["minidl", True], tps["minidl", False], tps["minidl", True] / tps["minidl", False],
                     tps["torch", True], tps["torch", False], tps["torch", True] / tps["torch", False],
                     tps["minidl", True] / tps["torch", True]])
    print_table(["threads", "md cache tok/s", "md no cache", "md speed-up", "torch cache tok/s", "torch no cache",
                 "torch speed-up", "md/torch (cache)"], rows)
    return rows


if __name__ == "__main__":
    main()
