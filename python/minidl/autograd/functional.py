"""Derivatives of whole functions, as ``torch.autograd.functional``: vjp, jvp, jacobian,
hessian, vhp, hvp.

Each takes ``func`` (Tensors -> a Tensor or a tuple of Tensors) and the point ``inputs`` (a
Tensor or a tuple of them), differentiates at fresh copies of ``inputs`` (so the caller's
tensors and their ``.grad`` are untouched) and returns detached results, unless
``create_graph=True`` keeps the graph for a further derivative. A Tensor argument gives
Tensor results, a tuple gives tuples, as in PyTorch.

For a function f: R^n -> R^m with Jacobian J (m x n) at x:
    vjp(f, x, v) = v^T J     one backward
    jvp(f, x, u) = J u       two backwards (the double-vjp trick: J u = d/dw [ (w^T J) u ])
    jacobian     = J         one backward per output element
    for a scalar f with Hessian H: vhp(f, x, v) = v^T H, hvp(f, x, v) = H v, hessian = H.
minidl computes hvp as vhp (H is symmetric for a twice continuously differentiable f,
PyTorch's docs say the same), one double backward. ``vectorize`` and ``strategy`` are
accepted and ignored: minidl always loops over rows in reverse mode.
"""
from __future__ import annotations

from ..graph.grad_mode import enable_grad
from ..ops import array as A
from ..ops.join import stack
from ..tensor import Tensor
from .backprop import grad as _grad

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


def _as_tuple(x, what: str, fn: str):
    is_tuple = isinstance(x, (tuple, list))
    xs = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but the value "
                            f"at index {i} has type {type(t).__name__}.")
    return is_tuple, xs


def _fresh(xs, create_graph: bool):
    """Inputs to differentiate at: new leaves, or (create_graph) views that keep the caller's graph."""
    return tuple(x.view_as(x) if (create_graph and x.requires_grad) else x.detach().requires_grad_() for x in xs)


def _zeros_like(x: Tensor) -> Tensor:
    return Tensor._wrap(A.zeros(x._data.shape, x._data.dtype))


def _ones_like(x: Tensor) -> Tensor:
    return Tensor._wrap(A.full(x._data.shape, 1.0, x._data.dtype))


def _grads(outputs, inputs, grad_outputs, create_graph: bool, strict: bool, fn: str):
    """d(outputs)/d(inputs) . grad_outputs, with zeros (strict: an error) where unused."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if pairs:
        got = _grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=True,
                    create_graph=create_graph, allow_unused=True)
    else:
        got = (None,) * len(inputs)
    out = []
    for i, (x, g) in enumerate(zip(inputs, got)):
        if g is None:
            if strict:
                raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This is "
                                   f"not allowed in strict mode ({fn}).")
            g = _zeros_like(x)
        out.append(g if create_graph else g.detach())
    return tuple(out)


def _check_v(v, outputs, what: str, fn: str):
    if v is None:
        if len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError(f"The vector v can only be None if the {what} is a single Tensor with a single "
                               f"element ({fn}).")
        return (Tensor._wrap(A.full(outputs[0]._data.shape, 1.0, outputs[0]._data.dtype)),)
    _, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(outputs):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(outputs)} but got {len(vs)} ({fn}).")
    for i, (t, o) in enumerate(zip(vs, outputs)):
        if t.shape != o.shape:
            raise RuntimeError(f"Entry {i} in v has invalid size: should be {list(o.shape)} but got "
                               f"{list(t.shape)} ({fn}).")
    return vs


def _outputs(func, xs, fn: str):
    is_tuple, outs = _as_tuple(func(*xs), "outputs of the user-provided function", fn)
    return is_tuple, outs


def _pack(is_tuple: bool, xs):
    return tuple(xs) if is_tuple else xs[0]


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the vector-Jacobian product, one backward.

    ``v`` has the output's shape (None for a one-element output: v = 1).

    >>> import minidl as md
    >>> out, g = md.autograd.functional.vjp(lambda x: x ** 2, md.tensor([1., 2.]), md.tensor([1., 1.]))
    >>> g                                  # 2 x
    tensor([2.0000, 4.0000])
    """
    is_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
    with enable_grad():
        xs = _fresh(xs, create_graph)
        out_tuple, outs = _outputs(func, xs, "vjp")
        vs = _check_v(v, outs, "user-provided function", "vjp")
        g = _grads(outs, xs, vs, create_graph, strict, "vjp")
    outs = outs if create_graph else tuple(o.detach() for o in outs)
    return _pack(out_tuple, outs), _pack(is_tuple, g)


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v): the Jacobian-vector product, by the double-vjp trick.

    With w a dummy output gradient, g(w) = w^T J is linear in w, and the vjp of g with the
    vector v is J v: two backwards, the first with create_graph=True (PyTorch does the
    same). ``v`` has the inputs' shape (None for a one-element input).

    >>> import minidl as md
    >>> out, jv = md.autograd.functional.jvp(lambda x: x ** 2, md.tensor([1., 2.]), md.tensor([1., 0.]))
    >>> jv                                 # 2 x * v
    tensor([2.0000, 0.0000])
    """
    is_tuple, xs = _as_tuple(inputs, "inputs", "jvp")
    with enable_grad():
        xs = _fresh(xs, create_graph)
        vs = _check_v(v, xs, "input", "jvp")
        out_tuple, outs = _outputs(func, xs, "jvp")
        ws = tuple(_zeros_like(o).requires_grad_() for o in outs)
        g = _grads(outs, xs, ws, True, strict, "jvp")
        jv = _grads(g, ws, vs, create_graph, strict, "jvp")
    outs = outs if create_graph else tuple(o.detach() for o in outs)
    return _pack(out_tuple, outs), _pack(out_tuple, jv)


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian: J[i][j] of shape outputs[i].shape + inputs[j].shape.

    One backward per output element (reverse mode). Single Tensor in and out: one Tensor;
    tuples give tuples (outer: outputs, inner: inputs), as PyTorch.

    >>> import minidl as md
    >>> md.autograd.functional.jacobian(lambda x: x ** 2, md.tensor([1., 2.]))
    tensor([[2.0000, 0.0000],
            [0.0000, 4.0000]])
    """
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your function '
                         'has more outputs than inputs, "forward-mode" tends to be more performant. Otherwise, prefer '
                         'to use "reverse-mode".')
    is_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
    with enable_grad():
        xs = _fresh(xs, create_graph)
        out_tuple, outs = _outputs(func, xs, "jacobian")
        result = []
        for o in outs:
            rows = [[] for _ in xs]
            n = o.numel()
            for k in range(n):
                onehot = A.zeros(o._data.shape, o._data.dtype)
                onehot.reshape(-1)[k] = 1.0
                for j, g in enumerate(_grads((o,), xs, (Tensor._wrap(onehot),), create_graph, strict, "jacobian")):
                    rows[j].append(g)
            per_input = []
            for j, x in enumerate(xs):
                shape = tuple(o.shape) + tuple(x.shape)
                per_input.append(stack(rows[j], 0).reshape(shape) if n else
                                 Tensor._wrap(A.zeros(shape, x._data.dtype)))
            result.append(_pack(is_tuple, per_input))
    return _pack(out_tuple, result)


