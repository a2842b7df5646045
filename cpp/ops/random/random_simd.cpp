// The normal fill's Box-Muller transform for one ISA (RandomSimd): box_muller.h's formula on
// lanes of 8 (AVX-512) or 4 (AVX2) doubles, the same operations in the same order as the
// scalar lane, so every kernel set gives the same bits (built with -ffp-contract=off, see
// box_muller.h). The pairs' outputs are interleaved on the way out (z0 of pair p at 2p, z1 at
// 2p + 1) and rounded to float32 for a float32 tensor, as the scalar cast rounds.
#include <immintrin.h>

#include "box_muller.h"
#include "random.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
struct Lane {
  __m512d v;
  static constexpr int width = 8;
  static Lane set1(double x) { return {_mm512_set1_pd(x)}; }
  static Lane load(const double* p) { return {_mm512_loadu_pd(p)}; }
};
inline Lane operator+(Lane a, Lane b) { return {_mm512_add_pd(a.v, b.v)}; }
inline Lane operator-(Lane a, Lane b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline Lane operator*(Lane a, Lane b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline Lane operator/(Lane a, Lane b) { return {_mm512_div_pd(a.v, b.v)}; }
inline Lane operator-(Lane a) {
  return {_mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a.v), _mm512_set1_epi64(INT64_MIN)))};
}
inline Lane sqrt(Lane a) { return {_mm512_sqrt_pd(a.v)}; }
inline Lane round_to_int(Lane a) { return {_mm512_roundscale_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline Lane select_eq(Lane a, Lane b, Lane x, Lane y) {
  return {_mm512_mask_blend_pd(_mm512_cmp_pd_mask(a.v, b.v, _CMP_EQ_OQ), y.v, x.v)};
}
inline Lane select_gt(Lane a, Lane b, Lane x, Lane y) {
  return {_mm512_mask_blend_pd(_mm512_cmp_pd_mask(a.v, b.v, _CMP_GT_OQ), y.v, x.v)};
}
// the exponent as a double: (bits >> 52) in the low bits of 2^52, minus 2^52 + 1023 (exact)
inline void split_exponent(Lane x, Lane& m, Lane& e) {
  const __m512i bits = _mm512_castpd_si512(x.v);
  m.v = _mm512_castsi512_pd(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi64(0x000FFFFFFFFFFFFFLL)),
                                            _mm512_set1_epi64(0x3FF0000000000000LL)));
  const __m512d biased = _mm512_castsi512_pd(
      _mm512_or_si512(_mm512_srli_epi64(bits, 52), _mm512_set1_epi64(0x4330000000000000LL)));
  e.v = _mm512_sub_pd(biased, _mm512_set1_pd(4503599627371519.0));  // 2^52 + 1023
}
// out[0..2 width) = z0[0], z1[0], z0[1], z1[1], ...
inline void store_pairs(Lane z0, Lane z1, double* out) {
  _mm512_storeu_pd(out, _mm512_permutex2var_pd(z0.v, _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), z1.v));
  _mm512_storeu_pd(out + 8, _mm512_permutex2var_pd(z0.v, _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15), z1.v));
}
inline void store_pairs(Lane z0, Lane z1, float* out) {
  const __m512d lo = _mm512_permutex2var_pd(z0.v, _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), z1.v);
  const __m512d hi = _mm512_permutex2var_pd(z0.v, _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15), z1.v);
  _mm256_storeu_ps(out, _mm512_cvtpd_ps(lo));
  _mm256_storeu_ps(out + 8, _mm512_cvtpd_ps(hi));
}
#else
struct Lane {
  __m256d v;
  static constexpr int width = 4;
  static Lane set1(double x) { return {_mm256_set1_pd(x)}; }
  static Lane load(const double* p) { return {_mm256_loadu_pd(p)}; }
};
inline Lane operator+(Lane a, Lane b) { return {_mm256_add_pd(a.v, b.v)}; }
inline Lane operator-(Lane a, Lane b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline Lane operator*(Lane a, Lane b) { return {_mm256_mul_pd(a.v, b.v)}; }
inline Lane operator/(Lane a, Lane b) { return {_mm256_div_pd(a.v, b.v)}; }
inline Lane operator-(Lane a) { return {_mm256_xor_pd(a.v, _mm256_set1_pd(-0.0))}; }
inline Lane sqrt(Lane a) { return {_mm256_sqrt_pd(a.v)}; }
inline Lane round_to_int(Lane a) { return {_mm256_round_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline Lane select_eq(Lane a, Lane b, Lane x, Lane y) { return {_mm256_blendv_pd(y.v, x.v, _mm256_cmp_pd(a.v, b.v, _CMP_EQ_OQ))}; }
inline Lane select_gt(Lane a, Lane b, Lane x, Lane y) { return {_mm256_blendv_pd(y.v, x.v, _mm256_cmp_pd(a.v, b.v, _CMP_GT_OQ))}; }
inline void split_exponent(Lane x, Lane& m, Lane& e) {
  const __m256i bits = _mm256_castpd_si256(x.v);
  m.v = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFLL)),
                                            _mm256_set1_epi64x(0x3FF0000000000000LL)));
  const __m256d biased = _mm256_castsi256_pd(
      _mm256_or_si256(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(0x4330000000000000LL)));
  e.v = _mm256_sub_pd(biased, _mm256_set1_pd(4503599627371519.0));  // 2^52 + 1023
}
inline void store_pairs(Lane z0, Lane z1, double* out) {
  const __m256d lo = _mm256_unpacklo_pd(z0.v, z1.v), hi = _mm256_unpackhi_pd(z0.v, z1.v);  // pairs 0, 2 | 1, 3
  _mm256_storeu_pd(out, _mm256_permute2f128_pd(lo, hi, 0x20));
  _mm256_storeu_pd(out + 4, _mm256_permute2f128_pd(lo, hi, 0x31));
}
inline void store_pairs(Lane z0, Lane z1, float* out) {
  const __m256d lo = _mm256_unpacklo_pd(z0.v, z1.v), hi = _mm256_unpackhi_pd(z0.v, z1.v);
  _mm_storeu_ps(out, _mm256_cvtpd_ps(_mm256_permute2f128_pd(lo, hi, 0x20)));
  _mm_storeu_ps(out + 4, _mm256_cvtpd_ps(_mm256_permute2f128_pd(lo, hi, 0x31)));
}
#endif

// out[0 .. n) from pairs (u0[p], u1[p]), p < ceil(n / 2): z0 of pair p at 2p, z1 at 2p + 1
template <class T>
void normal_pairs(const double* u0, const double* u1, int64_t n, double mean, double std, T* out) {
  const Lane vmean = Lane::set1(mean), vstd = Lane::set1(std);
  int64_t p = 0;
  for (; 2 * (p + Lane::width) <= n; p += Lane::width) {
    Lane z0, z1;
    box_muller(Lane::load(u0 + p), Lane::load(u1 + p), vmean, vstd, z0, z1);
    store_pairs(z0, z1, out + 2 * p);
  }
  // the last pairs on the scalar lane: the same operations, the same bits
  box_muller_pairs_scalar(u0 + p, u1 + p, n - 2 * p, mean, std, out + 2 * p);
}

void normal_pairs_f32(const double* u0, const double* u1, int64_t n, double mean, double std, float* out) {
  normal_pairs(u0, u1, n, mean, std, out);
}
void normal_pairs_f64(const double* u0, const double* u1, int64_t n, double mean, double std, double* out) {
  normal_pairs(u0, u1, n, mean, std, out);
}

}  // namespace

extern const RandomSimd random_simd = {&normal_pairs_f32, &normal_pairs_f64};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
