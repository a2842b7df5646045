// Elementwise arithmetic with NumPy broadcasting, comparisons, unary math, clamp, where.
//
// Read top to bottom:
//   1. The reference: what one element becomes (apply_binary, apply_compare, apply_unary,
//      apply_predicate), then the row loops out[i*so] = op(a[i*sa], b[i*sb]) that every dtype
//      runs, and clamp forward and backward side by side. The derivatives of the arithmetic and
//      unary ops are composed from these same kernels by the *Backward nodes of
//      python/minidl/ops/elementwise.py (d(a*b)/da = b, d exp(x) = exp(x), ...); only clamp has
//      a backward kernel here. elementwise_simd.cpp holds the float32 vector rows
//      (ElementwiseSimd), tested against binary_row_reference and unary_row_reference.
//   2. Which path runs: StridedLoop coalesces the operands into rows (split over threads when
//      large); a float32 row whose operands are contiguous or a broadcast scalar goes to the
//      active SIMD set, any other row (and every other dtype) to the reference rows; bfloat16 /
//      float16 operands of binary ops are widened to float32 a block at a time (binary_lowp).
#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "core/strided_loop.h"
#include "ops/copy/copy.h"

#include <vector>

MINIDL_SIMD_TABLE(minidl::ElementwiseSimd, elementwise_simd)

namespace minidl {
namespace {

// ---- reference: one element ---------------------------------------------------------------

template <class T>
inline T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div:
      if constexpr (std::is_integral_v<T>) return b == 0 ? T(0) : a / b;
      else return a / b;
    case BinaryOp::pow:
      if constexpr (std::is_integral_v<T>) {
        if (b < 0) return a == 1 ? 1 : 0;
        T r = 1, base = a;
        for (T e = b; e > 0; e >>= 1, base *= base) if (e & 1) r *= base;
        return r;
      } else return std::pow(a, b);
    // NaN propagates through maximum/minimum, as torch.maximum does
    case BinaryOp::maximum:
      if constexpr (std::is_floating_point_v<T>) if (std::isnan(a) || std::isnan(b)) return a + b;
      return a > b ? a : b;
    case BinaryOp::minimum:
      if constexpr (std::is_floating_point_v<T>) if (std::isnan(a) || std::isnan(b)) return a + b;
      return a < b ? a : b;
    case BinaryOp::floor_divide:
      if constexpr (std::is_integral_v<T>) {
        if (b == 0) return 0;
        T q = a / b;
        return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
      } else return std::floor(a / b);
    case BinaryOp::remainder:
      if constexpr (std::is_integral_v<T>) {
        if (b == 0) return 0;
        T r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      } else {
        T r = std::fmod(a, b);
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      }
    default: return T(0);
  }
}

template <class T>
inline uint8_t apply_compare(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::eq: return a == b;
    case BinaryOp::ne: return a != b;
    case BinaryOp::lt: return a < b;
    case BinaryOp::le: return a <= b;
    case BinaryOp::gt: return a > b;
    case BinaryOp::ge: return a >= b;
    case BinaryOp::logical_and: return (a != T(0)) && (b != T(0));
    case BinaryOp::logical_or: return (a != T(0)) || (b != T(0));
    case BinaryOp::logical_xor: return (a != T(0)) != (b != T(0));
    default: return 0;
  }
}

