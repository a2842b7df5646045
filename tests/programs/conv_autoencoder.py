"""A convolutional autoencoder on scikit-learn's 8x8 digits, written as a PyTorch user
writes it: images upsampled to 16x16 with F.interpolate, an encoder of Conv2d + GroupNorm,
a decoder of ConvTranspose2d, mean-squared reconstruction error.

    python conv_autoencoder.py --steps 150
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=150)
args = p.parse_args()

torch.manual_seed(0)
rng = np.random.default_rng(0)
images = torch.from_numpy((load_digits().images / 16.0).astype(np.float32)).unsqueeze(1)  # (1797, 1, 8, 8)
images = F.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False)


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.GroupNorm(8, 32), nn.ReLU(),   # 8x8
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.GroupNorm(8, 32), nn.ReLU())   # 4x4
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.GroupNorm(4, 16), nn.ReLU(),  # 8x8
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),                        # 16x16
            nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x):
        return self.decoder(self.encoder(x))


model = AutoEncoder()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
losses = []
for step in range(args.steps):
    x = images[torch.from_numpy(rng.integers(0, len(images), size=64))]
    loss = F.mse_loss(model(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(f"first loss {np.mean(losses[:10]):.4f}")
print(f"final loss {np.mean(losses[-20:]):.4f}")
