"""Can you derive backpropagation by hand for a 2-layer MLP, and prove your gradients are right?

The question (a classic whiteboard interview): for an MLP

    z1 = x W1^T + b1          x: (N, 64)   W1: (32, 64)   b1: (32,)
    h  = tanh(z1)                            (or sigmoid)
    z2 = h W2^T + b2          W2: (10, 32)  b2: (10,)      z2 = the logits, (N, 10)
    L  = mean_n [ -log softmax(z2)_n[y_n] ]                softmax cross-entropy

write dL/dW1, dL/db1, dL/dW2, dL/db2 with the chain rule, then check them.

The answer (the weights use PyTorch's (out, in) layout, so ``x W^T`` is the forward):

    dL/dz2 = (softmax(z2) - onehot(y)) / N                  (N, 10)
    dL/dW2 = (dL/dz2)^T h                                   (10, 32)  [= (h^T dz2)^T]
    dL/db2 = sum_n dL/dz2                                   (10,)
    dL/dh  = dL/dz2 W2                                      (N, 32)
    dL/dz1 = dL/dh * sigma'(z1)     tanh' = 1 - h^2, sigmoid' = h (1 - h)
    dL/dW1 = (dL/dz1)^T x                                   (32, 64)
    dL/db1 = sum_n dL/dz1                                   (32,)

and the numbers show it: on a batch of real 8x8 digits in float64, the hand-derived NumPy
gradients, minidl's autograd gradients and central finite differences
(f(w+eps) - f(w-eps)) / (2 eps) agree to ~1e-10 or better for every parameter: the max
absolute difference is far below 1e-6 (the lab's pass mark), while the gradients themselves
are ~1e-3..1e-1. Autograd is the same chain rule, applied mechanically node by node.
"""
from __future__ import annotations

import os
import shutil
import time

import numpy as np

import minidl as md
import minidl.nn.functional as F

from . import bar, print_table, pyplot, save_figure

PARAMS = ("W1", "b1", "W2", "b2")


# --- the model in NumPy, forward and the hand-derived backward ------------------------------
def _act(z, activation):
    return np.tanh(z) if activation == "tanh" else 1.0 / (1.0 + np.exp(-z))


def forward_numpy(params, x, y, activation="tanh"):
    """Loss and the intermediates the backward needs (float64 NumPy)."""
    W1, b1, W2, b2 = (params[k] for k in PARAMS)
    z1 = x @ W1.T + b1
    h = _act(z1, activation)
    z2 = h @ W2.T + b2
    # log-softmax with the max subtracted (exp never overflows; the result is unchanged)
    shifted = z2 - z2.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(len(y)), y].mean()
    return loss, (z1, h, np.exp(logp))


# --8<-- [start:backward-by-hand]
def backward_by_hand(params, x, y, activation="tanh"):
    """Every gradient of the mean cross-entropy, by the chain rule, layer by layer."""
    W2 = params["W2"]
    _, (z1, h, p) = forward_numpy(params, x, y, activation)
    n = x.shape[0]

    # Softmax + cross-entropy together: dL/dz2_ij = (p_ij - [j == y_i]) / N.
    # (The 1/N is from the mean over the batch; the softmax Jacobian and the log's 1/p cancel.)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1.0
    dz2 = (p - onehot) / n                       # (N, 10)

    # z2 = h W2^T + b2 is linear: each weight's gradient is (upstream grad)^T (its input),
    # the bias collects the upstream gradient summed over the batch (it is broadcast in forward).
    dW2 = dz2.T @ h                              # (10, 32)
    db2 = dz2.sum(axis=0)                        # (10,)

    # The gradient flowing back into h goes through the same weights, transposed.
    dh = dz2 @ W2                                # (N, 32)

    # Elementwise activation: multiply by its derivative at z1, written with h = sigma(z1).
    dsigma = 1.0 - h * h if activation == "tanh" else h * (1.0 - h)
    dz1 = dh * dsigma                            # (N, 32)

    dW1 = dz1.T @ x                              # (32, 64)
    db1 = dz1.sum(axis=0)                        # (32,)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
# --8<-- [end:backward-by-hand]


# --- the same model in minidl, gradients by autograd ----------------------------------------
# --8<-- [start:forward-minidl]
def forward_minidl(params, x, y, activation="tanh"):
    """The loss as minidl tensors (its backward graph recorded) and the parameter tensors."""
    ps = {k: md.tensor(v, requires_grad=True) for k, v in params.items()}
    xt, yt = md.tensor(x), md.tensor(y)
    h = F.linear(xt, ps["W1"], ps["b1"])
    h = md.tanh(h) if activation == "tanh" else md.sigmoid(h)
    return F.cross_entropy(F.linear(h, ps["W2"], ps["b2"]), yt), ps
# --8<-- [end:forward-minidl]


def autograd_grads(params, x, y, activation="tanh"):
    loss, ps = forward_minidl(params, x, y, activation)
    loss.backward()
    return loss.item(), {k: ps[k].grad.numpy() for k in PARAMS}


def draw_autograd_graph(params, x, y, activation, out):
    """``<out>/backprop-graph.svg``: the graph autograd walks, drawn by md.viz.draw_graph before
    the backward frees what the nodes saved. None (and a line saying why) without the graphviz
    package (the viz extra) or Graphviz's dot program: the lab's numbers do not need it."""
    loss, ps = forward_minidl(params, x, y, activation)
    try:
        graph = md.viz.draw_graph(loss, params=ps)
    except ImportError as err:
        print(f"no autograd graph picture: {err}")
        return None
    if shutil.which("dot") is None:
        print(f"no autograd graph picture: Graphviz's dot program is not installed: {md.viz.INSTALL_DOT}")
        return None
    path = os.path.join(out, "backprop-graph.svg")
    with open(path, "wb") as f:
        f.write(graph.pipe(format="svg"))
    print(f"figure: {path}")
    return path