// erfinv(y) in double: Giles' single-precision approximation ("Approximating the erfinv
// function", GPU Computing Gems, 2010) as the start, then Newton steps until the step is below
// 1e-15 relative (at most 10). For |y| < 1/2 on erf(x) = y; in the tails on
// log erfc(x) = log(1 - |y|), which is nearly quadratic (so Newton converges from Giles'
// guess, which is off by 12% at 1 - |y| = 1e-16) and keeps the digits erf(x) - y would cancel.
inline double erfinv_one(double y) {
  if (!(y >= -1.0 && y <= 1.0)) return std::numeric_limits<double>::quiet_NaN();  // also NaN
  if (y == 1.0 || y == -1.0) return y * std::numeric_limits<double>::infinity();
  const double a = std::abs(y);
  double w = -std::log((1.0 - a) * (1.0 + a)), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double x = p * a;
  const double two_over_sqrt_pi = 1.12837916709551257390, log_tail = std::log1p(-a);
  for (int step = 0; step < 10 && x != 0.0; ++step) {
    const double slope = two_over_sqrt_pi * std::exp(-x * x);  // erf'(x)
    double dx;
    if (a < 0.5) {
      dx = (std::erf(x) - a) / slope;
    } else {
      const double tail = std::erfc(x);
      dx = -(std::log(tail) - log_tail) * tail / slope;
    }
    x -= dx;
    if (std::abs(dx) <= 1e-15 * std::abs(x)) break;
  }
  return std::copysign(x, y);
}

template <class T>
inline T apply_unary(UnaryOp op, T x) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::neg: return -x;
      case UnaryOp::abs: return std::abs(x);
      case UnaryOp::exp: return std::exp(x);
      case UnaryOp::log: return std::log(x);
      case UnaryOp::sqrt: return std::sqrt(x);
      case UnaryOp::rsqrt: return T(1) / std::sqrt(x);
      case UnaryOp::square: return x * x;
      case UnaryOp::reciprocal: return T(1) / x;
      case UnaryOp::sign: return std::isnan(x) ? x : T((x > 0) - (x < 0));
      case UnaryOp::sin: return std::sin(x);
      case UnaryOp::cos: return std::cos(x);
      case UnaryOp::log1p: return std::log1p(x);
      case UnaryOp::expm1: return std::expm1(x);
      case UnaryOp::floor: return std::floor(x);
      case UnaryOp::ceil: return std::ceil(x);
      case UnaryOp::round: return std::nearbyint(x);  // half to even, as torch.round
      case UnaryOp::trunc: return std::trunc(x);
      case UnaryOp::erf: return std::erf(x);
      case UnaryOp::erfinv: return static_cast<T>(erfinv_one(static_cast<double>(x)));
      default: return x;
    }
  } else {
    switch (op) {
      case UnaryOp::neg: return static_cast<T>(-x);
      case UnaryOp::abs: return x < 0 ? static_cast<T>(-x) : x;
      case UnaryOp::square: return static_cast<T>(x * x);
      case UnaryOp::sign: return static_cast<T>((x > 0) - (x < 0));
      default: return x;  // floor/ceil/round/trunc of an integer
    }
  }
}

template <class T>
inline uint8_t apply_predicate(UnaryOp op, T x) {
  switch (op) {
    case UnaryOp::logical_not: return x == T(0);
    case UnaryOp::isnan:
      if constexpr (std::is_floating_point_v<T>) return std::isnan(x); else return 0;
    case UnaryOp::isinf:
      if constexpr (std::is_floating_point_v<T>) return std::isinf(x); else return 0;
    case UnaryOp::isfinite:
      if constexpr (std::is_floating_point_v<T>) return std::isfinite(x); else return 1;
    default: return 0;
  }
}

// ---- reference: one row of n elements, each operand at its own stride ---------------------
// (inline: each compiles into its caller's row loop; out of line, GCC laid the op switch out
// differently and float64 exp measured 25% slower)

// out[i so] = a[i sa] (op) b[i sb]  (arithmetic: out has the inputs' dtype)
// --8<-- [start:binary_row_reference]
template <class T>
inline void binary_row_reference(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t so,
                                 int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i * so] = apply_binary(op, a[i * sa], b[i * sb]);
}
// --8<-- [end:binary_row_reference]

