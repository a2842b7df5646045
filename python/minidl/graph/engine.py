"""Reverse-mode differentiation: walk the backward graph from the outputs, in an order where
a node runs only after every node that feeds it a gradient has run (dependency counting, a
topological order), summing the gradients that reach the same node.

The engine knows no Tensor class: gradients travel as arrays (summed by ``ops.array``, the
array-level kernel calls, a leaf module below Tensor), and the caller passes ``wrap``
(``Tensor._wrap``) to turn one into a Tensor where a hook or a leaf's ``.grad`` needs it.
"""
from __future__ import annotations

from ..ops import array as A
from . import anomaly
from .node import _FREED, AccumulateGrad
from .version import epoch as _epoch


class _Sum:
    """Two gradients of a node that can take them unsummed (``Node.apply_sum``): the sum is
    left to the node's kernel, which never stores it (ReLU: nn/activation.py)."""

    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b


def _add_grad(buf, node, idx, g, add):
    if node.n_outputs == 1:
        old = buf.get(node)
        if old is None:
            buf[node] = g
        elif type(old) is _Sum:
            buf[node] = add(add(old.a, old.b), g)  # a third gradient: (a + b) + g, as always
        elif node.apply_sum is not None and add is A.add:
            buf[node] = _Sum(old, g)
        else:
            buf[node] = add(old, g)  # out of place: g may be shared
    else:
        slot = buf.get(node)
        if slot is None:
            slot = buf[node] = [None] * node.n_outputs
        slot[idx] = g if slot[idx] is None else add(slot[idx], g)


def _run_hooks(node, g, wrap, unwrap):
    for idx, fns in node.hooks.items():
        gi = g if node.n_outputs == 1 else g[idx]
        if gi is None:
            continue
        for fn in fns:
            r = fn(wrap(gi))
            if r is not None:
                gi = unwrap(r)
        if node.n_outputs == 1:
            g = gi
        else:
            g[idx] = gi
    return g


def run_backward(roots, root_grads, wrap, retain_graph=False, capture=None, accumulate=True, graph=None,
                 stop=None):
    """Backpropagate ``root_grads`` (arrays) from ``roots`` (edges ``(node, index)``).

    ``capture``: dict edge -> None, filled with the gradient reaching each edge (for
    ``autograd.grad``). ``accumulate``: whether leaves' ``.grad`` are updated. ``wrap``:
    array -> Tensor, for hooks and ``.grad``.

    ``graph``: None for the ordinary backward on arrays. For ``create_graph=True`` the
    caller (``ops/higher_order.py``) passes an object whose ``apply(node, g)``,
    ``add``, ``unwrap`` and ``accumulate_leaf`` work on Tensors with differentiable ops, so
    that the gradients it returns carry a graph of their own; ``root_grads`` are Tensors
    then. ``stop``: nodes the walk does not go past (their gradient is captured, not
    propagated), for the recomputed forwards of fused ops; only with ``graph``.
    """
    # stop nodes enter the count first: the walk only descends into nodes it meets first,
    # so nothing below them is counted (and the ordinary path pays no test per node)
    # --8<-- [start:count_dependencies]
    deps = dict.fromkeys(stop, 0) if stop else {}
    stack = []
    for node, _ in roots:
        if node not in deps:
            deps[node] = 0
            stack.append(node)
    while stack:
        node = stack.pop()
        for e in node.next:
            if e is None:
                continue
            m = e[0]
            if m in deps:
                deps[m] += 1
            else:
                deps[m] = 1
                stack.append(m)
    # --8<-- [end:count_dependencies]

    add, unwrap = (A.add, _data) if graph is None else (graph.add, graph.unwrap)
    buf = {}
    handed = {}  # arrays already owned by some .grad (id -> array): the next leaf copies
    for (node, idx), g in zip(roots, root_grads):
        _add_grad(buf, node, idx, g, add)
        handed[id(g)] = g
    # --8<-- [start:ready_loop]
    ready = [n for n in dict.fromkeys(n for n, _ in roots) if deps[n] == 0]

    while ready:
        node = ready.pop()
        g = buf.pop(node, None)
        if type(g) is _Sum and (node.hooks or capture is not None or anomaly.enabled[0]):
            g = add(g.a, g.b)  # the sum itself is observed
        if g is not None:
            if node.hooks:
                g = _run_hooks(node, g, wrap, unwrap)
            if capture is not None:
                for idx in range(node.n_outputs):
                    if (node, idx) in capture:
                        capture[(node, idx)] = g if node.n_outputs == 1 else g[idx]
            if type(node) is AccumulateGrad:
                hooks = node.variable._hooks
                if hooks:
                    for fn in hooks:
                        r = fn(wrap(g))
                        if r is not None:
                            g = unwrap(r)
                    if capture is not None and (node, 0) in capture:
                        capture[(node, 0)] = g
                if accumulate:
                    var = node.variable
                    if graph is None:
                        _accumulate_leaf(var, g, handed, wrap)
                    else:
                        graph.accumulate_leaf(var, g)
                    post = getattr(var, "_post_accumulate_grad_hooks", None)  # unset on most leaves
                    if post:
                        for fn in tuple(post):  # a hook may remove itself
                            fn(var)
                continue
            if node.saved is _FREED:  # nodes reading self.saved directly would fail obscurely
                node.get_saved()  # raises "Trying to backward through the graph a second time"
            # --8<-- [start:engine_version_check]
            if node.epoch != _epoch[0]:  # memory was written in place since: one of this node's arrays?
                node.check_saved()
            # --8<-- [end:engine_version_check]
            grads_in = None
            if type(g) is _Sum:
                grads_in = node.apply_sum(g.a, g.b)
                if grads_in is None:
                    g = add(g.a, g.b)
            if grads_in is None and node.fuse_with_producer is not None and graph is None:
                fused = fused_with_producer(node, g, deps, buf, capture, retain_graph)
                if fused is not None:
                    node, grads_in = fused  # the producer ran too, in the same step
            if grads_in is None:
                grads_in = node.apply(g) if graph is None else graph.apply(node, g, stop)
            if anomaly.enabled[0]:
                anomaly.check_gradients(node, grads_in)
            if not retain_graph:
                node.release()
        else:
            grads_in = (None,) * len(node.next)
        for e, gi in zip(node.next, grads_in):
            if e is None:
                continue
            m = e[0]
            if gi is not None:
                _add_grad(buf, m, e[1], gi, add)
            deps[m] -= 1
            if deps[m] == 0:
                ready.append(m)
    # --8<-- [end:ready_loop]


