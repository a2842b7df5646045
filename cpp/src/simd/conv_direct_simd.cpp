// Micro-kernels of the direct convolution (see minidl/conv_direct.h for the buffer layout),
// compiled once per instruction set.
//
// forward: an MR x (NV vectors) tile of Y, accumulated over all taps in registers. Per tap it
//   loads NV vectors of the input buffer (unaligned, contiguous: the implicit B panel) and
//   broadcasts MR packed weights. AVX-512: 8 x 3 vectors -> 24 zmm accumulators + 3 loads +
//   1 broadcast of the 32 registers; 8 + 3 loads per 24 FMAs. 8 rows divide the 16/32/64
//   output channels of ResNet layers exactly (the 12-row tile of the GEMM computes 16 rows
//   as 12 + 4, the 4-row tile at a third of the rate).
// weight: a WK x WT tile of dW (output channels x taps), vectors along the output positions;
//   the accumulators stay in registers across all images of a chunk and are reduced
//   horizontally once per tile. AVX-512: 4 x 6 -> 24 accumulators, 4 + 6 loads per 24 FMAs.
#include "minidl/conv_direct.h"
#include "minidl/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int VW = Vec::width;
#if defined(__AVX512F__)
constexpr int kMR = 8, kWK = 4, kWT = 6;
#else
constexpr int kMR = 4, kWK = 2, kWT = 4;  // 16 ymm: 12 (8) accumulators
#endif

template <int NV>
inline void forward_tile(int64_t taps, const float* __restrict w, const int64_t* __restrict toff,
                         const float* __restrict x, float* __restrict y, int64_t ldy) {
  Vec acc[kMR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = Vec::zero();
#pragma GCC unroll 2
  for (int64_t t = 0; t < taps; ++t, w += kMR) {
    const float* src = x + toff[t];
    Vec b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = Vec::load(src + v * VW);
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      const Vec a = Vec::set1(w[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v].store(y + r * ldy + v * VW);
}

void forward(int64_t kblocks, int64_t taps, int64_t Lr, const float* wpk, const int64_t* toff,
             const float* x, float* y, int64_t ldy) {
  // Output chunks outside, weight blocks inside: the input runs a chunk reads (taps of all
  // channels, ~8-20 KiB) stay in L1 while every weight block uses them. Chunks of 3 vectors,
  // the last ones 2 + 2 rather than 3 + 1: a 1-vector tile does 8 broadcasts per 8 FMAs
  // (load-bound), and 64 outputs (8x8 images) would run a quarter of their work in one.
  for (int64_t o = 0; o < Lr;) {
    const int64_t left = (Lr - o) / VW;  // Lr is a multiple of VW
    const int nv = left == 4 || left == 2 ? 2 : left == 1 ? 1 : 3;
    for (int64_t kb = 0; kb < kblocks; ++kb) {
      const float* w = wpk + kb * taps * kMR;
      float* yb = y + kb * kMR * ldy + o;
      if (nv == 3) forward_tile<3>(taps, w, toff, x + o, yb, ldy);
      else if (nv == 2) forward_tile<2>(taps, w, toff, x + o, yb, ldy);
      else forward_tile<1>(taps, w, toff, x + o, yb, ldy);
    }
    o += nv * VW;
  }
}

void weight(int64_t K, int64_t taps, int64_t Lr, int64_t nimg, const float* dy, int64_t dys,
            int64_t ldd, const float* x, int64_t xs, const int64_t* toff, float* gw, int64_t ldw) {
  for (int64_t kb = 0; kb < K; kb += kWK)
    for (int64_t tb = 0; tb < taps; tb += kWT) {
      Vec acc[kWK][kWT];
#pragma GCC unroll 4
      for (int i = 0; i < kWK; ++i)
#pragma GCC unroll 6
        for (int j = 0; j < kWT; ++j) acc[i][j] = Vec::zero();
      for (int64_t n = 0; n < nimg; ++n) {
        const float* d = dy + n * dys + kb * ldd;
        const float* xn = x + n * xs;
        const float* xp[kWT];
#pragma GCC unroll 6
        for (int j = 0; j < kWT; ++j) xp[j] = xn + toff[tb + j];
        for (int64_t o = 0; o < Lr; o += VW) {
          Vec dv[kWK];
#pragma GCC unroll 4
          for (int i = 0; i < kWK; ++i) dv[i] = Vec::load(d + i * ldd + o);
#pragma GCC unroll 6
          for (int j = 0; j < kWT; ++j) {
            const Vec xv = Vec::load(xp[j] + o);
#pragma GCC unroll 4
            for (int i = 0; i < kWK; ++i) acc[i][j] = fmadd(dv[i], xv, acc[i][j]);
          }
        }
      }
      for (int i = 0; i < kWK; ++i)
        for (int j = 0; j < kWT; ++j) gw[(kb + i) * ldw + tb + j] += reduce_add(acc[i][j]);
    }
}

// dst[j] = src[2j] for j < n (the stride-2 phase split of a buffer row), reading src[0, len):
// two vector loads and one two-source permute (AVX-512) or shuffle + lane permute (AVX2) per
// vector of output instead of one scalar load and store per element.
void gather_stride2(const float* src, int64_t len, int64_t n, float* dst) {
  int64_t j = 0;
#if defined(__AVX512F__)
  const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (; j + 16 <= n && 2 * j + 32 <= len; j += 16) {
    const __m512 a = _mm512_loadu_ps(src + 2 * j), b = _mm512_loadu_ps(src + 2 * j + 16);
    _mm512_storeu_ps(dst + j, _mm512_permutex2var_ps(a, idx, b));
  }
#else
  for (; j + 8 <= n && 2 * j + 16 <= len; j += 8) {
    const __m256 a = _mm256_loadu_ps(src + 2 * j), b = _mm256_loadu_ps(src + 2 * j + 8);
    const __m256 e = _mm256_shuffle_ps(a, b, 0x88);  // a0 a2 b0 b2 | a4 a6 b4 b6
    _mm256_storeu_ps(dst + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
  }
#endif
  for (; j < n; ++j) dst[j] = src[2 * j];
}

}  // namespace
extern const ConvDirectSimd conv_direct_simd = {VW, kMR, kWK, kWT, &forward, &weight, &gather_stride2};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
