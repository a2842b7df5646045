// GradScaler's fused inf/NaN check + unscale for float32, one ISA (AmpSimd, formula in amp.h):
// must match unscale_range in cpp/ops/amp/amp.cpp. One read and one write per element; the
// check is an exponent test on the bits: a float is inf or NaN exactly when its exponent field
// is all ones, i.e. (bits & 0x7f800000) == 0x7f800000. The result is the same as the reference
// loop's for every input (x * inv_scale is the same IEEE multiply in both).
#include "amp.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// --8<-- [start:unscale_simd]
bool unscale_f32(float* g, int64_t n, float inv_scale) {
  const bool scale = inv_scale != 1.0f;
#if defined(__AVX512F__)
  const __m512i expmask = _mm512_set1_epi32(0x7f800000);
  const __m512 vs = _mm512_set1_ps(inv_scale);
  __mmask16 bad = 0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(g + i);
    bad |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(v), expmask), expmask);
    if (scale) _mm512_storeu_ps(g + i, _mm512_mul_ps(v, vs));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, g + i);
    bad |= _mm512_mask_cmpeq_epi32_mask(m, _mm512_and_si512(_mm512_castps_si512(v), expmask), expmask);
    if (scale) _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(v, vs));
  }
  return bad != 0;
#else
  const __m256i expmask = _mm256_set1_epi32(0x7f800000);
  const __m256 vs = _mm256_set1_ps(inv_scale);
  __m256i bad = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(g + i);
    bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v), expmask), expmask));
    if (scale) _mm256_storeu_ps(g + i, _mm256_mul_ps(v, vs));
  }
  bool found = !_mm256_testz_si256(bad, bad);
  for (; i < n; ++i) {  // tail: the reference formula
    uint32_t u;
    __builtin_memcpy(&u, g + i, 4);
    found |= (u & 0x7f800000u) == 0x7f800000u;
    if (scale) g[i] = g[i] * inv_scale;
  }
  return found;
#endif
}
// --8<-- [end:unscale_simd]

}  // namespace

extern const AmpSimd amp_simd = {&unscale_f32};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
