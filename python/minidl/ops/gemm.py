"""Matrix products: matmul (PyTorch's rules for 1-D, 2-D and batched operands), mm, bmm,
addmm and the fused linear layer. All end in the C++ GEMM; transposed operands are passed
as transposed views, which the GEMM packs without copying."""
from __future__ import annotations

import numpy as np

from .. import _C
from ..dtypes import PYTORCH_NAMES, from_numpy_dtype, layer_dtype_fix
from ..graph.node import Node
from ..tensor import Tensor
from . import array as A
from ._graph import result, saved_input, sum_to
from ..amp import autocast_mode as _amp

_wrap = Tensor._wrap


def _check_float(a: np.ndarray, b: np.ndarray, what: str):
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_name(a)} != {_name(b)}")
    if a.dtype.kind != "f" and not A.is_low(a):  # bfloat16's NumPy kind is "V"
        raise RuntimeError(f"{what}: minidl multiplies float tensors only, got {_name(a)}")


def _name(a):
    return from_numpy_dtype(a.dtype).name


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # float16/bfloat16 operands: the C++ low-precision GEMM (float32 accumulation; vdpbf16ps
    # for bfloat16 where the CPU has it), result rounded to the operands' dtype
    return _C.mm(a, b)


def _bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _C.bmm(a, b)


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def matmul_arrays(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b with NumPy/PyTorch matmul semantics (1-D promotion, broadcast batch dims)."""
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        if a.ndim <= 2 and b.ndim <= 2:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a2.shape[0]}x{a2.shape[1]} and "
                               f"{b2.shape[0]}x{b2.shape[1]})")
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [*, {a2.shape[-1]}] "
                           f"but got: [*, {b2.shape[-2]}] (shapes {list(a.shape)} @ {list(b.shape)})")
    if a2.ndim == 2 and b2.ndim == 2:
        out = _mm(a2, b2)
    elif b2.ndim == 2 and a2.flags.c_contiguous:
        # (..., M, K) @ (K, N): one GEMM over all rows
        out = _mm(A.as_rows(a2), b2).reshape(a2.shape[:-1] + (b2.shape[-1],))
    else:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        ae = np.broadcast_to(a2, batch + a2.shape[-2:])
        be = np.broadcast_to(b2, batch + b2.shape[-2:])
        nb = int(np.prod(batch)) if batch else 1
        a3 = _as3d(ae, nb)
        b3 = _as3d(be, nb)
        out = _bmm(a3, b3)
        # reshaped in place, not by a view: the fresh array keeps owning its data, so a gradient
        # computed here becomes a leaf's .grad as it is (the engine copies a view first: two
        # copies, 4.7 ms of einsum("bhqk,bhkd->bhqd")'s 20 ms fwd+bwd at 8x8x256x{256,64})
        out.shape = batch + (a2.shape[-2], b2.shape[-1])
    if a.ndim == 1:
        out = out.reshape(out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        out = out.reshape(out.shape[:-1])
    return out


def _as3d(x: np.ndarray, nb: int) -> np.ndarray:
    """(batch..., R, C) -> (nb, R, C), a view when the batch dims collapse (stride-0 ok)."""
    v = A.view_or_none(x, (nb,) + x.shape[-2:])
    if v is not None:
        return v
    if x.ndim > 2 and all(st == 0 for st in x.strides[:-2]):
        return x[(0,) * (x.ndim - 2)][None]  # one matrix broadcast: bmm's batch-1 case
    return _C.contiguous(x).reshape((nb,) + x.shape[-2:])


class MatmulBackward(Node):
    __slots__ = ()

    def apply(self, g):
        a, b = self.get_saved()
        ga = gb = None
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if self.next[0] is not None and self.next[1] is not None and g.ndim > 2 and 0 in g.strides:
            # a broadcast gradient (the ones of (a @ b).sum()) is made contiguous once here, not
            # once by each of the two products below (q @ k^T fwd+bwd at (64, 8, 128, 64), 1 thread: 53 -> 42 ms)
            g2 = A.contiguous(g)
        if a.ndim == 1:
            g2 = g2[..., None, :] if b.ndim > 1 else g2[..., None]
        if b.ndim == 1:
            g2 = g2[..., None]
        if self.next[0] is not None:  # dA = dC @ B^T, summed over broadcast batch dims
            ga = A.shaped(A.sum_to(matmul_arrays(g2, _swap(b2)), a2.shape), a.shape)
        if self.next[1] is not None:  # dB = A^T @ dC
            if b2.ndim == 2 and a2.ndim > 2 and a2.flags.c_contiguous:
                # fold batch rows: (K, rows) @ (rows, N)
                gb = _mm(A.as_rows(a2).T, A.as_rows(A.contiguous(g2)))
            else:
                gb = A.sum_to(matmul_arrays(_swap(a2), g2), b2.shape)
            gb = A.shaped(gb, b.shape)
        return ga, gb

    def apply_differentiable(self, g):  # the same formulas with recorded matmuls
        a, b = self.get_saved()
        ta, tb = saved_input(self, 0, a), saved_input(self, 1, b)
        a2 = ta.unsqueeze(0) if a.ndim == 1 else ta
        b2 = tb.unsqueeze(-1) if b.ndim == 1 else tb
        g2 = g
        if a.ndim == 1:
            g2 = g2.unsqueeze(-2) if b.ndim > 1 else g2.unsqueeze(-1)
        if b.ndim == 1:
            g2 = g2.unsqueeze(-1)
        ga = sum_to(g2 @ b2.transpose(-1, -2), a2.shape).reshape(a.shape) if self.next[0] is not None else None
        gb = sum_to(a2.transpose(-1, -2) @ g2, b2.shape).reshape(b.shape) if self.next[1] is not None else None
        return ga, gb



def _prep(a: Tensor, b: Tensor, what: str):
    ad, bd = a._data, b._data
    _check_float(ad, bd, what)
    return ad, bd


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product ``a @ b``, with PyTorch's rules for 1-D and batched operands.

    out[..., i, j] = sum_k a[..., i, k] b[..., k, j]. By the operands' dims:

    - 2-D @ 2-D: the matrix product, (n, k) @ (k, m) -> (n, m).
    - 1-D operands: a vector a (k,) acts as a row (1, k), a vector b (k,) as a column
      (k, 1), and the added dim is removed again; 1-D @ 1-D is the dot product, a 0-d tensor.
    - more dims: the leading (batch) dims broadcast, (B, n, k) @ (k, m) -> (B, n, m).

    Backward: dA = dC @ B^T and dB = A^T @ dC (summed over broadcast batch dims). Inside
    :func:`autocast` the operands are cast to the low-precision dtype. Where minidl differs
    from PyTorch: only floating dtypes are multiplied (int64 raises RuntimeError), and both
    operands must have the same dtype (as in PyTorch).

    Shapes: (*, n, k) @ (*, k, m) -> (*, n, m); see above for 1-D.

    >>> import minidl as md
    >>> a = md.tensor([[1., 2.], [3., 4.]])
    >>> md.matmul(a, a)
    tensor([[ 7.0000, 10.0000],
            [15.0000, 22.0000]])
    >>> v = md.tensor([1., 1.])
    >>> md.matmul(a, v), md.matmul(v, v)      # row sums; the dot product
    (tensor([3.0000, 7.0000]), tensor(2.0000))
    >>> md.matmul(md.zeros(5, 2, 3), md.zeros(3, 4)).shape
    minidl.Size([5, 2, 4])
    """
    if not isinstance(b, Tensor) or not isinstance(a, Tensor):
        raise TypeError("matmul(): argument 'other' must be Tensor")
    if _amp.active:
        a, b = _amp.autocast_inputs("matmul", a, b)
    ad, bd = _prep(a, b, "matmul")
    return result(matmul_arrays(ad, bd), MatmulBackward, (a, b), (ad, bd))


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors (no broadcasting, no 1-D rules: see :func:`matmul`).

    out[i, j] = sum_k a[i, k] b[k, j]. Backward: dA = dC B^T, dB = A^T dC.

    Shapes: (n, k) @ (k, m) -> (n, m).

    >>> import minidl as md
    >>> a = md.tensor([[1., 2.], [3., 4.]])
    >>> md.mm(a, md.tensor([[0., 1.], [1., 0.]]))    # swaps the columns
    tensor([[2.0000, 1.0000],
            [4.0000, 3.0000]])
    """
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {a.ndim}-D and {b.ndim}-D")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product: one matrix product per batch entry, two 3-D tensors.

    out[b, i, j] = sum_k a[b, i, k] b[b, k, j]. The batch sizes must be equal (no
    broadcasting: that is :func:`matmul`). Attention computes its scores this way.

    Shapes: (B, n, k) @ (B, k, m) -> (B, n, m).

    >>> import minidl as md
    >>> a = md.tensor([[[1., 2.]], [[3., 4.]]])        # (2, 1, 2)
    >>> b = md.tensor([[[1.], [1.]], [[2.], [0.]]])    # (2, 2, 1)
    >>> md.bmm(a, b)                                   # (2, 1, 1)
    tensor([[[3.0000]],
    <BLANKLINE>
            [[6.0000]]])
    """
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"batch1 and batch2 must be 3D tensors, got {a.ndim}D and {b.ndim}D")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {a.shape[0]} and {b.shape[0]}")
    return matmul(a, b)


