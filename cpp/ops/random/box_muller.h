// The Box-Muller transform in double precision, written once for every kernel set:
//   z0 = sqrt(-2 log u0) cos(2 pi u1),   z1 = sqrt(-2 log u0) sin(2 pi u1)
// for u0 in (0, 1] and u1 in [0, 1), both multiples of 2^-53 (Rng::next_double's grid).
//
// Why our own log and sin/cos instead of libm's: the transform is what randn costs (libm's
// sincos and log took 80% of a 1M-value randn, 16.6 ms against PyTorch's 3.2). The formula
// below is a template over a lane type L (core/math_f64.h's ScalarD, and VecD of
// core/vec_f64.h in random_simd.cpp), a fixed sequence of IEEE operations, the same for every
// L; built with -ffp-contract=off (CMakeLists.txt), every kernel set gives the same bits, so a
// seed keeps giving the same numbers on every machine, vector width and thread count. The log
// is math_f64.h's; the sine and cosine kernels are fdlibm's (Sun Microsystems, 1993; FreeBSD
// msun k_sin.c, k_cos.c), accurate to < 1 ulp on their reduced range; the results differ from
// glibc's log / sincos by an ulp of a double or so (tests/test_generator.py compares them on
// the same uniforms).
//
// sin/cos(2 pi u1): q = nearest integer to 4 u1 (the quadrant, 0..4), t = u1 - q / 4 (exact:
//   both are multiples of 2^-53 and |t| <= 1/8), x = 2 pi t in [-pi/4, pi/4]; then fdlibm's
//   kernels sin x = x + x^3 (S1 + x^2 P(x^2)) and cos x = w + ((1 - w) - x^2/2 + x^4 Q(x^2))
//   with w = 1 - x^2/2, and the quadrant turns (cos, sin) of x into those of x + q pi/2.
//   2 pi t carries the rounding of 2 pi and of one product, ~1.5e-16 relative: ~1 ulp of z.
#pragma once
#include <cstdint>

#include "core/math_f64.h"

namespace minidl {
namespace {  // internal linkage, as math_f64.h
namespace box_muller_detail {

// fdlibm k_sin.c, k_cos.c
constexpr double kS1 = -1.66666666666666324348e-01, kS2 = 8.33333333332248946124e-03,
                 kS3 = -1.98412698298579493134e-04, kS4 = 2.75573137070700676789e-06,
                 kS5 = -2.50507602534068634195e-08, kS6 = 1.58969099521155010221e-10;
constexpr double kC1 = 4.16666666666666019037e-02, kC2 = -1.38888888888741095749e-03,
                 kC3 = 2.48015872894767294178e-05, kC4 = -2.75573143513906633035e-07,
                 kC5 = 2.08757232129817482790e-09, kC6 = -1.13596475577881948265e-11;
constexpr double kTwoPi = 6.28318530717958647692;

}  // namespace box_muller_detail

// --8<-- [start:box_muller_lanes]
// (z0, z1) = sqrt(-2 log u0) (cos 2 pi u1, sin 2 pi u1), times std, plus mean
template <class L>
inline void box_muller(L u0, L u1, L mean, L std, L& z0, L& z1) {
  using namespace box_muller_detail;
  const L zero = L::set1(0.0), one = L::set1(1.0), two = L::set1(2.0), three = L::set1(3.0);
  const L radius = sqrt(L::set1(-2.0) * log_f64(u0));  // u0 >= 2^-53: a normal double
  // the quadrant q and x = 2 pi (u1 - q / 4), |x| <= pi / 4
  L q = round_to_int(u1 * L::set1(4.0));
  const L x = (u1 - q * L::set1(0.25)) * L::set1(kTwoPi);
  q = select_eq(q, L::set1(4.0), zero, q);
  const L xx = x * x;
  const L ps = L::set1(kS2) + xx * (L::set1(kS3) + xx * (L::set1(kS4) + xx * (L::set1(kS5) + xx * L::set1(kS6))));
  const L sin_x = x + (xx * x) * (L::set1(kS1) + xx * ps);
  const L pc =
      xx * (L::set1(kC1) + xx * (L::set1(kC2) + xx * (L::set1(kC3) + xx * (L::set1(kC4) + xx * (L::set1(kC5) + xx * L::set1(kC6))))));
  const L hz = L::set1(0.5) * xx, w = one - hz;
  const L cos_x = w + (((one - w) - hz) + xx * pc);
  // (cos, sin) of x + q pi / 2
  const L c = select_eq(q, one, -sin_x, select_eq(q, two, -cos_x, select_eq(q, three, sin_x, cos_x)));
  const L s = select_eq(q, one, cos_x, select_eq(q, two, -sin_x, select_eq(q, three, -cos_x, sin_x)));
  const L scaled = std * radius;
  z0 = mean + scaled * c;
  z1 = mean + scaled * s;
}
// --8<-- [end:box_muller_lanes]

// out[0 .. n) from the pairs (u0[p], u1[p]), p < ceil(n / 2), z0 at out[2p] and z1 at out[2p + 1]
// on the scalar lane: the reference, and the vector loops' tail
template <class T>
void box_muller_pairs_scalar(const double* u0, const double* u1, int64_t n, double mean, double std, T* out) {
  for (int64_t p = 0; 2 * p < n; ++p) {
    ScalarD z0, z1;
    box_muller(ScalarD{u0[p]}, ScalarD{u1[p]}, ScalarD{mean}, ScalarD{std}, z0, z1);
    out[2 * p] = static_cast<T>(z0.v);
    if (2 * p + 1 < n) out[2 * p + 1] = static_cast<T>(z1.v);
  }
}

}  // namespace
}  // namespace minidl
