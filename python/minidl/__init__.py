"""minidl: a deep-learning engine to learn from. PyTorch's API; C++ SIMD/OpenMP kernels;
reverse-mode autograd in a thin Python layer. ``import minidl as md``."""
from __future__ import annotations

__version__ = "0.1.0"

from . import _C
from .dtypes import (bfloat16, double, dtype, float, float16, float32, float64, get_default_dtype, half, int64,
                     long, set_default_dtype)
from .dtypes import bool_ as bool  # noqa: A001  (md.bool, as torch.bool)
from .tensor import Size, Tensor, device
from . import _tensor_methods  # noqa: F401  Tensor(data), operators, methods: they call ops/autograd/nn
from . import autograd
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .ops import elementwise as _elementwise
from .ops import array as _A
from .ops import gemm as _gemm
from .ops import reduce as _reduce
from .ops import shape as _shape
from .ops.creation import (arange, as_tensor, bernoulli, empty, empty_like, eye, from_numpy, full, full_like,
                           get_rng_state, initial_seed, linspace, manual_seed, normal, ones, ones_like, rand,
                           rand_like, randint, randn, randn_like, randperm, set_rng_state, tensor, zeros, zeros_like)
from . import backend, cuda, datasets, models, nn, optim
from . import callbacks, transforms
from . import amp
from .amp import autocast, get_autocast_dtype, is_autocast_enabled
from .io import save, load

# functional forms of the tensor methods (md.exp(x), md.cat([...]), ...)
cat = _shape.cat
concat = _shape.cat
stack = _shape.stack
split = _shape.split
chunk = _shape.chunk
unbind = _shape.unbind
reshape = _shape.reshape
flatten = _shape.flatten
squeeze = _shape.squeeze
unsqueeze = _shape.unsqueeze
permute = _shape.permute
transpose = _shape.transpose
narrow = _shape.narrow
flip = _shape.flip
clone = _shape.clone
where = _elementwise.where
clamp = _elementwise.clamp
clip = _elementwise.clamp
masked_fill = _elementwise.masked_fill
matmul = _gemm.matmul
mm = _gemm.mm
bmm = _gemm.bmm
sum = _reduce.sum
mean = _reduce.mean
var = _reduce.var
std = _reduce.std
max = _reduce.max
min = _reduce.min
amax = _reduce.amax
amin = _reduce.amin
argmax = _reduce.argmax
argmin = _reduce.argmin
logsumexp = _reduce.logsumexp
prod = _reduce.prod
any = _reduce.any
all = _reduce.all
count_nonzero = _reduce.count_nonzero


def _binary_fn(method):
    def fn(input, other):
        if not isinstance(input, Tensor):
            input = tensor(input)
        return getattr(input, method)(other)
    fn.__name__ = method
    return fn


def _unary_fn(method):
    def fn(input):
        return getattr(input, method)()
    fn.__name__ = method
    return fn


for _m in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
           "logical_and", "logical_or", "logical_xor", "remainder"):
    globals()[_m] = _binary_fn(_m)
for _m in ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "square", "reciprocal", "sign", "sin", "cos", "log1p",
           "expm1", "floor", "ceil", "round", "trunc", "isnan", "isinf", "isfinite", "logical_not", "relu",
           "sigmoid", "tanh"):
    globals()[_m] = _unary_fn(_m)
# the activations go straight to nn.functional (two Python frames fewer than via the Tensor method)
relu, sigmoid, tanh = nn.functional.relu, nn.functional.sigmoid, nn.functional.tanh
negative = globals()["neg"]
subtract = globals()["sub"]
multiply = globals()["mul"]
divide = globals()["div"]