// out[i so] = a[i sa] (cmp) b[i sb]  (comparisons and logical ops: out is bool)
// The op is chosen once per row, not per element, and the contiguous and broadcast-scalar rows
// are loops of their own, which the compiler vectorizes (compares packed down to bytes): `a > 1`
// on a 1024 x 1024 float32 matrix, 1 thread, took 0.99 ms with the op's switch per element and
// run-time strides (NumPy 0.22, PyTorch 0.73; Intel Xeon family 6 model 167).
template <class T, class Cmp>
inline void compare_row_with(const T* a, int64_t sa, const T* b, int64_t sb, uint8_t* out, int64_t so, int64_t n,
                             Cmp cmp) {
  if (so == 1 && sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = cmp(a[i], b[i]);
  } else if (so == 1 && sa == 1 && sb == 0) {
    const T y = *b;
    for (int64_t i = 0; i < n; ++i) out[i] = cmp(a[i], y);
  } else if (so == 1 && sa == 0 && sb == 1) {
    const T x = *a;
    for (int64_t i = 0; i < n; ++i) out[i] = cmp(x, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i * so] = cmp(a[i * sa], b[i * sb]);
  }
}

template <class T>
inline void compare_row_reference(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, uint8_t* out,
                                  int64_t so, int64_t n) {
  // one instantiation per op, each the element rule of apply_compare
  auto run = [&](auto cmp_op) {
    compare_row_with(a, sa, b, sb, out, so, n, [](T x, T y) -> uint8_t { return apply_compare(decltype(cmp_op)::value, x, y); });
  };
  switch (op) {
    case BinaryOp::eq: return run(std::integral_constant<BinaryOp, BinaryOp::eq>{});
    case BinaryOp::ne: return run(std::integral_constant<BinaryOp, BinaryOp::ne>{});
    case BinaryOp::lt: return run(std::integral_constant<BinaryOp, BinaryOp::lt>{});
    case BinaryOp::le: return run(std::integral_constant<BinaryOp, BinaryOp::le>{});
    case BinaryOp::gt: return run(std::integral_constant<BinaryOp, BinaryOp::gt>{});
    case BinaryOp::ge: return run(std::integral_constant<BinaryOp, BinaryOp::ge>{});
    case BinaryOp::logical_and: return run(std::integral_constant<BinaryOp, BinaryOp::logical_and>{});
    case BinaryOp::logical_or: return run(std::integral_constant<BinaryOp, BinaryOp::logical_or>{});
    case BinaryOp::logical_xor: return run(std::integral_constant<BinaryOp, BinaryOp::logical_xor>{});
    default: for (int64_t i = 0; i < n; ++i) out[i * so] = 0;
  }
}

// out[i so] = op(x[i sx]); on bool the math ops are the identity
template <class T>
inline void unary_row_reference(UnaryOp op, const T* x, int64_t sx, T* out, int64_t so, int64_t n) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    for (int64_t i = 0; i < n; ++i) out[i * so] = x[i * sx];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i * so] = apply_unary(op, x[i * sx]);
  }
}

// out[i so] = pred(x[i sx])  (logical_not, isnan, isinf, isfinite: out is bool)
template <class T>
inline void predicate_row_reference(UnaryOp op, const T* x, int64_t sx, uint8_t* out, int64_t so, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i * so] = apply_predicate(op, x[i * sx]);
}

// scaled updates (elementwise.h ScaledOp), with the FMA PyTorch's vectorised kernels use, so
// a float32 row gives PyTorch's bits
template <class T>
inline void scaled_row_reference(ScaledOp op, const T* x, int64_t sx, const T* y, int64_t sy, T s, T* out,
                                 int64_t so, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T a = x[i * sx], b = y[i * sy];
    if (op == ScaledOp::add_scaled) out[i * so] = std::fma(s, b, a);
    else out[i * so] = std::abs(s) < T(0.5) ? std::fma(s, b - a, a) : std::fma(-(b - a), T(1) - s, b);
  }
}

// clamp forward: y = min(max(x, lo), hi), each bound optional
template <class T>
inline void clamp_row_reference(const T* x, int64_t sx, T* out, int64_t so, int64_t n, bool has_lo, T l,
                                bool has_hi, T h) {
  for (int64_t i = 0; i < n; ++i) {
    T v = x[i * sx];
    if (has_lo && v < l) v = l;   // NaN stays NaN: comparisons are false
    if (has_hi && v > h) v = h;
    out[i * so] = v;
  }
}

