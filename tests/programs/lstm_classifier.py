"""An LSTM classifier on variable-length sequences, written as a PyTorch user writes it:
padded batches packed with pack_padded_sequence (unsorted lengths), the final hidden state
of each sequence into a linear layer. The task: does the sequence contain token 1?

    python lstm_classifier.py --steps 150
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=150)
args = p.parse_args()

torch.manual_seed(0)
rng = np.random.default_rng(0)
VOCAB, BATCH = 12, 32


def batch():
    lengths = rng.integers(2, 16, size=BATCH)
    seqs = [torch.from_numpy(rng.integers(2, VOCAB, size=n)) for n in lengths]
    labels = rng.integers(0, 2, size=BATCH)
    for s, y in zip(seqs, labels):
        if y:
            s[rng.integers(0, len(s))] = 1
    return pad_sequence(seqs, batch_first=True), torch.from_numpy(lengths), torch.from_numpy(labels)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.head = nn.Linear(32, 2)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.head(h[-1])


model = Classifier()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
losses, correct = [], []
for step in range(args.steps):
    x, lengths, y = batch()
    logits = model(x, lengths)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    correct.append((logits.argmax(1) == y).float().mean().item())
print(f"first loss {np.mean(losses[:10]):.4f}")
print(f"final loss {np.mean(losses[-20:]):.4f}")
print(f"final accuracy {np.mean(correct[-20:]):.3f}")
