// Register-blocked SGEMM micro-kernel and the 4-row packing transpose (included only by
// gemm_simd.cpp and gemm_packed_simd.cpp, compiled per ISA).
//
// The micro-kernel computes one MR x NR tile of C from a packed A micro-panel (MR rows, kc
// columns, stored k-major: a[k*kMR + r]) and a packed B micro-panel (kc rows of NR floats:
// b[k*kNR + j]). Per k it loads kNV vectors of B, broadcasts MR values of A and does kNV*MR
// FMAs into accumulators that never leave registers:
//   AVX-512: 6 x 64 -> 24 zmm accumulators + 4 for B + 1 broadcast (of 32 zmm). 24 FMAs per
//            k, 10 loads (4 vector + 6 broadcast), 34 instructions per 24 FMAs; 24 independent
//            chains cover the 4-cycle FMA latency x 2 pipes = 8 in flight. It replaced 12 x 32
//            (2 vector loads + 12 broadcasts, 38 instructions), which ran at 84-86% of the FMA
//            peak on L1-resident panels while AVX2's 6 x 16 reached 95-100%, and measured faster
//            in copies of the loop nest (bench/cpp/bench_gemm_microkernel.cpp has the variants
//            tried). On L1-resident panels alone 6 x 64 runs at the same 86% (191-194 GFLOP/s
//            at kc = 160 and 512); the gain is in the whole products (Intel Xeon family 6 model 167,
//            1 thread, CPU time, min of 7 runs in each of 4 processes per build, the builds
//            alternating, load average 2.5): the GPT block's twelve products together 113.2 ->
//            107.2 ms (5%; each 0-12% faster but out_proj dW, +2%), 256^3 .. 2048^3 2-7%
//            faster, M x 1024 x 1024 (M = 32 .. 512) 0-9%, the GPT block's training step
//            187 -> 174 ms, an LSTM (H = 256) step 2-3%, with the model's blocks for the new
//            tile. 8 x 48 (35 instructions), tried first with the old blocks,
//            gained on the squares too but lost 3-8% where N = 256 (the GPT block's
//            out_proj, dX, dW): 256 is not a multiple of 48, the last panel is two thirds
//            padding. 64 divides the layer widths models use (256, 768, 1024, 4096).
//   AVX2:     6 x 16 -> 12 ymm accumulators + 2 for B + 1 broadcast (of 16 ymm).
// Tiles with fewer than kMR rows use the same template with MR < kMR (the panel stride stays
// kMR); tiles narrower than kNR compute only the vectors they need, at least two
// (microkernel_rows; B is zero-padded to kNR) and are stored masked.
#pragma once
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int kVW = Vec::width;
#if defined(__AVX512F__)
constexpr int kNV = 4;  // vectors per tile row: 6 x 64, see the top of the file
constexpr int kMR = 6;
#else
constexpr int kNV = 2;
constexpr int kMR = 6;
#endif
constexpr int kNR = kNV * kVW;

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
template <int MR, bool DirectA = false, int NV = kNV>
inline void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b,
                        float* __restrict c, int64_t ldc, int n, float beta, int64_t lda = 0,
                        int64_t ldk = 0, float alpha = 1.0f, int64_t ldb = kNR,
                        const float* __restrict bias = nullptr) {
  Vec acc[MR][NV];
  // Every cache line of the tile's C rows is prefetched while the k loop runs: a row of kNR
  // floats starting on a 64-byte boundary covers the lines at its 16-float steps; one that
  // does not start on a boundary reaches one line further, which its last float asks for.
  // NumPy's arrays (glibc malloc) start 16 bytes past a line here, PyTorch's on one. Measured
  // (Intel Xeon family 6 model 167, 1 thread, C 16 bytes past a line, min of 15 runs paired in
  // one process, load average 5; the 12 x 32 tile): the GPT block's products with C streamed
  // through memory (4096 rows) 0-7% faster, e.g. 4096 x 256 @ (1024 x 256)^T 13.07 -> 12.41 ms,
  // 4096 x 256 @ 256 x 1024 13.47 -> 12.59; a C that stays in L2 (256 x 1024, K = 4096) within
  // the noise; an aligned C never takes the branch.
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = Vec::zero();
    const float* cr = c + r * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV * kVW; j += 16) _mm_prefetch(reinterpret_cast<const char*>(cr + j), _MM_HINT_T0);
    if (reinterpret_cast<uintptr_t>(cr) & 63) _mm_prefetch(reinterpret_cast<const char*>(cr + NV * kVW - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = Vec::load(b + v * kVW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const Vec ar = Vec::set1(DirectA ? a[r * lda] : a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(ar, bv[v], acc[r][v]);
    }
    a += DirectA ? ldk : kMR;
    b += ldb;
  }
// --8<-- [end:microkernel]
  if (DirectA && alpha != 1.0f) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = acc[r][v] * Vec::set1(alpha);
  }
  if (n == NV * kVW) {
    // the bias is added after beta * C, in the order the unfused addmm (C = bias, then beta = 1)
    // added it: the same bits either way
    Vec biasv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) biasv[v] = bias ? Vec::load(bias + v * kVW) : Vec::zero();
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        Vec x = acc[r][v];
        if (beta == 1.0f)
          x = x + Vec::load(cr + v * kVW);
        else if (beta != 0.0f)
          x = fmadd(Vec::set1(beta), Vec::load(cr + v * kVW), x);
        if (bias) x = x + biasv[v];
        x.store(cr + v * kVW);
      }
    }
  } else {  // partial tile: nv[v] columns in vector v (0 past n)
    int nv[NV];
    Vec biasv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int left = n - v * kVW;
      nv[v] = left < 0 ? 0 : left < kVW ? left : kVW;
      biasv[v] = bias && nv[v] > 0 ? Vec::load_partial(bias + v * kVW, nv[v]) : Vec::zero();
    }
    // unrolled like every loop over the accumulators: one indexed by a run-time r makes GCC
    // keep the accumulators in memory for the whole kernel (measured: the stack-spilled kernel
    // took 128x10 @ 10x512 from 13.6 to 17.9 us)
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        if (nv[v] == 0) continue;
        Vec x = acc[r][v];
        if (beta != 0.0f) x = fmadd(Vec::set1(beta), Vec::load_partial(cr + v * kVW, nv[v]), x);
        if (bias) x = x + biasv[v];
        x.store_partial(cr + v * kVW, nv[v]);
      }
    }
  }
}

