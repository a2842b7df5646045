// float32 <-> float16 / bfloat16 conversion loops for one ISA (CastSimd): must match, bit for
// bit and for every input, f32_to_f16_reference, f16_to_f32_reference, f32_to_bf16_reference
// and bf16_to_f32_reference in cpp/ops/copy/copy.cpp (float_to_half, ..., round to nearest
// even); the tails of each loop call those per-value functions.
//
// float16: F16C (8 lanes) or AVX-512F (16 lanes) vcvtps2ph / vcvtph2ps. The hardware matches
// the reference except for one thing: vcvtph2ps quiets a signalling NaN (sets mantissa bit 22),
// while the reference and NumPy keep the payload as is (0x7c01 -> 0x7f802000), so NaN lanes
// are rebuilt with integer ops.
// bfloat16: integer rounding (add 0x7fff + lsb, keep the top half). AVX512-BF16's
// vcvtneps2bf16 is NOT used: it flushes subnormal inputs to zero (0x007fffff -> 0x0000, where
// round-to-nearest-even gives 0x0080), checked on this CPU; its NaN handling would agree.
#include "copy.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) dst[i] = float_to_half(src[i]);
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  const __m512i abs_mask = _mm512_set1_epi32(0x7fff), inf = _mm512_set1_epi32(0x7c00);
  for (; i + kLanes <= n; i += kLanes) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    __m512 f = _mm512_cvtph_ps(h);
    __m512i w = _mm512_cvtepu16_epi32(h);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(w, abs_mask), inf);
    if (nan) {  // sign | 0x7f800000 | mantissa << 13, payload untouched
      __m512i bits = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x8000)), 16),
                                     _mm512_or_si512(_mm512_set1_epi32(0x7f800000),
                                                     _mm512_slli_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x3ff)), 13)));
      f = _mm512_mask_blend_ps(nan, f, _mm512_castsi512_ps(bits));
    }
    _mm512_storeu_ps(dst + i, f);
  }
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}

// --8<-- [start:bf16_round_simd]
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x00400000);
  for (; i + kLanes <= n; i += kLanes) {
    __m512 f = _mm512_loadu_ps(src + i);
    __m512i u = _mm512_castps_si512(f);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
    __m512i rounded = _mm512_add_epi32(u, _mm512_add_epi32(bias, lsb));
    __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    __m512i r = _mm512_srli_epi32(_mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(u, quiet)), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(r));
  }
  for (; i < n; ++i) dst[i] = float_to_bfloat16(src[i]);
}
// --8<-- [end:bf16_round_simd]

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) dst[i] = bfloat16_to_float(src[i]);
}

#else  // AVX2 + F16C, 8 lanes

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) dst[i] = float_to_half(src[i]);
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  const __m256i abs_mask = _mm256_set1_epi32(0x7fff), inf = _mm256_set1_epi32(0x7c00);
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    __m256 f = _mm256_cvtph_ps(h);
    __m256i w = _mm256_cvtepu16_epi32(h);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(w, abs_mask), inf);
    if (!_mm256_testz_si256(nan, nan)) {  // sign | 0x7f800000 | mantissa << 13, payload untouched
      __m256i bits = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x8000)), 16),
                                     _mm256_or_si256(_mm256_set1_epi32(0x7f800000),
                                                     _mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x3ff)), 13)));
      f = _mm256_blendv_ps(f, _mm256_castsi256_ps(bits), _mm256_castsi256_ps(nan));
    }
    _mm256_storeu_ps(dst + i, f);
  }
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}

// bfloat16 = the top 16 bits of a float32, rounded to nearest even on the dropped 16 bits;
// NaN is kept quiet. Integer arithmetic, 8 lanes at a time.
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  const __m256i lsb_mask = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
  const __m256i quiet = _mm256_set1_epi32(0x00400000);
  for (; i + 8 <= n; i += 8) {
    __m256 f = _mm256_loadu_ps(src + i);
    __m256i u = _mm256_castps_si256(f);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), lsb_mask);
    __m256i rounded = _mm256_add_epi32(u, _mm256_add_epi32(bias, lsb));
    __m256i nan_bits = _mm256_or_si256(u, quiet);
    __m256i is_nan = _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q));
    __m256i r = _mm256_srli_epi32(_mm256_blendv_epi8(rounded, nan_bits, is_nan), 16);
    // pack 8 x 32-bit (values < 65536) to 8 x 16-bit
    __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), packed);
  }
  for (; i < n; ++i) dst[i] = float_to_bfloat16(src[i]);
}

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) dst[i] = bfloat16_to_float(src[i]);
}

#endif

}  // namespace

extern const CastSimd cast_simd = {&f32_to_f16, &f16_to_f32, &f32_to_bf16, &bf16_to_f32};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
