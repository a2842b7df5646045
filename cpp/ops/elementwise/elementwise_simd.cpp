// Float32 elementwise inner loops for one ISA (ElementwiseSimd, compiled once per ISA, see
// vec.h): must match binary_row_reference and unary_row_reference (apply_binary, apply_unary)
// in cpp/ops/elementwise/elementwise.cpp. Called there on rows whose operands are contiguous
// (stride 1) or a broadcast scalar (stride 0); anything it returns false for runs the
// reference row.
#include "elementwise.h"
#include "core/vec.h"
#include "core/vec_f64.h"
#include "core/map_loops.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// --8<-- [start:binary_loop]
// out[i] = op(a[i*sa], b[i*sb]) with sa, sb in {0, 1}
template <class Op>
inline void binary_loop(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, const Op& op) {
  if (sa == 1 && sb == 1) {
    map2(a, b, out, n, op);
  } else if (sa == 1) {
    const Vec vb = Vec::set1(*b);
    map1(a, out, n, [&](Vec x) { return op(x, vb); });
  } else if (sb == 1) {
    const Vec va = Vec::set1(*a);
    map1(b, out, n, [&](Vec y) { return op(va, y); });
  } else {
    const Vec v = op(Vec::set1(*a), Vec::set1(*b));
    int64_t i = 0;
    for (; i + Vec::width <= n; i += Vec::width) v.store(out + i);
    if (i < n) v.store_partial(out + i, static_cast<int>(n - i));
  }
}
// --8<-- [end:binary_loop]

// maximum/minimum propagate NaN like the reference (and torch.maximum): a NaN in either
// operand gives a + b (a NaN). Otherwise max_ps(a, b) = a > b ? a : b, the reference exactly.
inline Vec maximum_nan(Vec a, Vec b) { return blend(cmp_unord(a, b), max(a, b), a + b); }
inline Vec minimum_nan(Vec a, Vec b) { return blend(cmp_unord(a, b), min(a, b), a + b); }

// --8<-- [start:pow_row]
// out[i] = a[i sa] ** b[i sb] (sa, sb in {0, 1}): core/math_f64.h's pow_f64 on VecD lanes, the
// float32 values widened to double and the result rounded once. The reference is std::pow,
// glibc's powf (< 1 ulp); measured (x ** 1.5, 1024 x 1024, 1 thread, Intel Xeon family 6 model
// 167): 6.1 ms with std::pow per element, see bench_pow.py for the times now.
inline VecD lane_of(const float* p, int64_t stride) { return stride ? VecD::load_f32(p) : VecD::set1(*p); }

// pow_f64, or pow_ordinary_f64 where no lane can meet a special value (x positive and finite,
// y finite: the usual case, ~45% fewer instructions; x ** 1.5, 4M floats, 1 thread, 16.8 ->
// see bench_pow.py)
inline VecD pow_lane(VecD x, VecD y) {
  return all_between(x, 0.0, HUGE_VAL) && all_between(y, -HUGE_VAL, HUGE_VAL) ? pow_ordinary_f64(x, y) : pow_f64(x, y);
}

void pow_row(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  constexpr int W = VecD::width;
  int64_t i = 0;
  for (; i + W <= n; i += W) pow_lane(lane_of(a + i * sa, sa), lane_of(b + i * sb, sb)).store_f32(out + i);
  if (i < n) {  // the last n - i < W values, through a padded copy
    float xa[W], xb[W], r[W];
    for (int l = 0; l < W; ++l) {
      xa[l] = i + l < n ? a[(i + l) * sa] : 1.0f;
      xb[l] = i + l < n ? b[(i + l) * sb] : 1.0f;
    }
    pow_lane(VecD::load_f32(xa), VecD::load_f32(xb)).store_f32(r);
    for (int64_t l = 0; i + l < n; ++l) out[i + l] = r[l];
  }
}
// --8<-- [end:pow_row]

bool binary_f32(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa < 0 || sa > 1 || sb < 0 || sb > 1) return false;
  switch (op) {
    case BinaryOp::pow: pow_row(a, sa, b, sb, out, n); return true;
    case BinaryOp::add: binary_loop(a, sa, b, sb, out, n, [](Vec x, Vec y) { return x + y; }); return true;
    case BinaryOp::sub: binary_loop(a, sa, b, sb, out, n, [](Vec x, Vec y) { return x - y; }); return true;
    case BinaryOp::mul: binary_loop(a, sa, b, sb, out, n, [](Vec x, Vec y) { return x * y; }); return true;
    case BinaryOp::div: binary_loop(a, sa, b, sb, out, n, [](Vec x, Vec y) { return x / y; }); return true;
    case BinaryOp::maximum: binary_loop(a, sa, b, sb, out, n, maximum_nan); return true;
    case BinaryOp::minimum: binary_loop(a, sa, b, sb, out, n, minimum_nan); return true;
    default: return false;
  }
}

// sin (or cos) of v, the lanes outside vec.h's range (|x| > kSinCosMax, inf, NaN) from the C
// library
template <bool kSin>
inline Vec sin_cos_checked(Vec v) {
  Vec r = kSin ? sin(v) : cos(v);
  const Mask outside = mask_or(cmp_gt(abs(v), Vec::set1(kSinCosMax)), cmp_unord(v, v));
  if (mask_any(outside)) {
    alignas(64) float in[Vec::width], res[Vec::width];
    v.store(in);
    r.store(res);
    for (int l = 0; l < Vec::width; ++l)
      if (!(__builtin_fabsf(in[l]) <= kSinCosMax)) res[l] = kSin ? __builtin_sinf(in[l]) : __builtin_cosf(in[l]);
    r = Vec::load(res);
  }
  return r;
}

