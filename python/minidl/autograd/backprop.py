"""``backward()`` and ``grad()``: run the engine (``minidl.graph.engine``) from some outputs,
accumulating into the leaves' ``.grad`` or returning the gradients of chosen inputs."""
from __future__ import annotations

from ..graph.engine import run_backward
from ..ops import array as A
from ..tensor import Tensor, _edge


def _root_grads(outputs, grad_outputs):
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
        roots.append(_edge(out))
        grads.append(g)
    return roots, grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad``."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported by minidl yet")
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    roots, grads = _root_grads(tensors, grad_tensors)
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        got = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, allow_unused=True)
        for t, g in zip(inputs, got):
            if g is None:
                continue
            if t._grad is None:
                t._grad = Tensor._wrap(A.copy(g._data))
            else:
                A.add_(t._grad._data, g._data)
        return
    run_backward(roots, grads, Tensor._wrap, retain_graph=bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """d(outputs)/d(inputs) returned as a tuple (leaves' ``.grad`` are left alone)."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported by minidl yet")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t._rg:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not require grad")
    roots, grads = _root_grads(outputs, grad_outputs)
    edges = [_edge(t) for t in inputs]
    capture = {e: None for e in edges}
    run_backward(roots, grads, Tensor._wrap, retain_graph=bool(retain_graph), capture=capture, accumulate=False)
    result = []
    for i, (t, e) in enumerate(zip(inputs, edges)):
        g = capture[e]
        if g is None:
            if materialize_grads:
                result.append(Tensor._wrap(A.zeros(t._data.shape, t._data.dtype)))
                continue
            if not allow_unused:
                raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to not have been used in "
                                   "the graph. Set allow_unused=True if this is the desired behavior.")
            result.append(None)
        else:
            result.append(Tensor._wrap(A.copy(g)))
    return tuple(result)