// clamp backward: gx = g where lo <= x <= hi, else 0 (dy/dx = 1 inside, 0 where a bound was
// applied; at the bounds themselves the gradient passes, as PyTorch)
template <class T>
inline void clamp_backward_row_reference(const T* g, int64_t sg, const T* x, int64_t sx, T* gx, int64_t so,
                                         int64_t n, bool has_lo, T l, bool has_hi, T h) {
  for (int64_t i = 0; i < n; ++i) {
    T v = x[i * sx];
    bool pass = !(has_lo && v < l) && !(has_hi && v > h);
    gx[i * so] = pass ? g[i * sg] : T(0);
  }
}

// out = cond ? a : b; a pure selection, so T is any type of the element's size
template <class T>
inline void where_row_reference(const uint8_t* cond, int64_t sc, const T* a, int64_t sa, const T* b, int64_t sb,
                                T* out, int64_t so, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i * so] = cond[i * sc] ? a[i * sa] : b[i * sb];
}

// ---- which path runs ----------------------------------------------------------------------

bool unary_is_predicate(UnaryOp op) {
  return op == UnaryOp::logical_not || op == UnaryOp::isnan || op == UnaryOp::isinf ||
         op == UnaryOp::isfinite;
}

// --8<-- [start:binary_typed]
template <class T>
void binary_typed(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& out) {
  const int64_t* strides[3] = {a.strides, b.strides, out.strides};
  StridedLoop<3> loop(out.ndim, out.shape, strides);
  const T* pa = static_cast<const T*>(a.data);
  const T* pb = static_cast<const T*>(b.data);
  const int64_t sa = loop.inner_stride(0), sb = loop.inner_stride(1), so = loop.inner_stride(2);
  const bool compare = binary_is_comparison(op);
  const ElementwiseSimd* simd = nullptr;
  if constexpr (std::is_same_v<T, float>) simd = elementwise_simd_active();
  loop.for_each_row([&](const int64_t* off, int64_t n) {
    const T* ra = pa + off[0];
    const T* rb = pb + off[1];
    if (compare) {
      compare_row_reference(op, ra, sa, rb, sb, static_cast<uint8_t*>(out.data) + off[2], so, n);
      return;
    }
    T* ro = static_cast<T*>(out.data) + off[2];
    if constexpr (std::is_same_v<T, float>) {
      if (simd && so == 1 && sa <= 1 && sb <= 1 && simd->binary_f32(op, ra, sa, rb, sb, ro, n)) return;
    }
    binary_row_reference(op, ra, sa, rb, sb, ro, so, n);
  });
}
// --8<-- [end:binary_typed]

template <class T>
void unary_typed(UnaryOp op, const TensorView& x, const TensorView& out) {
  const int64_t* strides[2] = {x.strides, out.strides};
  StridedLoop<2> loop(out.ndim, out.shape, strides);
  const int64_t sx = loop.inner_stride(0), so = loop.inner_stride(1);
  const bool predicate = unary_is_predicate(op);
  const T* px = static_cast<const T*>(x.data);
  const ElementwiseSimd* simd = nullptr;
  if constexpr (std::is_same_v<T, float>) simd = elementwise_simd_active();
  loop.for_each_row([&](const int64_t* off, int64_t n) {
    const T* rx = px + off[0];
    if (predicate) {
      predicate_row_reference(op, rx, sx, static_cast<uint8_t*>(out.data) + off[1], so, n);
      return;
    }
    T* ro = static_cast<T*>(out.data) + off[1];
    if constexpr (std::is_same_v<T, float>) {
      if (simd && sx == 1 && so == 1 && simd->unary_f32(op, rx, ro, n)) return;
    }
    unary_row_reference(op, rx, sx, ro, so, n);
  });
}

