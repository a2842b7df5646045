"""Helpers every op uses to record itself in the backward graph."""
from __future__ import annotations

import weakref

from ..graph import grad_mode
from ..graph.node import AccumulateGrad, Node
from ..tensor import Tensor, _edge

_wrap = Tensor._wrap


def needs_grad(*tensors) -> bool:
    """True when recording is on and some input requires grad."""
    if not grad_mode._enabled:
        return False
    for t in tensors:
        if t is not None and t._rg:
            return True
    return False


def edges(*tensors):
    return tuple(_edge(t) if (t is not None and t._rg) else None for t in tensors)


# --8<-- [start:record]
def result(data, node_cls=None, inputs=(), saved=()):
    """Wrap ``data`` in a Tensor and, when some input requires grad, attach ``node_cls``."""
    out = _wrap(data)
    if node_cls is not None and grad_mode._enabled:
        for t in inputs:
            if t is not None and t._rg:
                out._node = node_cls(edges(*inputs), saved)
                out._rg = True
                break
    return out
# --8<-- [end:record]


# --- double backward (create_graph=True) ---------------------------------------------------
# A node's ``apply_differentiable(g)`` rebuilds the Tensors its derivative reads from the
# arrays it saved, attached to the graph where those arrays came from, and writes the
# derivative with ordinary (recorded) ops: the gradient it returns has a grad_fn of its own.

def saved_input(node, i: int, array) -> Tensor:
    """``array`` (what ``node`` saved of its input ``i``) as a Tensor whose gradient flows to
    that input: same data, same place in the graph (a constant when the input needs no grad)."""
    t = _wrap(array)
    e = node.next[i]
    if e is not None:
        src, idx = e
        t._rg = True
        if type(src) is AccumulateGrad:  # a leaf: reach its accumulator, so .grad is the leaf's
            t._accum = weakref.ref(src)
        else:
            t._node, t._out_idx = src, idx
    return t


def saved_output(node, array, idx: int = 0) -> Tensor:
    """``array``, output ``idx`` of ``node``, as a Tensor in the graph: a derivative written
    with the output (sigmoid's y (1 - y)) is differentiated through ``node`` again, as PyTorch
    does with the results it saves. Needs the graph kept (retain_graph, the default with
    create_graph=True)."""
    t = _wrap(array)
    t._rg, t._node, t._out_idx = True, node, idx
    return t


def sum_to(g: Tensor, shape) -> Tensor:
    """``g`` summed down to ``shape`` (the backward of broadcasting), with Tensor ops."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(shape)


class LinearAdjointBackward(Node):
    """Backward of ``g -> node.apply(g)`` for a node whose gradient is linear in g and reads
    no input values (gather, index_select, dropout): the adjoint of that map is the op's own
    forward, kept in ``saved`` as a function of one Tensor and recorded again on the way
    back. Only double backward creates it."""
    __slots__ = ()

    def apply(self, h):
        with grad_mode.no_grad():
            return (self.get_saved()(_wrap(h))._data,)

    def apply_differentiable(self, h):
        return (self.get_saved()(h),)


def linear_grads(node, g: Tensor, forwards):
    """``apply_differentiable`` of a node whose gradient is linear in g: the array gradients
    of ``apply``, each recorded with ``forwards[i]`` (its input's forward op) as its backward."""
    grads = node.apply(g._data)
    return tuple(None if gi is None else result(gi, LinearAdjointBackward, (g,), fwd) for gi, fwd in zip(grads, forwards))
