"""GPT block forward+backward and char-GPT training throughput, minidl vs PyTorch.

    PYTHONPATH=python python3 bench/python/bench_gpt.py [--threads 1 2] [--repeat 5] [--skip-block]
        [--skip-train]

1. GPT block: one pre-norm ``nn.TransformerEncoderLayer(d_model=256, nhead=4,
   dim_feedforward=1024, dropout=0, activation="gelu", batch_first=True, norm_first=True)``
   on x (batch 16, seq 256, 256) with the causal mask (``is_causal=True``): forward, then
   backward of a fixed upstream gradient (gradients of x and of every weight). Same weights
   (torch's initialisation copied through state_dict/NumPy) and inputs in both libraries.
2. char-GPT training: ``md.models.GPT`` and its PyTorch twin (the same file built on torch.nn)
   with the defaults of examples/train_char_gpt.py (vocab 103, block 64, d_model 128,
   4 layers, 4 heads, batch 32): zero_grad, forward, cross-entropy, backward, clip_grad_norm_,
   AdamW step on a fixed batch. Reported as tokens/s = batch * block / step time.

Each (library, threads) runs in its own subprocess (own thread pool and allocator), with
OMP_PROC_BIND=close; times are medians of ``--repeat`` runs after warm-up. Outputs and
losses are checked to agree between the libraries before timing (a benchmark of different
maths is void). The load average is printed with the table: on a shared machine, compare
ratios from the same run only.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_PROC_BIND", "close")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

from _common import machine_header, run_child  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..", "..", "python")
BLOCK = dict(d_model=256, nhead=4, dim_feedforward=1024, batch=16, seq=256)
GPT = dict(vocab=103, block=64, d_model=128, layers=4, heads=4, batch=32)


def _lib(name):
    sys.path.insert(0, PYDIR)
    sys.path.insert(0, HERE)
    if name == "torch":
        import torch
        import minidl.models as M
        return torch, M.build(torch.nn)
    import minidl as md
    return md, md.models


def make_block(lib):
    c = BLOCK
    return lib.nn.TransformerEncoderLayer(c["d_model"], c["nhead"], c["dim_feedforward"], dropout=0.0,
                                          activation="gelu", batch_first=True, norm_first=True)


def block_step(lib, layer, x, g, mask, bf16: bool = False):
    """The GPT block's timed step: forward with the causal mask (under BF16 autocast when
    ``bf16``), backward of the fixed upstream gradient ``g``; returns a function returning y."""
    layer.train()

    def fwd_bwd():
        layer.zero_grad()
        x.grad = None
        with lib.autocast("cpu", dtype=lib.bfloat16, enabled=bf16):
            y = layer(x, src_mask=mask, is_causal=True)
        y.backward(g if y.dtype == g.dtype else g.to(y.dtype))  # autocast may return bf16
        return y
    return fwd_bwd


def paired_block_steps(bf16: bool = False, seed: int = 0):
    """(minidl step, torch step) of the GPT block of BLOCK with the same weights (torch's
    initialisation copied into minidl) and inputs; run_all.py times these in one process."""
    torch, _ = _lib("torch")
    md, _ = _lib("minidl")
    torch.manual_seed(seed)
    ref, mine = make_block(torch), make_block(md)
    mine.load_state_dict({k: md.tensor(v.detach().numpy().copy()) for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(seed)
    shape = (BLOCK["batch"], BLOCK["seq"], BLOCK["d_model"])
    x, g = rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)
    return tuple(block_step(lib, layer, lib.tensor(x, requires_grad=True), lib.tensor(g),
                            lib.nn.Transformer.generate_square_subsequent_mask(BLOCK["seq"]), bf16)
                 for lib, layer in ((md, mine), (torch, ref)))


def make_gpt(models):
    c = GPT
    return models.GPT(c["vocab"], c["block"], d_model=c["d_model"], nhead=c["heads"], num_layers=c["layers"])


def worker(lib_name, threads, data_path, repeat, what):
    from _common import timeit
    lib, models = _lib(lib_name)
    lib.set_num_threads(threads)
    saved = np.load(data_path)
    out = {"lib": lib_name, "threads": threads}

    def load(model, prefix):
        model.load_state_dict({k[len(prefix):]: lib.tensor(saved[k]) for k in saved.files if k.startswith(prefix)})

    if "block" in what:
        layer = make_block(lib)
        load(layer, "block.")
        layer.train()
        x = lib.tensor(saved["__bx"], requires_grad=True)
        g = lib.tensor(saved["__bg"])
        mask = lib.nn.Transformer.generate_square_subsequent_mask(BLOCK["seq"])
        fwd_bwd = block_step(lib, layer, x, g, mask)
        y = fwd_bwd()
        out["block_check"] = [float(y.detach().double().sum().item()), float(x.grad.double().abs().sum().item())]

        def fwd():
            with lib.no_grad():
                layer(x, src_mask=mask, is_causal=True)
        out["block_fwd_ms"] = timeit(fwd, repeat=repeat, warmup=1) * 1e3
        out["block_ms"] = timeit(fwd_bwd, repeat=repeat, warmup=1) * 1e3

    if "train" in what:
        model = make_gpt(models)
        load(model, "gpt.")
        model.train()
        opt = lib.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
        x, y = lib.tensor(saved["__gx"]), lib.tensor(saved["__gy"])
        F = lib.nn.functional

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x).reshape(-1, GPT["vocab"]), y.reshape(-1))
            loss.backward()
            lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return loss
        out["train_losses"] = [step().item() for _ in range(3)]
        t = timeit(step, repeat=repeat, warmup=1)
        out["train_ms"] = t * 1e3
        out["tokens_per_s"] = GPT["batch"] * GPT["block"] / t
    return out


def run_worker(lib_name, threads, data_path, args, what):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib_name, "--threads", str(threads),
           "--data", data_path, "--repeat", str(args.repeat), "--what", ",".join(what)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    res = run_child(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{lib_name} worker failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--skip-block", action="store_true")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--worker", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--what", default="block,train", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads[0], args.data, args.repeat, args.what.split(","))))
        return None
    print(machine_header(args.threads))

    torch, tmodels = _lib("torch")
    from _common import print_table
    what = [w for w, skip in (("block", args.skip_block), ("train", args.skip_train)) if not skip]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    arrays = {}
    arrays.update({"block." + k: v.detach().numpy().copy() for k, v in make_block(torch).state_dict().items()})
    arrays.update({"gpt." + k: v.detach().numpy().copy() for k, v in make_gpt(tmodels).state_dict().items()})
    arrays["__bx"] = rng.standard_normal((BLOCK["batch"], BLOCK["seq"], BLOCK["d_model"]), dtype=np.float32)
    arrays["__bg"] = rng.standard_normal((BLOCK["batch"], BLOCK["seq"], BLOCK["d_model"]), dtype=np.float32)
    arrays["__gx"] = rng.integers(0, GPT["vocab"], (GPT["batch"], GPT["block"])).astype(np.int64)
    arrays["__gy"] = rng.integers(0, GPT["vocab"], (GPT["batch"], GPT["block"])).astype(np.int64)
    data_path = os.path.join(tempfile.mkdtemp(), "gpt_bench.npz")
    np.savez(data_path, **arrays)

    block_rows, train_rows = [], []
    for n in args.threads:
        r_md = run_worker("minidl", n, data_path, args, what)
        r_th = run_worker("torch", n, data_path, args, what)
        if "block" in what:
            assert np.allclose(r_md["block_check"], r_th["block_check"], rtol=1e-3), (r_md["block_check"],
                                                                                      r_th["block_check"])
            block_rows.append([n, r_md["block_fwd_ms"], r_th["block_fwd_ms"], r_md["block_fwd_ms"] / r_th["block_fwd_ms"],
                               r_md["block_ms"], r_th["block_ms"], r_md["block_ms"] / r_th["block_ms"]])
        if "train" in what:
            assert np.allclose(r_md["train_losses"], r_th["train_losses"], rtol=1e-3), (r_md["train_losses"],
                                                                                        r_th["train_losses"])
            train_rows.append([n, r_md["train_ms"], r_th["train_ms"], r_md["tokens_per_s"], r_th["tokens_per_s"],
                               r_md["tokens_per_s"] / r_th["tokens_per_s"]])
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    if block_rows:
        c = BLOCK
        print(f"GPT block (pre-norm, causal, GELU): batch {c['batch']}, seq {c['seq']}, d_model {c['d_model']}, "
              f"{c['nhead']} heads, ff {c['dim_feedforward']}; median of {args.repeat}; load average {load}")
        print_table(["threads", "fwd md ms", "fwd torch ms", "md/torch", "fwd+bwd md ms", "fwd+bwd torch ms",
                     "md/torch"], block_rows)
        print()
    if train_rows:
        c = GPT
        print(f"char-GPT training step (AdamW, clip 1.0): vocab {c['vocab']}, block {c['block']}, d_model "
              f"{c['d_model']}, {c['layers']} layers, batch {c['batch']}; median of {args.repeat}; load average {load}")
        print_table(["threads", "md ms/step", "torch ms/step", "md tokens/s", "torch tokens/s", "md/torch speed"],
                    train_rows)
    return block_rows, train_rows


if __name__ == "__main__":
    main()