// 16-bit operands (bfloat16 / float16: the residual add of a ResNet block under BF16 autocast,
// the gradients summed where a tensor feeds two ops): each row in blocks of kLowpBlock values
// widened to float32 (exact) into L1-resident buffers, the float32 row (SIMD where it has one),
// each result rounded once -- the numbers of widening both tensors, the float32 op and one
// rounding, without two float32 temporaries and their passes over memory. Measured in a
// ResNet-20 bf16 autocast step (batch 64, 1 thread, Xeon with AMX): the casts around its 18
// adds took 13 ms of a 201 ms step.
constexpr int64_t kLowpBlock = 1024;

// buf (n floats) = the 16-bit values src[i * stride] widened; a broadcast scalar (stride 0)
// fills one value, and the caller reads it with stride 0 too
void widen_strided(const uint16_t* src, int64_t stride, DType t, int64_t n, float* buf) {
  if (stride == 1 || stride == 0) {
    cast_contiguous(src, t, buf, DType::f32, stride ? n : 1);
    return;
  }
  uint16_t packed[kLowpBlock];
  for (int64_t i = 0; i < n; ++i) packed[i] = src[i * stride];
  cast_contiguous(packed, t, buf, DType::f32, n);
}

void binary_lowp(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& out) {
  const int64_t* strides[3] = {a.strides, b.strides, out.strides};
  StridedLoop<3> loop(out.ndim, out.shape, strides);
  const int64_t sa = loop.inner_stride(0), sb = loop.inner_stride(1), so = loop.inner_stride(2);
  const bool compare = binary_is_comparison(op);
  const DType t = a.dtype;
  const ElementwiseSimd* simd = elementwise_simd_active();
  loop.for_each_row([&](const int64_t* off, int64_t n) {
    alignas(64) float fa[kLowpBlock], fb[kLowpBlock], fo[kLowpBlock];
    for (int64_t i0 = 0; i0 < n; i0 += kLowpBlock) {
      const int64_t m = std::min(kLowpBlock, n - i0);
      widen_strided(static_cast<const uint16_t*>(a.data) + off[0] + i0 * sa, sa, t, m, fa);
      widen_strided(static_cast<const uint16_t*>(b.data) + off[1] + i0 * sb, sb, t, m, fb);
      const int64_t ua = sa ? 1 : 0, ub = sb ? 1 : 0;
      if (compare) {
        compare_row_reference(op, fa, ua, fb, ub, static_cast<uint8_t*>(out.data) + off[2] + i0 * so, so, m);
        continue;
      }
      if (!(simd && simd->binary_f32(op, fa, ua, fb, ub, fo, m))) binary_row_reference(op, fa, ua, fb, ub, fo, 1, m);
      uint16_t* ro = static_cast<uint16_t*>(out.data) + off[2] + i0 * so;
      if (so == 1) {
        cast_contiguous(fo, DType::f32, ro, t, m);
      } else {
        uint16_t packed[kLowpBlock];
        cast_contiguous(fo, DType::f32, packed, t, m);
        for (int64_t i = 0; i < m; ++i) ro[i * so] = packed[i];
      }
    }
  });
}

}  // namespace

bool binary_is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge || op == BinaryOp::logical_and ||
         op == BinaryOp::logical_or || op == BinaryOp::logical_xor;
}

void binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& out) {
  if (a.dtype != b.dtype) throw KernelError("binary: operand dtypes differ");
  if (a.dtype == DType::bf16 || a.dtype == DType::f16) return binary_lowp(op, a, b, out);
  MINIDL_DISPATCH_ALL(a.dtype, "binary", binary_typed<T>(op, a, b, out));
}

