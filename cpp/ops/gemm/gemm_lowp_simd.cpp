// BF16 GEMM with float32 accumulation on AVX512-BF16 (vdpbf16ps), for one thread.
// Compiled per ISA like every file here; only the AVX-512 build (which gets -mavx512bf16) has
// a kernel, and cpp/ops/gemm/gemm_lowp.cpp uses it only when the CPU reports avx512bf16.
//
// --8<-- [start:vdpbf16ps]
// vdpbf16ps acc, a, b: for each of the 16 float32 lanes i,
//     acc[i] += a.bf16[2i+1] * b.bf16[2i+1] + a.bf16[2i] * b.bf16[2i]
// i.e. one instruction does two multiply-adds per lane (Intel's pseudo-code: odd pair first,
// each step rounded to float32 as an FMA would be; products of two bf16 are exact in float32).
// So both operands are packed with pairs of consecutive k interleaved: a 32-bit word holds
// (x[k], x[k+1]) with x[k] in the low half. K odd: the last pair is (x[K-1], 0).
//   A micro-panel (MR rows):   word a32[kp*kMR + r]  = (A[r][2kp], A[r][2kp+1])
//   B micro-panel (NR columns): word b32[kp*kNR + j] = (B[2kp][j], B[2kp+1][j])
// The micro-kernel broadcasts one A word per row and multiplies it with two vectors of 16 B
// words: 14 x 32 tile, 28 zmm accumulators + 2 for B + 1 broadcast = 31 of the 32 zmm (no
// spills, checked in the disassembly); per k pair 16 loads feed 28 vdpbf16ps, each two
// multiply-adds per lane -- twice the FP32 kernel's (gemm_microkernel.h) work per instruction.
// --8<-- [end:vdpbf16ps]
// (12 x 32 measured a few % slower at 256 x 1024 x 1024.)
// Blocking is the Goto/BLIS loop nest of gemm_simd.cpp; sizes counted in k (not pairs):
//   kKC = 1024: A micro-panel 14 x 1024 x 2 B = 28 KiB in L1d, B micro-panel 1024 x 32 x 2 B =
//         64 KiB re-read from L1/L2 (the FP32 kernel's sizes in bytes); a long kc halves the
//         C tile loads + stores against kc = 512 (measured ~5-10% faster at 1024^3, Zen 5);
//   kMC = 224 rows: packed A block 448 KiB stays in the 1 MiB L2;
//   kNC = 1024: packed B panel 2 MiB, in L3 (a thread's share in L2).
#include <cstring>

#include "gemm_lowp.h"
#include "core/vec.h"
#include "core/pack_buffer.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__) && defined(__AVX512BF16__) && defined(__AVX512BW__)

constexpr int kMR = 14, kNR = 32;
constexpr int64_t kKC = 1024, kMC = 16 * kMR, kNC = 1024;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// per-thread packing buffers of 32-bit words (one word = one k pair; pack_buffer.h)
thread_local PackBuffer<uint32_t> t_pack_a, t_pack_b;

