// How the AMX bf16 GEMM (gemm_amx_simd.cpp) packs its operands into the layouts its tiles load.
// Include only from cpp/ops/*/*_simd.cpp, like core/vec.h: everything here lives in
// minidl::MINIDL_ISA_NS, so no copy compiled with AVX-512 flags can stand in for an AVX2 caller.
//
// Packing: B into 32-column panels of 32-bit pair words (panel row = 128 B, so the two B tiles
// of a panel are its left and right 64 B with a 128 B stride), k padded with zeros to a
// multiple of 32; A into row-major rows of kc padded to a multiple of 32 (zero rows below M),
// ld_pa values apart (gemm_amx_simd.cpp: kc_pad + kAPad, which spreads a tile's rows over the L1 sets).
// Every operand layout is packed 16 rows or columns at a time with vector loads: operands stored
// K-major (a transposed A: the weight gradient's g^T; a B stored K x N) have two k rows merged
// into pair words (pairs16), and the ones whose pairs must move across rows (that A, and a B
// stored N x K: x @ W^T) go through a 16 x 16 word transpose in registers (core/transpose16_simd.h);
// each is read in address order where the layout allows. Element-wise, strided packing
// made the weight gradient g^T x of a (4096 x 1024) g and (4096 x 256) x take 13.5 ms at 1 thread
// (AMX, fixed rule), vectorized 4.2 ms (PyTorch 3.8-3.9; minima of 7 CPU-time runs in turns, on
// the shared 2-core Xeon at load average 10).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/transpose16_simd.h"

#ifndef MINIDL_ISA_NS
#error "gemm_amx_pack.h is for *_simd.cpp files compiled with MINIDL_ISA_NS=avx2|avx512"
#endif

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__) && defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__x86_64__) && \
    defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12

constexpr int64_t kBlock = 32;  // C block edge (2 tiles of 16), and the width of a packed B panel

// pa[r * kc_pad + k] = op(A)[i0 + r][p0 + k], zero for k >= kc and r >= mc; mc_pad rows.
void pack_a_rows(bool ta, const uint16_t* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc,
                 int64_t mc_pad, int64_t kc_pad, int64_t ld_pa, uint16_t* pa) {
  if (!ta) {
    for (int64_t r = 0; r < mc; ++r) {
      std::memcpy(pa + r * ld_pa, A + (i0 + r) * lda + p0, kc * 2);
      std::memset(pa + r * ld_pa + kc, 0, (kc_pad - kc) * 2);
    }
  } else {  // A stored K x M (the weight gradient's g^T): a transpose
    for (int64_t r = 0; r < mc; ++r) std::memset(pa + r * ld_pa + kc, 0, (kc_pad - kc) * 2);
    // 16 rows x 32 k at a time: rows k, k+1 of A merged into 16 pair words (the two 16-bit
    // values of one output row side by side), the 16 x 16 words transposed in registers,
    // written as 16 output rows of 32 k values each
    // k steps outside, rows inside: the 32 source rows of a k step are then read in address
    // order and the hardware prefetchers keep up; rows outside re-read every line of A from
    // further away (2 KiB apart for lda = 1024): 29% of the GPT block's weight gradient
    // g^T x (1024 x 4096 x 256), now 22% (perf, 1 thread, AMX Xeon)
    const int64_t r_vec = mc / 16 * 16, k_vec = kc / 32 * 32;
    for (int64_t k = 0; k < k_vec; k += 32)
      for (int64_t r0 = 0; r0 < r_vec; r0 += 16) {
        __m512i m[16];
        for (int p = 0; p < 16; ++p) {
          const uint16_t* s = A + (p0 + k + 2 * p) * lda + i0 + r0;
          m[p] = pairs16(s, s + lda);
        }
        transpose16x16_epi32(m);
        for (int i = 0; i < 16; ++i) _mm512_storeu_si512(pa + (r0 + i) * ld_pa + k, m[i]);
      }
    for (int64_t k = k_vec; k < kc; ++k) {
      const uint16_t* s = A + (p0 + k) * lda + i0;
      for (int64_t r = 0; r < r_vec; ++r) pa[r * ld_pa + k] = s[r];
    }
    const int64_t r0 = r_vec;
    for (int64_t k = 0; k < kc; ++k) {
      const uint16_t* s = A + (p0 + k) * lda + i0;
      for (int64_t r = r0; r < mc; ++r) pa[r * ld_pa + k] = s[r];
    }
  }
  for (int64_t r = mc; r < mc_pad; ++r) std::memset(pa + r * ld_pa, 0, kc_pad * 2);
}

