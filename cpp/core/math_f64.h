// Double-precision log and exp written once for every lane type: ScalarD here (the reference),
// VecD in vec_f64.h (4 or 8 doubles of the file's ISA). Each is a fixed sequence of IEEE 754
// operations (+, -, *, /, rounding to an integer, exact bit moves), the same for every lane
// type, so with -ffp-contract=off (no a * b + c fused in one build and not in another) every
// kernel set gives the same bits. The polynomials are fdlibm's (Sun Microsystems, 1993;
// FreeBSD msun e_log.c) for log, accurate to < 1 ulp, and the Taylor series of degree 11 for
// exp on |r| <= ln2 / 2 (truncation 7e-15 relative).
//
// Users: the normal fill's Box-Muller (cpp/ops/random/box_muller.h) and float32 pow (pow_f64
// below), computed in double and rounded once (cpp/ops/elementwise/elementwise_simd.cpp).
//
// log(x), x a positive normal double: x = m 2^e with m in [sqrt(1/2), sqrt(2)) (bit moves),
//   f = m - 1 (exact), s = f / (2 + f), and with R(s^2) a series of degree 14 in s,
//     log(x) = e ln2_hi - ((f^2/2 - (s (f^2/2 + R) + e ln2_lo)) - f)     (ln2 in two parts).
// exp(t), |t| <= 700: k = nearest integer to t / ln2, r = t - k ln2_hi - k ln2_lo (exact: k ln2_hi
//   has few bits), exp(t) = 2^k (1 + r + r^2/2! + ... + r^11/11!), 2^k built from its bits.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace minidl {
// Internal linkage (an unnamed namespace): each file that includes this, the scalar reference
// and each ISA's copy, gets its own, so the linker never hands an AVX-512 build of a helper to
// the scalar path.
namespace {
namespace math_f64 {

constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
constexpr double kInvLn2 = 1.44269504088896338700e+00;
constexpr double kLg1 = 6.666666666666735130e-01, kLg2 = 3.999999999940941908e-01, kLg3 = 2.857142874366239149e-01,
                 kLg4 = 2.222219843214978396e-01, kLg5 = 1.818357216161805012e-01, kLg6 = 1.531383769920937332e-01,
                 kLg7 = 1.479819860511658591e-01;
constexpr double kSqrt2 = 1.41421356237309514547;  // sqrt(2) rounded down: m above it moves to [sqrt(1/2), 1)

}  // namespace math_f64

// The scalar lane: the reference every vector lane type (vec_f64.h) mirrors operation for
// operation.
struct ScalarD {
  double v;
  static ScalarD set1(double x) { return {x}; }
};
inline ScalarD operator+(ScalarD a, ScalarD b) { return {a.v + b.v}; }
inline ScalarD operator-(ScalarD a, ScalarD b) { return {a.v - b.v}; }
inline ScalarD operator*(ScalarD a, ScalarD b) { return {a.v * b.v}; }
inline ScalarD operator/(ScalarD a, ScalarD b) { return {a.v / b.v}; }
inline ScalarD operator-(ScalarD a) { return {-a.v}; }
inline ScalarD sqrt(ScalarD a) { return {std::sqrt(a.v)}; }
inline ScalarD round_to_int(ScalarD a) { return {std::nearbyint(a.v)}; }  // ties to even
// a == b ? x : y, and a > b ? x : y
inline ScalarD select_eq(ScalarD a, ScalarD b, ScalarD x, ScalarD y) { return a.v == b.v ? x : y; }
inline ScalarD select_gt(ScalarD a, ScalarD b, ScalarD x, ScalarD y) { return a.v > b.v ? x : y; }
// x = m 2^e for a positive normal x: m in [1, 2) and e (as a double), by moving bits
inline void split_exponent(ScalarD x, ScalarD& m, ScalarD& e) {
  uint64_t bits;
  std::memcpy(&bits, &x.v, 8);
  const uint64_t m_bits = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
  std::memcpy(&m.v, &m_bits, 8);
  e.v = static_cast<double>(static_cast<int64_t>(bits >> 52) - 1023);
}
// 2^k for an integral k in [-1022, 1023], by moving bits
inline ScalarD pow2_int(ScalarD k) {
  const uint64_t bits = static_cast<uint64_t>(static_cast<int64_t>(k.v) + 1023) << 52;
  ScalarD r;
  std::memcpy(&r.v, &bits, 8);
  return r;
}

// --8<-- [start:log_exp_f64]
// log(x) for a positive normal x (see the top of the file)
template <class L>
inline L log_f64(L x) {
  using namespace math_f64;
  L m, e;
  split_exponent(x, m, e);
  const L one = L::set1(1.0), half = L::set1(0.5);
  e = select_gt(m, L::set1(kSqrt2), e + one, e);
  m = select_gt(m, L::set1(kSqrt2), m * half, m);
  const L f = m - one;
  const L s = f / (L::set1(2.0) + f);
  const L z = s * s, w = z * z;
  const L t1 = w * (L::set1(kLg2) + w * (L::set1(kLg4) + w * L::set1(kLg6)));
  const L t2 = z * (L::set1(kLg1) + w * (L::set1(kLg3) + w * (L::set1(kLg5) + w * L::set1(kLg7))));
  const L r = t2 + t1;
  const L hfsq = half * f * f;
  return e * L::set1(kLn2Hi) - ((hfsq - (s * (hfsq + r) + e * L::set1(kLn2Lo))) - f);
}

// exp(t) for |t| <= 700 (see the top of the file)
template <class L>
inline L exp_f64(L t) {
  using namespace math_f64;
  const L k = round_to_int(t * L::set1(kInvLn2));
  const L r = (t - k * L::set1(kLn2Hi)) - k * L::set1(kLn2Lo);
  // 1 + r (1 + r/2 (1 + r/3 (... (1 + r/11)))): Horner on the Taylor coefficients 1/n!
  L p = L::set1(1.0 / 39916800.0);
  constexpr double kInvFactorial[11] = {1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
                                        1.0 / 720.0,     1.0 / 120.0,    1.0 / 24.0,    1.0 / 6.0,
                                        0.5,             1.0,            1.0};
  for (double c : kInvFactorial) p = p * r + L::set1(c);
  return p * pow2_int(k);
}
// --8<-- [end:log_exp_f64]

// --8<-- [start:pow_f64]
// x ** y with C99 pow's special values, for x and y float32 values widened to double (so the
// result, rounded once to float32, is correctly rounded but for ~1e-15 relative: exp(y log|x|)
// here errs by a few ulps of a double). The general case is exp(y log |x|), negated for a
// negative x and an odd integer y; then, in order of precedence:
//   x < 0 finite (not -0) and y not an integer -> NaN;   x or y NaN -> NaN;
//   |x| == 1 and y = +-inf -> 1;   x == 1 -> 1;   y == +-0 -> 1.
// Zeros and infinities of x go through log |x| = -inf / +inf: y log|x| = +-inf, clamped to
// +-200, gives e^+-200, which float32 rounds to inf or 0 (a double's 2^k stays normal).
// exp(t) for t clamped to [-200, 200]: beyond, float32 rounds e^t to 0 or inf anyway
template <class L>
inline L exp_clamped_f64(L t) {
  t = select_gt(t, L::set1(200.0), L::set1(200.0), t);
  return exp_f64(select_gt(L::set1(-200.0), t, L::set1(-200.0), t));
}

// x ** y for x positive, normal and finite, and y finite: no special value can occur
template <class L>
inline L pow_ordinary_f64(L x, L y) {
  return exp_clamped_f64(y * log_f64(x));
}

template <class L>
inline L pow_f64(L x, L y) {
  const L zero = L::set1(0.0), one = L::set1(1.0), half = L::set1(0.5);
  const L inf = L::set1(HUGE_VAL), nan = L::set1(NAN);
  const L ax = select_gt(zero, x, -x, x);  // |x| (-0 stays -0: it is handled as a zero below)
  L lx = log_f64(ax);
  lx = select_eq(ax, zero, -inf, lx);
  lx = select_eq(ax, inf, inf, lx);
  const L t = y * lx;
  L r = exp_clamped_f64(t);
  r = select_eq(t, t, r, nan);  // t NaN (y NaN, or 0 * inf: fixed below)
  // the sign: x negative (its sign bit, -0 included: 1 / -0 = -inf) and y an odd integer
  const L y_int = select_eq(round_to_int(y), y, one, zero);
  const L y_odd = select_eq(y_int, one, select_eq(round_to_int(y * half), y * half, zero, one), zero);
  const L x_neg = select_gt(zero, x, one, select_eq(x, zero, select_gt(zero, one / x, one, zero), zero));
  r = select_eq(x_neg, one, select_eq(y_odd, one, -r, r), r);
  // negative finite non-zero x, y not an integer
  const L finite_nonzero = select_eq(ax, inf, zero, select_eq(ax, zero, zero, one));
  r = select_eq(x_neg, one, select_eq(finite_nonzero, one, select_eq(y_int, zero, nan, r), r), r);
  r = select_eq(x, x, r, nan);  // x NaN (log of its bits is not)
  const L ay = select_gt(zero, y, -y, y);
  r = select_eq(ax, one, select_eq(ay, inf, one, r), r);
  r = select_eq(x, one, one, r);
  return select_eq(y, zero, one, r);
}
// --8<-- [end:pow_f64]

}  // namespace
}  // namespace minidl