bool unary_f32(UnaryOp op, const float* x, float* out, int64_t n) {
  const Vec one = Vec::set1(1.0f);
  switch (op) {
    case UnaryOp::neg: map1(x, out, n, [](Vec v) { return neg(v); }); return true;
    case UnaryOp::abs: map1(x, out, n, [](Vec v) { return abs(v); }); return true;
    case UnaryOp::exp: map1(x, out, n, [](Vec v) { return exp(v); }); return true;
    case UnaryOp::log: map1(x, out, n, [](Vec v) { return log(v); }); return true;
    case UnaryOp::sqrt: map1(x, out, n, [](Vec v) { return sqrt(v); }); return true;
    // 1 / sqrt(x) with the correctly rounded sqrt and division (not rsqrt_ps's 12-14 bit
    // approximation): bit-identical to the reference's T(1) / std::sqrt(x)
    case UnaryOp::rsqrt: map1(x, out, n, [&](Vec v) { return one / sqrt(v); }); return true;
    case UnaryOp::square: map1(x, out, n, [](Vec v) { return v * v; }); return true;
    case UnaryOp::reciprocal: map1(x, out, n, [&](Vec v) { return one / v; }); return true;
    // rounding: one roundscale each, bit-identical to std::floor / ceil / trunc / nearbyint
    // (half to even); these were scalar calls, 4x PyTorch's time on 1M floats (1 thread)
    case UnaryOp::floor: map1(x, out, n, [](Vec v) { return floor(v); }); return true;
    case UnaryOp::ceil: map1(x, out, n, [](Vec v) { return ceil(v); }); return true;
    case UnaryOp::trunc: map1(x, out, n, [](Vec v) { return trunc(v); }); return true;
    case UnaryOp::round: map1(x, out, n, [](Vec v) { return round_nearest(v); }); return true;
    // sign: 1, -1, 0 for +-0, NaN for NaN, as the reference
    case UnaryOp::sign:
      map1(x, out, n, [&](Vec v) {
        const Vec s = blend(cmp_gt(v, Vec::zero()), blend(cmp_lt(v, Vec::zero()), Vec::zero(), neg(one)), one);
        return blend(cmp_unord(v, v), s, v);
      });
      return true;
    // erf: vec.h's (max rel. error ~2 ulp against std::erf's correctly rounded values); the
    // scalar std::erf took 18x PyTorch's time on 1M floats
    case UnaryOp::erf: map1(x, out, n, [](Vec v) { return erf(v); }); return true;
    // sin / cos: vec.h's (Cephes, ~1 ulp on |x| <= 8192); a vector with a larger |x|, an inf
    // or a NaN takes the C library for those lanes. The scalar calls took 15x PyTorch's time
    // on 1M floats (1 thread).
    case UnaryOp::sin: map1(x, out, n, [](Vec v) { return sin_cos_checked<true>(v); }); return true;
    case UnaryOp::cos: map1(x, out, n, [](Vec v) { return sin_cos_checked<false>(v); }); return true;
    default: return false;
  }
}

void copy_f32(const float* src, float* dst, int64_t n) {
  map1(src, dst, n, [](Vec v) { return v; });
}

// the vector form of scaled_row_reference: the same FMAs, so the same bits
void scaled_f32(ScaledOp op, const float* x, const float* y, int64_t sy, float s, float* out, int64_t n) {
  const Vec vs = Vec::set1(s), one_minus = Vec::set1(1.0f - s);
  const bool near_x = __builtin_fabsf(s) < 0.5f;
  auto f = [&](Vec a, Vec b) {
    if (op == ScaledOp::add_scaled) return fmadd(vs, b, a);
    return near_x ? fmadd(vs, b - a, a) : fmadd(neg(b - a), one_minus, b);
  };
  if (sy == 1) {
    map2(x, y, out, n, f);
  } else {
    const Vec b = Vec::set1(*y);
    map1(x, out, n, [&](Vec a) { return f(a, b); });
  }
}

// the vector form of addc_row_reference: the same operations (fmadd is one rounding, as std::fma)
void addc_f32(AddcOp op, const float* x, int64_t sx, const float* t1, int64_t s1, const float* t2, int64_t s2, float s,
              float* out, int64_t n) {
  const Vec vs = Vec::set1(s);
  auto lane = [](const float* p, int64_t stride, int64_t i) { return stride ? Vec::load(p + i) : Vec::set1(*p); };
  auto lane_partial = [](const float* p, int64_t stride, int64_t i, int r) {
    return stride ? Vec::load_partial(p + i, r) : Vec::set1(*p);
  };
  auto f = [&](Vec a, Vec b, Vec c) { return op == AddcOp::mul ? fmadd(vs * b, c, a) : a + (vs * b) / c; };
  int64_t i = 0;
  for (; i + Vec::width <= n; i += Vec::width) f(lane(x, sx, i), lane(t1, s1, i), lane(t2, s2, i)).store(out + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    // a zero-filled divisor lane would divide by 0: harmless, the lane is not stored
    f(lane_partial(x, sx, i, r), lane_partial(t1, s1, i, r), lane_partial(t2, s2, i, r)).store_partial(out + i, r);
  }
}

}  // namespace

extern const ElementwiseSimd elementwise_simd = {&binary_f32, &unary_f32, &copy_f32, &scaled_f32, &addc_f32};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
