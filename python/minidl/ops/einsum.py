"""einsum: Einstein summation, lowered to diagonals, sums, permutes, reshapes and batched GEMM.

An equation names every dim of every operand with a letter; a letter that appears in two
operands is multiplied along, one missing from the output is summed over. minidl evaluates
it as PyTorch does, left to right, two operands at a time:

1. per operand: a letter repeated in it ("ii") takes that diagonal; a letter found nowhere
   else (no other operand, not the output) is summed away at once;
2. per pair: letters of both operands that a later operand or the output still needs are
   *batch* dims, letters of both that nothing needs any more are *contracted*, the rest
   belong to one side. Permute + reshape make the pair (*batch, L, K) @ (*batch, K, R), one
   batched :func:`matmul` (minidl's GEMM), and the result's letters are batch + left + right;
3. the last result is permuted to the output's order.

The permutes and reshapes are views where the strides allow, and are left out where the dims
are in place already: attention's "bhqk,bhkd->bhqd" is matmul(a, b) itself, and
"bhqd,bhkd->bhqk" one permute of b, a transposed view the GEMM packs without a copy. Autograd
flows through the ops used, so einsum needs no backward of its own.
"""
from __future__ import annotations

from ..tensor import Tensor
from .linalg import matmul_any_dtype
from .reduce import sum as _sum
from .shape import expand, permute, reshape
from .triangular import diagonal

_ELLIPSIS = "..."


def _parse_term(term: str, index: int, where: int):
    """'ab...c' -> ['a', 'b', '...', 'c']; ``where`` is the term's offset in the equation."""
    labels, i = [], 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i:i + 3] != _ELLIPSIS or _ELLIPSIS in labels:
                raise RuntimeError(f"einsum(): found '.' for operand {index} that is not part of any ellipsis")
            labels.append(_ELLIPSIS)
            i += 3
            continue
        if not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise RuntimeError(f"einsum(): invalid subscript given at index {where + i} in the equation string, "
                               "subscripts must be in [a-zA-Z]")
        labels.append(c)
        i += 1
    return labels


def _parse(equation: str, operands):
    """The letters of each operand (ellipsis dims become ('.', k) letters, right-aligned) and
    of the output, and the size of each letter (1 broadcasts, as in PyTorch)."""
    if "->" in equation:
        lhs, rhs = equation.split("->", 1)
    else:
        lhs, rhs = equation, None
    terms, starts, pos = lhs.split(","), [], 0
    for term in terms:
        starts.append(pos)
        pos += len(term) + 1
    if len(terms) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    parsed = [_parse_term(t, i, s) for i, (t, s) in enumerate(zip(terms, starts))]
    n_ellipsis = 0
    for i, (labels, x) in enumerate(zip(parsed, operands)):
        named = len(labels) - (_ELLIPSIS in labels)
        if _ELLIPSIS in labels:
            if named > x.ndim:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) is more than "
                                   f"the number of dimensions ({x.ndim}) for operand {i}")
            n_ellipsis = max(n_ellipsis, x.ndim - named)
        elif named != x.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) does not match the "
                               f"number of dimensions ({x.ndim}) for operand {i} and no ellipsis was given")
    ellipsis_labels = [(".", k) for k in range(n_ellipsis)]
    inputs, sizes = [], {}
    for i, (labels, x) in enumerate(zip(parsed, operands)):
        expanded = []
        for c in labels:
            if c == _ELLIPSIS:
                e = x.ndim - (len(labels) - 1)
                expanded.extend(ellipsis_labels[n_ellipsis - e:])
            else:
                expanded.append(c)
        own = {}
        for c, n in zip(expanded, x.shape):
            if c in own and own[c] != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but the sizes don't "
                                   f"match, {n} != {own[c]}")
            own[c] = n
            seen = sizes.get(c, 1)
            if n != seen and seen != 1 and n != 1:
                name = "..." if isinstance(c, tuple) else c
                raise RuntimeError(f"einsum(): subscript {name} has size {n} for operand {i} which does not "
                                   f"broadcast with previously seen size {seen}")
            sizes[c] = n if seen == 1 else seen
        inputs.append(expanded)
    if rhs is None:  # implicit output: the ellipsis dims, then the letters seen once, in ASCII order
        counts = {}
        for labels in inputs:
            for c in labels:
                counts[c] = counts.get(c, 0) + 1
        output = ellipsis_labels + sorted(c for c, k in counts.items() if k == 1 and isinstance(c, str))
    else:
        output = []
        for c in _parse_term(rhs, len(operands), len(lhs) + 2):
            if c == _ELLIPSIS:
                output.extend(ellipsis_labels)
                continue
            if c in output:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
            if c not in sizes:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any "
                                   "input operand")
            output.append(c)
    return inputs, output, sizes


def _take_diagonals(x: Tensor, labels: list):
    """A letter repeated within one operand ("ii") keeps only that diagonal, as one dim."""
    while len(set(labels)) < len(labels):
        for a in range(len(labels)):
            b = labels.index(labels[a], a + 1) if labels[a] in labels[a + 1:] else -1
            if b >= 0:
                x = diagonal(x, 0, a, b)  # the diagonal becomes the last dim
                labels = [c for k, c in enumerate(labels) if k not in (a, b)] + [labels[a]]
                break
    return x, labels


def _sum_out(x: Tensor, labels: list, keep) -> tuple:
    dims = [k for k, c in enumerate(labels) if c not in keep]
    if dims:
        x = _sum(x, dims)
        labels = [c for c in labels if c in keep]
    return x, labels


