// Register-blocked SGEMM micro-kernel and the 4-row packing transpose (included only by
// gemm_simd.cpp and gemm_packed_simd.cpp, compiled per ISA).
//
// The micro-kernel computes one MR x NR tile of C from a packed A micro-panel (MR rows, kc
// columns, stored k-major: a[k*kMR + r]) and a packed B micro-panel (kc rows of NR floats:
// b[k*kNR + j]). Per k it loads two vectors of B, broadcasts MR values of A and does 2*MR
// FMAs into accumulators that never leave registers:
//   AVX-512: 12 x 32 -> 24 zmm accumulators + 2 for B + 1 broadcast (of 32 zmm). 24 FMAs per
//            k, 14 loads (2 vector + 12 broadcast): by port counts the 2 FMA pipes stay the
//            bottleneck and 24 independent chains cover the 4-cycle FMA latency x 2 pipes = 8
//            in flight. Measured, it runs at 84-86% of the FMA peak on L1-resident panels (Xeon
//            family 6 model 167; AVX2's 6 x 16 at 95-100%): bench/cpp/bench_gemm_microkernel.cpp,
//            whose header has the tile and unroll variants tried.
//   AVX2:     6 x 16 -> 12 ymm accumulators + 2 for B + 1 broadcast (of 16 ymm).
// Tiles with fewer than kMR rows use the same template with MR < kMR (the panel stride stays
// kMR); tiles narrower than kNR are computed full width (B is zero-padded) and stored masked.
#pragma once
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int kVW = Vec::width;
constexpr int kNR = 2 * kVW;
#if defined(__AVX512F__)
constexpr int kMR = 12;
#else
constexpr int kMR = 6;
#endif

// C tile (MR x n, n <= kNR, row stride ldc) = alpha * acc + beta * C (+ bias[j] when bias is
// not null: n values added to every row, the Linear layer's bias, see sgemm_bias in gemm.h);
// beta == 0 never reads C.
// A is either a packed micro-panel (DirectA = false: element (r, k) at a[k*kMR + r], alpha
// already applied by the packing) or the source itself (DirectA = true: element (r, k) at
// a[r*lda + k*ldk]; a row-major A has ldk = 1, a transposed one lda = 1 and ldk = its row
// stride), which skips packing A (see sgemm_block).
// B likewise: a packed micro-panel (ldb = kNR) or, for a row-major B, the source rows (ldb =
// its row stride; all kNR columns must exist).
// --8<-- [start:microkernel]
template <int MR, bool DirectA = false>
inline void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b,
                        float* __restrict c, int64_t ldc, int n, float beta, int64_t lda = 0,
                        int64_t ldk = 0, float alpha = 1.0f, int64_t ldb = kNR,
                        const float* __restrict bias = nullptr) {
  Vec acc0[MR], acc1[MR];
  // Every cache line of the tile's C rows is prefetched while the k loop runs: an AVX-512 row
  // of kNR floats (128 bytes) spans two lines when it starts on a 64-byte boundary, three when
  // not, and then the middle one is asked for too (AVX2's 64-byte row: its first and last float
  // cover it either way, the extra prefetch repeats one of them). NumPy's arrays (glibc malloc)
  // start 16 bytes past a line here, PyTorch's on one. Measured (Intel Xeon family 6 model 167,
  // 1 thread, C 16 bytes past a line, min of 15 runs paired in one process, load average 5): the
  // GPT block's products with C streamed through memory (4096 rows) 0-7% faster, e.g. 4096 x 256
  // @ (1024 x 256)^T 13.07 -> 12.41 ms, 4096 x 256 @ 256 x 1024 13.47 -> 12.59; a C that stays in
  // L2 (256 x 1024, K = 4096) within the noise; an aligned C never takes the branch.
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    acc0[r] = Vec::zero();
    acc1[r] = Vec::zero();
    const float* cr = c + r * ldc;
    _mm_prefetch(reinterpret_cast<const char*>(cr), _MM_HINT_T0);
    if (reinterpret_cast<uintptr_t>(cr) & 63) _mm_prefetch(reinterpret_cast<const char*>(cr + kVW), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(cr + kNR - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const Vec b0 = Vec::load(b), b1 = Vec::load(b + kVW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const Vec ar = Vec::set1(DirectA ? a[r * lda] : a[r]);
      acc0[r] = fmadd(ar, b0, acc0[r]);
      acc1[r] = fmadd(ar, b1, acc1[r]);
    }
    a += DirectA ? ldk : kMR;
    b += ldb;
  }
// --8<-- [end:microkernel]
  if (DirectA && alpha != 1.0f) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      acc0[r] = acc0[r] * Vec::set1(alpha);
      acc1[r] = acc1[r] * Vec::set1(alpha);
    }
  }
  if (n == kNR) {
    // the bias is added after beta * C, in the order the unfused addmm (C = bias, then beta = 1)
    // added it: the same bits either way
    const Vec bias0 = bias ? Vec::load(bias) : Vec::zero(), bias1 = bias ? Vec::load(bias + kVW) : Vec::zero();
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
      Vec v0 = acc0[r], v1 = acc1[r];
      if (beta == 1.0f) {
        v0 = v0 + Vec::load(cr);
        v1 = v1 + Vec::load(cr + kVW);
      } else if (beta != 0.0f) {
        v0 = fmadd(Vec::set1(beta), Vec::load(cr), v0);
        v1 = fmadd(Vec::set1(beta), Vec::load(cr + kVW), v1);
      }
      if (bias) {
        v0 = v0 + bias0;
        v1 = v1 + bias1;
      }
      v0.store(cr);
      v1.store(cr + kVW);
    }
  } else {  // partial tile: n0 columns in the first vector, n1 in the second
    const int n0 = n < kVW ? n : kVW, n1 = n - n0;
    const Vec bias0 = bias ? Vec::load_partial(bias, n0) : Vec::zero();
    const Vec bias1 = bias && n1 > 0 ? Vec::load_partial(bias + kVW, n1) : Vec::zero();
    // unrolled like every loop over the accumulators: one indexed by a run-time r makes GCC
    // keep acc0/acc1 in memory for the whole kernel (measured: the stack-spilled kernel took
    // 128x10 @ 10x512 from 13.6 to 17.9 us)
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
      Vec v0 = acc0[r], v1 = acc1[r];
      if (beta != 0.0f) {
        v0 = fmadd(Vec::set1(beta), Vec::load_partial(cr, n0), v0);
        if (n1 > 0) v1 = fmadd(Vec::set1(beta), Vec::load_partial(cr + kVW, n1), v1);
      }
      if (bias) {
        v0 = v0 + bias0;
        v1 = v1 + bias1;
      }
      v0.store_partial(cr, n0);
      if (n1 > 0) v1.store_partial(cr + kVW, n1);
    }
  }
}

