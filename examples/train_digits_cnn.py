"""Train a small CNN on scikit-learn's bundled handwritten digits (real 8x8 scans).

    python examples/train_digits_cnn.py [--epochs 25] [--amp bf16|fp16] [--checkpoint PATH]
    (shared flags: --epochs --batch-size --threads --amp --no-progress --seed; see --help)

Conv -> BatchNorm -> ReLU blocks, max pooling, Dropout, AdamW with OneCycleLR, and data
augmentation (random shifts of up to one pixel: RandomCrop(8, padding=1)). 80/20 split with
seed 0; prints a progress bar and the test accuracy (>= 0.98 expected in well under a
minute on 2 cores), then saves a checkpoint and reloads it into a fresh model to show the
round trip gives the same predictions (in a temporary directory that is deleted afterwards,
unless ``--checkpoint`` names a file to keep).
"""
from __future__ import annotations

import time

import minidl as md
import minidl.nn as nn
from minidl import transforms as T
from minidl.utils.data import DataLoader, Dataset

import training_flags

RUNTIME = "~6 s with the defaults (measured: 5.6 s of CPU on 1 thread, imports included)"


class Digits(Dataset):
    """(image (1, 8, 8) float32, label) pairs with an optional per-sample transform."""

    def __init__(self, images: md.Tensor, labels: md.Tensor, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i]
        return (self.transform(x) if self.transform else x), self.labels[i]


def split_digits(seed: int = 0):
    images, labels = md.datasets.load_digits()
    md.manual_seed(seed)
    order = md.randperm(len(labels))
    n_train = int(0.8 * len(labels))
    tr, te = order[:n_train], order[n_train:]
    return images[tr], labels[tr], images[te], labels[te]


def build_model() -> nn.Module:
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(
        *block(1, 32), *block(32, 32), nn.MaxPool2d(2),      # 8x8 -> 4x4
        *block(32, 64), nn.MaxPool2d(2),                     # 4x4 -> 2x2
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 2 * 2, 10),
    )


def accuracy(model: nn.Module, x: md.Tensor, y: md.Tensor) -> float:
    model.eval()
    with md.no_grad():
        pred = model(x).argmax(dim=1)
    model.train()
    return (pred == y).float().mean().item()


def main(argv=None):
    p = training_flags.parser(__doc__, RUNTIME, epochs=25, batch_size=64)
    p.add_argument("--lr", type=float, default=4e-3, help="AdamW peak learning rate (OneCycle; default 4e-3)")
    p.add_argument("--checkpoint", default=None,
                   help="where to save the checkpoint (default: a temporary file, deleted at the end)")
    args = p.parse_args(argv)
    training_flags.setup(md, args)

    x_train, y_train, x_test, y_test = split_digits(args.seed)
    mean, std = x_train.mean().item(), x_train.std().item()
    augment = T.Compose([T.RandomCrop(8, padding=1), T.Normalize([mean], [std])])
    loader = DataLoader(Digits(x_train, y_train, augment), batch_size=args.batch_size, shuffle=True)
    x_test = (x_test - mean) / std

    md.manual_seed(args.seed)
    model = build_model()
    opt = md.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    sched = md.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    # --amp: convs and matmuls in 16 bits under autocast, float32 master weights; FP16 needs
    # loss scaling (a skipped step still advances the LR schedule, as in PyTorch)
    amp_dtype = {"bf16": md.bfloat16, "fp16": md.float16}.get(args.amp)
    scaler = md.amp.GradScaler(enabled=args.amp == "fp16")

    start = time.perf_counter()
    bar = training_flags.progress(range(args.epochs), desc="digits CNN", unit="epoch", enabled=not args.no_progress)
    for _ in bar:
        total, n = 0.0, 0
        for xb, yb in loader:
            with md.autocast("cpu", dtype=amp_dtype or md.bfloat16, enabled=amp_dtype is not None):
                loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            total += loss.item() * len(yb)
            n += len(yb)
        bar.set_postfix(loss=f"{total / n:.4f}")
    elapsed = time.perf_counter() - start
    acc = accuracy(model, x_test, y_test)

    print(f"test accuracy: {acc:.4f}  ({len(y_test)} test images, {elapsed:.1f} s training, kernels: "
          f"{md.backend.name}, threads: {md.get_num_threads()}, amp: {args.amp or 'off'})")
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    same = training_flags.save_and_reload(state, args.checkpoint, "digits_cnn.mdl", build_model,
                                          lambda m: accuracy(m, x_test, y_test))
    return acc, same


if __name__ == "__main__":
    main()
