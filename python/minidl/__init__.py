"""minidl: a deep-learning engine to learn from. PyTorch's API; C++ SIMD/OpenMP kernels;
reverse-mode autograd in a thin Python layer. ``import minidl as md``."""
from __future__ import annotations

__version__ = "0.1.0"

from . import _C
from .dtypes import (bfloat16, double, dtype, float, float16, float32, float64, get_default_dtype, half, int64,
                     long, set_default_dtype)
from .dtypes import bool_ as bool  # noqa: A001  (md.bool, as torch.bool)
from .tensor import Size, Tensor, device
from . import _tensor_methods  # noqa: F401  attaches Tensor(data) and the methods that call ops/autograd/nn
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
from ._function_docs import GENERATED_DOCS

# functional forms of the tensor methods (md.exp(x), md.cat([...]), ...)
cat = _shape.cat
concat = _shape.cat
stack = _shape.stack
split = _shape.split
chunk = _shape.chunk
tensor_split = _shape.tensor_split
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

for _m, _doc in GENERATED_DOCS.items():  # see _function_docs.py
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