// x ** s for the exponents PyTorch computes without pow (its pow_tensor_scalar_optimized_kernel):
// 2 -> x x, 3 -> x x x, 0.5 -> sqrt, -0.5 -> 1 / sqrt, -1 -> 1 / x, -2 -> 1 / (x x); the same
// values (and the same signs of zero and infinities: sqrt(-0) = -0, sqrt(-inf) = NaN, as in
// PyTorch, where std::pow would give +0 and +inf). Everything else, and the integer dtypes,
// take std::pow. Why: x ** 2 is everywhere (squared errors, variances, RMSNorm's
// x.pow(2).mean(-1)) and std::pow per element took 40-75 ms for 4M floats against PyTorch's
// 3-7 (1 thread, Xeon family 6 model 167); these are one pass of the SIMD rows.
// Returns false where it does not apply.
namespace {
// out = f(x) elementwise for float32 / float64 in one pass (x and out may be the same array):
// a contiguous row is a loop the compiler vectorizes (for this file's baseline ISA: fine for
// products, which are bound by memory, not for divisions)
template <class F>
void map_float(const TensorView& x, const TensorView& out, const F& f) {
  const int64_t* strides[2] = {x.strides, out.strides};
  StridedLoop<2> loop(out.ndim, out.shape, strides);
  const int64_t sx = loop.inner_stride(0), so = loop.inner_stride(1);
  MINIDL_DISPATCH_FLOAT(x.dtype, "pow", {
    const T* px = static_cast<const T*>(x.data);
    T* po = static_cast<T*>(out.data);
    loop.for_each_row([&](const int64_t* off, int64_t n) {
      const T* rx = px + off[0];
      T* ro = po + off[1];
      if (sx == 1 && so == 1)
        for (int64_t i = 0; i < n; ++i) ro[i] = f(rx[i]);
      else
        for (int64_t i = 0; i < n; ++i) ro[i * so] = f(rx[i * sx]);
    });
  });
}

bool pow_scalar_special(const TensorView& a, double s, const TensorView& out) {
  if (a.dtype != DType::f32 && a.dtype != DType::f64) return false;
  if (s == 2.0) {
    binary(BinaryOp::mul, a, a, out);
  } else if (s == 3.0) {
    // (x x) x in one pass (two passes, the square first, took 1.5-1.7x PyTorch's time: 4M
    // floats, 1 thread, 2.64 against 1.56 ms)
    map_float(a, out, [](auto v) { return (v * v) * v; });
  } else if (s == 0.5) {
    unary(UnaryOp::sqrt, a, out);
  } else if (s == -0.5) {
    unary(UnaryOp::rsqrt, a, out);
  } else if (s == -1.0) {
    unary(UnaryOp::reciprocal, a, out);
  } else if (s == -2.0) {
    // two passes through the SIMD rows: one pass of map_float (compiled for the baseline ISA)
    // divided per element at 5.5 ms for 4M floats against 2.3
    binary(BinaryOp::mul, a, a, out);
    unary(UnaryOp::reciprocal, out, out);
  } else {
    return false;
  }
  return true;
}
}  // namespace

void binary_scalar(BinaryOp op, const TensorView& a, double s, bool scalar_first, const TensorView& out) {
  if (op == BinaryOp::pow && !scalar_first && pow_scalar_special(a, s, out)) return;
  // the scalar is a 0-stride operand of a's dtype
  alignas(8) unsigned char buf[8];
  TensorView sv = a;
  for (int d = 0; d < sv.ndim; ++d) sv.strides[d] = 0;
  sv.data = buf;
  MINIDL_DISPATCH_ALL(a.dtype, "binary_scalar", {
    T v;
    if constexpr (std::is_same_v<T, uint8_t>) v = s != 0.0;
    else v = static_cast<T>(s);
    *reinterpret_cast<T*>(buf) = v;
  });
  if (scalar_first) binary(op, sv, a, out);
  else binary(op, a, sv, out);
}

void unary(UnaryOp op, const TensorView& x, const TensorView& out) {
  MINIDL_DISPATCH_ALL(x.dtype, "unary", unary_typed<T>(op, x, out));
}