inline uint32_t pair_at(const uint16_t* p) {  // (p[0], p[1]) as one word, any alignment
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// d[kp*ds + r] = (s_r[2kp], s_r[2kp+1]) for 4 rows s_0..s_3 of kc 16-bit values; the last
// word is (s_r[kc-1], 0) when kc is odd. 4 x 4 transposes of 32-bit words (shuffles only,
// so the bit patterns pass unchanged).
void pack4_pairs(const uint16_t* s0, const uint16_t* s1, const uint16_t* s2, const uint16_t* s3,
                 int64_t kc, uint32_t* d, int64_t ds) {
  const int64_t full = kc / 2;
  int64_t kp = 0;
  for (; kp + 4 <= full; kp += 4) {
    __m128 r0 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s0 + 2 * kp)));
    __m128 r1 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s1 + 2 * kp)));
    __m128 r2 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s2 + 2 * kp)));
    __m128 r3 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s3 + 2 * kp)));
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(reinterpret_cast<float*>(d + (kp + 0) * ds), r0);
    _mm_storeu_ps(reinterpret_cast<float*>(d + (kp + 1) * ds), r1);
    _mm_storeu_ps(reinterpret_cast<float*>(d + (kp + 2) * ds), r2);
    _mm_storeu_ps(reinterpret_cast<float*>(d + (kp + 3) * ds), r3);
  }
  for (; kp < full; ++kp) {
    d[kp * ds + 0] = pair_at(s0 + 2 * kp);
    d[kp * ds + 1] = pair_at(s1 + 2 * kp);
    d[kp * ds + 2] = pair_at(s2 + 2 * kp);
    d[kp * ds + 3] = pair_at(s3 + 2 * kp);
  }
  if (kc & 1) {
    d[full * ds + 0] = s0[kc - 1];
    d[full * ds + 1] = s1[kc - 1];
    d[full * ds + 2] = s2[kc - 1];
    d[full * ds + 3] = s3[kc - 1];
  }
}

// one row: d[kp*ds] = (s[2kp], s[2kp+1]), odd tail padded with 0
void pack1_pairs(const uint16_t* s, int64_t kc, uint32_t* d, int64_t ds) {
  const int64_t full = kc / 2;
  for (int64_t kp = 0; kp < full; ++kp) d[kp * ds] = pair_at(s + 2 * kp);
  if (kc & 1) d[full * ds] = s[kc - 1];
}

