// Float32 max pooling for one ISA: one output row at a time, Vec::width output columns per
// step. For each window offset (h, j) the inputs of all lanes are one contiguous load
// (stride 1) or two loads and a deinterleave (stride 2); a lane takes the new value when it
// is larger or NaN, exactly the update rule of the reference loop, so values and arg-max
// indices match it bit for bit. Border columns (windows that reach into the padding) and
// other strides/dilations go through the scalar rule.
#include <cmath>

#include "pooling.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// p[0], p[2], ..., p[2 (n - 1)] in the first n lanes; reads p[0, 2n - 1) only
inline Vec load_even(const float* p, int n) {
  const int need = 2 * n - 1;
  const int first = need < Vec::width ? need : Vec::width;
  const int second = need > Vec::width ? need - Vec::width : 0;
  Vec a = Vec::load_partial(p, first), b = Vec::load_partial(p + Vec::width, second);
#if defined(__AVX512F__)
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(a.v, even, b.v);
#else
  // [a0 a2 b0 b2 | a4 a6 b4 b6] -> 64-bit lanes (0, 2, 1, 3) -> [a0 a2 a4 a6 b0 b2 b4 b6]
  __m256 t = _mm256_shuffle_ps(a.v, b.v, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
#endif
}

// the reference rule for one output (used at the borders)
inline void max_one(const float* x, float* y, int64_t* idx, const Pool2dShape& s, int64_t h0, int64_t h1,
                    int64_t ow) {
  int64_t w0 = ow * s.stride_w - s.pad_w;
  const int64_t w1 = w0 + (s.kernel_w - 1) * s.dilation_w + 1 < s.in_w ? w0 + (s.kernel_w - 1) * s.dilation_w + 1 : s.in_w;
  while (w0 < 0) w0 += s.dilation_w;
  float best = -INFINITY;
  int64_t best_index = h0 * s.in_w + w0;
  for (int64_t h = h0; h < h1; h += s.dilation_h)
    for (int64_t w = w0; w < w1; w += s.dilation_w) {
      const float v = x[h * s.in_w + w];
      if (v > best || std::isnan(v)) {
        best = v;
        best_index = h * s.in_w + w;
      }
    }
  *y = best;
  *idx = best_index;
}

bool max_pool_plane_f32(const float* x, float* y, int64_t* indices, const Pool2dShape& s) {
  const int64_t sw = s.stride_w;
  // indices ride in float lanes: exact below 2^24
  if (s.dilation_w != 1 || (sw != 1 && sw != 2) || s.in_h * s.in_w >= (int64_t{1} << 24)) return false;
  alignas(64) static const float iota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const Vec lane_offset = Vec::load(iota) * Vec::set1(static_cast<float>(sw));
  // interior columns: the whole window row lies inside [0, in_w)
  const int64_t ow_lo = (s.pad_w + sw - 1) / sw;
  const int64_t last_start = s.in_w - s.kernel_w + s.pad_w;  // largest allowed ow * sw
  int64_t ow_hi = last_start < 0 ? 0 : last_start / sw + 1;
  if (ow_hi > s.out_w) ow_hi = s.out_w;
  if (ow_hi < ow_lo) ow_hi = ow_lo;
  alignas(64) float index_lanes[16];
  for (int64_t oh = 0; oh < s.out_h; ++oh) {
    int64_t h0 = oh * s.stride_h - s.pad_h;
    const int64_t h_end = h0 + (s.kernel_h - 1) * s.dilation_h + 1;
    const int64_t h1 = h_end < s.in_h ? h_end : s.in_h;
    while (h0 < 0) h0 += s.dilation_h;
    float* yrow = y + oh * s.out_w;
    int64_t* irow = indices + oh * s.out_w;
    for (int64_t ow = 0; ow < ow_lo && ow < s.out_w; ++ow) max_one(x, yrow + ow, irow + ow, s, h0, h1, ow);
    // --8<-- [start:max_simd_row]
    for (int64_t ow = ow_lo; ow < ow_hi; ow += Vec::width) {
      const int n = ow_hi - ow < Vec::width ? static_cast<int>(ow_hi - ow) : Vec::width;
      const int64_t w0 = ow * sw - s.pad_w;
      Vec best = Vec::set1(-INFINITY);
      Vec best_index = Vec::set1(static_cast<float>(h0 * s.in_w + w0)) + lane_offset;
      for (int64_t h = h0; h < h1; h += s.dilation_h)
        for (int64_t j = 0; j < s.kernel_w; ++j) {
          const int64_t base = h * s.in_w + w0 + j;
          const Vec v = sw == 1 ? Vec::load_partial(x + base, n) : load_even(x + base, n);
          const Mask take = mask_or(cmp_gt(v, best), cmp_unord(v, v));
          best = blend(take, best, v);
          best_index = blend(take, best_index, Vec::set1(static_cast<float>(base)) + lane_offset);
        }
      best.store_partial(yrow + ow, n);
      best_index.store(index_lanes);
      for (int l = 0; l < n; ++l) irow[ow + l] = static_cast<int64_t>(index_lanes[l]);
    }
    // --8<-- [end:max_simd_row]
    for (int64_t ow = ow_hi; ow < s.out_w; ++ow) max_one(x, yrow + ow, irow + ow, s, h0, h1, ow);
  }
  return true;
}

}  // namespace

extern const PoolSimd pool_simd = {max_pool_plane_f32};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
