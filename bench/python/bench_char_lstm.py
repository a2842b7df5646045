"""Char-LSTM training throughput (characters per second): minidl vs PyTorch, same model, same data.

    PYTHONPATH=python python3 bench/python/bench_char_lstm.py [--steps 30] [--threads 1 2]
        [--hidden 256] [--layers 1] [--seq-len 64] [--batch-size 32]

The model is examples/train_char_lstm.py's (Embedding 64 -> LSTM -> Linear over the
103-character vocabulary), built for each library by the example's own ``build_model``; a
step is the example's truncated-BPTT step (state carried and detached, cross-entropy,
backward, clip_grad_norm_(1.0), Adam). Each library runs ``--steps`` steps after 3 warm-up
steps, on the same chunks of the pydoc text; throughput = batch * seq_len * steps / time.
A NumPy row is not meaningful here (NumPy has no autograd), so the comparison is with PyTorch.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_PROC_BIND", "close")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import minidl as md  # noqa: E402
from _common import machine_header, print_table  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def _example():
    spec = importlib.util.spec_from_file_location("train_char_lstm", HERE.parent.parent / "examples" / "train_char_lstm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def throughput(lib, ex, train, vocab_size, args) -> float:
    lib.manual_seed(0)
    model = ex.build_model(lib, vocab_size, 64, args.hidden, args.layers)
    opt = lib.optim.Adam(model.parameters(), lr=3e-3)
    F = lib.nn.functional
    state, pos = None, 0

    def step():
        nonlocal state, pos
        if pos + args.seq_len + 1 > train.shape[1]:
            pos, state = 0, None
        x = lib.tensor(train[:, pos:pos + args.seq_len])
        y = lib.tensor(train[:, pos + 1:pos + args.seq_len + 1])
        pos += args.seq_len
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()
    dt = time.perf_counter() - t0
    return args.batch_size * args.seq_len * args.steps / dt


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    print(machine_header(args.threads))
    import torch

    ex = _example()
    train_ids, _, vocab = ex.load_text()
    train = ex.streams(train_ids, args.batch_size)
    rows = []
    for threads in args.threads:
        md.set_num_threads(threads)
        torch.set_num_threads(threads)
        ours = throughput(md, ex, train, len(vocab), args)
        theirs = throughput(torch, ex, train, len(vocab), args)
        rows.append([threads, f"{args.hidden}x{args.layers}", round(ours), round(theirs), ours / theirs])
    print(f"char-LSTM training, batch {args.batch_size} x seq {args.seq_len}, {args.steps} steps "
          f"(load average {os.getloadavg()[0]:.1f})")
    print_table(["threads", "hidden x layers", "minidl chars/s", "torch chars/s", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