# The docstrings of the generated functions above, one per name (the aliases negative,
# subtract, multiply and divide are the same function objects as neg, sub, mul and div).
_GENERATED_DOCS = {
    # --- binary: input and other broadcast against each other --------------------------
    "add": """Elementwise sum: ``out = input + other``.

        Both operands broadcast against each other (PyTorch and NumPy rules: align the
        trailing dims; a dim of size 1, or a missing one, is stretched). The result dtype
        follows PyTorch's type promotion (int64 + float32 -> float32; an int64 tensor plus a
        Python float -> the default float dtype). Backward: d out / d input = d out / d other
        = 1, so each input receives the incoming gradient summed over the dims it was
        stretched along. ``torch.add`` also takes ``alpha`` (``input + alpha * other``) and
        ``out=``; ``md.add`` does not (the method ``x.add(y, alpha=2)`` does take ``alpha``).

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b).

        >>> import minidl as md
        >>> x = md.tensor([[1., 2.], [3., 4.]])
        >>> md.add(x, md.tensor([10., 20.]))   # the row (2,) is added to every row of x
        tensor([[11.0000, 22.0000],
                [13.0000, 24.0000]])
        >>> md.add(md.tensor([1, 2]), 0.5)     # int64 tensor + Python float -> float32
        tensor([1.5000, 2.5000])
        """,
    "sub": """Elementwise difference: ``out = input - other`` (``md.subtract`` is the same function).

        Broadcasting and type promotion as in :func:`add`. Backward: d out / d input = 1,
        d out / d other = -1. ``torch.sub`` also takes ``alpha`` (``input - alpha * other``);
        ``md.sub`` does not (the method ``x.sub(y, alpha=2)`` does).

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b).

        >>> import minidl as md
        >>> md.sub(md.tensor([5., 7.]), 2)
        tensor([3.0000, 5.0000])
        >>> md.subtract(md.tensor([[1.], [2.]]), md.tensor([1., 2.]))  # (2, 1) - (2,) -> (2, 2)
        tensor([[ 0.0000, -1.0000],
                [ 1.0000,  0.0000]])
        """,
    "mul": """Elementwise (Hadamard) product: ``out = input * other`` (``md.multiply`` is the same function).

        Not the matrix product (that is :func:`matmul`). Broadcasting and type promotion as
        in :func:`add`. Backward: d out / d input = other, d out / d other = input.

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b).

        >>> import minidl as md
        >>> x = md.tensor([[1., 2.], [3., 4.]])
        >>> md.mul(x, md.tensor([[2.], [3.]]))   # a column (2, 1) scales each row
        tensor([[ 2.0000,  4.0000],
                [ 9.0000, 12.0000]])
        >>> md.multiply(x, 10)
        tensor([[10.0000, 20.0000],
                [30.0000, 40.0000]])
        """,
    "div": """Elementwise true division: ``out = input / other`` (``md.divide`` is the same function).

        True division, as in PyTorch: integer inputs give a float result (the default
        dtype), never a truncated one. Division by zero follows IEEE 754 (x / 0 = +-inf,
        0 / 0 = nan). Backward: d out / d input = 1 / other, d out / d other = -input / other^2.
        Broadcasting and type promotion as in :func:`add`. ``torch.div`` also takes
        ``rounding_mode`` ("trunc", "floor"); ``md.div`` does not (``x // y`` floors).

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b).

        >>> import minidl as md
        >>> md.div(md.tensor([1, 2, 3]), 2)      # int64 / int -> float32
        tensor([0.5000, 1.0000, 1.5000])
        >>> md.divide(md.tensor([1., -1., 0.]), 0.)
        tensor([ inf, -inf,  nan])
        """,
    "pow": """Elementwise power: ``out = input ** exponent`` (``md.pow(input, exponent)``).

        Either operand may be a Python number: ``md.pow(x, 2)`` squares, ``md.pow(2, x)``
        computes 2^x. Backward: d out / d input = exponent * input^(exponent - 1),
        d out / d exponent = input^exponent * log(input) (taken as 0 where input == 0, as in
        PyTorch). Broadcasting and type promotion as in :func:`add`.

        Shapes: ``input`` (*a), ``exponent`` (*b) or a Python number -> broadcast(*a, *b).

        >>> import minidl as md
        >>> md.pow(md.tensor([1., 2., 3.]), 2)
        tensor([1.0000, 4.0000, 9.0000])
        >>> md.pow(2, md.tensor([1., 2., 3.]))
        tensor([2.0000, 4.0000, 8.0000])
        """,
    "maximum": """Elementwise maximum of two tensors: ``out = max(input, other)``.

        Not a reduction (that is :func:`max` / :func:`amax`). A NaN in either operand gives
        NaN, as in PyTorch. Backward: the gradient goes to the larger operand; on a tie it is
        split in half between the two. Broadcasting and type promotion as in :func:`add`.

        Shapes: ``input`` (*a), ``other`` (*b) -> broadcast(*a, *b). (minidl also accepts a
        Python number for ``other``; ``torch.maximum`` wants a tensor.)

        >>> import minidl as md
        >>> md.maximum(md.tensor([1., 5., 3.]), md.tensor([4., 2., 3.]))
        tensor([4.0000, 5.0000, 3.0000])
        """,
    "minimum": """Elementwise minimum of two tensors: ``out = min(input, other)``.

        Not a reduction (that is :func:`min` / :func:`amin`). A NaN in either operand gives
        NaN, as in PyTorch. Backward: the gradient goes to the smaller operand; on a tie it
        is split in half. Broadcasting and type promotion as in :func:`add`.

        Shapes: ``input`` (*a), ``other`` (*b) -> broadcast(*a, *b). (minidl also accepts a
        Python number for ``other``; ``torch.minimum`` wants a tensor.)

        >>> import minidl as md
        >>> md.minimum(md.tensor([1., 5., 3.]), md.tensor([4., 2., 3.]))
        tensor([1.0000, 2.0000, 3.0000])
        """,
    "eq": """Elementwise equality test ``input == other``; a bool tensor.

        Exact comparison after type promotion (for floats compare with a tolerance instead:
        :func:`isclose`); NaN is not equal to anything, itself included. Not differentiable.
        To ask whether two whole tensors are equal use :func:`equal`.

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> md.eq(md.tensor([1, 2, 3]), md.tensor([1, 0, 3]))
        tensor([ True, False,  True])
        >>> md.eq(md.tensor([1, 2, 3]), 2)
        tensor([False,  True, False])
        """,
    "ne": """Elementwise inequality test ``input != other``; a bool tensor.

        The negation of :func:`eq` (so NaN != NaN is True). Not differentiable.

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> md.ne(md.tensor([1, 2, 3]), md.tensor([1, 0, 3]))
        tensor([False,  True, False])
        """,
    "lt": """Elementwise ``input < other``; a bool tensor.

        Comparisons with NaN are False. Not differentiable.

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> md.lt(md.tensor([1, 2, 3]), 2)
        tensor([ True, False, False])
        """,
    "le": """Elementwise ``input <= other``; a bool tensor.

        Comparisons with NaN are False. Not differentiable.

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> md.le(md.tensor([1, 2, 3]), 2)
        tensor([ True,  True, False])
        """,
    "gt": """Elementwise ``input > other``; a bool tensor.

        Comparisons with NaN are False. Not differentiable. A bool tensor used as a mask:
        ``x[md.gt(x, 0)]`` picks the positive elements.

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> md.gt(md.tensor([1, 2, 3]), 2)
        tensor([False, False,  True])
        """,
    "ge": """Elementwise ``input >= other``; a bool tensor.

        Comparisons with NaN are False. Not differentiable.

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> md.ge(md.tensor([1, 2, 3]), 2)
        tensor([False,  True,  True])
        """,
    "logical_and": """Elementwise logical AND; a bool tensor.

        Non-bool inputs count as True where they are nonzero (as in PyTorch). ``a & b`` on
        bool tensors is the same operation. Not differentiable.

        Shapes: ``input`` (*a), ``other`` (*b) -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> p = md.tensor([True, True, False, False])
        >>> q = md.tensor([True, False, True, False])
        >>> md.logical_and(p, q)
        tensor([ True, False, False, False])
        >>> md.logical_and(md.tensor([0., 2.]), md.tensor([5., 5.]))   # nonzero is True
        tensor([False,  True])
        """,
    "logical_or": """Elementwise logical OR; a bool tensor.

        Non-bool inputs count as True where they are nonzero. ``a | b`` on bool tensors is the
        same operation. Not differentiable.

        Shapes: ``input`` (*a), ``other`` (*b) -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> p = md.tensor([True, True, False, False])
        >>> q = md.tensor([True, False, True, False])
        >>> md.logical_or(p, q)
        tensor([ True,  True,  True, False])
        """,
    "logical_xor": """Elementwise logical exclusive OR (True where exactly one is True); a bool tensor.

        Non-bool inputs count as True where they are nonzero. ``a ^ b`` on bool tensors is
        the same operation. Not differentiable.

        Shapes: ``input`` (*a), ``other`` (*b) -> broadcast(*a, *b), dtype bool.

        >>> import minidl as md
        >>> p = md.tensor([True, True, False, False])
        >>> q = md.tensor([True, False, True, False])
        >>> md.logical_xor(p, q)
        tensor([False,  True,  True, False])
        """,
    "remainder": """Elementwise remainder of a division, with the sign of the divisor (Python's ``%``).

        ``out = input - floor(input / other) * other``, as in PyTorch's ``remainder`` (and
        unlike C's ``fmod``, which keeps the sign of the dividend). ``x % y`` is the same.
        Broadcasting and type promotion as in :func:`add`.

        Shapes: ``input`` (*a), ``other`` (*b) or a Python number -> broadcast(*a, *b).

        >>> import minidl as md
        >>> md.remainder(md.tensor([-1., 4., 5.5]), 3)
        tensor([2.0000, 1.0000, 2.5000])
        >>> md.remainder(md.tensor([-1., 4., 5.5]), -3)
        tensor([-1.0000, -2.0000, -0.5000])
        """,
    # --- unary: out has the shape of input -------------------------------------------------
    "neg": """Elementwise negation: ``out = -input`` (``md.negative`` is the same function).

        Backward: d out / d input = -1. A bool tensor is refused (use :func:`logical_not`), as
        in PyTorch, which raises RuntimeError where minidl raises TypeError.

        Shapes: (*) -> (*), same dtype.

        >>> import minidl as md
        >>> md.neg(md.tensor([1., -2., 3.]))
        tensor([-1.0000,  2.0000, -3.0000])
        """,
    "abs": """Elementwise absolute value: ``out = |input|``.

        Backward: d out / d input = sign(input) (0 at input == 0, PyTorch's choice of
        subgradient).

        Shapes: (*) -> (*), same dtype.

        >>> import minidl as md
        >>> md.abs(md.tensor([-1.5, 0., 2.]))
        tensor([1.5000, 0.0000, 2.0000])
        """,
    "exp": """Elementwise exponential: ``out = e^input``.

        Backward: d out / d input = e^input = out (the output is saved, not recomputed).
        Integer and bool inputs are computed in the default float dtype.

        Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.exp(md.tensor([0., 1., 2.]))
        tensor([1.0000, 2.7183, 7.3891])
        """,
    "log": """Elementwise natural logarithm: ``out = ln(input)``.

        log(0) = -inf and log(x < 0) = nan (IEEE 754, as PyTorch). Backward:
        d out / d input = 1 / input. Integer and bool inputs are computed in the default
        float dtype.

        Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.log(md.tensor([1., 2.7183, 10.]))
        tensor([0.0000, 1.0000, 2.3026])
        >>> md.log(md.tensor([0., -1.]))
        tensor([-inf,  nan])
        """,
    "sqrt": """Elementwise square root: ``out = sqrt(input)``.

        sqrt(x < 0) = nan. Backward: d out / d input = 1 / (2 sqrt(input)) = 0.5 / out (inf at
        0). Integer and bool inputs are computed in the default float dtype.

        Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.sqrt(md.tensor([0., 4., 2.]))
        tensor([0.0000, 2.0000, 1.4142])
        """,
    "rsqrt": """Elementwise reciprocal square root: ``out = 1 / sqrt(input)``.

        The normalizations use it (LayerNorm divides by sqrt(var + eps)). Backward:
        d out / d input = -1/2 input^(-3/2) = -out^3 / 2.

        Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.rsqrt(md.tensor([1., 4., 16.]))
        tensor([1.0000, 0.5000, 0.2500])
        """,
    "square": """Elementwise square: ``out = input * input``.

        Backward: d out / d input = 2 input. An integer tensor stays integer (as in PyTorch).

        Shapes: (*) -> (*), same dtype.

        >>> import minidl as md
        >>> md.square(md.tensor([-2., 3.]))
        tensor([4.0000, 9.0000])
        """,
    "reciprocal": """Elementwise reciprocal: ``out = 1 / input``.

        1 / 0 = inf. Backward: d out / d input = -1 / input^2 = -out^2. Integer inputs are
        computed in the default float dtype.

        Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.reciprocal(md.tensor([2., 4., 0.]))
        tensor([0.5000, 0.2500,    inf])
        """,
    "sign": """Elementwise sign: -1 for negative, 0 for zero, +1 for positive.

        Backward: zero (sign is flat almost everywhere, as in PyTorch).

        Shapes: (*) -> (*), same dtype.

        >>> import minidl as md
        >>> md.sign(md.tensor([-3., 0., 2.]))
        tensor([-1.0000,  0.0000,  1.0000])
        """,
    "sin": """Elementwise sine (argument in radians): ``out = sin(input)``.

        Backward: d out / d input = cos(input).

        Shapes: (*) -> (*).

        >>> import math
        >>> import minidl as md
        >>> md.sin(md.tensor([0., math.pi / 6, math.pi / 2]))
        tensor([0.0000, 0.5000, 1.0000])
        """,
    "cos": """Elementwise cosine (argument in radians): ``out = cos(input)``.

        Backward: d out / d input = -sin(input).

        Shapes: (*) -> (*).

        >>> import math
        >>> import minidl as md
        >>> md.cos(md.tensor([0., math.pi / 3, math.pi]))
        tensor([ 1.0000,  0.5000, -1.0000])
        """,
    "log1p": """Elementwise ``out = ln(1 + input)``, accurate for small ``input``.

        For |x| much smaller than 1, ``1 + x`` rounds to 1 in floating point and ``log(1 + x)``
        returns 0; ``log1p`` keeps the digits (ln(1 + x) ~ x). Backward:
        d out / d input = 1 / (1 + input).

        Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.log1p(md.tensor([1e-8]))
        tensor([1.0000e-08])
        >>> md.log(1 + md.tensor([1e-8]))    # the naive formula loses everything
        tensor([0.0000])
        """,
    "expm1": """Elementwise ``out = e^input - 1``, accurate for small ``input``.

        For |x| much smaller than 1, ``exp(x)`` is 1 up to rounding and ``exp(x) - 1`` cancels
        to 0; ``expm1`` keeps the digits (e^x - 1 ~ x). Backward: d out / d input = e^input = out + 1.

        Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.expm1(md.tensor([1e-8]))
        tensor([1.0000e-08])
        >>> md.exp(md.tensor([1e-8])) - 1    # the naive formula loses everything
        tensor([0.0000])
        """,
    "floor": """Elementwise floor: the largest integer <= input (as a float).

        Backward: zero (the function is flat between integers). Integer tensors pass through.

        Shapes: (*) -> (*), same dtype.

        >>> import minidl as md
        >>> md.floor(md.tensor([-1.5, 0.5, 2.]))
        tensor([-2.0000,  0.0000,  2.0000])
        """,
    "ceil": """Elementwise ceiling: the smallest integer >= input (as a float).

        Backward: zero (the function is flat between integers). Integer tensors pass through.

        Shapes: (*) -> (*), same dtype.

        >>> import minidl as md
        >>> md.ceil(md.tensor([-1.5, 0.5, 2.]))
        tensor([-1.0000,  1.0000,  2.0000])
        """,
    "round": """Elementwise rounding to the nearest integer, halves to even ("banker's rounding").

        0.5 -> 0, 1.5 -> 2, 2.5 -> 2: ties go to the even neighbour, as in PyTorch and NumPy
        (not away from zero as in school). Backward: zero. ``torch.round`` also takes
        ``decimals``; ``md.round`` does not.

        Shapes: (*) -> (*), same dtype.

        >>> import minidl as md
        >>> md.round(md.tensor([0.5, 1.5, 2.5, 2.7]))
        tensor([0.0000, 2.0000, 2.0000, 3.0000])
        """,
    "trunc": """Elementwise truncation toward zero: drops the fractional part.

        trunc(x) = floor(x) for x >= 0 and ceil(x) for x < 0. Backward: zero.

        Shapes: (*) -> (*), same dtype.

        >>> import minidl as md
        >>> md.trunc(md.tensor([-1.7, 0.5, 2.9]))
        tensor([-1.0000,  0.0000,  2.0000])
        """,
    "isnan": """Elementwise test for NaN ("not a number"); a bool tensor.

        NaN is the only value not equal to itself, so ``isnan(x)`` is ``x != x``. Not
        differentiable.

        Shapes: (*) -> (*), dtype bool.

        >>> import minidl as md
        >>> md.isnan(md.tensor([1., float("nan"), float("inf")]))
        tensor([False,  True, False])
        """,
    "isinf": """Elementwise test for +inf or -inf; a bool tensor.

        Not differentiable.

        Shapes: (*) -> (*), dtype bool.

        >>> import minidl as md
        >>> md.isinf(md.tensor([1., float("nan"), float("inf"), -float("inf")]))
        tensor([False, False,  True,  True])
        """,
    "isfinite": """Elementwise test for a finite value (neither inf nor NaN); a bool tensor.

        Handy to check a loss or a gradient before an optimizer step. Not differentiable.

        Shapes: (*) -> (*), dtype bool.

        >>> import minidl as md
        >>> md.isfinite(md.tensor([1., float("nan"), float("inf")]))
        tensor([ True, False, False])
        """,
    "logical_not": """Elementwise logical NOT; a bool tensor.

        Non-bool inputs count as True where they are nonzero, so the result is True where
        the input is 0. ``~b`` on a bool tensor is the same operation. Not differentiable.

        Shapes: (*) -> (*), dtype bool.

        >>> import minidl as md
        >>> md.logical_not(md.tensor([True, False]))
        tensor([False,  True])
        >>> md.logical_not(md.tensor([0., 3.]))
        tensor([ True, False])
        """,
}
for _m, _doc in _GENERATED_DOCS.items():
    globals()[_m].__doc__ = _doc


