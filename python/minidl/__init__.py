"""minidl: a deep-learning engine to learn from. PyTorch's API; C++ SIMD/OpenMP kernels;
reverse-mode autograd in a thin Python layer. ``import minidl as md``.

This file only lists what ``minidl`` exports; every function lives in the module of its
concept. Some exported names are Python builtins (``md.bool``, ``md.float``, ``md.sum``,
``md.max``, ``md.abs``, ...), as in PyTorch: that is why no code runs here, and why no
module of the package both binds a builtin's name and reads it (tests/test_builtin_names.py).
"""
from ._version import __version__  # noqa: F401  (one source: pyproject.toml reads the same file)

from . import _openmp_defaults
_openmp_defaults.set_wait_policy()  # before _C loads the OpenMP runtime, which reads it once
from . import _C  # noqa: E402
_openmp_defaults.set_default_num_threads(_C)  # the affinity mask and a cgroup CPU quota
from .dtypes import (bfloat16, double, dtype, float, float16, float32, float64, get_default_dtype, half, int64,
                     long, set_default_dtype)
from .dtypes import bool_ as bool  # noqa: A001  (md.bool, as torch.bool)
from .tensor import Size, Tensor, device, is_tensor, numel
from . import _tensor_methods  # noqa: F401  attaches Tensor(data) and the methods that call ops/autograd/nn
from . import autograd
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .ops.creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, logspace,
                           ones, ones_like, tensor, zeros, zeros_like)
from .ops.generator import (Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed,
                            set_rng_state)
from .ops.random import (bernoulli, normal, poisson, rand, rand_like, randint, randint_like, randn, randn_like,
                         randperm)
from . import random
from .ops.shape import clone, flatten, flip, permute, reshape, squeeze, t, transpose, unflatten, unsqueeze
from .ops.join import cat, chunk, narrow, select, split, stack, tensor_split, unbind
from .ops.join import cat as concat
from .ops.sampling import multinomial
from .ops.arrange import (broadcast_tensors, broadcast_to, meshgrid, movedim, repeat_interleave, roll, rot90,
                          tile)
from .ops.arrange import movedim as moveaxis
from .ops.elementwise import tan
from .ops.where import clamp, clamp_max, clamp_min, masked_fill, where
from .ops.where import clamp as clip
from .ops.elementwise_functions import (abs, add, ceil, cos, div, divide, eq, erf, erfinv, exp, expm1, floor, ge, gt,
                                        isfinite, isinf, isnan, le, log, log1p, logical_and, logical_not,
                                        logical_or, logical_xor, lt, maximum, minimum, mul, multiply, ne, neg,
                                        negative, pow, reciprocal, remainder, round, rsqrt, sign, sin, sqrt,
                                        square, sub, subtract, trunc)
from .ops.compare import allclose, equal, isclose
from .ops.dlpack import from_dlpack
from .ops.gemm import bmm, matmul, mm
from .ops.linalg import addcdiv, addcmul, addmm, baddbmm, dot, inner, lerp, outer, tensordot
from .ops.norms import cdist, norm
from .ops.einsum import einsum
from .ops.triangular import diag, diag_embed, diagonal, trace, tril, triu
from . import linalg
from .ops.indexing import (gather, index_add, index_copy, index_fill, index_select, scatter, scatter_add, take,
                           take_along_dim)
from .ops.masking import argwhere, masked_scatter, masked_select, nonzero
from .ops.scatter_reduce import scatter_reduce
from .ops.reduce import all, any, count_nonzero, logsumexp, mean, prod, std, sum, var
from .ops.extremum import amax, amin, argmax, argmin, max, min
from .ops.sort import argsort, kthvalue, median, msort, sort, topk
from .ops.search import bincount, bucketize, histc, searchsorted, unique, unique_consecutive
from .ops.scan import cummax, cummin, cumprod, cumsum, diff, logcumsumexp
from . import backend, backends, cuda, datasets, models, nn, optim
from .torch_alias import install_torch_alias, uninstall_torch_alias
from .runtime import (are_deterministic_algorithms_enabled, compile, get_float32_matmul_precision,  # noqa: A004
                      get_num_interop_threads, is_deterministic_algorithms_warn_only_enabled, is_floating_point,
                      set_float32_matmul_precision, set_num_interop_threads, use_deterministic_algorithms)
from .backend import get_num_threads, set_num_threads
# the activations and softmax go straight to nn.functional (two Python frames fewer than via a method)
from .nn.functional import log_softmax, relu, sigmoid, softmax, tanh
from . import callbacks, distributed, transforms, viz
from . import amp
from .amp import autocast, get_autocast_dtype, is_autocast_enabled
from .io import save, load
from .safetensors_io import load_safetensors, safetensors_metadata, save_safetensors
