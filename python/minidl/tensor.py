"""``md.Tensor``: a NumPy array for storage (so ``.numpy()`` is zero-copy and views are
NumPy strided views) plus the autograd fields ``requires_grad``, ``grad``, ``grad_fn``.

Every operation on it calls minidl's C++ kernels (``minidl._C``); the methods below only
dispatch to the differentiable ops in ``minidl.ops``.

Layering: this module imports only ``graph/`` and the leaf modules (``_C``, ``dtypes``, ``cuda``,
``ops.array``). The constructor ``Tensor(data)``, the operators and the methods that call a
layer above it (ops, autograd, nn.functional) are attached by ``minidl/_tensor_methods.py``,
which ``minidl/__init__.py`` imports.
"""
from __future__ import annotations

import builtins
import collections
import weakref

import numpy as np

from . import _C
from . import cuda as _cuda
from .graph import grad_mode, version
from .graph.node import AccumulateGrad
from .dtypes import DtypeShortcuts, bool_, from_numpy_dtype, int64
from .ops import array as A

return_types_max = collections.namedtuple("max", ["values", "indices"])


class Size(tuple):
    """``tensor.shape``: a tuple of ints with ``numel()``, like ``torch.Size``.

    It compares equal to a plain tuple and indexes like one.

    >>> import minidl as md
    >>> s = md.zeros(2, 3).shape
    >>> s, s[1], s.numel(), s == (2, 3)
    (minidl.Size([2, 3]), 3, 6, True)
    """

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"minidl.Size({list(self)})"


class device:
    """``md.device("cpu")``; tensors live on the CPU (CUDA arrives with the GPU issue).

    A device is named by a type and an optional index: "cpu", "cuda", "cuda:1". It compares
    equal to its string. Every minidl tensor's ``.device`` is cpu; asking a factory for a
    CUDA device raises RuntimeError.

    >>> import minidl as md
    >>> md.device("cuda:1")
    device(type='cuda', index=1)
    >>> md.zeros(1).device, md.zeros(1).device == "cpu"
    (device(type='cpu'), True)
    """

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if ":" in str(type):
            type, index = str(type).split(":")
            index = int(index)
        self.type, self.index = str(type), index

    def __eq__(self, other):
        return str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"


_CPU = device("cpu")


def _edge(t: "Tensor"):
    """Where the gradient of ``t`` goes: its grad_fn, or its leaf accumulator."""
    n = t._node
    if n is not None:
        if n.is_view and t._view_is_stale():  # its base was written since: take the new history
            t._refresh_view()
            n = t._node
        return (n, t._out_idx)
    ref = t._accum
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        t._accum = weakref.ref(acc)
    return (acc, 0)


