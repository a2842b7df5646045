// SGEMM in dot-product form for C = alpha * A @ B^T + beta * C with A (M x K) and B (N x K)
// both row-major, when M or N is small (included only by gemm_simd.cpp, compiled per ISA).
//
// Why a second kernel: with one narrow side the packed Goto/BLIS path of gemm_simd.cpp is
// mostly overhead. C[i, j] = A[i, :] . B[j, :] reads both operands along K, which is where
// they are contiguous, so no packing and no transposes happen; the vector runs along K, so no
// lane is wasted on the narrow side either. The packed path instead pads a 10-column C to the
// 32-column (AVX-512) micro-tile, computing 3.2x the FMAs, and transposes both operands into
// panels first. Measured on an Intel Xeon (family 6 model 167, AVX-512, 1 thread, paired runs
// of bench_gemm_small.py): the classifier layer of an MLP, 128x512 @ (10x512)^T, 42-52 ->
// 10-15 us; a product of its double backward, 10x512 @ (128x512)^T, 33-40 -> 10-13 us (PyTorch:
// 18-29 and 12-20 us in the same runs).
//
// Register tile: R rows of A x S rows of B, R*S vector accumulators, each a partial dot product
// over K in vector-width chunks; per chunk R + S loads feed R*S FMAs. R = S = 4: 16
// accumulators (covering the 4-cycle FMA latency x 2 pipes = 8 chains in flight twice) + 4 A
// + 1 B register = 21 of AVX-512's 32; AVX2 (16 registers) uses R = 2, S = 4: 8 + 2 + 1.
// Each group of 4 accumulators is summed across lanes at the end with a transpose-and-add
// tree (reduce4): ~10 shuffles per 4 dot products instead of 4 x 4 for separate reductions.
// Loop order: the smaller operand is walked in the inner loop, so it stays in L1 (10 rows of
// K = 512 floats: 20 KiB of the 48 KiB L1d), and the larger one streams from memory once.
#pragma once
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
constexpr int kDotR = 4;
#else
constexpr int kDotR = 2;
#endif
constexpr int kDotS = 4;

// (sum of a's lanes, ..., sum of d's lanes) as one 4-float vector
inline __m128 reduce4(Vec a, Vec b, Vec c, Vec d) {
#if defined(__AVX512F__)
  // pairwise: each 128-bit lane then holds partial sums [a, b, c, d]
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a.v, b.v), _mm512_unpackhi_ps(a.v, b.v));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c.v, d.v), _mm512_unpackhi_ps(c.v, d.v));
  const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps(abcd, 1));
#else
  const __m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a.v, b.v), _mm256_unpackhi_ps(a.v, b.v));
  const __m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c.v, d.v), _mm256_unpackhi_ps(c.v, d.v));
  const __m256 h = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));
#endif
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// C[0:R, 0:S] (row stride ldc) = alpha * A[0:R, :] . B[0:S, :] + beta * C; beta == 0 never
// reads C. K >= 1.
template <int R, int S>
inline void dot_tile(int64_t K, const float* __restrict a, int64_t lda, const float* __restrict b,
                     int64_t ldb, float alpha, float beta, float* __restrict c, int64_t ldc) {
  constexpr int W = Vec::width;
  Vec acc[R][kDotS];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int s = 0; s < kDotS; ++s) acc[r][s] = Vec::zero();
  const int64_t k_full = K / W * W;
  const auto step = [&](Vec (&av)[R], int64_t k, int tail) {
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) {
      const Vec bv = tail ? Vec::load_partial(b + s * ldb + k, tail) : Vec::load(b + s * ldb + k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][s] = fmadd(av[r], bv, acc[r][s]);
    }
  };
  for (int64_t k = 0; k < k_full; k += W) {
    Vec av[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) av[r] = Vec::load(a + r * lda + k);
    step(av, k, 0);
  }
  if (k_full < K) {  // the last K % W columns, zero-filled past K
    const int tail = static_cast<int>(K - k_full);
    Vec av[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) av[r] = Vec::load_partial(a + r * lda + k_full, tail);
    step(av, k_full, tail);
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float sums[4];
    _mm_storeu_ps(sums, reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
    float* cr = c + r * ldc;
    for (int s = 0; s < S; ++s) cr[s] = alpha * sums[s] + (beta == 0.0f ? 0.0f : beta * cr[s]);
  }
}

// dot_tile<R, S> for run-time r in [1, R], s in [1, S]
template <int R, int S>
inline void dot_tile_any(int r, int s, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                         float alpha, float beta, float* c, int64_t ldc) {
  if (r < R) {
    if constexpr (R > 1) dot_tile_any<R - 1, S>(r, s, K, a, lda, b, ldb, alpha, beta, c, ldc);
  } else if (s < S) {
    if constexpr (S > 1) dot_tile_any<R, S - 1>(r, s, K, a, lda, b, ldb, alpha, beta, c, ldc);
  } else {
    dot_tile<R, S>(K, a, lda, b, ldb, alpha, beta, c, ldc);
  }
}

// C = alpha * A @ B^T + beta * C, A (M x K, row stride lda), B (N x K, row stride ldb); K >= 1
inline void sgemm_dot(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                      int64_t ldb, float beta, float* C, int64_t ldc) {
  const auto tile = [&](int64_t i, int64_t j) {
    const int r = static_cast<int>(M - i < kDotR ? M - i : kDotR);
    const int s = static_cast<int>(N - j < kDotS ? N - j : kDotS);
    dot_tile_any<kDotR, kDotS>(r, s, K, A + i * lda, lda, B + j * ldb, ldb, alpha, beta, C + i * ldc + j, ldc);
  };
  if (N <= M) {  // B is the small operand: reread from L1 for each block of A rows
    for (int64_t i = 0; i < M; i += kDotR)
      for (int64_t j = 0; j < N; j += kDotS) tile(i, j);
  } else {
    for (int64_t j = 0; j < N; j += kDotS)
      for (int64_t i = 0; i < M; i += kDotR) tile(i, j);
  }
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
