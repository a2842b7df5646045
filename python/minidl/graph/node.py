"""The backward graph.

Every differentiable op that sees an input requiring grad creates a ``Node`` whose
``apply(grad_output)`` returns one gradient per input. ``next`` holds, per input, the edge
``(node, output_index)`` its gradient flows to (``None`` for inputs that need no grad).
Leaf tensors that require grad end in an ``AccumulateGrad`` node that adds into ``.grad``.
Gradients travelling through the graph are NumPy arrays (storage only; the arithmetic in
``apply`` calls the C++ kernels), or Tensors under ``create_graph=True``, when the engine
calls ``apply_differentiable`` instead.

A node remembers the write epoch when it saved its arrays (``graph/version.py``); the engine
calls ``check_saved()`` before ``apply`` when some memory was written in place since, so that
a saved array changed in place raises instead of giving a wrong gradient.
"""
from __future__ import annotations

from . import anomaly as _anomaly, version as _version
from .anomaly import enabled as _anomaly_on  # one-element lists: never rebound, so these names stay valid
from .version import epoch as _epoch

_FREED = object()


class Node:
    """One backward step. Subclasses define ``apply(self, grad)`` -> tuple of grads (arrays),
    and, to take part in higher-order gradients, ``apply_differentiable(self, grad)``: the
    same derivative on Tensors with recorded ops (``create_graph=True``; see
    ``ops/higher_order.py``). A node without it raises there, naming itself."""

    __slots__ = ("next", "saved", "hooks", "epoch", "__weakref__")
    n_outputs = 1
    is_view = False  # True on the nodes of ops whose result shares its input's memory
    # A peephole of the engine (engine.py, fused_with_producer): a node of one input may define
    # ``fuse_with_producer(producer, g)`` returning the gradients of ``producer``'s inputs for
    # this node's output gradient ``g``, computed as one step (relu(batch_norm(x)), one kernel
    # instead of two), or None where the pair does not fuse. The engine offers it only when
    # nothing can tell the difference (the producer's output feeds this node alone, no hook).
    fuse_with_producer = None
    # Another: a node of one output may define ``apply_sum(ga, gb)``, its input gradients for the
    # output gradient ga + gb, when two consumers' gradients meet at it, so that the sum is not
    # stored (ReLU's backward reads ga, gb and x in one pass); None where it does not apply.
    apply_sum = None

    def __init__(self, next_edges, saved=()):
        self.next = next_edges
        self.saved = saved
        self.hooks = None
        self.epoch = _epoch[0]  # in-place writes so far: check_saved looks for later ones
        if _anomaly_on[0]:
            _anomaly.record_forward(self)

    def check_saved(self):
        """Raise if an array this node saved was modified in place after it was saved."""
        if type(self.saved) is tuple:
            _version.check(self.saved, self.epoch, self.name)

    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self):
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.next)

    def release(self):
        if self.saved is not _FREED and self.saved != ():
            self.saved = _FREED

    def get_saved(self):
        s = self.saved
        if s is _FREED:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors "
                "after they have already been freed). Saved intermediate values of the graph are freed "
                "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
                f"backward through the graph a second time (node {self.name()}).")
        return s

    def __repr__(self):
        return f"<{self.name()}>"


class AccumulateGrad(Node):
    """Terminal node of a leaf tensor: ``leaf.grad += grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        super().__init__(())
        self.variable = variable

    def apply(self, grad):  # accumulation is done by the engine (it knows about aliasing)
        return ()