def softmax(input, dim, dtype=None):
    """Softmax along ``dim``: turns scores into probabilities that sum to 1.

    softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), the sums running over ``dim`` and
    m = max_j x_j. Subtracting the maximum changes nothing mathematically (it cancels) but
    keeps exp from overflowing. Backward: dx = y * (dy - sum(dy * y, dim)). ``dtype``, when
    given, casts the input first (as PyTorch), e.g. to compute in float64. The same function
    as ``md.nn.functional.softmax``.

    Shapes: (*) -> (*), each slice along ``dim`` sums to 1.

    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]])
    >>> md.softmax(x, dim=1)
    tensor([[0.2689, 0.7311],
            [0.2689, 0.7311]])
    >>> md.softmax(x, dim=1).sum(dim=1)
    tensor([1.0000, 1.0000])
    """
    return nn.functional.softmax(input, dim, dtype)


def log_softmax(input, dim, dtype=None):
    """Logarithm of :func:`softmax` along ``dim``, computed stably in one step.

    log_softmax(x)_i = x_i - logsumexp(x) = x_i - m - log(sum_j exp(x_j - m)), m = max_j x_j.
    Computing log(softmax(x)) in two steps underflows to -inf when a probability is tiny;
    this form does not, which is why losses (``cross_entropy``, ``nll_loss``) work on
    log-probabilities. Backward: dx = dy - exp(y) * sum(dy, dim). ``dtype`` casts the input
    first, as in PyTorch. The same function as ``md.nn.functional.log_softmax``.

    Shapes: (*) -> (*).

    >>> import minidl as md
    >>> md.log_softmax(md.tensor([[1., 2.], [3., 4.]]), dim=1)
    tensor([[-1.3133, -0.3133],
            [-1.3133, -0.3133]])
    """
    return nn.functional.log_softmax(input, dim, dtype)


