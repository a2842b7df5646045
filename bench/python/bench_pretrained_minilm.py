"""all-MiniLM-L6-v2 sentence embeddings on minidl vs sentence-transformers on PyTorch, and the
cost of loading the checkpoint (issue 17).

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_pretrained_minilm.py
        [--threads 1 2] [--repeat 5] [--loads 3] [--skip-load]

Throughput: ``encode`` of 32 sentences of more than 128 tokens each, cut to 128 tokens
(``max_seq_length = 128`` on both sides), so every batch is (32, 128) with no padding:
tokenizer + 6 encoder layers + mean pooling + L2 normalisation, end to end, under no_grad.
minidl: ``md.models.SentenceEncoder.encode``; PyTorch: ``SentenceTransformer.encode``
(transformers' BertModel). fp32, and bf16 with each library's autocast around encode. The
four runs take turns (paired_timeit); sentences/s = 32 / median time. Ratios: minidl's
sentences/s over PyTorch's at the same precision (> 1: minidl faster), and minidl bf16 over
minidl fp32. Targets: minidl fp32 >= PyTorch fp32; minidl bf16 >= 1.5 x minidl fp32.

Load: ``md.models.BertModel.from_pretrained`` vs ``transformers.BertModel.from_pretrained``,
each in a fresh subprocess: seconds for the call, and the growth of the peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) from after the imports to after the load, and
to after one small forward pass (minidl's weights are copy-on-write views of the memory-mapped
file: a page counts once something reads it, which the forward does for every weight).
Medians over --loads subprocesses.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import machine_header, cpu_model, paired_timeit, print_table, run_child, unpin  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BATCH, SEQ = 32, 128

# measured in a fresh interpreter: the imports are done before the baseline is read
LOAD_CHILD = r"""
import json, resource, sys, time
lib, folder = sys.argv[1], sys.argv[2]
if lib == "minidl":
    import minidl as md
    load = md.models.BertModel.from_pretrained
    def forward(model):
        with md.no_grad():
            model(md.ones(1, 8, dtype=md.int64))
else:
    import torch, transformers
    load = lambda f: transformers.BertModel.from_pretrained(f).eval()
    def forward(model):
        with torch.no_grad():
            model(torch.ones(1, 8, dtype=torch.int64))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
model = load(folder)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
forward(model)  # touches every weight (minidl's are memory-mapped: read from the file when used)
used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "mib": (peak - base) / 1024, "used_mib": (used - base) / 1024}))
"""


def sentences(n: int = BATCH) -> list:
    """n different English-looking texts of well over 128 WordPiece tokens each."""
    words = ("the model reads every sentence and maps it to a vector whose direction carries its meaning "
             "so that similar sentences point the same way while unrelated ones stay apart in the space").split()
    return [" ".join(words[(i * 7 + j) % len(words)] for j in range(160)) + f" number {i}" for i in range(n)]


def throughput(threads, repeat, folder):
    import minidl as md
    import torch
    from sentence_transformers import SentenceTransformer
    enc = md.models.SentenceEncoder.from_pretrained(folder)
    st = SentenceTransformer(folder, device="cpu")
    enc.max_seq_length = st.max_seq_length = SEQ
    texts = sentences()
    assert tuple(enc.tokenizer(texts, max_length=SEQ)["input_ids"].shape) == (BATCH, SEQ)

    def md_fp32():
        enc.encode(texts, batch_size=BATCH)

    def md_bf16():
        with md.autocast("cpu", dtype=md.bfloat16):
            enc.encode(texts, batch_size=BATCH)

    def torch_fp32():
        st.encode(texts, batch_size=BATCH)

    def torch_bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            st.encode(texts, batch_size=BATCH)

    rows = []
    for n in threads:
        md.set_num_threads(n)
        torch.set_num_threads(n)
        t = paired_timeit([md_fp32, md_bf16, torch_fp32, torch_bf16], repeat=repeat, warmup=1)
        rate = [BATCH / x for x in t]
        rows.append([n, rate[0], rate[1], rate[2], rate[3], rate[0] / rate[2], rate[1] / rate[3], rate[1] / rate[0]])
    print(f"\nsentence embeddings/s, batch {BATCH} x {SEQ} tokens (medians of {repeat} paired runs)")
    print_table(["threads", "minidl fp32", "minidl bf16", "torch fp32", "torch bf16", "md/torch fp32",
                 "md/torch bf16", "md bf16/fp32"], rows)


def load_cost(loads, folder):
    rows = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.path.join(HERE, "..", "..", "python"),
                                                                   os.environ.get("PYTHONPATH")]))}
    for lib in ("minidl", "transformers"):
        runs = []
        for _ in range(loads):
            out = run_child([sys.executable, "-c", LOAD_CHILD, lib, folder], env=env, capture_output=True,
                            text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        rows.append([lib] + [statistics.median(r[k] for r in runs) for k in ("seconds", "mib", "used_mib")])
    print(f"\nfrom_pretrained (fresh subprocess each, median of {loads})")
    print_table(["library", "load s", "peak RSS growth MiB", "after 1 forward MiB"], rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--loads", type=int, default=3)
    p.add_argument("--skip-load", action="store_true")
    args = p.parse_args()
    unpin()
    print(machine_header(args.threads))
    from minidl.models.hf_checkpoint import pretrained_folder
    folder = pretrained_folder()
    print(f"CPU: {cpu_model()}; OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '(unset)')}")
    if not args.skip_load:
        load_cost(args.loads, folder)
    throughput(args.threads, args.repeat, folder)


if __name__ == "__main__":
    main()
