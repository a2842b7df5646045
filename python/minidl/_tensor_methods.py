"""Operators and methods of ``md.Tensor``, each forwarding to a differentiable op.

They live here and not in ``tensor.py`` because they call the layers above it: ``ops``
(and ``Tensor(data)``, ``to()``), ``autograd`` (``backward()``) and ``nn.functional``
(``relu()``, ``softmax()`` ...). ``minidl/__init__.py`` imports this module right after
``minidl.tensor``, so every Tensor has them once ``import minidl`` has run.
"""
from __future__ import annotations

from .autograd import backward as _autograd_backward
from .dtypes import as_dtype, dtype as _dtype, get_default_dtype
from .nn import functional as F
from .ops import (arrange, creation, dlpack, elementwise, extremum, gemm, indexing, inplace, join, linalg, masking,
                  norms, random, random_inplace, reduce, sampling, scan, scatter_reduce, search, shape, sort, subscript,
                  triangular, where)
from .ops import array as A
from .tensor import Tensor, device

_binary = elementwise.binary


def _op(code, reverse=False):
    def method(self, other):
        return _binary(code, self, other, reverse)
    return method


T = Tensor
T.__add__ = T.add = _op(A.ADD)
T.__dlpack__ = dlpack.dlpack_method  # sharing memory with PyTorch / NumPy / JAX (ops/dlpack.py)
T.__dlpack_device__ = dlpack.dlpack_device_method
T.__radd__ = _op(A.ADD, True)
T.__sub__ = T.sub = _op(A.SUB)
T.__rsub__ = _op(A.SUB, True)
T.__mul__ = T.mul = _op(A.MUL)
T.__rmul__ = _op(A.MUL, True)
T.__truediv__ = T.div = _op(A.DIV)
T.__rtruediv__ = _op(A.DIV, True)
T.__pow__ = T.pow = _op(A.POW)
T.__rpow__ = _op(A.POW, True)
T.__floordiv__ = _op(A.FLOOR_DIVIDE)
T.__rfloordiv__ = _op(A.FLOOR_DIVIDE, True)
T.__mod__ = T.remainder = _op(A.REMAINDER)
T.maximum = _op(A.MAXIMUM)
T.minimum = _op(A.MINIMUM)
T.__eq__ = T.eq = _op(A.EQ)
T.__ne__ = T.ne = _op(A.NE)
T.__lt__ = T.lt = _op(A.LT)
T.__le__ = T.le = _op(A.LE)
T.__gt__ = T.gt = _op(A.GT)
T.__ge__ = T.ge = _op(A.GE)
T.__and__ = T.logical_and = _op(A.LAND)
T.__or__ = T.logical_or = _op(A.LOR)
T.__xor__ = T.logical_xor = _op(A.LXOR)
T.__hash__ = object.__hash__


def _add_alpha(self, other, alpha=1):
    return _binary(A.ADD, self, other * alpha if alpha != 1 else other)


T.add = lambda self, other, alpha=1: _add_alpha(self, other, alpha)
T.sub = lambda self, other, alpha=1: _binary(A.SUB, self, other * alpha if alpha != 1 else other)


def _unary(code):
    return lambda self: elementwise.unary(code, self)


T.__neg__ = T.neg = T.negative = _unary(A.NEG)
T.__abs__ = T.abs = _unary(A.ABS)
T.__invert__ = T.logical_not = _unary(A.LOGICAL_NOT)
T.exp = _unary(A.EXP)
T.log = _unary(A.LOG)
T.sqrt = _unary(A.SQRT)
T.rsqrt = _unary(A.RSQRT)
T.square = _unary(A.SQUARE)
T.reciprocal = _unary(A.RECIPROCAL)
T.sign = _unary(A.SIGN)
T.sin = _unary(A.SIN)
T.cos = _unary(A.COS)
T.log1p = _unary(A.LOG1P)
T.expm1 = _unary(A.EXPM1)
T.erf = _unary(A.ERF)
T.erfinv = _unary(A.ERFINV)
T.floor = _unary(A.FLOOR)
T.ceil = _unary(A.CEIL)
T.round = _unary(A.ROUND)
T.trunc = _unary(A.TRUNC)
T.isnan = _unary(A.ISNAN)
T.isinf = _unary(A.ISINF)
T.isfinite = _unary(A.ISFINITE)
T.__matmul__ = T.matmul = gemm.matmul
T.__rmatmul__ = lambda self, other: gemm.matmul(other, self)
T.mm = gemm.mm
T.bmm = gemm.bmm
T.clamp = T.clip = where.clamp
T.masked_fill = where.masked_fill
T.where = lambda self, condition, other: where.where(condition, self, other)


