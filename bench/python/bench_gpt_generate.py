"""GPT-2 generation tokens/s with the KV cache: minidl's ``GPT.generate`` against
``transformers``' ``GPT2LMHeadModel.generate`` on the same checkpoint (issue 17's benchmark).

    PYTHONPATH=python python3 bench/python/bench_gpt_generate.py [--threads 1 2] [--batch 1 8]
        [--repeat 5] [--new 128] [--prompt 32]

A GPT-2 of n_embd 256, 4 layers, 4 heads, vocab 8000, n_positions 256 is made by transformers
from a seeded config, saved with ``save_pretrained`` into a temporary folder, and loaded by
both: ``md.models.GPT.from_pretrained`` and ``transformers.GPT2LMHeadModel.from_pretrained``.
Greedy decoding of ``--new`` tokens after a ``--prompt``-token prompt, the cache on in both
(``use_cache=True``, ``do_sample=False``, no end-of-text token so every run makes all
``--new`` tokens). Both give the same tokens (checked before timing). The runs alternate
(:func:`paired_timeit`); medians. Columns: tokens/s (batch x new tokens / time) of each and
minidl / transformers (above 1: minidl faster).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import minidl as md  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from _common import machine_header, cpu_model, paired_timeit, print_table  # noqa: E402

CONFIG = dict(n_embd=256, n_layer=4, n_head=4, vocab_size=8000, n_positions=256)


def load_both(folder):
    """(minidl GPT, transformers GPT2LMHeadModel) with the weights of one saved checkpoint."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(**CONFIG, bos_token_id=None, eos_token_id=None, initializer_range=0.1)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    return md.models.GPT.from_pretrained(folder), theirs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--prompt", type=int, default=32)
    args = p.parse_args(argv)
    print(machine_header(args.threads))
    transformers.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as folder:
        mine, theirs = load_both(folder)

    def runs(batch):
        prompt = np.random.default_rng(batch).integers(0, CONFIG["vocab_size"], (batch, args.prompt))
        x, tx, mask = md.tensor(prompt), torch.tensor(prompt), torch.ones(batch, args.prompt, dtype=torch.long)

        def ours():
            return mine.generate(x, args.new, temperature=0).numpy()

        def transformers_generate():
            with torch.no_grad():
                return theirs.generate(tx, attention_mask=mask, max_new_tokens=args.new, do_sample=False,
                                       use_cache=True, pad_token_id=0).numpy()
        return ours, transformers_generate

    for batch in args.batch:
        a, b = (f() for f in runs(batch))
        assert np.array_equal(a, b), f"batch {batch}: minidl and transformers generate different tokens"

    print(f"CPU: {cpu_model()}; minidl kernels: {md.backend.name}; torch {torch.__version__}; "
          f"transformers {transformers.__version__}")
    print(f"GPT-2 {CONFIG}, greedy with the KV cache, prompt {args.prompt}, {args.new} new tokens; "
          f"median of {args.repeat}; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rows = []
    for n in args.threads:
        md.set_num_threads(n)
        torch.set_num_threads(n)
        for batch in args.batch:
            t_md, t_hf = paired_timeit(list(runs(batch)), repeat=args.repeat)
            tokens = batch * args.new
            rows.append([n, batch, tokens / t_md, tokens / t_hf, t_hf / t_md])
    print_table(["threads", "batch", "minidl tok/s", "transformers tok/s", "minidl/transformers"], rows)
    return rows


if __name__ == "__main__":
    main()