def _scalar_output(func, fn: str):
    def checked(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor):
            raise RuntimeError(f"The function given to {fn} should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain a single element")
        return out.reshape(())
    return checked


def hessian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar function: H[i][j] of shape inputs[i].shape + inputs[j].shape.

    The Jacobian of the gradient (computed with create_graph=True): one double backward
    per input element.

    >>> import minidl as md
    >>> md.autograd.functional.hessian(lambda x: (x ** 3).sum(), md.tensor([1., 2.]))
    tensor([[ 6.0000,  0.0000],
            [ 0.0000, 12.0000]])
    """
    is_tuple, xs = _as_tuple(inputs, "inputs", "hessian")
    f = _scalar_output(func, "hessian")

    def gradient(*ys):
        out = f(*ys)
        return _pack(is_tuple, _grads((out,), ys, (_ones_like(out),), True, strict, "hessian"))

    return jacobian(gradient, _pack(is_tuple, xs), create_graph=create_graph, strict=strict,
                    strategy=outer_jacobian_strategy)


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H) for a scalar function: the gradient's vjp, one double backward.

    >>> import minidl as md
    >>> out, r = md.autograd.functional.vhp(lambda x: (x ** 3).sum(), md.tensor([1., 2.]), md.tensor([1., 1.]))
    >>> out, r                              # 6 x * v
    (tensor(9.0000), tensor([ 6.0000, 12.0000]))
    """
    return _vhp(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v) for a scalar function.

    minidl returns v^T H (:func:`vhp`): equal to H v, since H is symmetric wherever f is
    twice continuously differentiable (PyTorch computes H v with a double-vjp, slower;
    its docs note the two agree then).

    >>> import minidl as md
    >>> out, r = md.autograd.functional.hvp(lambda x: (x[0] * x[1]), md.tensor([1., 2.]), md.tensor([1., 0.]))
    >>> r                                   # H = [[0, 1], [1, 0]]
    tensor([0.0000, 1.0000])
    """
    return _vhp(func, inputs, v, create_graph, strict, "hvp")


# --8<-- [start:vhp]
def _vhp(func, inputs, v, create_graph, strict, fn):
    is_tuple, xs = _as_tuple(inputs, "inputs", fn)
    f = _scalar_output(func, fn)
    with enable_grad():
        xs = _fresh(xs, create_graph)
        vs = _check_v(v, xs, "input", fn)
        out = f(*xs)
        if not out.requires_grad:
            if strict:
                raise RuntimeError(f"The output of the user-provided function is independent of the inputs. This is "
                                   f"not allowed in strict mode ({fn}).")
            zeros = tuple(_zeros_like(x) for x in xs)
            return out.detach(), _pack(is_tuple, zeros)
        g = _grads((out,), xs, (_ones_like(out),), True, strict, fn)
        r = _grads(g, xs, vs, create_graph, strict, fn)
    return (out if create_graph else out.detach()), _pack(is_tuple, r)
# --8<-- [end:vhp]