# --8<-- [start:linear_backward]
class LinearBackward(Node):
    """y = x W^T + b:  dx = dy W,  dW = dy^T x,  db = sum_rows(dy)."""
    __slots__ = ()

    def apply(self, g):
        x2, w, has_bias, x_shape = self.get_saved()
        g2 = A.as_rows(A.contiguous(g))
        gx = _mm(g2, w).reshape(x_shape) if self.next[0] is not None else None
        gw = _mm(g2.T, x2) if self.next[1] is not None else None
        gb = A.reduce(A.R_SUM, g2, (0,)) if (has_bias and self.next[2] is not None) else None
        return gx, gw, gb
# --8<-- [end:linear_backward]

    def apply_differentiable(self, g):
        # reshapes only where the input was not already rows: each is a node the next
        # backward walks (8 of the 60 nodes of an MLP's Hessian-vector product were such no-ops)
        x2, w, has_bias, x_shape = self.get_saved()
        rows = len(x_shape) == 2
        g2 = g if rows else g.reshape(-1, w.shape[0])
        gx = None
        if self.next[0] is not None:
            gx = g2 @ saved_input(self, 1, w)
            gx = gx if rows else gx.reshape(x_shape)
        gw = None
        if self.next[1] is not None:  # x enters in its own shape (its graph's), then as rows
            x = saved_input(self, 0, x2.reshape(x_shape))
            gw = _weight_grad(g2, x if rows else x.reshape(-1, w.shape[1]))
        gb = g2.sum(0) if (has_bias and self.next[2] is not None) else None
        return gx, gw, gb


