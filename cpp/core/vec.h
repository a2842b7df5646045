// Vec: a float32 SIMD register of the instruction set this translation unit is compiled for.
//
// Include ONLY from cpp/ops/*/*_simd.cpp. Those files are compiled once per ISA with
// MINIDL_ISA_NS set to avx2 or avx512, and everything here lives in
// minidl::MINIDL_ISA_NS::(anonymous), so the AVX-512 copy of an inline function can never be
// the one the linker keeps for an AVX2 caller (that would be SIGILL on an AVX2-only CPU).
// Avoid STL templates in those files for the same reason.
#pragma once
#include <immintrin.h>

#include <cstdint>

#ifndef MINIDL_ISA_NS
#error "vec.h is for *_simd.cpp files compiled with MINIDL_ISA_NS=avx2|avx512"
#endif

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// --8<-- [start:vec_avx512]
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
// --8<-- [end:vec_avx512]
inline Vec fnmadd(Vec a, Vec b, Vec c) { return _mm512_fnmadd_ps(a.v, b.v, c.v); } // c-a*b
inline Vec max(Vec a, Vec b) { return _mm512_max_ps(a.v, b.v); }
inline Vec min(Vec a, Vec b) { return _mm512_min_ps(a.v, b.v); }
inline Vec abs(Vec a) { return _mm512_abs_ps(a.v); }
inline Vec neg(Vec a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(INT32_MIN))); }
inline Vec sqrt(Vec a) { return _mm512_sqrt_ps(a.v); }
inline Vec rcp_estimate(Vec a) { return _mm512_rcp14_ps(a.v); }  // rel. error < 2^-14
inline Mask cmp_gt(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ); }
inline Mask cmp_lt(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
inline Mask cmp_le(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ); }
inline Mask cmp_ge(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ); }
inline Mask cmp_eq(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ); }
// lanes where a or b is NaN
inline Mask cmp_unord(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_UNORD_Q); }
inline Mask mask_or(Mask a, Mask b) { return static_cast<Mask>(a | b); }
inline Mask mask_xor(Mask a, Mask b) { return static_cast<Mask>(a ^ b); }
inline Mask mask_none() { return 0; }
inline bool mask_any(Mask m) { return m != 0; }
inline Vec bit_and(Vec a, Vec b) { return _mm512_and_ps(a.v, b.v); }
inline Vec bit_or(Vec a, Vec b) { return _mm512_or_ps(a.v, b.v); }
inline Vec bit_xor(Vec a, Vec b) { return _mm512_xor_ps(a.v, b.v); }
inline Vec from_bits(int32_t b) { return _mm512_castsi512_ps(_mm512_set1_epi32(b)); }  // every lane's bits = b
inline Vec shl_bits(Vec a, int n) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(a.v), n)); }
// lanes where bits(a) & bits(b) != 0 (an integer test: no float compare, so denormals-are-zero
// cannot change it)
inline Mask test_bits(Vec a, Vec b) { return _mm512_test_epi32_mask(_mm512_castps_si512(a.v), _mm512_castps_si512(b.v)); }
// x = m * 2^e with m in [1, 2) for positive normal x (garbage for 0, inf, NaN, subnormal):
// returns e as float and sets m. (The exponent field and a mantissa with exponent 0.)
inline Vec split_exponent(Vec x, Vec& m) {
  __m512i u = _mm512_castps_si512(x.v);
  __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(u, 23), _mm512_set1_epi32(127));
  m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(u, _mm512_set1_epi32(0x007fffff)),
                                          _mm512_set1_epi32(0x3f800000)));
  return _mm512_cvtepi32_ps(e);
}
// where mask: b, else a
inline Vec blend(Mask m, Vec a, Vec b) { return _mm512_mask_blend_ps(m, a.v, b.v); }
inline float reduce_add(Vec a) { return _mm512_reduce_add_ps(a.v); }
inline float reduce_max(Vec a) { return _mm512_reduce_max_ps(a.v); }
inline float reduce_min(Vec a) { return _mm512_reduce_min_ps(a.v); }
inline Vec round_nearest(Vec a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline Vec floor(Vec a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline Vec ceil(Vec a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
inline Vec trunc(Vec a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
// p * 2^n for integral-valued n, one instruction: exact, gradual underflow to 0, overflow
// to inf (vscalefps)
inline Vec scale_pow2(Vec p, Vec n) { return _mm512_scalef_ps(p.v, n.v); }
// 0 in the lanes of `zero`, p * 2^n in the others; the zeroed lanes are not computed (no
// underflow in them: see exp)
inline Vec scale_pow2_or_zero(Mask zero, Vec p, Vec n) {
  return _mm512_maskz_scalef_ps(static_cast<__mmask16>(~zero), p.v, n.v);
}
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
inline Vec rcp_estimate(Vec a) { return _mm256_rcp_ps(a.v); }  // rel. error < 1.5 * 2^-12
inline Mask cmp_gt(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ); }
inline Mask cmp_lt(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ); }
inline Mask cmp_le(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ); }
inline Mask cmp_ge(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ); }
inline Mask cmp_eq(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ); }
inline Mask cmp_unord(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_UNORD_Q); }
inline Mask mask_or(Mask a, Mask b) { return _mm256_or_ps(a, b); }
inline Mask mask_xor(Mask a, Mask b) { return _mm256_xor_ps(a, b); }
inline Mask mask_none() { return _mm256_setzero_ps(); }
inline bool mask_any(Mask m) { return _mm256_movemask_ps(m) != 0; }
inline Vec bit_and(Vec a, Vec b) { return _mm256_and_ps(a.v, b.v); }
inline Vec bit_or(Vec a, Vec b) { return _mm256_or_ps(a.v, b.v); }
inline Vec bit_xor(Vec a, Vec b) { return _mm256_xor_ps(a.v, b.v); }
inline Vec from_bits(int32_t b) { return _mm256_castsi256_ps(_mm256_set1_epi32(b)); }
inline Vec shl_bits(Vec a, int n) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(a.v), n)); }
inline Mask test_bits(Vec a, Vec b) {
  const __m256i both = _mm256_and_si256(_mm256_castps_si256(a.v), _mm256_castps_si256(b.v));
  return _mm256_castsi256_ps(_mm256_xor_si256(_mm256_cmpeq_epi32(both, _mm256_setzero_si256()), _mm256_set1_epi32(-1)));
}
inline Vec split_exponent(Vec x, Vec& m) {
  __m256i u = _mm256_castps_si256(x.v);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(127));
  m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi32(0x007fffff)),
                                          _mm256_set1_epi32(0x3f800000)));
  return _mm256_cvtepi32_ps(e);
}
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
inline Vec ceil(Vec a) { return _mm256_round_ps(a.v, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
inline Vec trunc(Vec a) { return _mm256_round_ps(a.v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
inline Vec pow2_int(Vec n) {
  __m256i i = _mm256_cvtps_epi32(n.v);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
}
// p * 2^n for integral-valued n in [-150, 128]: 2^n in two factors so neither leaves the
// exponent range (gradual underflow, overflow to inf as p * 2^128 does)
inline Vec scale_pow2(Vec p, Vec n) {
  Vec half_n = floor(n * Vec::set1(0.5f));
  return p * pow2_int(half_n) * pow2_int(n - half_n);
}
// 0 in the lanes of `zero`, p * 2^n in the others; the zeroed lanes are scaled by 2^0 (no
// underflow in them: see exp)
inline Vec scale_pow2_or_zero(Mask zero, Vec p, Vec n) {
  // and-not with the all-ones lanes of the mask: one instruction each, blendv is two
  return _mm256_andnot_ps(zero, scale_pow2(p, _mm256_andnot_ps(zero, n.v)).v);
}
#else
#error "vec.h needs AVX2 or AVX-512 flags"
#endif

// ---------------------------------------------------------------------------------------
// Transcendental functions. Max errors below are relative, measured against float64 math
// over the stated ranges (float32 coefficients, FMA evaluation); 1 ulp of float32 = 6e-8.
// ---------------------------------------------------------------------------------------

// exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 (ln2 split in two so n*ln2_hi is
// exact), then the degree-6 polynomial of Cephes expf for e^r: max rel. error ~2 ulp.
// x is clamped to [-104, 89] (exp(-104) rounds to 0, exp(89) overflows) and p * 2^n is
// applied by scale_pow2, so exp(-inf) = 0, exp(x > ln FLT_MAX) = +inf with subnormal results
// in between; NaN -> NaN (max/min return their second operand when one is NaN, so the clamp
// keeps x's NaN). The lanes clamped to -104 (a -inf mask, a -1e9 logit) are set to 0 by
// scale_pow2_or_zero without scaling them: p * 2^n underflowing to 0 takes a microcode assist,
// ~10x the time of the vector (exp of a (1024, 1024) array of which half is -inf: 5.3 ms
// against 0.37, Xeon, 1 thread, CPU time).
inline Vec exp(Vec x) {
  x = min(Vec::set1(89.0f), max(Vec::set1(-104.0f), x));
  const Mask to_zero = cmp_le(x, Vec::set1(-104.0f));  // NaN compares false: it stays
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
  return scale_pow2_or_zero(to_zero, p, n);
}

// log(x): x = m 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), then Cephes logf:
// log(1+f) = f - f^2/2 + f^3 P(f) (P degree 8), plus e ln2 in two parts. Polynomial error
// 3.4e-9, total max rel. error ~2 ulp. Subnormals are scaled by 2^23 first. log(0) = -inf,
// log(x < 0) = NaN, log(+inf) = +inf, log(NaN) = NaN.
inline Vec log(Vec x) {
  const Mask subnormal = cmp_lt(x, Vec::set1(1.17549435e-38f));  // also 0 and negatives
  Vec xs = blend(subnormal, x, x * Vec::set1(8388608.0f));       // * 2^23
  Vec m;
  Vec e = split_exponent(xs, m);  // m in [1, 2)
  e = blend(subnormal, e, e - Vec::set1(23.0f));
  const Mask big = cmp_gt(m, Vec::set1(1.41421356f));
  m = blend(big, m, m * Vec::set1(0.5f));
  e = blend(big, e, e + Vec::set1(1.0f));
  Vec f = m - Vec::set1(1.0f);
  Vec p = Vec::set1(7.0376836292e-2f);
  p = fmadd(p, f, Vec::set1(-1.1514610310e-1f));
  p = fmadd(p, f, Vec::set1(1.1676998740e-1f));
  p = fmadd(p, f, Vec::set1(-1.2420140846e-1f));
  p = fmadd(p, f, Vec::set1(1.4249322787e-1f));
  p = fmadd(p, f, Vec::set1(-1.6668057665e-1f));
  p = fmadd(p, f, Vec::set1(2.0000714765e-1f));
  p = fmadd(p, f, Vec::set1(-2.4999993993e-1f));
  p = fmadd(p, f, Vec::set1(3.3333331174e-1f));
  Vec f2 = f * f;
  Vec y = p * f * f2;
  y = fmadd(e, Vec::set1(-2.12194440e-4f), y);
  y = fnmadd(Vec::set1(0.5f), f2, y);
  Vec r = fmadd(e, Vec::set1(0.693359375f), f + y);
  // special cases: x == 0 -> -inf, x < 0 or NaN -> NaN, +inf -> +inf
  r = blend(cmp_eq(x, Vec::zero()), r, Vec::set1(-__builtin_inff()));
  r = blend(mask_or(cmp_lt(x, Vec::zero()), cmp_unord(x, x)), r, Vec::set1(__builtin_nanf("")));
  r = blend(cmp_eq(x, Vec::set1(__builtin_inff())), r, x);
  return r;
}

// 1/a for finite a >= 1 (the 1 + e, 1 + z/2 denominators below): the hardware estimate plus
// one Newton step r' = r (2 - a r), which squares the relative error (< 2^-26 after rcp14,
// exact for a = 1). Several times the throughput of a 16-lane division, which otherwise
// dominates the activations. Not for a = 0 or inf.
inline Vec reciprocal_nr(Vec a) {
#if defined(__AVX512F__)
  Vec r = rcp_estimate(a);
  return fmadd(r, fnmadd(a, r, Vec::set1(1.0f)), r);
#else
  // AVX2's 12-bit estimate leaves ~2^-22 after one step (sigmoid(89) would be 0.99999994,
  // not 1), so AVX2 divides: 8-lane division is comparatively cheap there
  return Vec::set1(1.0f) / a;
#endif
}

// copysign(magnitude, sign_source) for magnitude >= 0
inline Vec with_sign_of(Vec magnitude, Vec sign_source) {
  return bit_or(magnitude, bit_and(sign_source, Vec::set1(-0.0f)));
}

// sigmoid(x) = 1 / (1 + e^-x), evaluated with e = exp(-|x|) <= 1 so nothing overflows:
// x >= 0: 1 / (1 + e);  x < 0: e / (1 + e). Rel. error <= ~3 ulp (exp's error shrinks by
// e/(1+e) <= 1/2, plus one division). sigmoid(-1000) = 0, sigmoid(+inf) = 1, NaN -> NaN.
inline Vec sigmoid(Vec x) {
  Vec e = exp(neg(abs(x)));
  Vec r = reciprocal_nr(Vec::set1(1.0f) + e);
  return blend(cmp_lt(x, Vec::zero()), r, e * r);
}

// tanh(x): odd, so work on a = |x|.
//   a < 0.625:  Cephes tanhf polynomial a + a^3 P(a^2) (P degree 4), poly error 4.4e-9;
//   a >= 0.625: (1 - e) / (1 + e) with e = exp(-2a) <= 0.29 (no cancellation, no overflow).
// Max rel. error ~3 ulp. tanh(+-inf) = +-1, NaN -> NaN.
inline Vec tanh(Vec x) {
  Vec a = abs(x);
  Vec z = a * a;
  Vec p = Vec::set1(-5.70498872745e-3f);
  p = fmadd(p, z, Vec::set1(2.06390887954e-2f));
  p = fmadd(p, z, Vec::set1(-5.37397155531e-2f));
  p = fmadd(p, z, Vec::set1(1.33314422036e-1f));
  p = fmadd(p, z, Vec::set1(-3.33332819422e-1f));
  Vec small = fmadd(p * z, a, a);
  Vec e = exp(a * Vec::set1(-2.0f));
  Vec large = (Vec::set1(1.0f) - e) * reciprocal_nr(Vec::set1(1.0f) + e);
  Vec r = blend(cmp_lt(a, Vec::set1(0.625f)), large, small);
  return with_sign_of(r, x);
}

// erfc(z) for z >= 0: Numerical Recipes' Chebyshev fit (erfcc, Press et al. 2nd ed. 6.2),
//   erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), P degree 9,
// fractional error < 1.2e-7 for every z >= 0 (1.05e-7 measured), so the far tail keeps its
// relative accuracy (unlike 1 - erf). z^2 is split exactly (FMA) before entering exp.
inline Vec erfc_nonneg(Vec z) {
  z = min(Vec::set1(10.0f), z);  // erfc(10) = 2e-45 is already 0 in float; keeps z^2 finite (NaN stays)
  Vec t = reciprocal_nr(fmadd(z, Vec::set1(0.5f), Vec::set1(1.0f)));
  Vec p = Vec::set1(0.17087277f);
  p = fmadd(p, t, Vec::set1(-0.82215223f));
  p = fmadd(p, t, Vec::set1(1.48851587f));
  p = fmadd(p, t, Vec::set1(-1.13520398f));
  p = fmadd(p, t, Vec::set1(0.27886807f));
  p = fmadd(p, t, Vec::set1(-0.18628806f));
  p = fmadd(p, t, Vec::set1(0.09678418f));
  p = fmadd(p, t, Vec::set1(0.37409196f));
  p = fmadd(p, t, Vec::set1(1.00002368f));
  p = fmadd(p, t, Vec::set1(-1.26551223f));
  Vec z2 = z * z;
  Vec z2_lo = fmadd(z, z, neg(z2));  // z*z - z2, exact
  return t * exp((p - z2) - z2_lo);
}

// erf(x): odd.  |x| < 1: x P(x^2), P degree 6 fitted (least squares on Chebyshev nodes, rel.
// error 6.7e-8 with float32 coefficients);  |x| >= 1: 1 - erfc(|x|) (erfc <= 0.16 there, so
// its 1.2e-7 fractional error is < 2e-8 of erf). Max rel. error ~2 ulp. erf(+-inf) = +-1.
inline Vec erf(Vec x) {
  Vec a = abs(x);
  Vec z = a * a;
  Vec p = Vec::set1(7.898209878e-05f);
  p = fmadd(p, z, Vec::set1(-8.024353883e-04f));
  p = fmadd(p, z, Vec::set1(5.190053489e-03f));
  p = fmadd(p, z, Vec::set1(-2.685480937e-02f));
  p = fmadd(p, z, Vec::set1(1.128361225e-01f));
  p = fmadd(p, z, Vec::set1(-3.761262894e-01f));
  p = fmadd(p, z, Vec::set1(1.128379226e+00f));
  Vec small = p * a;
  Vec large = Vec::set1(1.0f) - erfc_nonneg(a);
  return with_sign_of(blend(cmp_lt(a, Vec::set1(1.0f)), large, small), x);
}

// log(1 + e) for e in [0, 1] with log1p's relative accuracy: u = 1 + e rounds, and
// log(u) e / (u - 1) cancels that rounding (Goldberg's trick); u == 1 means log1p(e) = e.
inline Vec log1p_unit(Vec e) {
  const Vec one = Vec::set1(1.0f);
  Vec u = one + e;
  return blend(cmp_eq(u, one), log(u) * e / (u - one), e);
}

// softplus(a) = log(1 + e^a) = max(a, 0) + log1p(e^-|a|): no overflow, accurate in both tails
inline Vec softplus(Vec a) { return max(Vec::zero(), a) + log1p_unit(exp(neg(abs(a)))); }

// sin(x) and cos(x) for |x| <= kSinCosMax (Cephes sinf / cosf, Moshier, with a quadrant
// reduction): x = q pi/2 + r with q the nearest integer to x 2/pi and r in [-pi/4, pi/4],
// taken off in three parts (DP1 + DP2 + DP3 = pi/2; q DP1 is exact while q < 2^15), then the
// sine or cosine polynomial of r by the quadrant, with the quadrant's sign. Max error ~1 ulp of
// the result scale (abs. error < 1.2e-7 for results near 1) on [-8192, 8192]. Larger |x|, inf
// and NaN lose the reduction's accuracy: the callers compute those lanes with the C library
// (elementwise_simd.cpp). q comes from adding 1.5 2^23 to x 2/pi: the sum's low mantissa bits
// are q (bit 0: odd quadrant, the other polynomial; bit 1: the sign), read with integer bit
// tests. Cephes' octant reduction took three floors to the same r: sin and cos of 1M floats
// 0.61 ms against PyTorch's 0.46 (1 thread, Intel Xeon family 6 model 167).
constexpr float kSinCosMax = 8192.0f;
inline Vec sin_poly(Vec r, Vec z) {  // sin r, z = r^2
  Vec p = fmadd(Vec::set1(-1.9515295891e-4f), z, Vec::set1(8.3321608736e-3f));
  p = fmadd(p, z, Vec::set1(-1.6666654611e-1f));
  return fmadd(p * z, r, r);
}
inline Vec cos_poly(Vec z) {  // cos r, z = r^2
  Vec p = fmadd(Vec::set1(2.443315711809948e-5f), z, Vec::set1(-1.388731625493765e-3f));
  p = fmadd(p, z, Vec::set1(4.166664568298827e-2f));
  return fmadd(p * z, z, fnmadd(Vec::set1(0.5f), z, Vec::set1(1.0f)));
}
// quadrant reduction of a = |x|: r, z = r^2, and t = q + 1.5 2^23 (q in its low bits)
struct SinCosReduced {
  Vec r, z, t;
};
inline SinCosReduced sin_cos_reduce(Vec a) {
  const Vec magic = Vec::set1(12582912.0f);  // 1.5 2^23: a sum below 2^24 rounds to an integer
  SinCosReduced o;
  o.t = fmadd(a, Vec::set1(0.636619772367581343f), magic);  // 2 / pi
  const Vec q = o.t - magic;                                  // exact
  o.r = fnmadd(q, Vec::set1(7.54978995489188216e-8f),
               fnmadd(q, Vec::set1(4.837512969970703125e-4f), fnmadd(q, Vec::set1(1.5703125f), a)));
  o.z = o.r * o.r;
  return o;
}
// v with its sign flipped where bit 1 of t is set
inline Vec flip_by_bit1(Vec v, Vec t) { return bit_xor(v, shl_bits(bit_and(t, from_bits(2)), 30)); }
inline Vec sin(Vec x) {
  const SinCosReduced q = sin_cos_reduce(abs(x));
  const Vec v = blend(test_bits(q.t, from_bits(1)), sin_poly(q.r, q.z), cos_poly(q.z));  // odd q: cos r
  return bit_xor(flip_by_bit1(v, q.t), bit_and(x, Vec::set1(-0.0f)));  // q = 2, 3: negative; then x's sign
}
inline Vec cos(Vec x) {
  const SinCosReduced q = sin_cos_reduce(abs(x));
  const Vec v = blend(test_bits(q.t, from_bits(1)), cos_poly(q.z), sin_poly(q.r, q.z));  // odd q: sin r
  return flip_by_bit1(v, q.t + Vec::set1(1.0f));  // q = 1, 2: negative (bit 1 of q + 1)
}

// Phi(x) = P(N(0,1) <= x) = erfc(-x / sqrt 2) / 2, written so that neither tail cancels:
// x < 0: erfc(|x|/sqrt2)/2;  x >= 0: 1 - erfc(x/sqrt2)/2. Rel. error ~3 ulp.
inline Vec normal_cdf(Vec x) {
  Vec half_tail = Vec::set1(0.5f) * erfc_nonneg(abs(x) * Vec::set1(0.70710678118654752f));
  return blend(cmp_lt(x, Vec::zero()), Vec::set1(1.0f) - half_tail, half_tail);
}

// tanh(x) as a rational minimax fit (Eigen's float approximation): x P(x^2) / Q(x^2) on
// |x| <= 7.9988, P degree 6, Q degree 3; max abs. error 3.4e-7 (~5 ulp near 0), no exp and
// no division (reciprocal_nr), so the tanh activation stays memory-bound. |x| >= 9 returns exactly +-1 (tanh(9) rounds to
// 1 in float32). The clamp is written max(lo, x) / min(hi, .) so NaN passes through.
inline Vec tanh_rational(Vec x) {
  const Vec c = min(Vec::set1(7.99881172180175781f), max(Vec::set1(-7.99881172180175781f), x));
  const Vec x2 = c * c;
  Vec p = Vec::set1(-2.76076847742355e-16f);
  p = fmadd(p, x2, Vec::set1(2.00018790482477e-13f));
  p = fmadd(p, x2, Vec::set1(-8.60467152213735e-11f));
  p = fmadd(p, x2, Vec::set1(5.12229709037114e-08f));
  p = fmadd(p, x2, Vec::set1(1.48572235717979e-05f));
  p = fmadd(p, x2, Vec::set1(6.37261928875436e-04f));
  p = fmadd(p, x2, Vec::set1(4.89352455891786e-03f));
  Vec q = Vec::set1(1.19825839466702e-06f);
  q = fmadd(q, x2, Vec::set1(1.18534705686654e-04f));
  q = fmadd(q, x2, Vec::set1(2.26843463243900e-03f));
  q = fmadd(q, x2, Vec::set1(4.89352518554385e-03f));
  const Vec r = (c * p) * reciprocal_nr(q);  // q >= 4.9e-3: finite and positive
  return blend(cmp_gt(abs(x), Vec::set1(9.0f)), r, with_sign_of(Vec::set1(1.0f), x));
}

// sigmoid(x) = (1 + tanh(x / 2)) / 2 on tanh_rational: max abs. error 1.7e-7 and about 20
// instructions against ~25 for the exp-based sigmoid above, whose relative accuracy it gives
// up for x < -16 (sigmoid < 1e-7 there; x < -18 returns 0). For the gates of the recurrent
// cells, which scale values of order one, so only the absolute error matters; they compute
// 3 sigmoids and 2 tanh per hidden unit per step, which made the exp-based versions 8% of an
// LSTM forward.
inline Vec sigmoid_rational(Vec x) {
  const Vec half = Vec::set1(0.5f);
  return fmadd(half, tanh_rational(x * half), half);
}

// erf(x) as a rational minimax fit on [-4, 4] (the float32 approximation Eigen and XLA use):
// erf(x) = x P(x^2) / Q(x^2), P degree 6, Q degree 4; |x| > 4 clamps (erf(4) = 1 - 1.5e-8).
// Max abs. error 4.5e-7 and no exp: the GELU kernels use it to stay memory-bound. In the far
// negative tail 1 + erf(x) cancels (absolute error ~5e-7), exactly as PyTorch's own
// 0.5 x (1 + erf(x / sqrt 2)) does; normal_cdf above keeps relative accuracy there.
inline Vec erf_rational(Vec x) {
  x = min(max(x, Vec::set1(-4.0f)), Vec::set1(4.0f));
  const Vec x2 = x * x;
  Vec p = Vec::set1(-2.72614225801306e-10f);
  p = fmadd(p, x2, Vec::set1(2.77068142495902e-08f));
  p = fmadd(p, x2, Vec::set1(-2.10102402082508e-06f));
  p = fmadd(p, x2, Vec::set1(-5.69250639462346e-05f));
  p = fmadd(p, x2, Vec::set1(-7.34990630326855e-04f));
  p = fmadd(p, x2, Vec::set1(-2.95459980854025e-03f));
  p = fmadd(p, x2, Vec::set1(-1.60960333262415e-02f));
  Vec q = Vec::set1(-1.45660718464996e-05f);
  q = fmadd(q, x2, Vec::set1(-2.13374055278905e-04f));
  q = fmadd(q, x2, Vec::set1(-1.68282697438203e-03f));
  q = fmadd(q, x2, Vec::set1(-7.37332916720468e-03f));
  q = fmadd(q, x2, Vec::set1(-1.42647390514189e-02f));
  return (x * p) / q;
}
}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
