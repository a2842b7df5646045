"""Train a character-level GPT on real English text that ships with Python, then sample from it.

    python examples/train_char_gpt.py [--steps 2000] [--block 64] [--batch 32] [--layers 4] [--d-model 128]
    python examples/train_char_gpt.py --torch          # the same model file on PyTorch (throughput comparison)
    python examples/train_char_gpt.py --amp bf16       # forward under md.autocast (fp16: + md.amp.GradScaler)

Text: the prose of Python's own documentation topics (``md.datasets.text_corpus("pydoc")``,
~0.47 MB, always present). Model: ``md.models.GPT`` (token + learned position embeddings,
pre-norm blocks with causal self-attention, tied output weights). AdamW with warmup and
cosine decay, gradient clipping at 1. Prints the validation loss (nats and bits per
character), the training throughput in tokens/s, and a sample generated with temperature
0.8 and top-k 20. A character model that has learnt nothing scores ln(vocab) = ~4.6 nats;
after the default 2000 steps (~80 s on 2 cores) it is at ~1.22 (measured 1.219 nats = 1.76
bits/char; 1.81 after 300 steps) and samples read like English-ish Python documentation.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import time

import numpy as np

import minidl as md

try:
    from tqdm import tqdm
except ImportError:  # the progress bar is optional
    def tqdm(it, **kwargs):
        return it


def backend(use_torch: bool):
    """(tensor library, its nn, md.models built on it): minidl itself or the PyTorch twin."""
    if use_torch:
        import torch
        return torch, torch.nn, md.models.build(torch.nn)
    return md, md.nn, md.models


def amp_context(lib, amp):
    if amp is None:
        return contextlib.nullcontext()
    return lib.autocast(device_type="cpu", dtype={"bf16": lib.bfloat16, "fp16": lib.float16}[amp])


def load_text(val_fraction=0.1):
    text = md.datasets.text_corpus("pydoc")
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    data = np.array([lookup[c] for c in text], dtype=np.int64)
    n_val = int(len(data) * val_fraction)
    return data[:-n_val], data[-n_val:], chars


def get_batch(data, block, batch, rng):
    starts = rng.integers(0, len(data) - block - 1, batch)
    x = np.stack([data[s:s + block] for s in starts])
    y = np.stack([data[s + 1:s + 1 + block] for s in starts])
    return x, y


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--sample-chars", type=int, default=300)
    p.add_argument("--torch", action="store_true", help="run the same model on PyTorch")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="autocast the forward pass")
    args = p.parse_args(argv)

    lib, nn, models = backend(args.torch)
    F = nn.functional
    if args.threads:
        lib.set_num_threads(args.threads)
    train, val, chars = load_text()
    vocab = len(chars)
    lib.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = models.GPT(vocab, args.block, d_model=args.d_model, nhead=args.heads, num_layers=args.layers)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{'torch' if args.torch else 'minidl'}: GPT {args.layers} layers, d_model {args.d_model}, "
          f"{n_params / 1e6:.2f}M parameters, vocab {vocab}, {len(train):,} training characters")

    opt = lib.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95))
    warmup = max(1, args.steps // 10)
    sched = lib.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup
        else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, args.steps - warmup))))
    scaler = lib.amp.GradScaler("cpu") if args.amp == "fp16" else None

    def loss_of(x, y):
        with amp_context(lib, args.amp):
            logits = model(lib.tensor(x))
            return F.cross_entropy(logits.reshape(-1, vocab).float(), lib.tensor(y).reshape(-1))

    model.train()
    tokens, train_time, losses = 0, 0.0, []
    bar = tqdm(range(args.steps), desc="char-GPT", unit="step")
    for step in bar:
        x, y = get_batch(train, args.block, args.batch, rng)
        t0 = time.perf_counter()
        loss = loss_of(x, y)
        opt.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        sched.step()
        if step > 0:  # the first step pays one-off costs (allocations, thread start)
            train_time += time.perf_counter() - t0
            tokens += x.size
        losses.append(loss.item())
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{losses[-1]:.3f}")

    model.eval()
    val_rng = np.random.default_rng(12345)  # the same validation batches for every run
    with lib.no_grad():
        val_loss = float(np.mean([loss_of(*get_batch(val, args.block, 64, val_rng)).item() for _ in range(8)]))
    tok_s = tokens / train_time if train_time > 0 else float("nan")
    prompt = "The "
    idx = lib.tensor(np.array([[chars.index(c) for c in prompt]], dtype=np.int64))
    lib.manual_seed(args.seed)
    out = model.generate(idx, args.sample_chars, temperature=0.8, top_k=20)
    sample = "".join(chars[i] for i in out[0].tolist())
    print(f"\n--- sample (temperature 0.8, top-k 20) ---\n{sample}\n---")
    print(f"train loss (last 20 steps) {np.mean(losses[-20:]):.3f}, validation loss {val_loss:.3f} nats "
          f"= {val_loss / math.log(2):.3f} bits/char (uniform: {math.log(vocab):.2f} nats)")
    print(f"throughput: {tok_s:,.0f} tokens/s ({'torch' if args.torch else 'minidl'}, "
          f"{lib.get_num_threads()} threads, amp {args.amp or 'off'})")
    return {"val_loss": val_loss, "tokens_per_s": tok_s, "sample": sample, "first_loss": losses[0],
            "vocab": vocab}


if __name__ == "__main__":
    main()
