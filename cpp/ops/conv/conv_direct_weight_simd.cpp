// Weight-gradient micro-kernels of the direct convolution (see conv_direct.h for the buffer
// layout), compiled once per instruction set; conv_direct.cpp (conv2d_direct_backward_weight)
// drives them, conv_direct_simd.cpp holds the forward's. No scalar version of their own: the
// results are checked against conv.cpp's reference loops (tests/test_conv_direct.py).
//
// weight: a KV x CT tile of dW (KV vectors of output channels x CT taps), vectors along the
//   output channels, the input broadcast (see weight_tile below); where taps come in runs of
//   three adjacent columns and the channels are 1-2 vectors, a tile that shares each broadcast
//   between the three taps of a run (weight_run_tile).
#include <algorithm>

#include "conv_direct.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int VW = Vec::width;
#if defined(__AVX512F__)
constexpr int kCV = 4, kCT = 6;  // weight: 4 x 6 = 24 zmm accumulators
// weight_run_tile, runs x outputs a step: 6 x 4 on one vector of channels, 3 x 2 on two (18 zmm
// accumulators; 8 x 3 measured 2.35-2.52 ms against 2.01-2.10 for 6 x 4 at 16->16 @32: GCC 12
// spills accumulators there)
constexpr int kRun1CR = 6, kRun1J = 4, kRun2CR = 3, kRun2J = 2, kRunMaxVec = 2;
#else
constexpr int kCV = 2, kCT = 6;  // weight: 12 of the 16 ymm registers
// weight_run_tile on one vector of channels only (12 ymm accumulators): on two, 2 runs x 1
// output a step loads as often as weight_tile<2> and measured slower (16->16 @32: 3.54 ms against
// 3.03-3.23)
constexpr int kRun1CR = 4, kRun1J = 2, kRun2CR = 1, kRun2J = 1, kRunMaxVec = 1;
#endif

// --8<-- [start:weight_tile]
// The weight gradient with vectors along the output channels and the input broadcast. dY of
// one image is packed transposed, dyt[o][k] (o = p*Q + q, Kp channels a row, zero past Kg),
// and a KV x kCT tile (KV vectors of channels x kCT taps) does per output position KV aligned
// loads of dyt and kCT broadcasts of x[toff[t] + p*Wg + q] (embedded in the FMA on AVX-512).
// The accumulators live in gwt[t][k] (tap-major).
// Why this way round: the tile it replaced had vectors along the output positions (dW as a sum
// of dot products), so it reduced its 24 accumulators horizontally once per chunk of images
// (shuffles, on the port of the second 512-bit FMA unit) and loaded 6 unaligned vectors of the
// buffer per 24 FMAs, most split across two cache lines. Measured (1 thread, batch 32, dW ms,
// old -> this, Xeon family 6 model 167, CPU time, best of 8-25 alternating rounds, load ~3):
//   AVX-512: 3->16 @32 0.37 -> 0.37, 16->16 @32 1.32 -> 1.32, 32->32 @16 1.08 -> 0.91,
//            64->64 @8 1.29 -> 0.98, 16->32 s2 @32 0.70 -> 0.65 (PyTorch: 0.48 1.50 1.10 1.05 0.93)
//   AVX2 (same CPU): 0.67 -> 0.41, 2.51 -> 1.56, 2.44 -> 1.49, 2.27 -> 1.58, 1.51 -> 1.13
template <int KV>
inline void weight_tile(int64_t p0, int64_t p1, int64_t Q, int64_t Wg, int64_t Kp, const float* __restrict dyt,
                        const float* __restrict x, const int64_t* __restrict toff, float* __restrict gwt) {
  Vec acc[kCT][KV];
#pragma GCC unroll 6
  for (int j = 0; j < kCT; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < KV; ++i) acc[j][i] = Vec::load(gwt + j * Kp + i * VW);
  const float* xp[kCT];
#pragma GCC unroll 6
  for (int j = 0; j < kCT; ++j) xp[j] = x + toff[j];
  for (int64_t p = p0; p < p1; ++p) {
    const float* d = dyt + p * Q * Kp;
    for (int64_t o = p * Wg, end = o + Q; o < end; ++o, d += Kp) {
      Vec dv[KV];
#pragma GCC unroll 4
      for (int i = 0; i < KV; ++i) dv[i] = Vec::load(d + i * VW);
#pragma GCC unroll 6
      for (int j = 0; j < kCT; ++j) {
        const Vec b = Vec::set1(xp[j][o]);
#pragma GCC unroll 4
        for (int i = 0; i < KV; ++i) acc[j][i] = fmadd(dv[i], b, acc[j][i]);
      }
    }
  }
#pragma GCC unroll 6
  for (int j = 0; j < kCT; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < KV; ++i) acc[j][i].store(gwt + j * Kp + i * VW);
}

// dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols: dY of one image transposed for
// weight(). 8 x 8 blocks in ymm registers (8 loads, 24 shuffles, 8 stores per 64 floats, on
// AVX-512 too) instead of a load and a store per float: the scalar transpose cost
// as much as the tile itself saved where an image has few taps per output (measured 16->32 3x3
// s2 @32 on AVX-512, 144 taps: dW 0.84 ms with the scalar transpose, 0.65 with this one).
inline void transpose8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);      // a0 b0 c0 d0 | a4 b4 c4 d4
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);  // a1 b1 c1 d1 | a5 ..
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + j * ldd, _mm256_permute2f128_ps(r[j], r[j + 4], 0x20));
    _mm256_storeu_ps(dst + (j + 4) * ldd, _mm256_permute2f128_ps(r[j], r[j + 4], 0x31));
  }
}

void transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd) {
  int64_t r0 = 0;
  for (; r0 + 8 <= rows; r0 += 8) {
    int64_t c0 = 0;
    for (; c0 + 8 <= cols; c0 += 8) transpose8x8(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
    for (; c0 < cols; ++c0)
      for (int64_t r = r0; r < r0 + 8; ++r) dst[c0 * ldd + r] = src[r * lds + c0];
  }
  for (; r0 < rows; ++r0)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r0] = src[r0 * lds + c];
}

// --8<-- [end:weight_tile]

// --8<-- [start:weight_run_tile]
// The weight gradient where taps come in runs of three adjacent columns: toff[3g + u] =
// toff[3g] + u for u < 3 (a 3-wide kernel row on the stride-1 grid layout). Tap u of run g at
// output o reads x[toff[3g] + o + u], the value tap u + 1 reads at o - 1, so a step over J
// consecutive outputs of a row needs J + 2 broadcasts per run, not 3 J: a KV x (CR runs x 3)
// tile does per step J*KV loads of dyt, CR*(J + 2) broadcasts and 3*CR*J*KV FMAs.
// Why: with 16 output channels (Kp = one vector) the tile above is KV = 1 x kCT = 6, one
// broadcast and one load per FMA and only 6 accumulators (8 FMAs in flight are needed to hide
// the latency of the two FMA units): weight_tile<1> ran at ~130 GFLOP/s where the forward tile
// runs at ~190 (and an FMA loop at ~225). Measured (3x3 pad 1, batch 64, 1 thread, dW ms, CPU
// time, min of 12, two alternating rounds, Xeon family 6 model 167, load 4.2; PyTorch 2.13 in
// the same run 2.9-3.5, 2.2-2.4, 2.0-2.1):
//   16->16 @32  2.61-2.72 -> 2.10-2.11     32->32 @16  2.00-2.05 -> 1.78-1.83
// 64->64 @8 (shifted layout: no runs; 4 vectors of channels already load 0.4 a FMA) unchanged.
template <int KV, int CR, int J>
__attribute__((always_inline)) inline void weight_run_step(Vec (&acc)[CR][3][KV], const float* __restrict d,
                                                          int64_t Kp, const float* const* xr, int64_t o) {
  Vec dv[J][KV];
#pragma GCC unroll 4
  for (int j = 0; j < J; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < KV; ++i) dv[j][i] = Vec::load(d + j * Kp + i * VW);
#pragma GCC unroll 8
  for (int g = 0; g < CR; ++g)
#pragma GCC unroll 6
    for (int m = 0; m < J + 2; ++m) {
      const Vec b = Vec::set1(xr[g][o + m]);
#pragma GCC unroll 3
      for (int u = 0; u < 3; ++u) {
        const int j = m - u;
        if (j < 0 || j >= J) continue;
#pragma GCC unroll 4
        for (int i = 0; i < KV; ++i) acc[g][u][i] = fmadd(dv[j][i], b, acc[g][u][i]);
      }
    }
}

