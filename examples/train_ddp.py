"""Train the character-level GPT data-parallel over N processes (DistributedDataParallel over MPI).

    mpiexec -n 2 python examples/train_ddp.py [--epochs 2] [--batch-size 32]     # 2 processes
    python -m minidl.distributed.run --nproc 2 examples/train_ddp.py              # the same, minidl's wrapper
    mpiexec -hosts node1,node2 -n 8 python examples/train_ddp.py                  # 8 ranks on two machines
    python examples/train_ddp.py                                                  # one process
    (shared flags: --epochs --batch-size --threads --amp --no-progress --seed; see --help)

The model, text and optimizer of ``examples/train_char_gpt.py`` (``md.models.GPT`` on the
prose of Python's documentation, AdamW with warm-up and cosine decay, clipping at 1), trained
the way PyTorch's DDP tutorial trains: every process (rank) builds the same model, wraps it in
``md.nn.parallel.DistributedDataParallel`` (weights broadcast from rank 0; gradients averaged
over the ranks during backward), and reads its own share of every epoch through
``md.utils.data.DistributedSampler`` (``set_epoch`` reshuffles each epoch, identically on every
rank). ``--batch-size`` is the per-rank batch, so the global batch is world_size x batch and
the peak learning rate follows the linear scaling rule, lr = ``--lr`` x global batch / 32
(``--lr`` is the rate for batch 32; the warm-up over the first 10% of the steps is what keeps
the larger rate stable). Rank 0 alone shows the progress bar, prints, writes the checkpoint
(``--checkpoint``, every epoch, atomically through ``md.save``) and samples text.

Why the char-GPT and not ResNet-20: its text ships with Python, so it runs anywhere (CIFAR-10
would be a download), and its validation loss is a number that means something after a minute
on 2 cores (a character model that has learnt nothing scores ln(vocab) = 4.6 nats; measured
with the defaults, one process, 2 epochs of 204 steps of batch 32: 1.66 nats = 2.39 bits/char;
2 ranks, 2 epochs of 102 steps of global batch 64 at lr 0.006: 1.82 nats, the same examples in
half the steps, which is what the ``large-batch`` lab is about).
"""
from __future__ import annotations

import math
import time

import numpy as np

import minidl as md
from minidl.labs import mpi_launch
from minidl.utils.data import DataLoader, Dataset, DistributedSampler

import training_flags
from train_char_gpt import get_batch, load_text

RUNTIME = ("~1 min with the defaults as one process on 1 thread (measured: 54 s of CPU for 2 epochs of 204 "
           "steps, validation loss 1.66 nats); under mpiexec -n 2, ~30 s per rank on 2 idle cores (measured: 61 s of "
           "CPU over both ranks for 2 epochs of 102 steps of global batch 64, validation loss 1.82 nats)")
BASE_BATCH = 32  # the batch --lr is meant for; the linear rule scales from it


class CharWindows(Dataset):
    """Non-overlapping windows of the text: item i is (x, y), both (block,) int64, with x the
    characters block*i .. block*(i+1) - 1 and y the same shifted by one (the next characters)."""

    def __init__(self, data: np.ndarray, block: int):
        self.data, self.block = data, block

    def __len__(self):
        return (len(self.data) - 1) // self.block

    def __getitem__(self, i):
        start = i * self.block
        chunk = self.data[start:start + self.block + 1]
        return md.tensor(chunk[:-1]), md.tensor(chunk[1:])


def process_group():
    """(rank, world_size): those of the MPI job this process was started in (mpiexec, ``python
    -m minidl.distributed.run``, ``srun --mpi=pmix``: ``minidl.labs.mpi_launch`` reads the
    launcher's environment), else (0, 1) without touching MPI."""
    if mpi_launch()[1] == 1:
        return 0, 1
    import minidl.distributed as dist  # deferred: only a multi-process run needs MPI (extra minidl[distributed])
    if not dist.is_initialized():
        dist.init_process_group(backend="mpi")
    return dist.get_rank(), dist.get_world_size()


