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


def softmax(input, dim, dtype=None):
    return nn.functional.softmax(input, dim, dtype)


def log_softmax(input, dim, dtype=None):
    return nn.functional.log_softmax(input, dim, dtype)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    return x.numel()


def allclose(a: Tensor, b: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """|a - b| <= atol + rtol |b| everywhere."""
    return bool(isclose(a, b, rtol, atol, equal_nan).all())


def isclose(a: Tensor, b: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    diff = (a - b).abs()
    close = diff <= (b.abs() * rtol + atol)
    if equal_nan:
        close = close | (a.isnan() & b.isnan())
    return close


def equal(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def set_num_threads(n: int) -> None:
    """Threads used by the C++ kernels (OpenMP); also settable with OMP_NUM_THREADS."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    return _C.get_num_threads()