// columns [q0, q1) of rows [p0, p1), q1 - q0 a multiple of J (the tail of a row is a second
// call with J = 1: a J = 1 step inside the same loop made GCC 12 spill accumulators)
template <int KV, int CR, int J>
void weight_run_tile(int64_t p0, int64_t p1, int64_t q0, int64_t q1, int64_t Q, int64_t Wg, int64_t Kp,
                     const float* __restrict dyt, const float* __restrict x, const int64_t* __restrict toff,
                     float* __restrict gwt) {
  Vec acc[CR][3][KV];
  const float* xr[CR];
#pragma GCC unroll 8
  for (int g = 0; g < CR; ++g) {
    xr[g] = x + toff[3 * g];
#pragma GCC unroll 3
    for (int u = 0; u < 3; ++u)
#pragma GCC unroll 4
      for (int i = 0; i < KV; ++i) acc[g][u][i] = Vec::load(gwt + (3 * g + u) * Kp + i * VW);
  }
  for (int64_t p = p0; p < p1; ++p) {
    const float* d = dyt + (p * Q + q0) * Kp;
    for (int64_t o = p * Wg + q0, end = p * Wg + q1; o < end; o += J, d += J * Kp)
      weight_run_step<KV, CR, J>(acc, d, Kp, xr, o);
  }
#pragma GCC unroll 8
  for (int g = 0; g < CR; ++g)
#pragma GCC unroll 3
    for (int u = 0; u < 3; ++u)
#pragma GCC unroll 4
      for (int i = 0; i < KV; ++i) acc[g][u][i].store(gwt + (3 * g + u) * Kp + i * VW);
}

// taps [0, n) come in runs of three adjacent offsets (weight_run_tile applies to them)
bool runs_of_three(const int64_t* toff, int64_t n) {
  for (int64_t t = 0; t + 3 <= n; t += 3)
    if (toff[t + 1] != toff[t] + 1 || toff[t + 2] != toff[t] + 2) return false;
  return true;
}

void weight(int64_t Kp, int64_t taps, int64_t P, int64_t Q, int64_t Wg, const float* dyt,
                     const float* x, const int64_t* toff, float* gwt) {
  // rows of dY per block: the block's dyt (<= 16 KiB) stays in L1 while every tap tile reads it
  const int64_t rows = std::max<int64_t>(1, 4096 / (Q * Kp));
  const int64_t nvec = Kp / VW;
  // the run tile on up to kRunMaxVec vectors of channels, over the taps that fill whole tiles;
  // the rest (a multiple of kCT) take the tile above
  const int64_t tile_taps = nvec == 1 ? 3 * kRun1CR : 3 * kRun2CR;
  static_assert(kCT == 6, "run_step below is lcm(tile_taps, kCT) for kCT = 6");
  const int64_t run_step = tile_taps % kCT == 0 ? tile_taps : 2 * tile_taps;  // leaves whole kCT tiles
  const int64_t run_taps = nvec <= kRunMaxVec ? taps / run_step * run_step : 0;
  const bool runs = run_taps > 0 && runs_of_three(toff, run_taps);
  for (int64_t p0 = 0; p0 < P; p0 += rows) {
    const int64_t p1 = std::min(P, p0 + rows);
    int64_t t0 = 0;
    if (runs) {
      const int64_t J = nvec == 1 ? kRun1J : kRun2J, qj = Q / J * J;  // columns in steps of J
      for (; t0 < run_taps; t0 += tile_taps) {
        float* g = gwt + t0 * Kp;
        const int64_t* to = toff + t0;
        if (nvec == 1) {
          if (qj > 0) weight_run_tile<1, kRun1CR, kRun1J>(p0, p1, 0, qj, Q, Wg, Kp, dyt, x, to, g);
          if (qj < Q) weight_run_tile<1, kRun1CR, 1>(p0, p1, qj, Q, Q, Wg, Kp, dyt, x, to, g);
        } else if (kRunMaxVec >= 2) {
          if (qj > 0) weight_run_tile<2, kRun2CR, kRun2J>(p0, p1, 0, qj, Q, Wg, Kp, dyt, x, to, g);
          if (qj < Q) weight_run_tile<2, kRun2CR, 1>(p0, p1, qj, Q, Q, Wg, Kp, dyt, x, to, g);
        }
      }
    }
    for (int64_t t = t0; t < taps; t += kCT)
      for (int64_t v = 0; v < nvec; v += kCV) {
        const int64_t kv = std::min<int64_t>(kCV, nvec - v);
        float* g = gwt + t * Kp + v * VW;
        const float* d = dyt + v * VW;
        if (kv == 4) weight_tile<4>(p0, p1, Q, Wg, Kp, d, x, toff + t, g);
        else if (kv == 3) weight_tile<3>(p0, p1, Q, Wg, Kp, d, x, toff + t, g);
        else if (kv == 2) weight_tile<2>(p0, p1, Q, Wg, Kp, d, x, toff + t, g);
        else weight_tile<1>(p0, p1, Q, Wg, Kp, d, x, toff + t, g);
      }
  }
}
// --8<-- [end:weight_run_tile]

}  // namespace
extern const ConvDirectWeightSimd conv_direct_weight_simd = {VW, kCT, &weight, &transpose};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