// Interleaves two rows of up to 32 16-bit values (r0 = x[k][0..n), r1 = x[k+1][0..n)) into
// 32 words (x[k][j], x[k+1][j]), j = 0..31 (zero past n), stored as two zmm at d.
inline void interleave_rows(const uint16_t* r0, const uint16_t* r1, int n, uint32_t* d) {
  const __mmask32 m = n >= 32 ? ~__mmask32(0) : (__mmask32(1) << n) - 1;
  const __m512i a = _mm512_maskz_loadu_epi16(m, r0);
  const __m512i b = r1 ? _mm512_maskz_loadu_epi16(m, r1) : _mm512_setzero_si512();
  // out[2j] = a[j], out[2j+1] = b[j]; index 32 + j selects b[j] in permutex2var
  alignas(64) static const uint16_t idx_lo[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                                  8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static const uint16_t idx_hi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                                  24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i lo = _mm512_permutex2var_epi16(a, _mm512_load_si512(idx_lo), b);
  const __m512i hi = _mm512_permutex2var_epi16(a, _mm512_load_si512(idx_hi), b);
  _mm512_storeu_si512(d, lo);
  _mm512_storeu_si512(d + 16, hi);
}

// op(A)[i0 : i0+mc, p0 : p0+kc] into MR-row micro-panels of k pairs (see the top of the file);
// panel p at dst + p*kMR*kc2, rows past mc are zero.
void pack_a(bool ta, const uint16_t* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc,
            uint32_t* dst) {
  const int64_t kc2 = (kc + 1) / 2;
  for (int64_t ip = 0; ip < mc; ip += kMR) {
    const int mr = static_cast<int>(min64(kMR, mc - ip));
    uint32_t* d = dst + ip * kc2;
    if (ta) {  // A stored K x M: rows k and k+1 hold the MR values to interleave
      const uint16_t* s = A + p0 * lda + i0 + ip;
      alignas(64) uint32_t tmp[32];
      for (int64_t kp = 0; kp < kc2; ++kp) {
        const uint16_t* r0 = s + 2 * kp * lda;
        interleave_rows(r0, 2 * kp + 1 < kc ? r0 + lda : nullptr, mr, tmp);
        std::memcpy(d + kp * kMR, tmp, kMR * 4);
      }
    } else {   // A stored M x K: a k pair of one row is one word; transpose 4 rows at a time
      int r = 0;
      for (; r + 4 <= mr; r += 4) {
        const uint16_t* s0 = A + (i0 + ip + r) * lda + p0;
        pack4_pairs(s0, s0 + lda, s0 + 2 * lda, s0 + 3 * lda, kc, d + r, kMR);
      }
      for (; r < mr; ++r) pack1_pairs(A + (i0 + ip + r) * lda + p0, kc, d + r, kMR);
      for (; r < kMR; ++r)
        for (int64_t kp = 0; kp < kc2; ++kp) d[kp * kMR + r] = 0;
    }
  }
}

// op(B)[p0 : p0+kc, j0 : j0+nc] into NR-column micro-panels of k pairs; panel q at
// dst + q*kNR*kc2, columns past nc are zero.
void pack_b(bool tb, const uint16_t* B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc,
            uint32_t* dst) {
  const int64_t kc2 = (kc + 1) / 2;
  for (int64_t jp = 0; jp < nc; jp += kNR) {
    const int nr = static_cast<int>(min64(kNR, nc - jp));
    uint32_t* d = dst + jp * kc2;
    if (!tb) {  // B stored K x N: interleave rows k and k+1
      const uint16_t* s = B + p0 * ldb + j0 + jp;
      for (int64_t kp = 0; kp < kc2; ++kp) {
        const uint16_t* r0 = s + 2 * kp * ldb;
        interleave_rows(r0, 2 * kp + 1 < kc ? r0 + ldb : nullptr, nr, d + kp * kNR);
      }
    } else {    // B stored N x K (x @ W.T): column j of op(B) is row j of B, a pair is a word
      const uint16_t* s = B + (j0 + jp) * ldb + p0;
      int j = 0;
      for (; j + 4 <= nr; j += 4) {
        const uint16_t* s0 = s + j * ldb;
        pack4_pairs(s0, s0 + ldb, s0 + 2 * ldb, s0 + 3 * ldb, kc, d + j, kNR);
      }
      for (; j < nr; ++j) pack1_pairs(s + j * ldb, kc, d + j, kNR);
      for (; j < kNR; ++j)
        for (int64_t kp = 0; kp < kc2; ++kp) d[kp * kNR + j] = 0;
    }
  }
}

// C tile (MR x n, n <= 32) = alpha * (A panel @ B panel) + beta * C; beta == 0 never reads C.
// A is either a packed micro-panel (DirectA = false: word (r, kp) at a32[kp*kMR + r]) or, for
// a row-major A and even kc, the source rows themselves (DirectA = true: a k pair of row r is
// already one word, at a16 + r*lda + 2kp), which skips packing A (see gemm_bf16_block).
// --8<-- [start:microkernel_bf16]
template <int MR, bool DirectA>
inline void microkernel_bf16(int64_t kc2, const void* a_ptr, int64_t lda, const uint32_t* __restrict b,
                             float* __restrict c, int64_t ldc, int n, float alpha, float beta) {
  const uint32_t* a = static_cast<const uint32_t*>(a_ptr);
  const uint16_t* a16 = static_cast<const uint16_t*>(a_ptr);
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kNR - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t kp = 0; kp < kc2; ++kp) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const uint32_t w = DirectA ? pair_at(a16 + r * lda) : a[r];
      const __m512bh ar = (__m512bh)_mm512_set1_epi32(static_cast<int>(w));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], ar, b0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], ar, b1);
    }
    if (DirectA) a16 += 2;
    else a += kMR;
    b += kNR;
  }
// --8<-- [end:microkernel_bf16]
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const int n0 = n < 16 ? n : 16, n1 = n - n0;
  const __mmask16 m0 = n0 >= 16 ? __mmask16(0xffff) : __mmask16((1u << n0) - 1u);
  const __mmask16 m1 = n1 >= 16 ? __mmask16(0xffff) : __mmask16((1u << n1) - 1u);
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    __m512 v0 = acc0[r], v1 = acc1[r];
    if (alpha != 1.0f) {
      v0 = _mm512_mul_ps(v0, va);
      v1 = _mm512_mul_ps(v1, va);
    }
    if (beta == 1.0f) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
      if (n1 > 0) v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
    } else if (beta != 0.0f) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), v0);
      if (n1 > 0) v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    if (n1 > 0) _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}

