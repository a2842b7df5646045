"""A character-level MLP language model (Bengio et al., 2003), written as a PyTorch user
writes it: embeddings of the previous 3 characters, one hidden layer, cross-entropy on the
next character; a DataLoader over a RandomSampler with 2 worker processes.

    python char_mlp.py --steps 300          # PyTorch
    python -m minidl.run char_mlp.py ...    # the same file on minidl
"""
import argparse
import contextlib
import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

with contextlib.redirect_stdout(io.StringIO()):
    from _text import TEXT

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=300)
p.add_argument("--workers", type=int, default=2)
args = p.parse_args()

torch.manual_seed(0)
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
ids = np.array([stoi[c] for c in TEXT], dtype=np.int64)
context = 3
X = np.stack([ids[i:len(ids) - context + i] for i in range(context)], axis=1)
Y = ids[context:]
dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
generator = torch.Generator().manual_seed(0)
sampler = RandomSampler(dataset, replacement=True, num_samples=args.steps * 64, generator=generator)
loader = DataLoader(dataset, batch_size=64, sampler=sampler, num_workers=args.workers)


class CharMLP(nn.Module):
    def __init__(self, vocab, emb=16, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.hidden = nn.Linear(context * emb, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x):
        h = torch.tanh(self.hidden(self.emb(x).flatten(1)))
        return self.out(h)


model = CharMLP(len(chars))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
losses = []
for xb, yb in loader:
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(f"first loss {np.mean(losses[:10]):.4f}")
print(f"final loss {np.mean(losses[-20:]):.4f}")