// d[k*ds + r] = scale * s_r[k] for the 4 rows s_0..s_3 and k < kc: packs 4 rows of a
// row-major operand into k-major order with 4x4 SSE transposes (4 loads, 8 shuffles, 4 stores
// per 16 floats instead of 16 scalar loads and stores). kScaled = false: scale is 1 and the 4
// multiplies are left out (B is never scaled, A only when alpha != 1; the shuffles and
// multiplies share ports: ~2% of 128x512 @ (512x512)^T and of 512x512 @ (128x512)^T on an Intel
// Xeon family 6 model 167).
template <bool kScaled>
inline void pack4_transposed_impl(const float* s0, const float* s1, const float* s2, const float* s3,
                                  int64_t kc, float* d, int64_t ds, float scale) {
  const __m128 vs = _mm_set1_ps(scale);
  const auto scaled = [&](__m128 v) { return kScaled ? _mm_mul_ps(v, vs) : v; };
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    __m128 r0 = _mm_loadu_ps(s0 + k), r1 = _mm_loadu_ps(s1 + k);
    __m128 r2 = _mm_loadu_ps(s2 + k), r3 = _mm_loadu_ps(s3 + k);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(d + (k + 0) * ds, scaled(r0));
    _mm_storeu_ps(d + (k + 1) * ds, scaled(r1));
    _mm_storeu_ps(d + (k + 2) * ds, scaled(r2));
    _mm_storeu_ps(d + (k + 3) * ds, scaled(r3));
  }
  for (; k < kc; ++k) {
    d[k * ds + 0] = scale * s0[k];
    d[k * ds + 1] = scale * s1[k];
    d[k * ds + 2] = scale * s2[k];
    d[k * ds + 3] = scale * s3[k];
  }
}

inline void pack4_transposed(const float* s0, const float* s1, const float* s2, const float* s3,
                      int64_t kc, float* d, int64_t ds, float scale) {
  if (scale == 1.0f)
    pack4_transposed_impl<false>(s0, s1, s2, s3, kc, d, ds, scale);
  else
    pack4_transposed_impl<true>(s0, s1, s2, s3, kc, d, ds, scale);
}

// alpha * rows [0, rows) of a row-major block (row stride lda, kc columns) into one MR-row
// micro-panel d (element (r, k) at d[k * kMR + r]); rows past `rows` are zero. Four rows at a
// time go through the 4 x 4 transposes above.
inline void pack_a_panel(const float* A, int64_t lda, int rows, int64_t kc, float alpha, float* d) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* s0 = A + r * lda;
    pack4_transposed(s0, s0 + lda, s0 + 2 * lda, s0 + 3 * lda, kc, d + r, kMR, alpha);
  }
  for (; r < rows; ++r)
    for (int64_t k = 0; k < kc; ++k) d[k * kMR + r] = alpha * A[r * lda + k];
  for (; r < kMR; ++r)
    for (int64_t k = 0; k < kc; ++k) d[k * kMR + r] = 0.0f;
}

// microkernel<mr, DirectA> for a run-time mr in [1, MR]
template <int MR, bool DirectA = false>
inline void microkernel_rows(int mr, int64_t kc, const float* a, const float* b, float* c,
                             int64_t ldc, int n, float beta, int64_t lda = 0, int64_t ldk = 0,
                             float alpha = 1.0f, int64_t ldb = kNR, const float* bias = nullptr) {
  if (mr == MR) {
    microkernel<MR, DirectA>(kc, a, b, c, ldc, n, beta, lda, ldk, alpha, ldb, bias);
  } else if constexpr (MR > 1) {
    microkernel_rows<MR - 1, DirectA>(mr, kc, a, b, c, ldc, n, beta, lda, ldk, alpha, ldb, bias);
  }
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