class Tensor(DtypeShortcuts):
    """A multi-dimensional array with reverse-mode autograd (PyTorch's ``torch.Tensor``).

    A tensor holds its elements (a NumPy array; ``shape``, ``dtype``, ``device``) and,
    for autograd, ``requires_grad``, ``grad`` and ``grad_fn``. Make one with ``md.tensor``
    or a factory (``md.zeros``, ``md.randn``, ...). Ops on tensors that require grad
    record the graph; ``y.backward()`` then fills ``x.grad`` with dy/dx for every leaf
    ``x`` that requires grad (for a scalar ``y``). Operators (+ - * / ** @ < == & ...),
    indexing, and most ``md.<op>`` functions as methods (``x.sum(1)``, ``x.reshape(2, 3)``)
    work as in PyTorch. ``md.Tensor(data)`` is PyTorch's legacy constructor: always the
    default float dtype (``md.Tensor([1, 2])`` is float32, where ``md.tensor`` gives int64).

    Shapes: any number of dims; a 0-d tensor (shape ()) holds one number.

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    >>> y = (x * x).sum()                 # y = sum of x_ij^2
    >>> y
    tensor(30.0000, grad_fn=<SumBackward>)
    >>> y.backward()
    >>> x.grad                            # dy/dx = 2x
    tensor([[2.0000, 4.0000],
            [6.0000, 8.0000]])
    >>> x.shape, x.dtype, x[1, 0].item()
    (minidl.Size([2, 2]), minidl.float32, 3.0)
    """

    # _view_of: (base tensor, index key, write epoch) on a tensor made by basic
    # indexing (x[0], x[:, 1:]), set by getitem only; _wrap leaves it unset (read with getattr)
    # so other ops pay nothing. ops/inplace.py uses it to write through the base.
    # _post_accumulate_grad_hooks: set by register_post_accumulate_grad_hook only (read with
    # getattr by the engine, on leaves), for the same reason.
    __slots__ = ("_data", "_rg", "_grad", "_node", "_out_idx", "_accum", "_retains", "_hooks",
                 "_post_accumulate_grad_hooks", "_view_of", "__weakref__")
    # the fields _wrap sets, which a copy (and Tensor(data)) takes over: not the optional ones
    # above (a copy owns its memory, and the hooks belong to the original) nor __weakref__
    _COPIED_FIELDS = tuple(n for n in __slots__ if n not in ("_post_accumulate_grad_hooks", "_view_of", "__weakref__"))
    __array_priority__ = 1000  # make ndarray (op) Tensor defer to Tensor's reflected ops

    # Tensor(data) (__init__), to() and backward() call layers above this module (ops.creation,
    # ops.shape, autograd): minidl/_tensor_methods.py attaches them with the operators.

    @staticmethod
    def _wrap(arr) -> "Tensor":
        t = _new(Tensor)
        t._data = arr
        t._rg = False
        t._grad = None
        t._node = None
        t._out_idx = 0
        t._accum = None
        t._retains = False
        t._hooks = None
        return t

    # --- attributes ------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        nd = self._data.ndim
        if not -builtins.max(nd, 1) <= dim < builtins.max(nd, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
        return self._data.shape[dim]

    @property
    def dtype(self):
        return from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return _CPU

    @property
    def is_cuda(self):
        return False

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    def nelement(self) -> int:
        return self._data.size

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f" or self._data.dtype.itemsize == 2 and self._data.dtype.kind == "V"

    def is_contiguous(self) -> bool:
        return self._data.flags.c_contiguous

    def stride(self, dim=None):
        s = tuple(st // self._data.itemsize for st in self._data.strides)
        return s if dim is None else s[dim]

    def data_ptr(self) -> int:
        return self._data.ctypes.data

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool):
        if self._node is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        if value and not self.is_floating_point():
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._rg = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"assigned grad has data of a different size ({list(value.shape)}) than the "
                                   f"tensor ({list(self.shape)})")
        self._grad = value

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def data(self) -> "Tensor":
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: "Tensor"):
        self._data = value._data

    def retain_grad(self):
        if self._node is None:
            return
        if not self._retains:
            self._retains = True
            ref = weakref.ref(self)

            def hook(g):
                t = ref()
                if t is not None:
                    t._grad = Tensor._wrap(A.copy(g._data)) if t._grad is None else \
                        Tensor._wrap(A.add(t._grad._data, g._data))
            hook._retains_grad = True  # runs after every other hook, as in PyTorch 2
            self.register_hook(hook)

    @property
    def retains_grad(self) -> bool:
        return self._retains

    def register_hook(self, hook):
        """``hook(grad) -> Tensor or None`` runs when this tensor's gradient is computed."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is None:  # leaf: hooks run before accumulation into .grad
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            return _HookHandle(self._hooks, hook)
        node, idx = self._node, self._out_idx
        if node.hooks is None:
            node.hooks = {}
        hooks = node.hooks.setdefault(idx, [])
        if hooks and getattr(hooks[-1], "_retains_grad", False):
            hooks.insert(len(hooks) - 1, hook)  # .grad of retain_grad() sees the hooked gradient
        else:
            hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor) -> None`` runs on a leaf each time backward has added this pass's
        gradient into its ``.grad`` (so ``tensor.grad`` is the accumulated sum), after the
        hooks of :meth:`register_hook`. It sees the tensor, not the gradient, and may change
        ``.grad`` in place; DistributedDataParallel starts a bucket's all-reduce from it.
        Returns a handle whose ``remove()`` unregisters the hook. Not run by
        ``autograd.grad`` (which accumulates nothing).

        >>> import minidl as md
        >>> w = md.tensor([1., 2.], requires_grad=True)
        >>> seen = []
        >>> h = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
        >>> (w * w).sum().backward()          # d/dw sum(w^2) = 2w
        >>> (3 * w).sum().backward()          # .grad accumulates: 2w + 3
        >>> seen
        [[2.0, 4.0], [5.0, 7.0]]
        >>> h.remove()
        """
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = getattr(self, "_post_accumulate_grad_hooks", None)
        if hooks is None:
            hooks = self._post_accumulate_grad_hooks = []
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    # --- conversion ------------------------------------------------------------------
    def numpy(self, force: bool = False) -> np.ndarray:
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        v = self._data.reshape(-1)[0]
        if self._data.dtype.kind == "V" or self._data.dtype == np.float16:
            return float(v)
        return v.item()

    def tolist(self):
        if self._data.dtype.kind == "V" or self._data.dtype == np.float16:
            return self.float()._data.tolist()
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    def __repr__(self):
        d = self._data if self._data.dtype.kind != "V" else self._data.astype(np.float32)
        body = np.array2string(d, separator=", ", precision=4, prefix="tensor(",
                               floatmode="fixed" if d.dtype.kind == "f" else "maxprec")
        extras = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.name()}>")
        elif self._rg:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __str__ = __repr__

    def detach(self) -> "Tensor":
        return Tensor._wrap(self._data)

    def detach_(self) -> "Tensor":
        self._node, self._rg = None, False
        return self

    def type(self, dtype=None):
        if dtype is None:
            return {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor", "int64": "torch.LongTensor",
                    "bool": "torch.BoolTensor", "float16": "torch.HalfTensor",
                    "bfloat16": "torch.BFloat16Tensor"}[self.dtype.name]
        return self.to(dtype)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int64)

    def bool(self):
        return self.to(bool_)

    def cpu(self):
        return self

    def cuda(self, device=None):
        if not _cuda.is_available():
            raise _cuda.not_compiled_error()
        raise RuntimeError("minidl's CUDA tensors are not implemented yet")

    # --- autograd ------------------------------------------------------------------------
    def __getstate__(self):
        """For copy/deepcopy: every field but ``_view_of`` (a copy owns its memory: no view) and the
        post-accumulate hooks (they belong to the original: DistributedDataParallel's reducer)."""
        return getattr(self, "__dict__", None) or None, {name: getattr(self, name) for name in Tensor._COPIED_FIELDS}

    def _view_is_stale(self) -> bool:
        """A view made by indexing whose memory was written (through its base) since."""
        view_of = getattr(self, "_view_of", None)
        return (view_of is not None and version.epoch[0] != view_of[2]
                and version.written_since(self._data, view_of[2]) is not None)

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's memory has seen (shared by its views)."""
        return version.version_of(self._data)

    def _check_inplace(self):
        """Raise where PyTorch refuses an in-place write to this tensor (called before it)."""
        if not self._data.flags.writeable:
            raise RuntimeError("unsupported operation: the tensor is a read-only (expanded) view; "
                               "call .clone() first")
        if self._rg and grad_mode._enabled:
            node = self._node
            if node is None:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            while node.is_view and node.next[0] is not None:  # walk down a chain of views
                node = node.next[0][0]
                if type(node) is AccumulateGrad:
                    raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                                       "in-place operation.")

_new = object.__new__


class _HookHandle:
    def __init__(self, lst, hook):
        self._lst, self._hook = lst, hook

    def remove(self):
        if self._hook in self._lst:
            self._lst.remove(self._hook)



def is_tensor(obj) -> bool:
    """True if ``obj`` is a minidl Tensor (an ``md.nn.Parameter`` is one too).

    >>> import minidl as md
    >>> md.is_tensor(md.tensor([1., 2.])), md.is_tensor([1., 2.])
    (True, False)
    """
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    """The number of elements of ``input``: the product of its shape (1 for a 0-d tensor).

    >>> import minidl as md
    >>> md.numel(md.zeros(2, 3)), md.numel(md.tensor(5.))
    (6, 1)
    """
    return input.numel()
