"""How fast does the gradient vanish back through time in an RNN, and why does an LSTM keep it?

Backpropagation through time multiplies the gradient, once per step back, by the step's
Jacobian. For a tanh RNN, h_t = tanh(W_ih x_t + W_hh h_{t-1} + b), that Jacobian is
dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh: a squashing derivative <= 1 times a fixed matrix, so
||dL/dx_t|| shrinks geometrically with the distance T - t. In an LSTM the cell state is
updated additively, c_t = f_t * c_{t-1} + i_t * g_t, so dc_t/dc_{t-1} = diag(f_t): no weight
matrix and no tanh' in the path, only the forget gate, which the network can learn to hold
near 1.

The lab measures ||dL/dx_t|| (the gradient of the final-step MSE with respect to each input
step, over a batch of 256 adding-problem sequences of length T = 50, hidden 32) at
initialisation and after training on the adding problem (Adam lr 1e-2, 700 steps in quick
mode, 1500 in full mode), and reports log10(||dL/dx_1|| / ||dL/dx_T||).

What the numbers show (quick mode, seed 0, PyTorch and minidl alike): at initialisation both
cells vanish -- PyTorch's init gives forget gates ~sigmoid(0) = 0.5, so the LSTM halves its
gradient per step too (log10 first/last: RNN -9.6, LSTM -10.9). After training, the trained
LSTM's gradient to the first step is of the same order as the last step's (log10 -0.1 to
-0.2 on every kernel set): the gates learned to stay open, which is exactly what lets it solve
the task (MSE 0.0015-0.0017). The RNN never learns the task (MSE at or above the 0.167
baseline of predicting the mean), and where training leaves its gradient depends on where
Adam left W_hh, which rounding alone changes on this chaotic problem: vanishing on PyTorch
(log10 -29) and on minidl's scalar and AVX2 kernels (-2.7, -6.1), but slightly growing
(+1.0, MSE 0.22: W_hh pushed past the edge of stability, the exploding side of the same
product of Jacobians) on minidl's AVX-512 kernels. Either way the plain RNN has no stable
path for the gradient; the LSTM's additive cell state is one.
``run(..., lib=torch)`` runs the identical experiment on PyTorch.
"""
from __future__ import annotations

import math

import numpy as np

import minidl as md

from . import bar, print_table, pyplot, save_figure
from .lstm_vs_gru import COLORS, adding_batch, build_regressor, evaluate_adding, train_adding


# --8<-- [start:input-gradient-norms]
def input_gradient_norms(lib, model, length: int, seed: int = 0, batch: int = 256) -> np.ndarray:
    """||dL/dx_t|| for t = 1..length (Frobenius norm over the batch and the 2 features)."""
    x, y = adding_batch(np.random.default_rng(seed + 555), batch, length)
    x = lib.tensor(x, requires_grad=True)
    model.zero_grad()
    lib.nn.functional.mse_loss(model(x), lib.tensor(y)).backward()
    g = x.grad.numpy().astype(np.float64)
    model.zero_grad()
    return np.sqrt((g ** 2).sum(axis=(0, 2)))
# --8<-- [end:input-gradient-norms]


def _log_ratio(norms: np.ndarray) -> float:
    first, last = float(norms[0]), float(norms[-1])
    if first == 0.0:
        return -math.inf  # underflowed to exactly zero in float32
    return math.log10(first / last)


def run(quick: bool = False, out: str = ".", seed: int = 0, lib=None, progress: bool = True) -> dict:
    if lib is None:
        lib = md
    length = 50
    steps = 700 if quick else 1500
    cells = ("RNN", "LSTM") if quick else ("RNN", "LSTM", "GRU")
    results = {}
    steps_bar = bar(total=len(cells) * steps, desc=f"training {', '.join(cells)} on the adding problem", unit="step",
                    enabled=progress)
    for cell in cells:
        lib.manual_seed(seed)
        model = build_regressor(lib, cell)
        at_init = input_gradient_norms(lib, model, length, seed)
        model, _, _ = train_adding(lib, cell, length, steps, seed, model=model, steps_bar=steps_bar)
        trained = input_gradient_norms(lib, model, length, seed)
        mse, solved = evaluate_adding(lib, model, length, seed)
        results[cell] = {"init": at_init, "trained": trained, "mse": mse, "solved": solved,
                         "log10_first_over_last_init": _log_ratio(at_init),
                         "log10_first_over_last_trained": _log_ratio(trained)}

    steps_bar.close()
    print_table(["cell", "log10 first/last @ init", "log10 first/last trained", "trained MSE", "solved"],
                [[c, r["log10_first_over_last_init"], r["log10_first_over_last_trained"], r["mse"], r["solved"]]
                 for c, r in results.items()],
                title=f"||dL/dx_t|| from the last step back to the first, adding problem T = {length}, hidden 32 "
                      f"(training: {steps} steps)")

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    steps_back = np.arange(length)[::-1]  # T - t
    for ax, key, title in ((axes[0], "init", "at initialisation"), (axes[1], "trained", "after training")):
        for cell, r in results.items():
            norms = np.maximum(r[key], 1e-45)
            ax.semilogy(steps_back, norms / norms[-1], color=COLORS[cell], label=cell)
        ax.set_title(f"||dL/dx_t|| / ||dL/dx_T||, {title}")
        ax.set_xlabel("steps back in time (T - t)")
        ax.set_ylabel("gradient norm relative to the last step (log scale)")
        ax.legend()
    path = save_figure(fig, out, "bptt-gradients")
    print(f"saved {path}")
    return {"length": length, "steps": steps, "figure": path,
            "results": {c: {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
                        for c, r in results.items()}}