# in-place ops (ops/inplace.py: the version counter, and autograd's rebase of x's history)
T.__iadd__ = T.add_ = inplace.add_
T.__isub__ = T.sub_ = inplace.sub_
T.__imul__ = T.mul_ = inplace.mul_
T.__itruediv__ = T.div_ = inplace.div_
T.pow_ = inplace.pow_
T.exp_ = lambda self: inplace.unary_(A.EXP, self)
T.log_ = lambda self: inplace.unary_(A.LOG, self)
T.sqrt_ = lambda self: inplace.unary_(A.SQRT, self)
T.neg_ = lambda self: inplace.unary_(A.NEG, self)
T.abs_ = lambda self: inplace.unary_(A.ABS, self)
T.clamp_ = T.clip_ = inplace.clamp_
T.masked_fill_ = inplace.masked_fill_
T.fill_ = inplace.fill_
T.zero_ = lambda self: inplace.fill_(self, 0)
T.copy_ = inplace.copy_
T.uniform_ = random_inplace.uniform_
T.normal_ = random_inplace.normal_
T.bernoulli_ = random_inplace.bernoulli_
T.random_ = random_inplace.random_
T.exponential_ = random_inplace.exponential_
T.geometric_ = random_inplace.geometric_
T.cauchy_ = random_inplace.cauchy_
T.log_normal_ = random_inplace.log_normal_
T.__setitem__ = inplace.setitem
T._refresh_view = inplace.refresh_view  # tensor.py's _edge calls it for a stale view

T.sum = reduce.sum
T.mean = reduce.mean
T.var = reduce.var
T.std = reduce.std
T.max = extremum.max
T.min = extremum.min
T.amax = extremum.amax
T.amin = extremum.amin
T.argmax = extremum.argmax
T.argmin = extremum.argmin
T.logsumexp = reduce.logsumexp
T.prod = reduce.prod
T.any = reduce.any
T.all = reduce.all
T.count_nonzero = reduce.count_nonzero

T.reshape = shape.reshape
T.view = shape.view
T.view_as = lambda self, other: shape.view(self, other.shape)
T.reshape_as = lambda self, other: shape.reshape(self, other.shape)
T.flatten = shape.flatten
T.unflatten = shape.unflatten
T.squeeze = shape.squeeze
T.unsqueeze = shape.unsqueeze
T.permute = shape.permute
T.transpose = shape.transpose
T.swapaxes = shape.transpose
T.t = shape.t
T.T = property(lambda self: shape.permute(self, tuple(range(self.ndim - 1, -1, -1))))
T.mT = property(lambda self: shape.transpose(self, -2, -1))
T.expand = shape.expand
T.expand_as = shape.expand_as
T.__getitem__ = subscript.getitem
T.split = join.split
T.chunk = join.chunk
T.tensor_split = join.tensor_split
T.unbind = join.unbind
T.narrow = join.narrow
T.select = join.select
T.clone = lambda self, memory_format=None: shape.clone(self)
T.contiguous = lambda self, memory_format=None: shape.contiguous(self)
T.repeat = shape.repeat


def _flip(self, *dims, **kwargs):
    """``x.flip(*dims)``, ``x.flip(dims)`` or ``x.flip(dims=...)``: :func:`minidl.flip`, whose
    dims PyTorch's method also takes one by one.

    >>> import minidl as md
    >>> md.tensor([[1, 2], [3, 4]]).flip(0, 1)
    tensor([[4, 3],
            [2, 1]])
    """
    if "dims" in kwargs:
        return shape.flip(self, kwargs.pop("dims"), **kwargs)
    return shape.flip(self, dims[0] if len(dims) == 1 else dims)


