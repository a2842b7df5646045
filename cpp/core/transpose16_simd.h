// 16-bit values moved in 32-bit pairs with AVX-512 (include only from cpp/ops/*/*_simd.cpp, like
// vec.h: everything here lives in minidl::MINIDL_ISA_NS, so no copy compiled with AVX-512 flags
// can stand in for an AVX2 caller). Two 16-bit rows merged into pair words, then a 16 x 16
// transpose of those words, is how the AMX GEMM packs its operands (gemm_amx_simd.cpp) and how a
// bfloat16 convolution turns NCHW images channels-last (conv_lowp_simd.cpp).
#pragma once
#include <immintrin.h>

#include <cstdint>

#ifndef MINIDL_ISA_NS
#error "transpose16_simd.h is for *_simd.cpp files compiled with MINIDL_ISA_NS=avx2|avx512"
#endif

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__) && defined(__AVX512BW__)

// 16 words (lo[i], hi[i]): two rows of 16 bfloat16 merged into the k pairs AMX reads (hi null: 0)
inline __m512i pairs16(const uint16_t* lo, const uint16_t* hi) {
  const __m512i l = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo)));
  if (!hi) return l;
  const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi)));
  return _mm512_or_si512(l, _mm512_slli_epi32(h, 16));
}

// r[i][j] <- r[j][i] for a 16 x 16 block of 32-bit words in 16 registers: pairs of rows
// interleaved by 32-bit then 64-bit unpacks (4 x 4 blocks inside each 128-bit lane), then the
// lanes moved by two rounds of shuffle_i32x4
inline void transpose16x16_epi32(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int g = 0; g < 16; g += 4) {  // u[g + c], lane l: column 4l + c of rows g .. g+3
    u[g + 0] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
    u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
    u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
    u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i ve = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88), vo = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);
    const __m512i we = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
    const __m512i wo = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
    r[c] = _mm512_shuffle_i32x4(ve, we, 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(ve, we, 0xdd);
    r[4 + c] = _mm512_shuffle_i32x4(vo, wo, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(vo, wo, 0xdd);
  }
}

#endif

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