void scaled_update(ScaledOp op, const TensorView& x, const TensorView& y, double s, const TensorView& out) {
  const int64_t* strides[3] = {x.strides, y.strides, out.strides};
  StridedLoop<3> loop(out.ndim, out.shape, strides);
  const int64_t sx = loop.inner_stride(0), sy = loop.inner_stride(1), so = loop.inner_stride(2);
  MINIDL_DISPATCH_FLOAT(out.dtype, "scaled_update", {
    const ElementwiseSimd* simd = nullptr;
    if constexpr (std::is_same_v<T, float>) simd = elementwise_simd_active();
    const T* px = static_cast<const T*>(x.data);
    const T* py = static_cast<const T*>(y.data);
    T* po = static_cast<T*>(out.data);
    loop.for_each_row([&](const int64_t* off, int64_t n) {
      if (simd && sx == 1 && so == 1 && sy <= 1) {  // (set for float32 only: the casts change nothing)
        simd->scaled_f32(op, reinterpret_cast<const float*>(px + off[0]), reinterpret_cast<const float*>(py + off[1]),
                         sy, static_cast<float>(s), reinterpret_cast<float*>(po + off[2]), n);
        return;
      }
      scaled_row_reference(op, px + off[0], sx, py + off[1], sy, static_cast<T>(s), po + off[2], so, n);
    });
  });
}

void clamp(const TensorView& x, bool has_lo, double lo, bool has_hi, double hi, const TensorView& out) {
  const int64_t* strides[2] = {x.strides, out.strides};
  StridedLoop<2> loop(out.ndim, out.shape, strides);
  const int64_t sx = loop.inner_stride(0), so = loop.inner_stride(1);
  MINIDL_DISPATCH_NUMERIC(x.dtype, "clamp", {
    const T* px = static_cast<const T*>(x.data);
    T* po = static_cast<T*>(out.data);
    const T l = static_cast<T>(lo), h = static_cast<T>(hi);
    loop.for_each_row([&](const int64_t* off, int64_t n) {
      clamp_row_reference(px + off[0], sx, po + off[1], so, n, has_lo, l, has_hi, h);
    });
  });
}

void clamp_backward(const TensorView& g, const TensorView& x, bool has_lo, double lo, bool has_hi,
                    double hi, const TensorView& gx) {
  const int64_t* strides[3] = {g.strides, x.strides, gx.strides};
  StridedLoop<3> loop(gx.ndim, gx.shape, strides);
  const int64_t sg = loop.inner_stride(0), sx = loop.inner_stride(1), so = loop.inner_stride(2);
  MINIDL_DISPATCH_FLOAT(x.dtype, "clamp_backward", {
    const T* pg = static_cast<const T*>(g.data);
    const T* px = static_cast<const T*>(x.data);
    T* po = static_cast<T*>(gx.data);
    const T l = static_cast<T>(lo), h = static_cast<T>(hi);
    loop.for_each_row([&](const int64_t* off, int64_t n) {
      clamp_backward_row_reference(pg + off[0], sg, px + off[1], sx, po + off[2], so, n, has_lo, l, has_hi, h);
    });
  });
}

void where(const TensorView& cond, const TensorView& a, const TensorView& b, const TensorView& out) {
  const int64_t* strides[4] = {cond.strides, a.strides, b.strides, out.strides};
  StridedLoop<4> loop(out.ndim, out.shape, strides);
  const int64_t sc = loop.inner_stride(0), sa = loop.inner_stride(1), sb = loop.inner_stride(2),
                so = loop.inner_stride(3);
  const uint8_t* pc = static_cast<const uint8_t*>(cond.data);
  // a pure selection: dispatch on the element size (not the dtype), so 16-bit floats work too
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a.data);
    const T* pb = static_cast<const T*>(b.data);
    T* po = static_cast<T*>(out.data);
    loop.for_each_row([&](const int64_t* off, int64_t n) {
      where_row_reference(pc + off[0], sc, pa + off[1], sa, pb + off[2], sb, po + off[3], so, n);
    });
  };
  switch (dtype_size(out.dtype)) {
    case 1: run(uint8_t{}); break;
    case 2: run(uint16_t{}); break;
    case 4: run(uint32_t{}); break;
    default: run(uint64_t{}); break;
  }
}

}  // namespace minidl