T.flip = _flip
T.movedim = T.moveaxis = arrange.movedim
T.broadcast_to = arrange.broadcast_to
T.tile = arrange.tile
T.roll = arrange.roll
T.rot90 = arrange.rot90
T.repeat_interleave = arrange.repeat_interleave

T.tril, T.triu, T.tril_, T.triu_ = triangular.tril, triangular.triu, triangular.tril_, triangular.triu_
T.diagonal, T.diag, T.diag_embed, T.trace = (triangular.diagonal, triangular.diag, triangular.diag_embed,
                                             triangular.trace)
T.outer, T.dot, T.inner = linalg.outer, linalg.dot, linalg.inner
T.addmm, T.addmm_, T.baddbmm, T.baddbmm_ = linalg.addmm, linalg.addmm_, linalg.baddbmm, linalg.baddbmm_
T.addcmul, T.addcmul_, T.addcdiv, T.addcdiv_ = linalg.addcmul, linalg.addcmul_, linalg.addcdiv, linalg.addcdiv_
T.lerp, T.lerp_ = linalg.lerp, linalg.lerp_
T.norm = norms.norm


for _name in ("sort", "argsort", "msort", "topk", "kthvalue", "median"):
    setattr(T, _name, getattr(sort, _name))
for _name in ("bincount", "histc", "unique", "unique_consecutive"):  # (torch.Tensor has no searchsorted / bucketize)
    setattr(T, _name, getattr(search, _name))
