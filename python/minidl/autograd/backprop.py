"""``backward()`` and ``grad()``: run the engine (``minidl.graph.engine``) from some outputs,
accumulating into the leaves' ``.grad`` or returning the gradients of chosen inputs."""
from __future__ import annotations

import sys

import numpy as np

from ..graph.engine import run_backward
from ..ops import array as A
from ..tensor import Tensor, _edge
from ..ops.higher_order import run_backward_with_graph


def _root_grads(outputs, grad_outputs, create_graph=False):
    roots, grads = [], []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__}")
        if not out._rg:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs (got an output of shape "
                                   f"{list(out._data.shape)}); pass gradient= with the same shape")
            g = A.full(out._data.shape, 1.0, out._data.dtype)
        else:
            g = g._data if isinstance(g, Tensor) else g
            if tuple(g.shape) != out._data.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {list(g.shape)} and "
                                   f"output[{i}] has a shape of {list(out._data.shape)}.")
            if g.dtype != out._data.dtype:
                g = A.cast(g, out._data.dtype)
        if create_graph:  # a grad_output that requires grad stays in the graph (the double-vjp jvp needs it)
            given = grad_outputs[i]
            g = given if isinstance(given, Tensor) and given._data.dtype == out._data.dtype else Tensor._wrap(g)
        roots.append(_edge(out))
        grads.append(g)
    return roots, grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad``.

    ``create_graph=True``: the backward is recorded, so ``.grad`` has a grad_fn and can be
    differentiated again (``retain_graph`` then defaults to True, as in PyTorch).
    """
    if retain_graph is None:
        retain_graph = create_graph
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    roots, grads = _root_grads(tensors, grad_tensors, create_graph)
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        got = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, create_graph=create_graph,
                   allow_unused=True)
        for t, g in zip(inputs, got):
            if g is None:
                continue
            if create_graph:
                t._grad = g if t._grad is None else t._grad + g
            elif t._grad is None:
                t._grad = Tensor._wrap(A.copy(g._data))
            else:
                A.add_(t._grad._data, g._data)
        return
    if create_graph:
        run_backward_with_graph(roots, grads, retain_graph=bool(retain_graph))
    else:
        run_backward(roots, grads, Tensor._wrap, retain_graph=bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """d(outputs)/d(inputs) returned as a tuple (leaves' ``.grad`` are left alone).

    ``create_graph=True``: the gradients are computed with recorded ops and have a grad_fn,
    so they can be differentiated again (``retain_graph`` defaults to ``create_graph``).
    ``only_inputs`` is accepted and ignored (PyTorch deprecated it: only ``inputs`` are
    computed either way). ``is_grads_batched=True`` is not supported (it raises).
    """
    if is_grads_batched:
        raise NotImplementedError("grad(is_grads_batched=True) is not supported by minidl: loop over the batch of "
                                  "grad_outputs instead")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, but got: "
                         "allow_unused=False.")
    if retain_graph is None:
        retain_graph = create_graph
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t._rg:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not require grad")
    roots, grads = _root_grads(outputs, grad_outputs, create_graph)
    edges = [_edge(t) for t in inputs]
    capture = {e: None for e in edges}
    if create_graph:
        run_backward_with_graph(roots, grads, bool(retain_graph), capture=capture, accumulate=False)
    else:
        run_backward(roots, grads, Tensor._wrap, retain_graph=bool(retain_graph), capture=capture, accumulate=False)
    gs = [capture[e] for e in edges]
    capture.clear()  # from here the gradients are referenced by gs and by whatever else still holds them
    owned = _sole_references(gs) if not create_graph else None
    result = []
    for i, (t, g) in enumerate(zip(inputs, gs)):
        if g is None:
            if materialize_grads:
                result.append(Tensor._wrap(A.zeros(t._data.shape, t._data.dtype)))
                continue
            if not allow_unused:
                raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to not have been used in "
                                   "the graph. Set allow_unused=True if this is the desired behavior.")
            result.append(None)
        elif create_graph:
            result.append(g)
        else:
            result.append(Tensor._wrap(g if owned[i] else A.copy(g)))
    return tuple(result)


def _reference_counts(arrays):
    return [sys.getrefcount(a) for a in arrays]


# what _reference_counts reports for an array that only its list holds (calibrated rather than
# assumed: the interpreter's own references differ between Python versions)
_ONLY_THE_LIST = _reference_counts([np.empty(1)])[0]


def _sole_references(gs):
    """Per gradient: True when it can be handed to the caller as it is (PyTorch's
    AccumulateGrad test, ``use_count() == 1``): a writable contiguous array that owns its
    memory and that nothing but ``gs`` references once: not a root gradient the caller
    passed, not the gradient of a second input, not an array a retained graph saved, not a
    broadcast view. Else the caller gets a copy. In an MLP's Hessian-vector product this
    spared 6 of its 15 copies."""
    counts = _reference_counts(gs)
    return [g is not None and g.flags.owndata and g.flags.writeable and g.flags.c_contiguous and c == _ONLY_THE_LIST
            for g, c in zip(gs, counts)]