// d[0 : kNR] = s[0 : n] followed by kNR - n zeros (0 < n <= kNR): one row of a B micro-panel
// whose source row has only n columns left
inline void store_padded_row(const float* s, int n, float* d) {
#pragma GCC unroll 4
  for (int v = 0; v < kNV; ++v) {
    const int left = n - v * kVW;
    (left >= kVW ? Vec::load(s + v * kVW) : left > 0 ? Vec::load_partial(s + v * kVW, left) : Vec::zero())
        .store(d + v * kVW);
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

// microkernel<mr, DirectA, NV> for a run-time mr in [1, MR]
template <int MR, bool DirectA, int NV>
inline void microkernel_rows_nv(int mr, int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int n,
                                float beta, int64_t lda, int64_t ldk, float alpha, int64_t ldb, const float* bias) {
  if (mr == MR) {
    microkernel<MR, DirectA, NV>(kc, a, b, c, ldc, n, beta, lda, ldk, alpha, ldb, bias);
  } else if constexpr (MR > 1) {
    microkernel_rows_nv<MR - 1, DirectA, NV>(mr, kc, a, b, c, ldc, n, beta, lda, ldk, alpha, ldb, bias);
  }
}

// The tile for mr (<= MR) rows and n (<= kNR) columns: a panel whose last columns are zero
// padding runs only the vectors it needs, at least two (a panel of B keeps its kNR stride;
// the kernel reads the first NV vectors of each row). Without this AVX-512's 64-wide tile
// computed 24 or 32 columns at the cost of 64: measured (Intel Xeon family 6 model 167,
// 1 thread) 128x512 @ (32x512)^T and 512x256 @ (24x256)^T 1.8x slower than the 12 x 32 tile
// before it.
template <int MR, bool DirectA = false>
inline void microkernel_rows(int mr, int64_t kc, const float* a, const float* b, float* c,
                             int64_t ldc, int n, float beta, int64_t lda = 0, int64_t ldk = 0,
                             float alpha = 1.0f, int64_t ldb = kNR, const float* bias = nullptr) {
  if constexpr (kNV > 2) {
    if (n <= 2 * kVW) {
      microkernel_rows_nv<MR, DirectA, 2>(mr, kc, a, b, c, ldc, n, beta, lda, ldk, alpha, ldb, bias);
      return;
    }
    if (kNV > 3 && n <= 3 * kVW) {
      microkernel_rows_nv<MR, DirectA, (kNV > 3 ? 3 : kNV)>(mr, kc, a, b, c, ldc, n, beta, lda, ldk, alpha, ldb,
                                                             bias);
      return;
    }
  }
  microkernel_rows_nv<MR, DirectA, kNV>(mr, kc, a, b, c, ldc, n, beta, lda, ldk, alpha, ldb, bias);
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
