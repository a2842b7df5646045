"""Higher-order gradients: the backward pass run as recorded Tensor ops (``create_graph=True``).

The ordinary backward (``graph/engine.py``) computes every gradient on raw arrays, so it
leaves no graph. With ``create_graph=True`` the same engine walk calls, on each node,
``apply_differentiable(g)`` instead of ``apply(g)``: the derivative written with minidl's
own differentiable ops on Tensors, next to the array version in the op's module. The
gradients it returns then have a grad_fn, and ``autograd.grad`` can differentiate them
again (Hessian-vector products, gradient penalties, MAML).

Two ways a node writes ``apply_differentiable``:
  * by hand, the backward formula with Tensor ops (``g * b`` for the mul node), reading its
    inputs through ``ops._graph.saved_input`` (the saved array, attached to the graph where it
    came from) and its outputs through ``saved_output``;
  * for a fused kernel (losses, normalisations), ``recomputed_grads``: the forward written
    again with primitive ops, and the backward of that taken with create_graph=True. The
    recomputation costs one extra forward of that op, only on this path.

A node with neither raises a RuntimeError naming it: never a silently wrong (graph-less)
second derivative.
"""
from __future__ import annotations

from ..graph.engine import run_backward
from ..graph.grad_mode import enable_grad
from ..graph.node import Node
from ._graph import result
from ..tensor import _edge


def _same(t):
    return t


class _DifferentiableBackward:
    """What ``run_backward`` calls with ``graph=``: every step as recorded Tensor ops."""

    unwrap = staticmethod(_same)

    @staticmethod
    # --8<-- [start:differentiable_step]
    def apply(node, g, stop=None):
        if stop and node in stop:  # a boundary of a recomputed forward: its gradient was captured
            return ()
        fn = getattr(node, "apply_differentiable", None)
        if fn is None:
            raise RuntimeError(f"derivative for {node.name()} is not implemented for create_graph=True (double "
                               "backward): minidl has no differentiable backward for this op yet; compute the "
                               "first gradient without create_graph, or write the op with ops that have one")
        return fn(g)
    # --8<-- [end:differentiable_step]

    @staticmethod
    def add(a, b):
        return a + b

    @staticmethod
    def accumulate_leaf(var, g):
        """``.grad`` keeps its graph, as PyTorch: the first gradient is stored (a copy, so that
        an in-place ``zero_`` cannot reach a tensor the caller owns), later ones are added out
        of place (``grad = grad + g``, recorded)."""
        if tuple(g.shape) != var._data.shape:
            raise RuntimeError(f"gradient of shape {list(g.shape)} does not match the leaf's shape "
                               f"{list(var._data.shape)}")
        if g._data.dtype != var._data.dtype:
            g = g.to(var.dtype)
        var._grad = g.clone() if var._grad is None else var._grad + g


GRAPH = _DifferentiableBackward()


def run_backward_with_graph(roots, root_grads, retain_graph, capture=None, accumulate=True, stop=None):
    """``run_backward`` with the gradients as Tensors carrying a graph (grad mode on)."""
    with enable_grad():
        run_backward(roots, root_grads, _same, retain_graph=retain_graph, capture=capture, accumulate=accumulate,
                     graph=GRAPH, stop=stop)


class InputBoundaryBackward(Node):
    """Identity: marks where a recomputed forward meets the real graph (the inner backward
    of ``recomputed_grads`` stops here; the gradients it returns pass through unchanged)."""
    __slots__ = ()

    def apply(self, g):
        return (g,)

    def apply_differentiable(self, g):
        return (g,)


def recomputed_grads(inputs, forward, g):
    """The gradients of ``forward(*inputs)`` with respect to ``inputs``, given the output
    gradient ``g``, as Tensors with a graph back to ``inputs``.

    ``inputs``: Tensors from ``saved_input`` (or None for inputs that need no gradient);
    ``forward``: the op written with primitive differentiable ops. Used by fused nodes
    (losses, normalisations) as their ``apply_differentiable``. For an op with several
    outputs, ``forward`` returns a tuple and ``g`` is a tuple (None: no gradient there).
    """
    xs, stops = [], set()
    for t in inputs:
        if t is None or not t._rg:
            xs.append(t)
            continue
        x = result(t._data, InputBoundaryBackward, (t,))
        xs.append(x)
        stops.add(x._node)
    with enable_grad():
        y = forward(*xs)
    ys, gs = (y, g) if isinstance(y, tuple) else ((y,), (g,))
    pairs = [(o, go) for o, go in zip(ys, gs) if o is not None and go is not None and o._rg]
    capture = {(n, 0): None for n in stops}
    run_backward_with_graph([_edge(o) for o, _ in pairs], [go for _, go in pairs], retain_graph=True,
                            capture=capture, accumulate=False, stop=stops)
    out = []
    for x in xs:
        if x is None or not x._rg:
            out.append(None)
        else:
            c = capture[(x._node, 0)]
            out.append(c if c is not None else (x * 0.0))
    return tuple(out)
