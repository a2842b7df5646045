// Elementwise arithmetic with NumPy broadcasting, comparisons, unary math, clamp, where.
//
// Shapes: every operand is a TensorView with out's ndim and shape (stride 0 on a broadcast
// dim), any strides. The reference rows open elementwise.cpp; ElementwiseSimd (below) is the
// float32 table of elementwise_simd.cpp, compiled once per ISA.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

enum class BinaryOp : int {
  add = 0, sub, mul, div, pow, maximum, minimum,   // arithmetic: out dtype = input dtype
  eq, ne, lt, le, gt, ge,                           // comparisons: out dtype = bool
  logical_and, logical_or, logical_xor,             // on bool (or nonzero) -> bool
  floor_divide, remainder,                          // Python semantics (floor)
};

enum class UnaryOp : int {
  neg = 0, abs, exp, log, sqrt, rsqrt, square, reciprocal, sign, sin, cos, log1p, expm1,
  floor, ceil, round, trunc, logical_not, isnan, isinf, isfinite,
  erf,     // 2/sqrt(pi) * integral_0^x e^(-t^2) dt
  erfinv,  // the inverse of erf on (-1, 1): erf(erfinv(y)) = y; +-inf at +-1, NaN outside
};

bool binary_is_comparison(BinaryOp op);

// out = a (op) b over out's shape. a and b have out's ndim and shape, with stride 0 on the
// broadcast dims; they share one dtype (f32, f64, i64, b8, or bf16 / f16: computed in float32
// on blocks of widened values, each result rounded once). out may alias a or b exactly
// (in-place ops). Parallel over rows for large outputs.
void binary(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& out);
// out = a (op) s, or s (op) a when scalar_first.
void binary_scalar(BinaryOp op, const TensorView& a, double s, bool scalar_first, const TensorView& out);

// out = op(x), same shape; out dtype = x's (bool for logical_not/isnan/isinf/isfinite).
void unary(UnaryOp op, const TensorView& x, const TensorView& out);

// Updates with a scalar s, in one pass (the in-place forms are what optimizers and model
// averages call on every parameter: p.add_(g, alpha=-lr), ema.lerp_(p, 1 - decay)):
//   add_scaled:  out = x + s y                      (PyTorch's add with alpha: one FMA)
//   lerp:        out = x + s (y - x) for |s| < 0.5, else y - (y - x)(1 - s)   (PyTorch's lerp,
//                exact at s = 0 and s = 1)
// x, y, out float32 or float64, y broadcast to out's shape; out may alias x.
enum class ScaledOp : int { add_scaled = 0, lerp };
void scaled_update(ScaledOp op, const TensorView& x, const TensorView& y, double s, const TensorView& out);

// addcmul / addcdiv in one pass, with PyTorch's arithmetic (its CPU kernels, as compiled):
//   mul:  out = fma(s t1, t2, x)        (x + s t1 t2, the last multiply and the add fused)
//   div:  out = x + (s t1) / t2
// x, t1, t2, out float32 or float64, all broadcast to out's shape; out may alias x.
enum class AddcOp : int { mul = 0, div };
void addc(AddcOp op, const TensorView& x, const TensorView& t1, const TensorView& t2, double s, const TensorView& out);

// out = min(max(x, lo), hi), each bound optional.
void clamp(const TensorView& x, bool has_lo, double lo, bool has_hi, double hi, const TensorView& out);
// gx = g where lo <= x <= hi, else 0 (the clamp backward; PyTorch passes the gradient at the bounds)
void clamp_backward(const TensorView& g, const TensorView& x, bool has_lo, double lo, bool has_hi,
                    double hi, const TensorView& gx);

// out = cond ? a : b over out's shape (cond bool; a, b of out's dtype; all broadcast).
void where(const TensorView& cond, const TensorView& a, const TensorView& b, const TensorView& out);

// Float32 SIMD rows, the vector versions of binary_row_reference / unary_row_reference in
// elementwise.cpp. sa / sb are 0 (broadcast scalar) or 1 (contiguous); out is contiguous.
// Return false when the op is not vectorized (the caller runs the reference row).
struct ElementwiseSimd {
  bool (*binary_f32)(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb,
                     float* out, int64_t n);
  bool (*unary_f32)(UnaryOp op, const float* x, float* out, int64_t n);
  void (*copy_f32)(const float* src, float* dst, int64_t n);  // dst = src (no caller at present)
  // scaled_update on a row: x and out contiguous, y contiguous (sy 1) or one value (sy 0)
  void (*scaled_f32)(ScaledOp op, const float* x, const float* y, int64_t sy, float s, float* out, int64_t n);
  // addc on a row: out contiguous, x, t1, t2 each contiguous (1) or one value (0)
  void (*addc_f32)(AddcOp op, const float* x, int64_t sx, const float* t1, int64_t s1, const float* t2, int64_t s2,
                   float s, float* out, int64_t n);
};

}  // namespace minidl