template <int MR, bool DirectA>
inline void microkernel_rows(int mr, int64_t kc2, const void* a, int64_t lda, const uint32_t* b, float* c,
                             int64_t ldc, int n, float alpha, float beta) {
  if (mr == MR) {
    microkernel_bf16<MR, DirectA>(kc2, a, lda, b, c, ldc, n, alpha, beta);
  } else if constexpr (MR > 1) {
    microkernel_rows<MR - 1, DirectA>(mr, kc2, a, lda, b, c, ldc, n, alpha, beta);
  }
}

// C = alpha * op(A) @ op(B) + beta * C on the calling thread, A and B bfloat16 bit patterns.
void gemm_bf16_block(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                     const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta,
                     float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  const int64_t kc2_max = (min64(K, kKC) + 1) / 2;
  const int64_t mc_max = min64((M + kMR - 1) / kMR * kMR, kMC);
  const int64_t nc_max = min64((N + kNR - 1) / kNR * kNR, kNC);
  // As in gemm_simd.cpp: with one A block and B stored N x K, pack each B micro-panel just
  // before the micro-kernels use it (it is still in L1), instead of the whole panel first.
  const bool fuse_b = M <= kMC && tb;
  // Narrow C (N <= 128: few B micro-panels per A block) with row-major A and even K: packing A
  // would cost about as much as the few micro-kernel passes that use it. A row-major A already
  // holds each k pair as one word, so the micro-kernel broadcasts straight from the source
  // rows (kKC is even, so every kc block is even too).
  const bool direct_a = !ta && K % 2 == 0 && N <= 4 * kNR;
  uint32_t* pa = t_pack_a.get(mc_max * kc2_max);
  uint32_t* pb = t_pack_b.get((fuse_b ? kNR : nc_max) * kc2_max);
  for (int64_t jc = 0; jc < N; jc += kNC) {
    const int64_t nc = min64(kNC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = min64(kKC, K - pc), kc2 = (kc + 1) / 2;
      const float beta_pc = pc == 0 ? beta : 1.0f;
      if (!fuse_b) pack_b(tb, B, ldb, pc, jc, kc, nc, pb);
      for (int64_t ic = 0; ic < M; ic += kMC) {
        const int64_t mc = min64(kMC, M - ic);
        if (!direct_a) pack_a(ta, A, lda, ic, pc, mc, kc, pa);
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int nr = static_cast<int>(min64(kNR, nc - jr));
          if (fuse_b) pack_b(tb, B, ldb, pc, jc + jr, kc, nr, pb);
          const uint32_t* bp = fuse_b ? pb : pb + jr * kc2;
          float* cc = C + ic * ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int mr = static_cast<int>(min64(kMR, mc - ir));
            if (direct_a)
              microkernel_rows<kMR, true>(mr, kc2, A + (ic + ir) * lda + pc, lda, bp, cc + ir * ldc, ldc, nr,
                                          alpha, beta_pc);
            else
              microkernel_rows<kMR, false>(mr, kc2, pa + ir * kc2, 0, bp, cc + ir * ldc, ldc, nr, alpha, beta_pc);
          }
        }
      }
    }
  }
}

}  // namespace
extern const GemmBf16Simd gemm_bf16_simd = {&gemm_bf16_block, kMR, kNR, nullptr};

#else  // no AVX512-BF16 in this build: gemm_lowp.cpp widens to float32 instead

}  // namespace
extern const GemmBf16Simd gemm_bf16_simd = {nullptr, 0, 0, nullptr};

#endif

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