def main(argv=None):
    p = training_flags.parser(__doc__, RUNTIME, epochs=2, batch_size=BASE_BATCH)
    p.add_argument("--block", type=int, default=64, help="context length in characters (default 64)")
    p.add_argument("--layers", type=int, default=4, help="transformer blocks (default 4)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    p.add_argument("--d-model", type=int, default=128, help="model width (default 128)")
    p.add_argument("--lr", type=float, default=3e-3,
                   help=f"AdamW peak learning rate at batch {BASE_BATCH}; scaled linearly to the global batch "
                        f"(default 3e-3)")
    p.add_argument("--train-chars", type=int, default=None,
                   help="use only the first N training characters (default: all ~420k; tests use fewer)")
    p.add_argument("--checkpoint", default=None, help="file rank 0 writes after every epoch (default: none)")
    p.add_argument("--sample-chars", type=int, default=200, help="characters rank 0 samples at the end (default 200)")
    args = p.parse_args(argv)

    rank, world = process_group()
    training_flags.setup(md, args)  # the same seed on every rank: the same initial weights
    train, val, chars = load_text()
    if args.train_chars:
        train = train[:args.train_chars]
    vocab = len(chars)
    dataset = CharWindows(train, args.block)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    # drop_last: every rank takes the same number of steps (a rank left waiting in an all-reduce hangs)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    if len(loader) == 0:
        raise ValueError(f"each rank's share ({len(sampler)} windows of {args.block} characters) is smaller than "
                         f"one batch of {args.batch_size}: use more --train-chars or a smaller --batch-size")
    model = md.models.GPT(vocab, args.block, d_model=args.d_model, nhead=args.heads, num_layers=args.layers)
    net = model
    if world > 1:
        from minidl.nn.parallel import DistributedDataParallel  # deferred: as process_group()
        net = DistributedDataParallel(model)

    global_batch = world * args.batch_size
    lr = md.optim.lr_scheduler.scale_lr(args.lr, global_batch, BASE_BATCH)
    steps = args.epochs * len(loader)
    speaking = rank == 0
    if speaking:
        n_params = sum(q.numel() for q in model.parameters())
        print(f"GPT {args.layers} layers, d_model {args.d_model}, {n_params / 1e6:.2f}M parameters, vocab {vocab}; "
              f"{len(dataset)} windows of {args.block} characters")
        print(f"world size {world}: global batch {global_batch} = {world} x {args.batch_size} per rank; "
              f"lr {args.lr:g} at batch {BASE_BATCH} -> {lr:g} (linear scaling rule), "
              f"{len(loader)} steps per epoch, {steps} in all")

    opt = md.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
    warmup = max(1, steps // 10)
    sched = md.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup
        else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup))))
    scaler = training_flags.grad_scaler(md, args.amp)

    def loss_of(module, x, y):
        with training_flags.autocast(md, args.amp):
            logits = module(x)
            return md.nn.functional.cross_entropy(logits.reshape(-1, vocab).float(), y.reshape(-1))

    model.train()
    losses, start = [], time.perf_counter()
    bar = training_flags.progress(total=steps, desc=f"char-GPT x {world} ranks", unit="step",
                                  enabled=speaking and not args.no_progress)
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new order each epoch, the same on every rank
        for x, y in loader:
            loss = loss_of(net, x, y)
            opt.zero_grad()
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                md.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()  # under DDP: the gradients arrive averaged over the ranks
                md.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            sched.step()
            losses.append(loss.item())
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if speaking and args.checkpoint:
            md.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "epoch": epoch + 1}, args.checkpoint)
    bar.close()
    train_s = time.perf_counter() - start

    result = {"rank": rank, "world_size": world, "global_batch": global_batch, "lr": lr, "steps": steps,
              "train_loss": float(np.mean(losses[-20:])), "train_s": train_s}
    if not speaking:
        return result
    model.eval()
    val_rng = np.random.default_rng(12345)  # the same validation batches for every run
    with md.no_grad():
        val_loss = float(np.mean([loss_of(model, *map(md.tensor, get_batch(val, args.block, 64, val_rng))).item()
                                  for _ in range(8)]))
    idx = md.tensor(np.array([[chars.index(c) for c in "The "]], dtype=np.int64))
    md.manual_seed(args.seed)
    sample = "".join(chars[i] for i in model.generate(idx, args.sample_chars, temperature=0.8, top_k=20)[0].tolist())
    print(f"\n--- sample (temperature 0.8, top-k 20) ---\n{sample}\n---")
    print(f"train loss (rank 0's batches, last 20 steps) {result['train_loss']:.3f}, "
          f"validation loss {val_loss:.3f} nats "
          f"= {val_loss / math.log(2):.3f} bits/char (uniform: {math.log(vocab):.2f} nats)")
    print(f"{steps} steps of global batch {global_batch} in {train_s:.1f} s: "
          f"{steps * global_batch * args.block / train_s:,.0f} tokens/s over {world} rank(s), "
          f"{md.get_num_threads()} thread(s) each")
    if args.checkpoint:
        print(f"checkpoint: {args.checkpoint} (written by rank 0 after every epoch)")
    return dict(result, val_loss=val_loss, sample=sample, vocab=vocab)


if __name__ == "__main__":
    main()