# --8<-- [start:fused_with_producer]
def fused_with_producer(node, g, deps, buf, capture, retain_graph):
    """Run ``node`` together with the node of its one input (its producer) when that is
    invisible: (producer, producer's input gradients), or None to run them one by one.

    Fuses only when the producer's output reaches no one else in this backward (``node`` is
    the last of its consumers still to run and none before gave it a gradient, so the
    gradient ``node`` computes is the whole of it), no hook or retain_grad() is set on that
    output, autograd.grad() does not ask for it, anomaly detection is off and no graph of the
    gradient is being built (create_graph=True). ``node.fuse_with_producer`` then decides
    whether this pair of ops fuses (nn/activation.py: a ReLU after a BatchNorm).

    >>> import minidl as md
    >>> x = md.randn(4, 3, requires_grad=True)
    >>> y = md.nn.functional.batch_norm(x, None, None, training=True)
    >>> md.relu(y).sum().backward()      # BatchNorm and ReLU backward: one kernel
    >>> x.grad.shape
    minidl.Size([4, 3])
    """
    e = node.next[0] if len(node.next) == 1 else None
    if e is None or anomaly.enabled[0]:
        return None
    producer = e[0]
    if deps[producer] != 1 or producer in buf or (capture is not None and e in capture):
        return None
    if producer.hooks and any(producer.hooks.values()):
        return None
    if producer.saved is _FREED:  # the unfused path raises PyTorch's message when it gets there
        return None
    if producer.epoch != _epoch[0]:
        producer.check_saved()  # the error the producer would raise a step later
    grads = node.fuse_with_producer(producer, g)
    if grads is None:
        return None
    deps[producer] = 0
    if not retain_graph:
        node.release()  # the engine releases the producer
    return producer, grads
# --8<-- [end:fused_with_producer]


def _data(t):
    return t._data


def _accumulate_leaf(var, g, handed, wrap):
    if g.shape != var._data.shape:
        raise RuntimeError(f"gradient of shape {list(g.shape)} does not match the leaf's shape "
                           f"{list(var._data.shape)}")
    if g.dtype != var._data.dtype:
        g = A.cast(g, var._data.dtype)
    if var._grad is None:
        if id(g) in handed or not g.flags.owndata or not g.flags.writeable or not g.flags.c_contiguous:
            g = A.copy(g)
        handed[id(g)] = g
        var._grad = wrap(g)
    else:
        A.add_(var._grad._data, g)