def is_tensor(obj) -> bool:
    """True if ``obj`` is a minidl Tensor (an ``md.nn.Parameter`` is one too).

    >>> import minidl as md
    >>> md.is_tensor(md.tensor([1., 2.])), md.is_tensor([1., 2.])
    (True, False)
    """
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    """The number of elements of ``x``: the product of its shape (1 for a 0-d tensor).

    >>> import minidl as md
    >>> md.numel(md.zeros(2, 3)), md.numel(md.tensor(5.))
    (6, 1)
    """
    return x.numel()


def allclose(a: Tensor, b: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """True if ``a`` and ``b`` are close everywhere: |a - b| <= atol + rtol |b|.

    The test is elementwise :func:`isclose` followed by "all". It is not symmetric: the
    relative tolerance scales with |b|, so pass the reference value as ``b``. The shapes
    must broadcast. Like :func:`isclose`, minidl differs from PyTorch for infinities:
    ``torch.allclose`` treats inf and inf (same sign) as close, minidl does not.

    Shapes: ``a`` (*a), ``b`` (*b) -> a Python bool.

    >>> import minidl as md
    >>> a = md.tensor([1.0, 2.0])
    >>> md.allclose(a, md.tensor([1.0, 2.0 + 1e-6]))
    True
    >>> md.allclose(a, md.tensor([1.0, 2.1]))
    False
    """
    return isclose(a, b, rtol, atol, equal_nan).all().item()  # .item(): ``bool`` here is md.bool


def isclose(a: Tensor, b: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """Elementwise closeness test: |a - b| <= atol + rtol |b|; a bool tensor.

    Floating-point results differ in their last bits depending on the order of operations,
    so compare floats with a tolerance: ``atol`` matters near zero, ``rtol`` for large
    values. NaN is close to nothing unless ``equal_nan=True``. Where minidl differs from
    PyTorch: ``torch.isclose`` counts inf and inf of the same sign as close; minidl
    computes inf - inf = nan and answers False.

    Shapes: ``a`` (*a), ``b`` (*b) -> broadcast(*a, *b), dtype bool.

    >>> import minidl as md
    >>> a = md.tensor([1.0, 2.0, float("nan")])
    >>> b = md.tensor([1.0 + 1e-6, 2.1, float("nan")])
    >>> md.isclose(a, b)
    tensor([ True, False, False])
    >>> md.isclose(a, b, equal_nan=True)
    tensor([ True, False,  True])
    """
    diff = (a - b).abs()
    close = diff <= (b.abs() * rtol + atol)
    if equal_nan:
        close = close | (a.isnan() & b.isnan())
    return close


def equal(a: Tensor, b: Tensor) -> bool:
    """True if ``a`` and ``b`` have the same shape and exactly the same elements.

    No broadcasting and no tolerance (see :func:`allclose` for floats that went through
    different computations). A tensor holding NaN is not equal to itself.

    Shapes: ``a`` and ``b`` any shapes -> a Python bool (False when the shapes differ).

    >>> import minidl as md
    >>> a = md.tensor([1., 2.])
    >>> md.equal(a, md.tensor([1., 2.]))
    True
    >>> md.equal(a, md.tensor([[1., 2.]]))    # same values, shape (1, 2) != (2,)
    False
    """
    return a.shape == b.shape and (a == b).all().item()


def set_num_threads(n: int) -> None:
    """Set the number of threads the C++ kernels use (OpenMP); also settable with OMP_NUM_THREADS.

    Large ops (GEMM, convolutions, big elementwise loops) split their work over ``n``
    threads; small ones stay on one thread because starting threads would cost more than
    it saves. ``n`` must be a positive int (ValueError otherwise).

    >>> import minidl as md
    >>> before = md.get_num_threads()
    >>> md.set_num_threads(1)
    >>> md.get_num_threads()
    1
    >>> md.set_num_threads(before)
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the C++ kernels use (see :func:`set_num_threads`).

    It starts at OMP_NUM_THREADS when set, else at the number of cores OpenMP sees (1 in a
    build without OpenMP).

    >>> import minidl as md
    >>> md.get_num_threads() >= 1
    True
    """
    return _C.get_num_threads()
