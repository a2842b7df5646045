"""The command-line flags every example shares, in one place.

    --epochs N / --steps N   how long to train (epochs, or optimizer steps where the
                             example draws fresh batches instead of passing over a dataset)
    --batch-size N           examples per optimizer step
    --threads N              intra-op threads (default: the library's default)
    --amp {bf16,fp16}        mixed precision: autocast to bfloat16 or float16 (fp16 adds a
                             GradScaler); float32 master weights either way
    --no-progress            no progress bar (tqdm if installed, else a line every few seconds)
    --seed N                 random seed (weights, data order, augmentation)

Each example builds its parser with ``parser(__doc__, runtime=..., epochs=...)`` (or
``steps=...``) and adds its own flags; ``setup(lib, args)`` applies ``--threads`` and
``--seed`` to ``lib`` (minidl, or torch with ``--torch``), ``autocast(lib, args.amp)`` is the
forward pass's context and ``progress(...)`` the bar, so the same flag means the same thing in
every script. This file is a helper for the scripts in ``examples/``, not part of minidl.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import tempfile

import minidl as md
from minidl.utils.progress import progress  # noqa: F401  (the examples' progress bar)


def shared_flags(*, batch_size: int, epochs: int | None = None, steps: int | None = None) -> argparse.ArgumentParser:
    """The shared flags as an argparse parent parser; exactly one of ``epochs`` / ``steps``."""
    if (epochs is None) == (steps is None):
        raise ValueError("give the default of exactly one of epochs= and steps=")
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("shared by every example")
    if epochs is not None:
        g.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training set (default {epochs})")
    else:
        g.add_argument("--steps", type=int, default=steps, help=f"optimizer steps (default {steps})")
    g.add_argument("--batch-size", type=int, default=batch_size,
                   help=f"examples per optimizer step (default {batch_size})")
    g.add_argument("--threads", type=int, default=None,
                   help="intra-op threads (default: the library's default, OMP_NUM_THREADS if set)")
    g.add_argument("--amp", choices=["bf16", "fp16"], default=None,
                   help="mixed precision: autocast to bfloat16 or float16 (fp16 adds a GradScaler); "
                        "float32 master weights")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--seed", type=int, default=0, help="random seed: weights, data order, augmentation (default 0)")
    return p


def parser(doc: str, runtime: str, **defaults) -> argparse.ArgumentParser:
    """An example's parser: its docstring's first line, the shared flags (``defaults`` go to
    ``shared_flags``) and, under the options, how long the run takes (``runtime``)."""
    return argparse.ArgumentParser(description=doc.strip().splitlines()[0], parents=[shared_flags(**defaults)],
                                   epilog=f"expected running time: {runtime}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def setup(lib, args) -> None:
    """Apply ``--threads`` and ``--seed`` to ``lib`` (minidl or torch)."""
    if args.threads:
        lib.set_num_threads(args.threads)
    lib.manual_seed(args.seed)


def autocast(lib, amp):
    """The context for the forward pass: ``lib.autocast`` to ``amp``'s dtype, or nothing."""
    if amp is None:
        return contextlib.nullcontext()
    return lib.autocast(device_type="cpu", dtype={"bf16": lib.bfloat16, "fp16": lib.float16}[amp])


def grad_scaler(lib, amp):
    """A GradScaler for ``--amp fp16`` (float16 gradients underflow without one), else None."""
    return lib.amp.GradScaler("cpu") if amp == "fp16" else None


def save_and_reload(state: dict, path, file_name: str, build_model, accuracy) -> float:
    """Save ``state`` (its "model" entry a state dict) with ``md.save`` to ``path``, or, when
    ``path`` is None, into a temporary directory removed afterwards (an example leaves no file
    behind); load the model into ``build_model()`` and return ``accuracy(model)``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = path or os.path.join(tmp, file_name)
        md.save(state, path)
        restored = build_model()
        restored.load_state_dict(md.load(path)["model"])
        same = accuracy(restored)
        print(f"checkpoint: {path} ({os.path.getsize(path) / 1024:.0f} KiB); reloaded model accuracy {same:.4f}")
    return same
