// The Box-Muller transform in double precision, written once for every kernel set:
//   z0 = sqrt(-2 log u0) cos(2 pi u1),   z1 = sqrt(-2 log u0) sin(2 pi u1)
// for u0 in (0, 1] and u1 in [0, 1), both multiples of 2^-53 (Rng::next_double's grid).
//
// Why our own log and sin/cos instead of libm's: the transform is what randn costs (libm's
// sincos and log took 80% of a 1M-value randn, 16.6 ms against PyTorch's 3.2). The formula
// below is a template over a lane type L (ScalarLane here; __m512d and __m256d lanes in
// random_simd.cpp) and uses only operations IEEE 754 rounds exactly one way (+, -, *, /, sqrt,
// rounding to an integer, exact bit moves), in the same order for every L. Built with
// -ffp-contract=off (CMakeLists.txt: no a * b + c may become a fused multiply-add in one build
// and stay two roundings in another), every kernel set gives the same bits, so a seed keeps
// giving the same numbers on every machine, vector width and thread count. The polynomials are
// fdlibm's (Sun Microsystems, 1993; FreeBSD msun e_log.c, k_sin.c, k_cos.c), accurate to
// < 1 ulp on their reduced ranges; the results differ from glibc's log / sincos by an ulp of a
// double at most (tests/test_random.py compares them on the same uniforms).
//
// log(u0): u0 = m 2^e with m in [sqrt(1/2), sqrt(2)) (exact bit moves: u0 is a normal double,
//   at least 2^-53), f = m - 1 (exact), s = f / (2 + f), and
//     log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)),  R an odd-power series of degree 14 in s;
//     log(u0) = e ln2_hi - ((f^2/2 - (s (f^2/2 + R) + e ln2_lo)) - f)   (ln2 in two parts).
// sin/cos(2 pi u1): q = nearest integer to 4 u1 (the quadrant, 0..4), t = u1 - q / 4 (exact:
//   both are multiples of 2^-53 and |t| <= 1/8), x = 2 pi t in [-pi/4, pi/4]; then fdlibm's
//   kernels sin x = x + x^3 (S1 + x^2 P(x^2)) and cos x = w + ((1 - w) - x^2/2 + x^4 Q(x^2))
//   with w = 1 - x^2/2, and the quadrant turns (cos, sin) of x into those of x + q pi/2.
//   2 pi t carries the rounding of 2 pi and of one product, ~1.5e-16 relative: ~1 ulp of z.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace minidl {
// Everything here has internal linkage (an unnamed namespace): each file that includes it, the
// scalar reference and each ISA's copy, gets its own, so the linker never hands an AVX-512
// build of a helper to the scalar path.
namespace {
namespace box_muller_detail {

// fdlibm e_log.c
constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
constexpr double kLg1 = 6.666666666666735130e-01, kLg2 = 3.999999999940941908e-01, kLg3 = 2.857142874366239149e-01,
                 kLg4 = 2.222219843214978396e-01, kLg5 = 1.818357216161805012e-01, kLg6 = 1.531383769920937332e-01,
                 kLg7 = 1.479819860511658591e-01;
constexpr double kSqrt2 = 1.41421356237309514547;  // sqrt(2) rounded down: m > it moves to [sqrt(1/2), 1)
// fdlibm k_sin.c, k_cos.c
constexpr double kS1 = -1.66666666666666324348e-01, kS2 = 8.33333333332248946124e-03,
                 kS3 = -1.98412698298579493134e-04, kS4 = 2.75573137070700676789e-06,
                 kS5 = -2.50507602534068634195e-08, kS6 = 1.58969099521155010221e-10;
constexpr double kC1 = 4.16666666666666019037e-02, kC2 = -1.38888888888741095749e-03,
                 kC3 = 2.48015872894767294178e-05, kC4 = -2.75573143513906633035e-07,
                 kC5 = 2.08757232129817482790e-09, kC6 = -1.13596475577881948265e-11;
constexpr double kTwoPi = 6.28318530717958647692;

}  // namespace box_muller_detail

// The scalar lane: the reference every vector lane type mirrors operation for operation.
struct ScalarLane {
  double v;
  static ScalarLane set1(double x) { return {x}; }
};
inline ScalarLane operator+(ScalarLane a, ScalarLane b) { return {a.v + b.v}; }
inline ScalarLane operator-(ScalarLane a, ScalarLane b) { return {a.v - b.v}; }
inline ScalarLane operator*(ScalarLane a, ScalarLane b) { return {a.v * b.v}; }
inline ScalarLane operator/(ScalarLane a, ScalarLane b) { return {a.v / b.v}; }
inline ScalarLane operator-(ScalarLane a) { return {-a.v}; }
inline ScalarLane sqrt(ScalarLane a) { return {std::sqrt(a.v)}; }
inline ScalarLane round_to_int(ScalarLane a) { return {std::nearbyint(a.v)}; }  // ties to even
// a == b ? x : y, and a > b ? x : y
inline ScalarLane select_eq(ScalarLane a, ScalarLane b, ScalarLane x, ScalarLane y) { return a.v == b.v ? x : y; }
inline ScalarLane select_gt(ScalarLane a, ScalarLane b, ScalarLane x, ScalarLane y) { return a.v > b.v ? x : y; }
// x = m 2^e for a positive normal x: m in [1, 2) and e (as a double), by moving bits
inline void split_exponent(ScalarLane x, ScalarLane& m, ScalarLane& e) {
  uint64_t bits;
  std::memcpy(&bits, &x.v, 8);
  const uint64_t m_bits = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
  std::memcpy(&m.v, &m_bits, 8);
  e.v = static_cast<double>(static_cast<int64_t>(bits >> 52) - 1023);
}

// --8<-- [start:box_muller_lanes]
// log(u) for u in [2^-53, 1] (see the top of the file)
template <class L>
inline L box_muller_log(L u) {
  using namespace box_muller_detail;
  L m, e;
  split_exponent(u, m, e);
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

// (z0, z1) = sqrt(-2 log u0) (cos 2 pi u1, sin 2 pi u1), times std, plus mean
template <class L>
inline void box_muller(L u0, L u1, L mean, L std, L& z0, L& z1) {
  using namespace box_muller_detail;
  const L zero = L::set1(0.0), one = L::set1(1.0), two = L::set1(2.0), three = L::set1(3.0);
  const L radius = sqrt(L::set1(-2.0) * box_muller_log(u0));
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
    ScalarLane z0, z1;
    box_muller(ScalarLane{u0[p]}, ScalarLane{u1[p]}, ScalarLane{mean}, ScalarLane{std}, z0, z1);
    out[2 * p] = static_cast<T>(z0.v);
    if (2 * p + 1 < n) out[2 * p + 1] = static_cast<T>(z1.v);
  }
}

}  // namespace
}  // namespace minidl
