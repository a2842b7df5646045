"""User-defined differentiable operations, as ``torch.autograd.Function``::

    class Exp(md.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_out):
            (y,) = ctx.saved_tensors
            return grad_out * y

    y = Exp.apply(x)
"""
from __future__ import annotations

from ..graph import grad_mode
from ..graph import version as _version
from ..graph.node import Node
from ..ops import array as A
from ..tensor import Tensor, _edge


class FunctionCtx:
    """The ``ctx`` passed to ``forward`` and ``backward``."""

    def __init__(self):
        self._saved = ()
        self.needs_input_grad = ()
        self._non_differentiable = set()
        self._freed = False

    def save_for_backward(self, *tensors):
        self._saved = tensors
        # the write epoch now: backward raises if one of them is written in place after it
        self._saved_arrays = tuple(t._data if isinstance(t, Tensor) else None for t in tensors)
        self._epoch = _version.epoch[0]

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError("Trying to backward through the graph a second time (saved tensors of this "
                               "Function were freed); specify retain_graph=True.")
        if self._saved:
            _version.check(self._saved_arrays, self._epoch, lambda: "save_for_backward")
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool):
        self._materialize = value


class FunctionNode(Node):
    """Node of a user-defined ``autograd.Function``: calls its ``backward(ctx, *grads)``."""

    __slots__ = ("fn_cls", "ctx", "n_out", "out_meta")

    @property
    def n_outputs(self):
        return self.n_out

    def name(self):
        return self.fn_cls.__name__ + "Backward"

    def apply(self, grads):
        gs = [grads] if self.n_out == 1 else list(grads)
        wrapped = [Tensor._wrap(A.zeros(shape, np_dtype) if g is None else g) for g, (shape, np_dtype) in
                   zip(gs, self.out_meta)]
        with grad_mode.no_grad():
            res = self._call_backward(wrapped)
        return tuple(None if r is None else r._data for r in res)

    def apply_differentiable(self, grads):
        """create_graph=True: the user's backward runs with grad mode on, on Tensors, so what it
        computes with minidl ops is recorded (PyTorch's rule; tensors saved with
        ``save_for_backward`` that are inputs carry their graph)."""
        if getattr(self.fn_cls.backward, "_once_differentiable", False):
            raise RuntimeError(f"trying to differentiate twice a function that was marked with "
                               f"@once_differentiable ({self.name()})")
        gs = [grads] if self.n_out == 1 else list(grads)
        wrapped = [Tensor._wrap(A.zeros(shape, np_dtype)) if g is None else g for g, (shape, np_dtype) in
                   zip(gs, self.out_meta)]
        return self._call_backward(wrapped)

    def _call_backward(self, wrapped):
        ctx = self.ctx
        if ctx._freed:
            ctx.saved_tensors  # raises the standard message
        res = self.fn_cls.backward(ctx, *wrapped)
        if not isinstance(res, tuple):
            res = (res,)
        if len(res) < len(self.next):
            raise RuntimeError(f"function {self.fn_cls.__name__}.backward returned {len(res)} gradients, "
                               f"expected {len(self.next)} (one per forward input)")
        out = []
        for e, r in zip(self.next, res):
            if e is None or r is None:
                out.append(None)
            elif isinstance(r, Tensor):
                out.append(r)
            else:
                raise TypeError(f"{self.fn_cls.__name__}.backward must return Tensors or None, "
                                f"got {type(r).__name__}")
        return tuple(out)

    def release(self):
        self.ctx._freed = True


class Function:
    """Base class for custom ops: define static ``forward(ctx, *args)`` and
    ``backward(ctx, *grad_outputs)``, call with ``MyFn.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        tensor_args = [a if isinstance(a, Tensor) else None for a in args]
        ctx.needs_input_grad = tuple(bool(t is not None and t.requires_grad) for t in tensor_args)
        with grad_mode.no_grad():
            outputs = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if grad_mode.is_grad_enabled() and any(ctx.needs_input_grad):
            node = FunctionNode(tuple(_edge(t) if (t is not None and t.requires_grad) else None
                                      for t in tensor_args))
            node.fn_cls, node.ctx, node.n_out = cls, ctx, len(outs)
            node.out_meta = [(o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), None) for o in outs]
            new_outs = []
            for i, o in enumerate(outs):
                if isinstance(o, Tensor) and id(o) not in ctx._non_differentiable and o.dtype.is_floating_point:
                    t = Tensor._wrap(o._data)
                    t._node, t._out_idx, t._rg = node, i, True
                    new_outs.append(t)
                else:
                    new_outs.append(o)
            outs = tuple(new_outs)
        return outs[0] if single else outs


class once_differentiable:  # noqa: N801 - PyTorch's name
    """Marks a ``backward`` that cannot be differentiated again (written with NumPy, say):
    it runs as usual, and a double backward through it raises, as in PyTorch."""

    def __new__(cls, fn):
        fn = fn.__func__ if isinstance(fn, staticmethod) else fn
        fn._once_differentiable = True
        return fn
