"""The function forms of the elementwise Tensor methods: ``md.add(x, y)`` is ``x.add(y)``,
``md.exp(x)`` is ``x.exp()``, as in PyTorch. Each is a two-line wrapper made by
:func:`_binary` or :func:`_unary`; its docstring (formula, shapes, example) is in
``_function_docs.py``.

Some of these names are Python builtins (``abs``, ``pow``, ``round``): this module binds
them and so never calls the builtins by these names.
"""
from __future__ import annotations

from ..tensor import Tensor
from ._function_docs import GENERATED_DOCS
from .creation import tensor


def _named(fn, name: str):
    fn.__name__ = fn.__qualname__ = name
    fn.__code__ = fn.__code__.replace(co_name=name)  # a traceback says "in exp", not "in fn"
    fn.__doc__ = GENERATED_DOCS[name]
    return fn


def _binary(method: str):
    """``fn(input, other)`` = ``input.<method>(other)``; a Python number as ``input`` becomes a tensor."""
    def fn(input, other):
        if not isinstance(input, Tensor):
            input = tensor(input)
        return getattr(input, method)(other)
    return _named(fn, method)


def _unary(method: str):
    """``fn(input)`` = ``input.<method>()``; anything but a tensor is a TypeError (PyTorch's)."""
    def fn(input):
        if not isinstance(input, Tensor):
            raise TypeError(f"{method}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
        return getattr(input, method)()
    return _named(fn, method)


# binary: input and other broadcast against each other
add = _binary("add")
sub = subtract = _binary("sub")
mul = multiply = _binary("mul")
div = divide = _binary("div")
pow = _binary("pow")  # noqa: A001  (md.pow, as torch.pow)
maximum = _binary("maximum")
minimum = _binary("minimum")
remainder = _binary("remainder")
eq = _binary("eq")
ne = _binary("ne")
lt = _binary("lt")
le = _binary("le")
gt = _binary("gt")
ge = _binary("ge")
logical_and = _binary("logical_and")
logical_or = _binary("logical_or")
logical_xor = _binary("logical_xor")

# unary
neg = negative = _unary("neg")
abs = _unary("abs")  # noqa: A001  (md.abs, as torch.abs)
exp = _unary("exp")
log = _unary("log")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
square = _unary("square")
reciprocal = _unary("reciprocal")
sign = _unary("sign")
sin = _unary("sin")
cos = _unary("cos")
log1p = _unary("log1p")
expm1 = _unary("expm1")
erf = _unary("erf")
erfinv = _unary("erfinv")
floor = _unary("floor")
ceil = _unary("ceil")
round = _unary("round")  # noqa: A001  (md.round, as torch.round)
trunc = _unary("trunc")
isnan = _unary("isnan")
isinf = _unary("isinf")
isfinite = _unary("isfinite")
logical_not = _unary("logical_not")