# --- central finite differences on a sample of entries --------------------------------------
# --8<-- [start:finite-difference]
def finite_difference(params, x, y, activation, samples, rng, eps=1e-6):
    """``{name: (flat indices, numeric grads)}``: (L(w+eps) - L(w-eps)) / (2 eps) per entry.

    The error is O(eps^2) truncation + O(1e-16 / eps) rounding: ~1e-10 in float64.
    """
    out = {}
    for k in PARAMS:
        w = params[k]
        idx = rng.choice(w.size, size=min(samples, w.size), replace=False)
        num = np.empty(len(idx))
        flat = w.reshape(-1)  # a view: perturbing it perturbs params[k]
        for j, i in enumerate(idx):
            old = flat[i]
            flat[i] = old + eps
            lp, _ = forward_numpy(params, x, y, activation)
            flat[i] = old - eps
            lm, _ = forward_numpy(params, x, y, activation)
            flat[i] = old
            num[j] = (lp - lm) / (2 * eps)
        out[k] = (idx, num)
    return out
# --8<-- [end:finite-difference]


def init_params(rng, n_in=64, n_hidden=32, n_out=10):
    """PyTorch's nn.Linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    def u(shape, fan_in):
        b = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-b, b, size=shape)
    return {"W1": u((n_hidden, n_in), n_in), "b1": u((n_hidden,), n_in),
            "W2": u((n_out, n_hidden), n_hidden), "b2": u((n_out,), n_hidden)}


def run(quick: bool = False, out: str = ".", seed: int = 0, activation: str = "tanh", progress: bool = True) -> dict:
    """Compare hand, autograd and finite-difference gradients; returns the max abs differences."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    images, labels = md.datasets.load_digits(as_numpy=True)
    batch = 64 if quick else 256
    pick = rng.choice(len(images), size=batch, replace=False)
    x = images[pick].reshape(batch, -1).astype(np.float64)
    y = labels[pick].astype(np.int64)
    params = init_params(rng)

    stages = bar(total=3, desc="backprop: hand, autograd, finite differences", unit="method", enabled=progress)
    loss_np, _ = forward_numpy(params, x, y, activation)
    hand = backward_by_hand(params, x, y, activation)
    stages.update()
    loss_md, auto = autograd_grads(params, x, y, activation)
    stages.update()
    fd = finite_difference(params, x, y, activation, samples=20 if quick else 100, rng=rng)
    stages.update()
    stages.close()

    rows, res = [], {"loss_numpy": float(loss_np), "loss_minidl": float(loss_md),
                     "hand_vs_autograd": {}, "hand_vs_fd": {}, "autograd_vs_fd": {}, "grad_scale": {}}
    for k in PARAMS:
        idx, num = fd[k]
        h_flat, a_flat = hand[k].reshape(-1), auto[k].reshape(-1)
        d_ha = float(np.abs(hand[k] - auto[k]).max())
        d_hf = float(np.abs(h_flat[idx] - num).max())
        d_af = float(np.abs(a_flat[idx] - num).max())
        scale = float(np.abs(hand[k]).max())
        res["hand_vs_autograd"][k], res["hand_vs_fd"][k], res["autograd_vs_fd"][k] = d_ha, d_hf, d_af
        res["grad_scale"][k] = scale
        rows.append([k, "x".join(map(str, hand[k].shape)), scale, d_ha, d_hf, d_af, len(idx)])

    print(f"backprop lab: 64 -> 32 ({activation}) -> 10 MLP, softmax cross-entropy, {batch} real digits, "
          f"float64, seed {seed}")
    print(f"loss: NumPy {loss_np:.12f}   minidl {loss_md:.12f}")
    print_table(["param", "shape", "max|grad|", "hand-autograd", "hand-finitediff", "autograd-finitediff",
                 "fd entries"], rows)
    worst = max(max(res["hand_vs_autograd"].values()), max(res["hand_vs_fd"].values()))
    print(f"worst max abs difference: {worst:.2e} (pass mark 1e-6): the hand-derived chain rule is "
          f"what autograd computes")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = np.arange(len(PARAMS))
    floor = 1e-18  # exact zeros would vanish on a log axis
    for off, key, label in ((-0.27, "grad_scale", "max |gradient|"),
                            (0.0, "hand_vs_autograd", "|hand - autograd|"),
                            (0.27, "hand_vs_fd", "|hand - finite diff|")):
        ax.bar(xs + off, [max(res[key][k], floor) for k in PARAMS], width=0.27, label=label)
    ax.axhline(1e-6, color="k", ls="--", lw=1, label="pass mark 1e-6")
    ax.set_yscale("log")
    ax.set_xticks(xs, PARAMS)
    ax.set_xlabel("parameter of the 64-32-10 MLP (weights W, biases b)")
    ax.set_ylabel("max abs value (float64, log scale)")
    ax.set_title("Backprop by hand = autograd = finite differences")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    res["png"] = save_figure(fig, out, "backprop")
    res["graph_svg"] = draw_autograd_graph(params, x, y, activation, out)
    res["seconds"] = time.perf_counter() - t0
    res["worst"] = worst
    return res
