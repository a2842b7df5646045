"""Fused attention and LayerNorm, forward + backward, minidl vs PyTorch (same machine, same
thread count), plus a naive NumPy attention forward that stores the L x S weights.

    OMP_PROC_BIND=close PYTHONPATH=python python3 bench/python/bench_attention.py [--threads 2] [--repeat 7]

Attention: batch 8, heads 8, head dim 64, sequence L = S in 128, 512, 2048, causal and not;
F.scaled_dot_product_attention vs torch.nn.functional.scaled_dot_product_attention.
Every (library, case) runs in a fresh subprocess so its peak memory can be measured
honestly: "peak MB" is the growth of the process's peak resident set (ru_maxrss) over its
resident set just before the first call, with the inputs and the output gradient already
allocated -- i.e. what forward + backward needed beyond their inputs (outputs, saved
tensors, gradients, scratch). A kernel that materialises the (B, H, L, S) weights needs
8*8*L*S*4 bytes for each copy (1 GiB at L = 2048); a flash kernel grows linearly in L.
LayerNorm: nn.LayerNorm forward + backward at Transformer shapes, both libraries in-process.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_header, print_table, run_child, timeit  # noqa: E402

B, H, E = 8, 8, 64
SEQS = (128, 512, 2048)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def attention_step(F, q, k, v, g, causal: bool):
    """Forward + backward of F.scaled_dot_product_attention (F: minidl's or torch's
    nn.functional) on tensors q, k, v that require grad, upstream gradient g."""
    def step():
        for t in (q, k, v):
            t.grad = None
        F.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(g)
    return step


def paired_steps(L: int, causal: bool = True, seed: int = 0):
    """(minidl step, torch step) of attention_step at B, H, E and L = S, the same inputs in
    both; run_all.py times these in one process (so no peak-memory figure there)."""
    import minidl as md
    import torch
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((B, H, L, E)).astype(np.float32) for _ in range(4)]
    return tuple(attention_step(lib.nn.functional, *(lib.tensor(a, requires_grad=True) for a in arrays[:3]),
                                lib.tensor(arrays[3]), causal) for lib in (md, torch))


def one_case(lib: str, L: int, causal: bool, threads: int, repeat: int) -> dict:
    """Runs in the child: times forward+backward (and forward alone) of one library."""
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((B, H, L, E)).astype(np.float32) for _ in range(4))
    if lib == "numpy":  # the textbook forward: store the whole (H, L, L) weights per batch entry
        def fwd():
            out = np.empty_like(q)
            mask = np.triu(np.ones((L, L), bool), 1) if causal else None
            for b in range(B):
                s = q[b] @ k[b].transpose(0, 2, 1) / np.sqrt(E)
                if mask is not None:
                    s[:, mask] = -np.inf
                s = np.exp(s - s.max(-1, keepdims=True))
                s /= s.sum(-1, keepdims=True)
                out[b] = s @ v[b]
            return out
        base = rss_mb()
        t_fwd = timeit(fwd, repeat=repeat, warmup=1)
        return {"fwd": t_fwd, "step": float("nan"), "peak": peak_mb() - base}
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        F = torch.nn.functional
        mk = torch.tensor
    else:
        import minidl as md
        md.set_num_threads(threads)
        F = md.nn.functional
        mk = md.tensor
    qt, kt, vt = (mk(a, requires_grad=True) for a in (q, k, v))
    step = attention_step(F, qt, kt, vt, mk(g), causal)

    def fwd():
        F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)

    base = rss_mb()
    t_step = timeit(step, repeat=repeat, warmup=1)
    t_fwd = timeit(fwd, repeat=repeat, warmup=1)
    return {"fwd": t_fwd, "step": t_step, "peak": peak_mb() - base}


def measure_in_child(lib, L, causal, threads, repeat):
    cmd = [sys.executable, __file__, "--child", lib, str(L), str(int(causal)), str(threads), str(repeat)]
    out = run_child(cmd, check=True, capture_output=True, text=True, env=os.environ).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_layernorm(threads, repeat):
    import minidl as md
    import torch
    md.set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for shape in ((16 * 256, 256), (8 * 512, 512), (64 * 128, 768), (4096, 4096)):
        x = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        times = []
        for lib in (md, torch):
            ln = lib.nn.LayerNorm(shape[-1])
            xt = lib.tensor(x, requires_grad=True)
            gt = lib.tensor(g)

            def step():
                xt.grad = None
                ln.weight.grad = ln.bias.grad = None
                ln(xt).backward(gt)
            times.append(timeit(step, repeat=repeat, warmup=3))
        rows.append(["x".join(map(str, shape)), times[0] * 1e3, times[1] * 1e3, times[0] / times[1]])
    return rows


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        lib, L, causal, threads, repeat = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5]), \
            int(sys.argv[6])
        print(json.dumps(one_case(lib, L, causal, threads, repeat)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--seqs", type=int, nargs="*", default=list(SEQS))
    ap.add_argument("--no-numpy", action="store_true", help="skip the naive NumPy forward")
    args = ap.parse_args()
    print(machine_header(args.threads))
    rows = []
    for L in args.seqs:
        rep = max(3, args.repeat if L <= 512 else args.repeat // 2)
        for causal in (False, True):
            r_md = measure_in_child("minidl", L, causal, args.threads, rep)
            r_th = measure_in_child("torch", L, causal, args.threads, rep)
            r_np = {"fwd": float("nan"), "peak": float("nan")} if args.no_numpy else \
                measure_in_child("numpy", L, causal, args.threads, max(3, rep // 2))
            rows.append([L, "yes" if causal else "no", r_md["step"] * 1e3, r_th["step"] * 1e3,
                         r_md["step"] / r_th["step"], r_md["fwd"] * 1e3, r_th["fwd"] * 1e3, r_np["fwd"] * 1e3,
                         r_md["peak"], r_th["peak"], r_np["peak"]])
            print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    load = os.getloadavg()
    print(f"attention B={B} H={H} E={E}, {args.threads} threads, medians of {args.repeat} (L=2048: fewer), "
          f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', 'unset')}, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}")
    print_table(["L=S", "causal", "md f+b ms", "torch f+b ms", "ratio f+b", "md fwd ms", "torch fwd ms",
                 "numpy fwd ms", "md peak MB", "torch peak MB", "numpy peak MB"], rows)
    print(f"\nLayerNorm forward+backward, {args.threads} threads, median of {args.repeat}")
    print_table(["shape", "minidl ms", "torch ms", "ratio"], bench_layernorm(args.threads, args.repeat))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
