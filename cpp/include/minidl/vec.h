// Vec: a float32 SIMD register of the instruction set this translation unit is compiled for.
//
// Include ONLY from cpp/src/simd/*.cpp. Those files are compiled once per ISA with
// MINIDL_ISA_NS set to avx2 or avx512, and everything here lives in
// minidl::MINIDL_ISA_NS::(anonymous), so the AVX-512 copy of an inline function can never be
// the one the linker keeps for an AVX2 caller (that would be SIGILL on an AVX2-only CPU).
// Avoid STL templates in those files for the same reason.
#pragma once
#include <immintrin.h>

#include <cstdint>

#ifndef MINIDL_ISA_NS
#error "vec.h is for cpp/src/simd files compiled with MINIDL_ISA_NS=avx2|avx512"
#endif

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
struct Vec {
  static constexpr int width = 16;
  __m512 v;
  Vec() = default;
  Vec(__m512 x) : v(x) {}
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float x) { return _mm512_set1_ps(x); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  // first n lanes from p, the rest 0 (n < width)
  static Vec load_partial(const float* p, int n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p);
  }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
  }
  // non-temporal store for large streaming outputs (p 64-byte aligned)
  void stream(float* p) const { _mm512_stream_ps(p, v); }
};
using Mask = __mmask16;
inline Vec operator+(Vec a, Vec b) { return _mm512_add_ps(a.v, b.v); }
inline Vec operator-(Vec a, Vec b) { return _mm512_sub_ps(a.v, b.v); }
inline Vec operator*(Vec a, Vec b) { return _mm512_mul_ps(a.v, b.v); }
inline Vec operator/(Vec a, Vec b) { return _mm512_div_ps(a.v, b.v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }   // a*b+c
inline Vec fnmadd(Vec a, Vec b, Vec c) { return _mm512_fnmadd_ps(a.v, b.v, c.v); } // c-a*b
inline Vec max(Vec a, Vec b) { return _mm512_max_ps(a.v, b.v); }
inline Vec min(Vec a, Vec b) { return _mm512_min_ps(a.v, b.v); }
inline Vec abs(Vec a) { return _mm512_abs_ps(a.v); }
inline Vec neg(Vec a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(INT32_MIN))); }
inline Vec sqrt(Vec a) { return _mm512_sqrt_ps(a.v); }
inline Mask cmp_gt(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ); }
inline Mask cmp_lt(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
// where mask: b, else a
inline Vec blend(Mask m, Vec a, Vec b) { return _mm512_mask_blend_ps(m, a.v, b.v); }
inline float reduce_add(Vec a) { return _mm512_reduce_add_ps(a.v); }
inline float reduce_max(Vec a) { return _mm512_reduce_max_ps(a.v); }
inline float reduce_min(Vec a) { return _mm512_reduce_min_ps(a.v); }
inline Vec round_nearest(Vec a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline Vec floor(Vec a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
// 2^n for integral-valued float n in [-126, 127]
inline Vec pow2_int(Vec n) {
  __m512i i = _mm512_cvtps_epi32(n.v);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23));
}
#elif defined(__AVX2__)
struct Vec {
  static constexpr int width = 8;
  __m256 v;
  Vec() = default;
  Vec(__m256 x) : v(x) {}
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float x) { return _mm256_set1_ps(x); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec load_partial(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, tail_mask(n), v); }
  void stream(float* p) const { _mm256_stream_ps(p, v); }
};
using Mask = __m256;
inline Vec operator+(Vec a, Vec b) { return _mm256_add_ps(a.v, b.v); }
inline Vec operator-(Vec a, Vec b) { return _mm256_sub_ps(a.v, b.v); }
inline Vec operator*(Vec a, Vec b) { return _mm256_mul_ps(a.v, b.v); }
inline Vec operator/(Vec a, Vec b) { return _mm256_div_ps(a.v, b.v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a.v, b.v, c.v); }
inline Vec fnmadd(Vec a, Vec b, Vec c) { return _mm256_fnmadd_ps(a.v, b.v, c.v); }
inline Vec max(Vec a, Vec b) { return _mm256_max_ps(a.v, b.v); }
inline Vec min(Vec a, Vec b) { return _mm256_min_ps(a.v, b.v); }
inline Vec abs(Vec a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v); }
inline Vec neg(Vec a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a.v); }
inline Vec sqrt(Vec a) { return _mm256_sqrt_ps(a.v); }
inline Mask cmp_gt(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ); }
inline Mask cmp_lt(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ); }
inline Vec blend(Mask m, Vec a, Vec b) { return _mm256_blendv_ps(a.v, b.v, m); }
inline float reduce_add(Vec a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float reduce_max(Vec a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float reduce_min(Vec a) {
  __m128 s = _mm_min_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_min_ps(s, _mm_movehl_ps(s, s));
  s = _mm_min_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline Vec round_nearest(Vec a) { return _mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline Vec floor(Vec a) { return _mm256_round_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline Vec pow2_int(Vec n) {
  __m256i i = _mm256_cvtps_epi32(n.v);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
}
#else
#error "vec.h needs AVX2 or AVX-512 flags"
#endif

// exp(x) for float32: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6
// polynomial for e^r (Cephes expf coefficients), max rel. error ~2 ulp. Inputs are clamped so
// exp(-inf) = 0 and exp(large) = inf-free FLT_MAX range.
inline Vec exp(Vec x) {
  x = min(max(x, Vec::set1(-87.3365448f)), Vec::set1(88.3762626f));
  Vec n = round_nearest(x * Vec::set1(1.44269504088896341f));
  Vec r = fnmadd(n, Vec::set1(0.693359375f), x);
  r = fnmadd(n, Vec::set1(-2.12194440e-4f), r);
  Vec p = Vec::set1(1.9875691500e-4f);
  p = fmadd(p, r, Vec::set1(1.3981999507e-3f));
  p = fmadd(p, r, Vec::set1(8.3334519073e-3f));
  p = fmadd(p, r, Vec::set1(4.1665795894e-2f));
  p = fmadd(p, r, Vec::set1(1.6666665459e-1f));
  p = fmadd(p, r, Vec::set1(5.0000001201e-1f));
  p = fmadd(p * r, r, r + Vec::set1(1.0f));
  // split 2^n so n = 128 (x near 88.37) does not overflow the exponent field
  Vec half_n = floor(n * Vec::set1(0.5f));
  return p * pow2_int(half_n) * pow2_int(n - half_n);
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
