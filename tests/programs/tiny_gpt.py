"""A small GPT (decoder-only Transformer) on characters, written as a PyTorch user writes it
(nanoGPT style): a causal mask from torch.tril, AdamW with weight decay on the matrices only,
a warmup + cosine learning-rate schedule, and top-k sampling with torch.multinomial.

    python tiny_gpt.py --steps 200
"""
import argparse
import contextlib
import io
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

with contextlib.redirect_stdout(io.StringIO()):
    from _text import TEXT

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=200)
args = p.parse_args()

torch.manual_seed(0)
rng = np.random.default_rng(0)
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in TEXT], dtype=np.int64)
BLOCK, BATCH, D, HEADS, LAYERS = 32, 16, 64, 4, 2


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.register_buffer("mask", torch.tril(torch.ones(BLOCK, BLOCK)).view(1, 1, BLOCK, BLOCK))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, T, HEADS, C // HEADS).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(D), CausalSelfAttention()
        self.ln2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tok = nn.Embedding(vocab, D)
        self.pos = nn.Embedding(BLOCK, D)
        self.blocks = nn.Sequential(*[Block() for _ in range(LAYERS)])
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, vocab, bias=False)

    def forward(self, idx):
        T = idx.size(1)
        x = self.tok(idx) + self.pos(torch.arange(T))
        return self.head(self.ln(self.blocks(x)))


model = GPT(len(chars))
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=3e-3, betas=(0.9, 0.95))
warmup = 20
schedule = torch.optim.lr_scheduler.LambdaLR(
    opt, lambda s: (s + 1) / warmup if s < warmup else
    0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, args.steps - warmup))))

losses = []
for step in range(args.steps):
    starts = rng.integers(0, len(data) - BLOCK - 1, size=BATCH)
    x = torch.from_numpy(np.stack([data[s:s + BLOCK] for s in starts]))
    y = torch.from_numpy(np.stack([data[s + 1:s + BLOCK + 1] for s in starts]))
    logits = model(x)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    schedule.step()
    losses.append(loss.item())


@torch.no_grad()
def generate(idx, n, temperature=1.0, top_k=5):
    for _ in range(n):
        logits = model(idx[:, -BLOCK:])[:, -1, :] / temperature
        v, _ = torch.topk(logits, top_k)
        logits[logits < v[:, [-1]]] = -float("inf")
        idx = torch.cat((idx, torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)), dim=1)
    return idx


model.eval()
sample = generate(torch.tensor([[stoi["B"]]]), 40)
print("sample", repr("".join(chars[i] for i in sample[0].tolist())))
print(f"first loss {np.mean(losses[:10]):.4f}")
print(f"final loss {np.mean(losses[-20:]):.4f}")
