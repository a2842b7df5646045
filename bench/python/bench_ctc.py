"""CTCLoss at speech-like shapes (T = 200 frames, C = 30 classes, N = 16, target lengths
40-60, padded targets, reduction "mean"): forward, and forward + backward, minidl vs PyTorch
in the same process, timed in turns (paired_timeit), 1 and 2 threads; float32.

    OMP_PROC_BIND=close python bench/python/bench_ctc.py
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_PROC_BIND", "close")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import minidl as md  # noqa: E402
from _common import machine_header, cpu_model, paired_timeit, print_table  # noqa: E402

T, N, C, S = 200, 16, 30, 60


def main():
    import torch  # deferred: the benchmark's reference, an optional dependency
    print(machine_header())

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((T, N, C)).astype(np.float32)
    log_probs = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)
    targets = rng.integers(1, C, (N, S))
    input_lengths = np.full(N, T)
    target_lengths = rng.integers(40, S + 1, N)

    def setup(lib):
        x = lib.tensor(log_probs, requires_grad=True)
        args = (lib.tensor(targets), lib.tensor(input_lengths), lib.tensor(target_lengths))
        F = lib.nn.functional

        def forward():
            with lib.no_grad():
                return F.ctc_loss(x, *args)

        def forward_backward():
            x.grad = None
            F.ctc_loss(x, *args).backward()

        return forward, forward_backward

    md_fwd, md_both = setup(md)
    torch_fwd, torch_both = setup(torch)
    cases = [("forward", md_fwd, torch_fwd), ("forward + backward", md_both, torch_both)]
    rows = []
    for threads in (1, 2):
        md.set_num_threads(threads)
        torch.set_num_threads(threads)
        for name, run_md, run_torch in cases:
            a, b = paired_timeit([run_md, run_torch], repeat=15, warmup=3)
            rows.append([threads, name, f"{a * 1e3:.2f}", f"{b * 1e3:.2f}", f"{a / b:.2f}"])
    print(f"CPU: {cpu_model()}; kernel set {md.backend.name}; CTC T={T} N={N} C={C}, target lengths 40-{S}; "
          f"median of 15 paired runs (ms); torch {torch.__version__}")
    print_table(["threads", "CTC loss", "minidl ms", "torch ms", "minidl/torch"], rows)


if __name__ == "__main__":
    main()