for _name in ("cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "diff"):
    setattr(T, _name, getattr(scan, _name))
# in place, recorded by autograd: cumsum's backward needs no old x, cumprod's does
T.cumsum_ = lambda self, dim, *, dtype=None: inplace.apply_(self, lambda old: scan.cumsum(old, dim, dtype=dtype),
                                                            keeps_old=False)
T.cumprod_ = lambda self, dim, *, dtype=None: inplace.apply_(self, lambda old: scan.cumprod(old, dim, dtype=dtype))
T.gather = indexing.gather
T.take_along_dim = indexing.take_along_dim
T.take = indexing.take
T.scatter = indexing.scatter
T.scatter_add = indexing.scatter_add
T.scatter_reduce = scatter_reduce.scatter_reduce
T.index_select = indexing.index_select
T.index_add = indexing.index_add
T.index_copy = indexing.index_copy
T.index_fill = indexing.index_fill
T.masked_select = masking.masked_select
T.masked_scatter = masking.masked_scatter
T.nonzero = masking.nonzero
T.argwhere = masking.argwhere
T.scatter_ = inplace.scatter_
T.scatter_add_ = inplace.scatter_add_
T.scatter_reduce_ = inplace.scatter_reduce_
T.index_add_ = inplace.index_add_
T.index_copy_ = inplace.index_copy_
T.index_fill_ = inplace.index_fill_
T.masked_scatter_ = inplace.masked_scatter_


for _name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax"):
    setattr(T, _name, getattr(F, _name))  # x.relu(...) is F.relu(x, ...)
T.relu_ = lambda self: F.relu(self, inplace=True)


# --- construction, conversion, backward ----------------------------------------------------
def _tensor_init(self, data=None, *, requires_grad=False):
    # torch.Tensor(data) is the legacy constructor: the default float dtype whatever the data
    src = creation.tensor(data if data is not None else [], dtype=get_default_dtype(), requires_grad=requires_grad)
    for name in Tensor._COPIED_FIELDS:
        setattr(self, name, getattr(src, name))


def _to(self, *args, **kwargs) -> Tensor:
    dt = kwargs.get("dtype")
    dev = kwargs.get("device")
    for a in args:
        if isinstance(a, (_dtype, type)) or (not isinstance(a, (str, device, Tensor)) and a is not None):
            dt = a
        elif isinstance(a, Tensor):
            dt = a.dtype
        else:
            dev = a
    out = self
    if dev is not None:
        creation._check_device(dev)
    if dt is not None:
        out = shape.to_dtype(out, as_dtype(dt))
    if kwargs.get("copy") and out is self:
        out = self.clone()
    return out


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    _autograd_backward(self, gradient, retain_graph, create_graph, inputs=inputs)


T.__init__ = _tensor_init
T.to = _to
T.backward = _backward


# --- x.new_*: a new tensor with x's dtype (and device) unless told otherwise ---------------
def _new_size(size):
    return size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``x.new_zeros(size)``: zeros of shape ``size`` with x's dtype unless ``dtype`` is given
    (the same for ``new_ones``, ``new_full(size, fill_value)``, ``new_empty`` and
    ``new_tensor(data)``, which copies ``data``). Shapes: () -> size.

    >>> import minidl as md
    >>> x = md.tensor([1.5], dtype=md.float64)
    >>> x.new_zeros(2, 3).shape, x.new_ones((2,)).dtype
    (minidl.Size([2, 3]), minidl.float64)
    >>> x.new_full((2,), 7), x.new_tensor([1, 2])
    (tensor([7.0000, 7.0000], dtype=minidl.float64), tensor([1.0000, 2.0000], dtype=minidl.float64))
    >>> x.new_empty(0).numel(), x.type_as(md.tensor([1])), x.nbytes
    (0, tensor([1]), 8)
    """
    return creation.zeros(*_new_size(size), dtype=dtype or self.dtype, requires_grad=requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``x.new_ones(size)``: ones with x's dtype unless ``dtype`` is given (see :func:`new_zeros`).

    >>> import minidl as md
    >>> md.tensor([1]).new_ones(2)
    tensor([1, 1])
    """
    return creation.ones(*_new_size(size), dtype=dtype or self.dtype, requires_grad=requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``x.new_full(size, v)``: ``v`` everywhere, x's dtype unless ``dtype`` is given (see
    :func:`new_zeros`).

    >>> import minidl as md
    >>> md.tensor([1.0]).new_full((1, 2), 3)
    tensor([[3.0000, 3.0000]])
    """
    return creation.full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``x.new_empty(size)``: uninitialized, x's dtype unless ``dtype`` is given (see
    :func:`new_zeros`).

    >>> import minidl as md
    >>> md.tensor([1.0]).new_empty(2, 2).shape
    minidl.Size([2, 2])
    """
    return creation.empty(*_new_size(size), dtype=dtype or self.dtype, requires_grad=requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``x.new_tensor(data)``: a copy of ``data`` (never a view), x's dtype unless ``dtype``
    is given, detached from any graph (see :func:`new_zeros`).

    >>> import minidl as md
    >>> md.tensor([1.0]).new_tensor([[1, 2]])
    tensor([[1.0000, 2.0000]])
    """
    if isinstance(data, Tensor):
        data = data.detach().numpy()
    return creation.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


T.new_zeros, T.new_ones, T.new_full, T.new_empty, T.new_tensor = new_zeros, new_ones, new_full, new_empty, new_tensor
T.type_as = lambda self, other: _to(self, other.dtype)
T.nbytes = property(lambda self: self._data.size * self._data.itemsize)
T.clamp_min = where.clamp_min
T.clamp_max = where.clamp_max
T.tan = elementwise.tan
T.unfold = arrange.unfold
T.multinomial = sampling.multinomial
T.bernoulli = random.bernoulli


_TORCH_TYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _float_inplace(op_name: str, fn):
    """``x.<op_name>()`` in place for an op whose result is floating: an integer ``x`` cannot
    hold it, so it raises (PyTorch's message) instead of truncating."""
    def method(self, *args):
        if not self.is_floating_point():
            kind = str(self.dtype).split(".")[-1]
            raise RuntimeError("result type Float can't be cast to the desired output type "
                               f"{_TORCH_TYPE_NAMES.get(kind, kind)}")
        return fn(self, *args)
    method.__name__ = op_name
    return method


T.erf_ = _float_inplace("erf_", lambda self: inplace.unary_(A.ERF, self))
T.erfinv_ = _float_inplace("erfinv_", lambda self: inplace.unary_(A.ERFINV, self))
T.tan_ = _float_inplace("tan_", lambda self: inplace.apply_(self, elementwise.tan))
T.clamp_min_ = lambda self, min: inplace.clamp_(self, min=min)
T.clamp_max_ = lambda self, max: inplace.clamp_(self, max=max)
