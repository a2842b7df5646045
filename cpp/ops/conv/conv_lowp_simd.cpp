// The NCHW -> channels-last copy of a bfloat16 convolution's im2col (conv_lowp.h, ConvLowpSimd),
// compiled per ISA like every *_simd.cpp; only the AVX-512 build has a kernel.
//
// Why: conv_lowp.cpp builds its column matrix from a channels-last copy of each image, and the
// scalar copy (one 16-bit store every C values) took 22% of a bfloat16 16->16 3x3 convolution's
// forward at 32x32 (perf, Xeon with AMX). Here 16 pixels x 32 channels move at a time: channel
// rows c, c+1 merged into pair words (pairs16), 16 x 16 words transposed in registers, and each
// register is then the 32 channels of one pixel, stored with a 16-bit mask where fewer remain;
// with 16 channels or fewer, a register holds two pixels 16 apart. Batch 64, 1 thread, minima of
// 20 CPU-time runs (Xeon with AMX), scalar / 32 channels per register / two pixels per register
// where C <= 16, ms: C 16 @32x32 0.40 / 0.25 / 0.19; 32 @16x16 0.26 / 0.08;
// 64 @8x8 0.11 / 0.08; at 6 channels 0.13 / 0.10, at 4 0.085 / 0.099 and at 1 0.02 / 0.09: the
// scalar loop keeps C < kMinChannels (conv_lowp.h).
#include "conv_lowp.h"
#include "core/transpose16_simd.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)

void to_channels_last(const uint16_t* src, int64_t C, int64_t H, int64_t W, uint16_t* dst, int64_t dst_row) {
  const int64_t HW = H * W, w_vec = W / 16 * 16;
  for (int64_t c0 = 0; c0 < C; c0 += 32) {
    const int64_t nch = C - c0 < 32 ? C - c0 : 32;
    const __mmask32 mask = nch == 32 ? ~__mmask32(0) : __mmask32((1u << nch) - 1u);
    for (int64_t i = 0; i < H; ++i) {
      const uint16_t* s = src + c0 * HW + i * W;
      uint16_t* d = dst + i * dst_row + c0;
      int64_t j = 0;
      if (nch <= 16)  // 8 pair rows fill half a transpose: pixels j.. and j+16.. share one
        for (; j + 32 <= W; j += 32) {
          __m512i m[16];
          for (int p = 0; p < 8; ++p) {
            const int64_t c = 2 * p;
            const uint16_t* lo = s + c * HW + j;
            const uint16_t* hi = c + 1 < nch ? lo + HW : nullptr;
            m[p] = c >= nch ? _mm512_setzero_si512() : pairs16(lo, hi);
            m[8 + p] = c >= nch ? _mm512_setzero_si512() : pairs16(lo + 16, hi ? hi + 16 : nullptr);
          }
          transpose16x16_epi32(m);
          for (int q = 0; q < 16; ++q) {
            _mm256_mask_storeu_epi16(d + (j + q) * C, __mmask16(mask), _mm512_castsi512_si256(m[q]));
            _mm256_mask_storeu_epi16(d + (j + 16 + q) * C, __mmask16(mask), _mm512_extracti64x4_epi64(m[q], 1));
          }
        }
      for (; j < w_vec; j += 16) {
        __m512i m[16];
        for (int p = 0; p < 16; ++p) {
          const int64_t c = 2 * p;
          m[p] = c >= nch ? _mm512_setzero_si512() : pairs16(s + c * HW + j, c + 1 < nch ? s + (c + 1) * HW + j : nullptr);
        }
        transpose16x16_epi32(m);
        for (int q = 0; q < 16; ++q) _mm512_mask_storeu_epi16(d + (j + q) * C, mask, m[q]);
      }
      for (int64_t j = w_vec; j < W; ++j)
        for (int64_t c = 0; c < nch; ++c) d[j * C + c] = s[c * HW + j];
    }
  }
}

// dst[k * dst_row + o] = bf16(src[o * Kg + k] + bias[k]) for o < w, k < Kg (Kg a multiple of 16,
// bias null: 0): the transposed forward's (positions x Kg) float32 block to NCHW rows, 16
// positions x 16 channels per 16 x 16 transpose in registers, rounded by vcvtneps2bf16 (to
// nearest even, NaN to a quiet NaN: cast_contiguous's rounding, except that a float32
// subnormal sum is flushed to zero, as in the AMX GEMM's bf16 store). Only the bf16_gemm path
// calls it, which needs a native bf16 GEMM: an AVX512-BF16 CPU (every AMX CPU has it). The scalar loop of
// conv_lowp.cpp's store_transposed (one cast per channel row) took 0.4 of 2.1 ms of a 16->16
// @32x32 forward (batch 64, 1 thread, Xeon with AMX).
void from_position_rows(const float* src, int64_t w, int64_t Kg, const float* bias, uint16_t* dst, int64_t dst_row) {
  for (int64_t k0 = 0; k0 < Kg; k0 += 16) {
    for (int64_t o0 = 0; o0 < w; o0 += 16) {
      const int64_t n = w - o0 < 16 ? w - o0 : 16;
      __m512i m[16];
      for (int i = 0; i < 16; ++i)
        m[i] = i < n ? _mm512_loadu_si512(src + (o0 + i) * Kg + k0) : _mm512_setzero_si512();
      transpose16x16_epi32(m);
      const __mmask16 mask = __mmask16((1u << n) - 1u);
      for (int j = 0; j < 16; ++j) {
        __m512 v = _mm512_castsi512_ps(m[j]);
        if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[k0 + j]));
        _mm256_mask_storeu_epi16(dst + (k0 + j) * dst_row + o0, mask, (__m256i)_mm512_cvtneps_pbh(v));
      }
    }
  }
}

}  // namespace
extern const conv_lowp_detail::ConvLowpSimd conv_lowp_simd = {&to_channels_last, &from_position_rows};

#else

}  // namespace
extern const conv_lowp_detail::ConvLowpSimd conv_lowp_simd = {nullptr, nullptr};

#endif

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
