"""Finite-difference gradient checks, as ``torch.autograd.gradcheck`` and ``gradgradcheck``.

For each input x_i and each element j, the numerical derivative
    (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)
of every output element is compared with the analytical one from backward (a full
Jacobian, built row by row with one backward per output element). Use float64 inputs.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import _C
from ..graph.grad_mode import enable_grad, no_grad
from ..tensor import Tensor
from .backprop import grad as autograd_grad


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **_ignored) -> bool:
    """True if analytical and numerical Jacobians agree within ``atol + rtol * |numerical|``."""
    inputs = _as_tuple(inputs)
    diff_inputs = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff_inputs:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    for t in diff_inputs:
        if t._data.dtype != np.float64:
            warnings.warn("gradcheck: input is not float64; the finite differences will be inaccurate")

    outputs = _as_tuple(func(*inputs))
    outputs = [o for o in outputs if isinstance(o, Tensor) and o.requires_grad]

    for oi, out in enumerate(outputs):
        n_out = out.numel()
        for ii, x in enumerate(diff_inputs):
            analytical = np.zeros((x.numel(), n_out))
            numerical = np.zeros((x.numel(), n_out))
            # analytical: one backward per output element (row of the Jacobian)
            for k in range(n_out):
                g = np.zeros(out._data.shape, dtype=out._data.dtype)
                g.reshape(-1)[k] = 1.0
                outs = _as_tuple(func(*inputs))
                outs = [o for o in outs if isinstance(o, Tensor) and o.requires_grad]
                (gx,) = autograd_grad(outs[oi], [x], grad_outputs=Tensor._wrap(g), allow_unused=True)
                if gx is not None:
                    analytical[:, k] = gx._data.reshape(-1)
            # numerical: central differences, perturbing x's storage in place
            flat = x._data.reshape(-1) if x._data.flags.c_contiguous else None
            if flat is None:
                raise ValueError("gradcheck needs contiguous inputs")
            with no_grad():
                for j in range(x.numel()):
                    orig = float(flat[j])
                    flat[j] = orig + eps
                    plus = _C.contiguous([o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)][oi]._data)
                    plus = np.array(plus, dtype=np.float64).reshape(-1)
                    flat[j] = orig - eps
                    minus = _C.contiguous([o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)][oi]._data)
                    minus = np.array(minus, dtype=np.float64).reshape(-1)
                    flat[j] = orig
                    numerical[j, :] = (plus - minus) / (2 * eps)
            bad = np.abs(analytical - numerical) > atol + rtol * np.abs(numerical)
            if bad.any():
                j, k = np.argwhere(bad)[0]
                msg = (f"Jacobian mismatch for output {oi} with respect to input {ii}: at input element {j}, "
                       f"output element {k}: analytical {analytical[j, k]:.8g} vs numerical {numerical[j, k]:.8g}")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  gen_non_contig_grad_outputs: bool = False, raise_exception: bool = True, **_ignored) -> bool:
    """True if the second derivatives of ``func`` agree with finite differences of its first.

    As ``torch.autograd.gradgradcheck``: the first gradient v^T J of ``func``'s outputs, for
    output gradients v (``grad_outputs``; random normal ones when None, which then take part
    as inputs too), is itself a function of the inputs and v, built with
    ``create_graph=True``; ``gradcheck`` compares its Jacobian, from a second backward,
    with central differences of the first. Use float64 inputs.

    >>> import minidl as md
    >>> x = md.tensor([0.5, 1.5], dtype=md.float64, requires_grad=True)
    >>> md.autograd.gradgradcheck(lambda x: (x ** 3).sin(), (x,))
    True
    """
    inputs = _as_tuple(inputs)
    outputs = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor) and o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(Tensor._wrap(rng.standard_normal(o._data.shape).astype(o._data.dtype)).requires_grad_()
                             for o in outputs)
    grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)

    def first_gradients(*args):
        xs, vs = args[:n_in], args[n_in:]
        with enable_grad():  # gradcheck's finite differences call this under no_grad
            outs = [o for o in _as_tuple(func(*xs)) if isinstance(o, Tensor) and o.requires_grad]
            needed = [t for t in xs if isinstance(t, Tensor) and t.requires_grad]
            grads = autograd_grad(outs, needed, grad_outputs=list(vs), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_gradients, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


class GradcheckError(RuntimeError):
    pass
