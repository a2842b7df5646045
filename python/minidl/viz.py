"""Pictures of the backward graph: ``md.viz.draw_graph(y, params)``, as torchviz's
``make_dot`` draws PyTorch's.

Autograd records, for every op on tensors that require grad, a node (``y.grad_fn``) whose
``next_functions`` say where each input's gradient goes: to the node of the op that made the
input, or to the ``AccumulateGrad`` node of a leaf (a parameter), which adds it into
``leaf.grad``. ``y.backward()`` walks that graph from ``y.grad_fn``; ``draw_graph`` walks it
the same way and draws what it meets:

* the output tensor (green box, its shape),
* one box per backward node: its name (``LinearBackward``, ``ActivationBackward``, ...),
  the kind of op where the node saved one (``Activation.tanh``), and the shapes of the arrays
  it saved for the backward (e.g. a linear layer keeps its input and weight),
* for each leaf, its ``AccumulateGrad`` node and the leaf itself (blue box), named from
  ``params`` (``dict(model.named_parameters())``) when the leaf is one of them,
* an arrow for every edge, in the direction the gradient flows (output -> ... -> leaf).
  torchviz draws the same edges pointing the other way (the forward data flow).

minidl fuses what PyTorch records as several nodes (a linear layer is one ``LinearBackward``
where PyTorch has ``AddmmBackward0`` and ``TBackward0``; cross-entropy is one node where
PyTorch has ``NllLossBackward0`` after ``LogSoftmaxBackward0``), so the two pictures of the
same model differ there; graphs of the primitive ops (``@``, ``+``, ``tanh``, ``.t()``, ...)
have the same shape in both.

The ``graphviz`` Python package builds the graph (``pip install "minidl[viz]"``); rendering it
(``.pipe(format="svg")``, ``.render()``, a notebook's display) runs Graphviz's ``dot`` program
(Debian/Ubuntu: ``apt-get install graphviz``).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from .graph.node import _FREED, AccumulateGrad
from .tensor import Tensor

__all__ = ["draw_graph"]
__doctest_requires__ = ("graphviz",)  # tests/test_docstrings.py skips the examples without it

#: how to get the Python package, named in the ImportError
INSTALL_GRAPHVIZ = 'pip install "minidl[viz]" (or: pip install graphviz)'
#: how to get the ``dot`` program, named in the error a render raises without it
INSTALL_DOT = ("apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS), "
               "or see https://graphviz.org/download/")

# torchviz's look: filled boxes, small monospace text, so that a deep graph stays readable
_NODE_ATTR = dict(style="filled", shape="box", align="left", fontsize="10", ranksep="0.1", height="0.2",
                  fontname="monospace")
_OUTPUT_COLOR, _LEAF_COLOR = "darkolivegreen1", "lightblue"


def _graphviz():
    try:
        import graphviz  # deferred: optional package (the viz extra), imported only when drawing
    except ImportError as err:
        raise ImportError(f"md.viz.draw_graph needs the graphviz Python package: {INSTALL_GRAPHVIZ}") from err
    return graphviz


@functools.lru_cache(maxsize=None)
def _graph_class(graphviz):
    """``graphviz.Digraph`` whose rendering says how to install ``dot`` when it is missing."""

    def explain(err):
        err.args = (f"{err.args[0] if err.args else err}. Rendering the graph runs Graphviz's `dot` program, "
                    f"which was not found: {INSTALL_DOT}",)

    class BackwardGraph(graphviz.Digraph):
        def pipe(self, *args, **kwargs):
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as err:
                explain(err)
                raise

        def render(self, *args, **kwargs):
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as err:
                explain(err)
                raise

    return BackwardGraph


def _size(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


# --8<-- [start:saved_lines]
def _saved_lines(node) -> list:
    """What a node kept for its backward: the kind of op (an enum) and the saved arrays' shapes."""
    saved = node.saved
    if saved is _FREED:
        return ["saved: freed by backward()"]
    items = saved if isinstance(saved, (tuple, list)) else (saved,)
    kinds = [str(s) for s in items if hasattr(type(s), "__members__")]  # pybind11 / Python enums
    shapes = [_size(s.shape) for s in items if isinstance(s, (np.ndarray, Tensor))]
    return kinds + (["saved " + " ".join(shapes)] if shapes else [])
# --8<-- [end:saved_lines]


