"""Docstrings of the function forms of the elementwise Tensor methods (``md.add``, ``md.exp``,
...) that ``ops/elementwise_functions.py`` makes: one entry per name, with the formula, the
shapes and an example. Kept apart so that the module that makes them reads in one screen."""

# One docstring per name (the aliases negative, subtract, multiply and divide are the same
# function objects as neg, sub, mul and div).
GENERATED_DOCS = {
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
    "erf": """Elementwise error function: erf(x) = 2/sqrt(pi) * integral from 0 to x of e^(-t^2) dt.

        Values in (-1, 1); erf(x / sqrt 2) = 2 Phi(x) - 1 with Phi the standard normal CDF.
        Backward: d out / d input = 2/sqrt(pi) e^(-x^2). Integer inputs give the default
        float dtype. Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.erf(md.tensor([-1.0, 0.0, 0.5, 3.0]))
        tensor([-0.8427,  0.0000,  0.5205,  1.0000])
        """,
    "erfinv": """Elementwise inverse error function: erf(erfinv(y)) = y for y in (-1, 1).

        erfinv(+-1) = +-inf and erfinv(y) = NaN for |y| > 1, as in PyTorch; sqrt(2) erfinv(2p - 1)
        is the standard normal quantile of p. Backward: d out / d input = sqrt(pi)/2 e^(out^2).
        Computed in float64 (Giles' approximation refined by two Newton steps on erf/erfc) and
        rounded once. Shapes: (*) -> (*).

        >>> import minidl as md
        >>> md.erfinv(md.tensor([-0.5, 0.0, 0.8427, 1.0]))
        tensor([-0.4769,  0.0000,  1.0000,     inf])
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
