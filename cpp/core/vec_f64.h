// VecD: a float64 SIMD register of the instruction set this translation unit is compiled for
// (8 doubles with AVX-512, 4 with AVX2), with the operations core/math_f64.h's templates use,
// each the same IEEE operation as ScalarD's (so the two give the same bits), plus loads and
// stores that widen float32 to double and round back.
//
// Include ONLY from cpp/ops/*/*_simd.cpp (see vec.h: everything lands in
// minidl::MINIDL_ISA_NS::(anonymous)).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "core/math_f64.h"

#ifndef MINIDL_ISA_NS
#error "vec_f64.h is for *_simd.cpp files compiled with MINIDL_ISA_NS=avx2|avx512"
#endif

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
struct VecD {
  static constexpr int width = 8;
  __m512d v;
  static VecD set1(double x) { return {_mm512_set1_pd(x)}; }
  static VecD load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static VecD load_f32(const float* p) { return {_mm512_cvtps_pd(_mm256_loadu_ps(p))}; }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  void store_f32(float* p) const { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }  // rounded to nearest
};
inline VecD operator+(VecD a, VecD b) { return {_mm512_add_pd(a.v, b.v)}; }
inline VecD operator-(VecD a, VecD b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline VecD operator*(VecD a, VecD b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline VecD operator/(VecD a, VecD b) { return {_mm512_div_pd(a.v, b.v)}; }
inline VecD operator-(VecD a) {
  return {_mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a.v), _mm512_set1_epi64(INT64_MIN)))};
}
inline VecD sqrt(VecD a) { return {_mm512_sqrt_pd(a.v)}; }
inline VecD round_to_int(VecD a) { return {_mm512_roundscale_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline VecD select_eq(VecD a, VecD b, VecD x, VecD y) {
  return {_mm512_mask_blend_pd(_mm512_cmp_pd_mask(a.v, b.v, _CMP_EQ_OQ), y.v, x.v)};
}
inline VecD select_gt(VecD a, VecD b, VecD x, VecD y) {
  return {_mm512_mask_blend_pd(_mm512_cmp_pd_mask(a.v, b.v, _CMP_GT_OQ), y.v, x.v)};
}
// the exponent as a double: (bits >> 52) in the low bits of 2^52, minus 2^52 + 1023 (exact)
inline void split_exponent(VecD x, VecD& m, VecD& e) {
  const __m512i bits = _mm512_castpd_si512(x.v);
  m.v = _mm512_castsi512_pd(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi64(0x000FFFFFFFFFFFFFLL)),
                                            _mm512_set1_epi64(0x3FF0000000000000LL)));
  const __m512d biased = _mm512_castsi512_pd(
      _mm512_or_si512(_mm512_srli_epi64(bits, 52), _mm512_set1_epi64(0x4330000000000000LL)));
  e.v = _mm512_sub_pd(biased, _mm512_set1_pd(4503599627371519.0));  // 2^52 + 1023
}
// 2^k for integral k in [-1022, 1023]: k + 2^52 + 1023 holds k + 1023 in its low bits
inline VecD pow2_int(VecD k) {
  const __m512i biased = _mm512_castpd_si512(_mm512_add_pd(k.v, _mm512_set1_pd(4503599627371519.0)));
  return {_mm512_castsi512_pd(_mm512_slli_epi64(biased, 52))};
}
// lo < x < hi in every lane (NaN is not)
inline bool all_between(VecD x, double lo, double hi) {
  return (_mm512_cmp_pd_mask(x.v, _mm512_set1_pd(lo), _CMP_GT_OQ) &
          _mm512_cmp_pd_mask(x.v, _mm512_set1_pd(hi), _CMP_LT_OQ)) == 0xff;
}
#else
struct VecD {
  static constexpr int width = 4;
  __m256d v;
  static VecD set1(double x) { return {_mm256_set1_pd(x)}; }
  static VecD load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static VecD load_f32(const float* p) { return {_mm256_cvtps_pd(_mm_loadu_ps(p))}; }
  void store(double* p) const { _mm256_storeu_pd(p, v); }
  void store_f32(float* p) const { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }  // rounded to nearest
};
inline VecD operator+(VecD a, VecD b) { return {_mm256_add_pd(a.v, b.v)}; }
inline VecD operator-(VecD a, VecD b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline VecD operator*(VecD a, VecD b) { return {_mm256_mul_pd(a.v, b.v)}; }
inline VecD operator/(VecD a, VecD b) { return {_mm256_div_pd(a.v, b.v)}; }
inline VecD operator-(VecD a) { return {_mm256_xor_pd(a.v, _mm256_set1_pd(-0.0))}; }
inline VecD sqrt(VecD a) { return {_mm256_sqrt_pd(a.v)}; }
inline VecD round_to_int(VecD a) { return {_mm256_round_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline VecD select_eq(VecD a, VecD b, VecD x, VecD y) {
  return {_mm256_blendv_pd(y.v, x.v, _mm256_cmp_pd(a.v, b.v, _CMP_EQ_OQ))};
}
inline VecD select_gt(VecD a, VecD b, VecD x, VecD y) {
  return {_mm256_blendv_pd(y.v, x.v, _mm256_cmp_pd(a.v, b.v, _CMP_GT_OQ))};
}
inline void split_exponent(VecD x, VecD& m, VecD& e) {
  const __m256i bits = _mm256_castpd_si256(x.v);
  m.v = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFLL)),
                                            _mm256_set1_epi64x(0x3FF0000000000000LL)));
  const __m256d biased = _mm256_castsi256_pd(
      _mm256_or_si256(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(0x4330000000000000LL)));
  e.v = _mm256_sub_pd(biased, _mm256_set1_pd(4503599627371519.0));  // 2^52 + 1023
}
inline VecD pow2_int(VecD k) {
  const __m256i biased = _mm256_castpd_si256(_mm256_add_pd(k.v, _mm256_set1_pd(4503599627371519.0)));
  return {_mm256_castsi256_pd(_mm256_slli_epi64(biased, 52))};
}
inline bool all_between(VecD x, double lo, double hi) {
  const __m256d in = _mm256_and_pd(_mm256_cmp_pd(x.v, _mm256_set1_pd(lo), _CMP_GT_OQ),
                                   _mm256_cmp_pd(x.v, _mm256_set1_pd(hi), _CMP_LT_OQ));
  return _mm256_movemask_pd(in) == 0xf;
}
#endif

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