def _check_params(params) -> dict:
    """``{id(tensor): name}`` from ``params`` (name -> Tensor)."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"draw_graph: params must be a dict of name -> Tensor (e.g. dict(model.named_parameters())), "
                        f"not {type(params).__name__}")
    names = {}
    for name, t in params.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"draw_graph: params[{name!r}] is a {type(t).__name__}, not a Tensor")
        names.setdefault(id(t), str(name))  # a tensor shared under two names keeps the first
    return names


def draw_graph(tensor: Tensor, params=None):
    """The backward graph of ``tensor`` as a ``graphviz.Digraph`` (torchviz's ``make_dot``).

    ``tensor``: a Tensor with a ``grad_fn`` (the result of ops on tensors that require grad), or
    a leaf that requires grad (drawn alone). ``params``: optional dict name -> Tensor, e.g.
    ``dict(model.named_parameters())``; leaves found in it are labelled with their name and
    shape, the others with their shape.

    The graph has one node per backward node reachable from ``tensor.grad_fn`` through
    ``next_functions`` (the nodes ``tensor.backward()`` runs), one per leaf, and the output;
    an edge ``a -> b`` says the gradient computed at ``a`` flows to ``b``. For
    ``y = tanh(x W^T + b)`` (x: (N, in), W: (out, in)) the gradient flows
    ``y -> ActivationBackward -> LinearBackward -> AccumulateGrad -> W`` (and ``-> b``), the
    chain rule dL/dW = (dL/dy * tanh'(z))^T x read off the arrows. Node labels list what each
    node saved for the backward: ``LinearBackward`` saved x (N, in) and W (out, in).

    Render it with ``g.pipe(format="svg")``, ``g.render("graph", format="png")``, or display
    it in a notebook; that runs Graphviz's ``dot`` program (``apt-get install graphviz``). Needs
    the graphviz Python package: ``pip install "minidl[viz]"``.

    Raises TypeError for a non-Tensor ``tensor`` or a bad ``params``, RuntimeError for a tensor
    with no backward graph (``requires_grad=False``), ImportError without graphviz.

    >>> import minidl as md
    >>> lin = md.nn.Linear(3, 2)
    >>> y = md.tanh(lin(md.ones(4, 3))).sum()
    >>> g = md.viz.draw_graph(y, params=dict(lin.named_parameters()))
    >>> print(g.source)  # doctest: +NORMALIZE_WHITESPACE
    digraph {
        graph [size="12,12"]
        node [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]
        output [label="()" fillcolor=darkolivegreen1]
        output -> node1
        node1 [label=SumBackward]
        node1 -> node2
        node2 [label="ActivationBackward
    Activation.tanh
    saved (4, 2)"]
        node2 -> node3
        node3 [label="LinearBackward
    saved (4, 3) (2, 3)"]
        node3 -> node4
        node3 -> node5
        node4 [label=AccumulateGrad]
        leaf1 [label="weight
    (2, 3)" fillcolor=lightblue]
        node4 -> leaf1
        node5 [label=AccumulateGrad]
        leaf2 [label="bias
    (2)" fillcolor=lightblue]
        node5 -> leaf2
    }
    >>> svg = g.pipe(format="svg")  # doctest: +SKIP
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(tensor).__name__}")
    if tensor.grad_fn is None and not tensor.requires_grad:
        raise RuntimeError("draw_graph: the tensor has no backward graph: it does not require grad and has no "
                           "grad_fn (make it from tensors with requires_grad=True, outside md.no_grad())")
    names = _check_params(params)
    graphviz = _graphviz()
    dot = _graph_class(graphviz)(node_attr=_NODE_ATTR, graph_attr=dict(size="12,12"))

    ids, counts = {}, {"node": 0, "leaf": 0}  # id(object) -> "output", "node1", "leaf1", ...: a stable source

    def key(obj, prefix):
        if id(obj) not in ids:
            counts[prefix] += 1
            ids[id(obj)] = f"{prefix}{counts[prefix]}"
        return ids[id(obj)]

    def tensor_label(t):
        name = names.get(id(t))
        return _size(t.shape) if name is None else f"{name}\n{_size(t.shape)}"

    root = tensor.grad_fn
    if root is None:  # a leaf that requires grad: nothing ran to make it
        dot.node(key(tensor, "leaf"), tensor_label(tensor), fillcolor=_LEAF_COLOR)
        return dot
    ids[id(tensor)] = "output"
    dot.node("output", tensor_label(tensor), fillcolor=_OUTPUT_COLOR)
    dot.edge("output", key(root, "node"))

    # --8<-- [start:walk_graph]
    stack = [root]
    while stack:  # depth-first, each node once (a node used twice has two edges into it)
        node = stack.pop()
        here = ids[id(node)]
        dot.node(here, "\n".join([node.name()] + _saved_lines(node)))
        if isinstance(node, AccumulateGrad):
            leaf = node.variable
            dot.node(key(leaf, "leaf"), tensor_label(leaf), fillcolor=_LEAF_COLOR)
            dot.edge(here, ids[id(leaf)])
            continue
        unseen = []
        for nxt, _ in node.next_functions:
            if nxt is None:  # an input that needs no gradient
                continue
            if id(nxt) not in ids:
                unseen.append(nxt)
            dot.edge(here, key(nxt, "node"))
        stack.extend(reversed(unseen))  # the first input is drawn first
    # --8<-- [end:walk_graph]
    return dot