// Panel q (columns j0 + 32q ..) at pb + q * kp_pad * 32: word [kp * 32 + j] =
// (op(B)[p0 + 2kp][j], op(B)[p0 + 2kp + 1][j]), zero outside kc x nc.
void pack_b_pairs(bool tb, const uint16_t* B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc,
                  int64_t kp_pad, uint32_t* pb) {
  const int64_t panels = (nc + kBlock - 1) / kBlock, kp_used = (kc + 1) / 2, tail = panels * kBlock - nc;
  // zero only what the loops below leave: the k pairs past kc and the columns past nc (zeroing
  // whole panels first took 10% of a bf16 16->16 @32x32 convolution's forward, perf, Xeon with AMX)
  for (int64_t q = 0; q < panels; ++q)
    std::memset(pb + (q * kp_pad + kp_used) * kBlock, 0, (kp_pad - kp_used) * kBlock * 4);
  if (tail)
    for (int64_t kp = 0; kp < kp_used; ++kp)
      std::memset(pb + ((panels - 1) * kp_pad + kp) * kBlock + kBlock - tail, 0, tail * 4);
  int64_t j_first = 0;
  if (!tb) {  // B stored K x N: whole panels row by row, rows 2kp and 2kp+1 merged 16 columns at a time
    // Row by row, B is read in address order and the hardware prefetchers keep up; panel by
    // panel (2 rows of 64 B, then the next pair 2 KiB further on for ldb = 1024) every line was a
    // miss waited for: 13% of a 1024^3 product (perf, 1 thread, AMX Xeon), now 7%.
    j_first = nc / kBlock * kBlock;
    for (int64_t kp = 0; 2 * kp < kc; ++kp) {
      const uint16_t* s = B + (p0 + 2 * kp) * ldb + j0;
      const uint16_t* s1 = 2 * kp + 1 < kc ? s + ldb : nullptr;
      uint32_t* d = pb + kp * kBlock;
      for (int64_t j = 0; j < j_first; j += kBlock, d += kp_pad * kBlock) {
        _mm512_storeu_si512(d, pairs16(s + j, s1 ? s1 + j : nullptr));
        _mm512_storeu_si512(d + 16, pairs16(s + j + 16, s1 ? s1 + j + 16 : nullptr));
      }
    }
  }
  for (int64_t j = j_first; j < nc; ++j) {
    uint32_t* d = pb + (j / kBlock) * kp_pad * kBlock + j % kBlock;
    if (tb && j % 16 == 0 && j + 16 <= nc) {  // B stored N x K (x @ W.T), 16 columns: 16 x 16 words transposed
      const uint16_t* s = B + (j0 + j) * ldb + p0;
      int64_t kp = 0;
      for (; 2 * (kp + 16) <= kc; kp += 16) {
        __m512i m[16];
        for (int i = 0; i < 16; ++i) m[i] = _mm512_loadu_si512(s + i * ldb + 2 * kp);
        transpose16x16_epi32(m);
        for (int q = 0; q < 16; ++q) _mm512_storeu_si512(d + (kp + q) * kBlock, m[q]);
      }
      // the last kc - 2kp < 32 values of each row: masked loads (zeros past kc), one transpose;
      // word by word they were 16 of the 144 k of a 16->16 3x3 convolution's col^T (bf16 forward at
      // 32x32, batch 64, forced bf16_gemm path, min of 3 runs: 2.69 -> 2.52 ms, 1 thread, AMX Xeon;
      // the k chunks and packing orders above alone had not moved it)
      if (2 * kp < kc) {
        const int64_t rest = kc - 2 * kp, pairs = (rest + 1) / 2;
        const __mmask32 mask = __mmask32((uint64_t(1) << rest) - 1u);
        __m512i m[16];
        for (int i = 0; i < 16; ++i) m[i] = _mm512_maskz_loadu_epi16(mask, s + i * ldb + 2 * kp);
        transpose16x16_epi32(m);
        for (int64_t q = 0; q < pairs; ++q) _mm512_storeu_si512(d + (kp + q) * kBlock, m[q]);
      }
      j += 15;
    } else if (tb) {  // B stored N x K (x @ W.T): a k pair of column j is one 32-bit word of row j
      const uint16_t* s = B + (j0 + j) * ldb + p0;
      int64_t kp = 0;
      for (; 2 * kp + 1 < kc; ++kp) {
        uint32_t w;
        std::memcpy(&w, s + 2 * kp, 4);
        d[kp * kBlock] = w;
      }
      if (kc & 1) d[kp * kBlock] = s[kc - 1];
    } else if (j % 16 == 0 && j + 16 <= nc) {  // B stored K x N: rows 2kp, 2kp+1 merged, 16 columns at a time
      for (int64_t kp = 0; 2 * kp < kc; ++kp) {
        const uint16_t* s = B + (p0 + 2 * kp) * ldb + j0 + j;
        _mm512_storeu_si512(d + kp * kBlock, 2 * kp + 1 < kc ? pairs16(s, s + ldb) : pairs16(s, nullptr));
      }
      j += 15;
    } else {
      const uint16_t* s = B + p0 * ldb + j0 + j;
      for (int64_t kp = 0; 2 * kp < kc; ++kp) {
        const uint32_t lo = s[2 * kp * ldb], hi = 2 * kp + 1 < kc ? s[(2 * kp + 1) * ldb] : 0;
        d[kp * kBlock] = lo | (hi << 16);
      }
    }
  }
}

#endif

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