class WeightGradBackward(Node):
    """Backward of the weight gradient gW = g^T x as create_graph=True records it (one
    product, no transposed view in the graph):

        d gW / d g:  h -> x h^T     (rows, in) @ (in, out)
        d gW / d x:  h -> g h       (rows, out) @ (out, in)
    """
    __slots__ = ()

    def apply(self, h):
        g, x = self.get_saved()
        dg = _mm(x, h.T) if self.next[0] is not None else None
        dx = _mm(g, h) if self.next[1] is not None else None
        return dg, dx

    def apply_differentiable(self, h):
        g, x = self.get_saved()
        dg = saved_input(self, 1, x) @ h.t() if self.next[0] is not None else None
        dx = saved_input(self, 0, g) @ h if self.next[1] is not None else None
        return dg, dx


def _weight_grad(g: Tensor, x: Tensor) -> Tensor:
    """gW = g^T x for rows g (rows, out) and x (rows, in), recorded as one WeightGradBackward
    node (``g.t() @ x`` would add a transpose node and the general matmul's bookkeeping)."""
    gd, xd = g._data, x._data
    if gd.dtype != xd.dtype or _amp.active:
        return g.t() @ x
    return result(_mm(gd.T, xd), WeightGradBackward, (g, x), (gd, xd))


def linear(x: Tensor, weight: Tensor, bias: Tensor = None) -> Tensor:
    """y = x W^T + b; x (*, in), W (out, in), b (out,) -> y (*, out).

    The affine map of a fully connected layer (``md.nn.Linear``), as
    ``md.nn.functional.linear``: one fused GEMM with the bias added in the same pass.
    ``W`` is stored as (out_features, in_features), PyTorch's layout, hence the transpose.
    Backward: dx = dy W, dW = dy^T x, db = the sum of dy over all rows. Inside
    :func:`autocast` the operands are cast to the low-precision dtype.

    Shapes: x (*, in), W (out, in), b (out,) or None -> y (*, out).

    >>> import minidl as md
    >>> import minidl.nn.functional as F
    >>> x = md.tensor([[1., 2.]])                              # (1, 2)
    >>> W = md.tensor([[1., 0.], [0., 1.], [1., 1.]])          # (3, 2)
    >>> F.linear(x, W, md.tensor([0., 0., 10.]))               # (1, 3)
    tensor([[ 1.0000,  2.0000, 13.0000]])
    """
    if not isinstance(x, Tensor):  # PyTorch's message, then the fix (NumPy arrays and lists are common)
        kind = type(x).__name__ if type(x).__module__ == "builtins" else f"{type(x).__module__}.{type(x).__qualname__}"
        raise TypeError(f"linear(): argument 'input' (position 1) must be Tensor, not {kind}. "
                        "Convert it first: md.from_numpy(array) or md.tensor(data)")
    if _amp.active:
        x, weight, bias = _amp.autocast_inputs("linear", x, weight, bias)
    xd, wd = x._data, weight._data
    if wd.ndim != 2:
        return matmul(x, weight.t()) + bias if bias is not None else matmul(x, weight.t())
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        rows = int(np.prod(xd.shape[:-1])) if xd.ndim > 1 else 1
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{xd.shape[-1] if xd.ndim else 0} and "
                           f"{wd.shape[1]}x{wd.shape[0]})")
    if xd.dtype != wd.dtype:  # PyTorch's message (nn.Linear), then the fix
        xt, wt = from_numpy_dtype(xd.dtype), from_numpy_dtype(wd.dtype)
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {PYTORCH_NAMES[xt]} and "
                           f"{PYTORCH_NAMES[wt]}. {layer_dtype_fix(xt, wt)}")
    _check_float(xd, wd, "linear")
    # --8<-- [start:linear_forward]
    x2 = A.as_rows(A.contiguous(xd))
    bd = bias._data if bias is not None else None
    if bd is not None:
        if bd.dtype != xd.dtype:
            raise RuntimeError(f"linear: bias dtype {_name(bd)} does not match input dtype {_name(xd)}")
        out = _C.addmm(bd, x2, wd.T)
    else:
        out = _C.mm(x2, wd.T)
    out = out.reshape(xd.shape[:-1] + (wd.shape[0],))
    return result(out, LinearBackward, (x, weight, bias), (x2, wd, bias is not None, xd.shape))
    # --8<-- [end:linear_forward]