# --8<-- [start:einsum_contract]
def _contract(a: Tensor, la: list, b: Tensor, lb: list, needed: set, sizes: dict):
    """One pair: (batch, left, contracted) @ (batch, contracted, right) as a batched GEMM."""
    batch = [c for c in la if c in lb and c in needed]
    summed = [c for c in la if c in lb and c not in needed]
    left = [c for c in la if c not in lb]
    right = [c for c in lb if c not in la]

    def arrange(x, labels, order):  # permute to ``order``, size-1 dims broadcast to the letter's size
        if labels != order:  # (attention's operands are mostly in order already: no node to record)
            x = permute(x, [labels.index(c) for c in order])
        full = [sizes[c] if c in batch or c in summed else x.shape[k] for k, c in enumerate(order)]
        return expand(x, full) if list(x.shape) != full else x

    def size(letters):
        n = 1
        for c in letters:
            n *= sizes[c]
        return n

    def reshape_to(x, shape):  # no node when the shape is already right (attention: all three)
        return x if tuple(x.shape) == tuple(shape) else reshape(x, shape)

    # the batch letters stay separate dims (matmul's batch dims), left / summed / right are merged
    batch_sizes = [sizes[c] for c in batch]
    a3 = reshape_to(arrange(a, la, batch + left + summed), batch_sizes + [size(left), size(summed)])
    b3 = reshape_to(arrange(b, lb, batch + summed + right), batch_sizes + [size(summed), size(right)])
    out = matmul_any_dtype(a3, b3)
    return reshape_to(out, [sizes[c] for c in batch + left + right]), batch + left + right
# --8<-- [end:einsum_contract]


def _subscript(n) -> str:
    if n is Ellipsis:
        return _ELLIPSIS
    if isinstance(n, int) and 0 <= n < 26:
        return chr(ord("A") + n)
    if isinstance(n, int) and 26 <= n < 52:
        return chr(ord("a") + n - 26)
    raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")


def _sublist_equation(args):
    """(op0, sub0, op1, sub1, ..., [out]) -> the equation and the operands (PyTorch's mapping:
    0..25 are A..Z, 26..51 are a..z, Ellipsis is ...)."""
    equation = ",".join("".join(_subscript(n) for n in sub) for sub in args[1::2])
    if len(args) % 2 == 1:
        return equation + "->" + "".join(_subscript(n) for n in args[-1]), args[:-1:2]
    return equation, args[::2]


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation: products of the operands, summed over the letters not in the output.

    out[output letters] = sum over the other letters of prod_i operand_i[its letters]. The
    equation names each operand's dims with letters a-z, A-Z, separated by commas;
    ``->`` then names the output's (without it, the output is the letters that appear once,
    in alphabetical order, uppercase first). ``...`` stands for the remaining dims
    (they broadcast like elementwise ops); a letter repeated inside one operand ("ii")
    takes its diagonal. Operands are given one by one or as one list. Examples: "ij,jk->ik"
    matmul, "bij,bjk->bik" bmm, "i,j->ij" outer, "ii->" trace, "ij->ji" transpose,
    "bhqd,bhkd->bhqk" attention scores.

    How it runs (the module docstring): diagonals and sums per operand, then left to right a
    permute + reshape + :func:`matmul` per pair, so the work is minidl's GEMM and the
    gradients are those of the ops used. PyTorch's sublist form ``einsum(a, [0, 1], b, [1, 2],
    [0, 2])`` (0..25 are A..Z, 26..51 a..z, ``...`` is Ellipsis) works too. Where minidl
    differs from PyTorch: the operands of a product must share one dtype (float or int64;
    int64 products skip the GEMM, see :func:`~minidl.ops.linalg.matmul_any_dtype`).

    Shapes: as the equation says.

    >>> import minidl as md
    >>> a, b = md.arange(6.).reshape(2, 3), md.arange(3.)
    >>> md.einsum("ij,j->i", a, b)               # matrix @ vector
    tensor([ 5.0000, 14.0000])
    >>> md.einsum("ii", md.eye(3) * 2)           # trace (implicit output: nothing)
    tensor(6.0000)
    >>> md.einsum(a, [0, 1], b, [1], [0])        # the sublist form of "ij,j->i"
    tensor([ 5.0000, 14.0000])
    >>> md.einsum("b...d,bkd->b...k", md.ones(2, 4, 5, 3), md.ones(2, 6, 3)).shape
    minidl.Size([2, 4, 5, 6])
    """
    if isinstance(equation, Tensor):  # the sublist form: einsum(op0, [0, 1], op1, [1, 2], [0, 2])
        equation, operands = _sublist_equation((equation,) + operands)
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): the first argument must be the equation (a str) or a Tensor, "
                        f"not {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, x in enumerate(operands):
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum(): operand {i} must be a Tensor, not {type(x).__name__}")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    inputs, output, sizes = _parse(equation.replace(" ", ""), operands)
    keep_out = set(output)
    tensors, letters = [], []
    for i, (x, labels) in enumerate(zip(operands, inputs)):
        x, labels = _take_diagonals(x, labels)
        elsewhere = set(keep_out)
        for j, other in enumerate(inputs):
            if j != i:
                elsewhere.update(other)
        x, labels = _sum_out(x, labels, elsewhere)
        tensors.append(x)
        letters.append(labels)
    # --8<-- [start:einsum_pairs]
    x, labels = tensors[0], letters[0]
    for i in range(1, len(tensors)):
        needed = set(keep_out)
        for later in letters[i + 1:]:
            needed.update(later)
        x, labels = _contract(x, labels, tensors[i], letters[i], needed, sizes)
    # --8<-- [end:einsum_pairs]
    x, labels = _sum_out(x, labels, keep_out)
    x = permute(x, [labels.index(c) for c in output]) if labels != output else x
    full = [sizes[c] for c in output]
    return expand(x, full) if list(x.shape) != full else x
