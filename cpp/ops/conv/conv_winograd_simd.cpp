// Winograd F(4x4, 3x3) tile transforms (conv_winograd.h), one vector of channels at a time,
// compiled once per instruction set: the per-ISA twin of the scalar input_tiles_scalar /
// output_tiles_scalar of conv_winograd.cpp, the same formulas on Vec instead of float, and
// tested against them (tests/test_conv_winograd.py runs both sets).
//
// The images are channel-last (conv_winograd.cpp copies them so), so the 36 pixels of a tile
// are 36 vector loads and every lane does the same arithmetic for its own channel; no shuffles.
// The 2-D transform goes through a 6 x 6 array of vectors on the stack (the columns' results,
// then the rows'): 36 + 36 live vectors would not fit the 32 registers anyway.
#include "conv_winograd.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int VW = Vec::width;
constexpr int kA = kWinogradAlpha, kM = kWinogradTile;

// v = B^T d, y = A^T m (conv_winograd.h): the scalar input_1d / output_1d of conv_winograd.cpp
inline void input_1d(const Vec* d, int step, Vec* v, int vstep) {
  const Vec four = Vec::set1(4.0f), five = Vec::set1(5.0f), two = Vec::set1(2.0f);
  const Vec d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step];
  v[0] = fnmadd(five, d2, fmadd(four, d0, d4));
  v[vstep] = fnmadd(four, d1 + d2, d3 + d4);
  v[2 * vstep] = fmadd(four, d1 - d2, d4 - d3);
  v[3 * vstep] = fmadd(two, d3 - d1, d4 - d2);
  v[4 * vstep] = fnmadd(two, d3 - d1, d4 - d2);
  v[5 * vstep] = fnmadd(five, d3, fmadd(four, d1, d5));
}

inline void output_1d(const Vec* m, int step, Vec* y, int ystep) {
  const Vec two = Vec::set1(2.0f), four = Vec::set1(4.0f), eight = Vec::set1(8.0f);
  const Vec m0 = m[0], m1 = m[step], m2 = m[2 * step], m3 = m[3 * step], m4 = m[4 * step], m5 = m[5 * step];
  const Vec s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
  y[0] = m0 + s12 + s34;
  y[ystep] = fmadd(two, d34, d12);
  y[2 * ystep] = fmadd(four, s34, s12);
  y[3 * ystep] = fmadd(eight, d34, d12) + m5;
}

void input_tiles(const float* xp, int64_t Wp, int64_t Cp, int64_t TH, int64_t TW, float* V, int64_t ldv) {
  Vec d[kA * kA], t[kA * kA], v[kA * kA];
  for (int64_t i = 0; i < TH; ++i)
    for (int64_t j = 0; j < TW; ++j) {
      const float* tile = xp + (kM * i * Wp + kM * j) * Cp;
      float* out = V + (i * TW + j) * Cp;
      for (int64_t c = 0; c < Cp; c += VW) {
#pragma GCC unroll 6
        for (int a = 0; a < kA; ++a)
#pragma GCC unroll 6
          for (int b = 0; b < kA; ++b) d[a * kA + b] = Vec::load(tile + (a * Wp + b) * Cp + c);
#pragma GCC unroll 6
        for (int b = 0; b < kA; ++b) input_1d(d + b, kA, t + b, kA);
#pragma GCC unroll 6
        for (int a = 0; a < kA; ++a) input_1d(t + a * kA, 1, v + a * kA, 1);
#pragma GCC unroll 36
        for (int xi = 0; xi < kA * kA; ++xi) v[xi].store(out + xi * ldv + c);
      }
    }
}

void output_tiles(const float* M, int64_t ldm, int64_t Kp, int64_t TH, int64_t TW, int64_t P, int64_t Q,
                  const float* bias, float* yp) {
  Vec m[kA * kA], t[kM * kA], y[kM * kM];
  for (int64_t i = 0; i < TH; ++i)
    for (int64_t j = 0; j < TW; ++j) {
      const float* in = M + (i * TW + j) * Kp;
      const int rows = static_cast<int>(P - kM * i < kM ? P - kM * i : kM);
      const int cols = static_cast<int>(Q - kM * j < kM ? Q - kM * j : kM);
      float* tile = yp + (kM * i * Q + kM * j) * Kp;
      for (int64_t k = 0; k < Kp; k += VW) {
#pragma GCC unroll 36
        for (int xi = 0; xi < kA * kA; ++xi) m[xi] = Vec::load(in + xi * ldm + k);
#pragma GCC unroll 6
        for (int b = 0; b < kA; ++b) output_1d(m + b, kA, t + b, kA);
#pragma GCC unroll 4
        for (int a = 0; a < kM; ++a) output_1d(t + a * kA, 1, y + a * kM, 1);
        const Vec bk = Vec::load(bias + k);
        if (rows == kM && cols == kM) {
#pragma GCC unroll 4
          for (int a = 0; a < kM; ++a)
#pragma GCC unroll 4
            for (int b = 0; b < kM; ++b) (y[a * kM + b] + bk).store(tile + (a * Q + b) * Kp + k);
        } else {
          for (int a = 0; a < rows; ++a)
            for (int b = 0; b < cols; ++b) (y[a * kM + b] + bk).store(tile + (a * Q + b) * Kp + k);
        }
      }
    }
}

// --8<-- [start:winograd_products]
// The 36 products M[xi] (T x Kp) = V[xi] (T x Cp) @ U[xi] (Cp x Kp) in RT x KV tiles (RT tiles x
// KV vectors of output channels) accumulated over all Cp input channels in registers: per
// channel KV loads of U and RT broadcasts of V (embedded in the FMA on AVX-512) for RT*KV FMAs.
// 24 accumulators of 32 registers on AVX-512 (12 of 16 on AVX2), so RT = 24 / KV.
// Why not sgemm_batched (the scalar set's path): the GEMM's micro-tile is 6 x 64 on AVX-512 and
// Kp is 16..64 here, so at 16 output channels it computed 4x the columns it kept, and it packs
// both operands per call. Measured (whole Winograd forward, 1 thread, batch 64, ms, CPU time,
// min of 15 alternating rounds, Xeon family 6 model 167, load 11): sgemm_batched -> this,
// 16->16 @32 2.61 -> 2.23, 32->32 @16 1.21 -> 1.25 (noise), 64->64 @8 1.22 -> 1.10.
constexpr int kAccumulators = VW == 16 ? 24 : 12;

template <int RT, int KV>
inline void product_tile(int64_t Cp, const float* __restrict v, const float* __restrict u, int64_t Kp,
                         float* __restrict m) {
  Vec acc[RT][KV];
#pragma GCC unroll 24
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < KV; ++j) acc[r][j] = Vec::zero();
  for (int64_t c = 0; c < Cp; ++c) {
    Vec b[KV];
#pragma GCC unroll 4
    for (int j = 0; j < KV; ++j) b[j] = Vec::load(u + c * Kp + j * VW);
#pragma GCC unroll 24
    for (int r = 0; r < RT; ++r) {
      const Vec a = Vec::set1(v[r * Cp + c]);
#pragma GCC unroll 4
      for (int j = 0; j < KV; ++j) acc[r][j] = fmadd(a, b[j], acc[r][j]);
    }
  }
#pragma GCC unroll 24
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < KV; ++j) acc[r][j].store(m + r * Kp + j * VW);
}

// rows [0, T) of one product, KV vectors of columns from k0
template <int KV>
void product_columns(int64_t T, int64_t Cp, int64_t Kp, const float* v, const float* u, float* m) {
  constexpr int RT = kAccumulators / KV;
  int64_t t = 0;
  for (; t + RT <= T; t += RT) product_tile<RT, KV>(Cp, v + t * Cp, u, Kp, m + t * Kp);
  for (; t < T; ++t) product_tile<1, KV>(Cp, v + t * Cp, u, Kp, m + t * Kp);
}

void products(int64_t T, int64_t Cp, int64_t Kp, const float* V, int64_t ldv, const float* U, float* M,
              int64_t ldm) {
  for (int xi = 0; xi < kA * kA; ++xi) {
    const float* v = V + xi * ldv;
    const float* u = U + xi * Cp * Kp;
    float* m = M + xi * ldm;
    for (int64_t k0 = 0; k0 < Kp; k0 += 4 * VW) {
      const int64_t kv = (Kp - k0) / VW;
      if (kv >= 4) product_columns<4>(T, Cp, Kp, v, u + k0, m + k0);
      else if (kv == 3) product_columns<3>(T, Cp, Kp, v, u + k0, m + k0);
      else if (kv == 2) product_columns<2>(T, Cp, Kp, v, u + k0, m + k0);
      else product_columns<1>(T, Cp, Kp, v, u + k0, m + k0);
    }
  }
}
// --8<-- [end:winograd_products]

// The weight gradient's transform of dY: z = A y (the transpose of output_1d's A^T), 4 -> 6 values
inline void gradient_1d(const Vec* y, int step, Vec* z, int zstep) {
  const Vec two = Vec::set1(2.0f), four = Vec::set1(4.0f), eight = Vec::set1(8.0f);
  const Vec y0 = y[0], y1 = y[step], y2 = y[2 * step], y3 = y[3 * step];
  const Vec s02 = y0 + y2, s13 = y1 + y3, e = fmadd(four, y2, y0), f = fmadd(eight, y3, two * y1);
  z[0] = y0;
  z[zstep] = s02 + s13;
  z[2 * zstep] = s02 - s13;
  z[3 * zstep] = e + f;
  z[4 * zstep] = e - f;
  z[5 * zstep] = y3;
}

void gradient_tiles(const float* dyp, int64_t Wq, int64_t Kp, int64_t TH, int64_t TW, float* D, int64_t ldd) {
  Vec y[kM * kM], t[kA * kM], z[kA * kA];
  for (int64_t i = 0; i < TH; ++i)
    for (int64_t j = 0; j < TW; ++j) {
      const float* tile = dyp + (kM * i * Wq + kM * j) * Kp;
      float* out = D + (i * TW + j) * Kp;
      for (int64_t k = 0; k < Kp; k += VW) {
#pragma GCC unroll 4
        for (int a = 0; a < kM; ++a)
#pragma GCC unroll 4
          for (int b = 0; b < kM; ++b) y[a * kM + b] = Vec::load(tile + (a * Wq + b) * Kp + k);
#pragma GCC unroll 4
        for (int b = 0; b < kM; ++b) gradient_1d(y + b, kM, t + b, kM);   // A y: 6 x 4
#pragma GCC unroll 6
        for (int a = 0; a < kA; ++a) gradient_1d(t + a * kM, 1, z + a * kA, 1);  // (A y) A^T: 6 x 6
#pragma GCC unroll 36
        for (int xi = 0; xi < kA * kA; ++xi) z[xi].store(out + xi * ldd + k);
      }
    }
}

// S[xi] (Kp x Cp) += D[xi]^T (Kp x T) @ V[xi] (T x Cp): KR x CV tiles (KR output channels x CV
// vectors of input channels) summed over the T tiles in registers; per tile CV loads of V and
// KR broadcasts of D. KR divides Kp (a multiple of VW) and KR * CV <= 16 (AVX-512) / 8 (AVX2)
// accumulators.
template <int KR, int CV>
inline void weight_tile(int64_t T, int64_t Cp, int64_t Kp, const float* __restrict d, const float* __restrict v,
                        float* __restrict s) {
  Vec acc[KR][CV];
#pragma GCC unroll 16
  for (int r = 0; r < KR; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < CV; ++j) acc[r][j] = Vec::load(s + r * Cp + j * VW);
  for (int64_t t = 0; t < T; ++t) {
    Vec b[CV];
#pragma GCC unroll 4
    for (int j = 0; j < CV; ++j) b[j] = Vec::load(v + t * Cp + j * VW);
#pragma GCC unroll 16
    for (int r = 0; r < KR; ++r) {
      const Vec a = Vec::set1(d[t * Kp + r]);
#pragma GCC unroll 4
      for (int j = 0; j < CV; ++j) acc[r][j] = fmadd(a, b[j], acc[r][j]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < KR; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < CV; ++j) acc[r][j].store(s + r * Cp + j * VW);
}

template <int CV>
void weight_columns(int64_t T, int64_t Cp, int64_t Kp, const float* d, const float* v, float* s) {
  constexpr int KR = (VW == 16 ? 16 : 8) / (CV == 3 ? 2 : CV);  // 16, 8, 8, 4 (AVX-512)
  int64_t k = 0;
  for (; k + KR <= Kp; k += KR) weight_tile<KR, CV>(T, Cp, Kp, d + k, v, s + k * Cp);
  for (; k < Kp; ++k) weight_tile<1, CV>(T, Cp, Kp, d + k, v, s + k * Cp);
}

void weight_products(int64_t T, int64_t Cp, int64_t Kp, const float* D, int64_t ldd, const float* V, int64_t ldv,
                     float* S) {
  for (int xi = 0; xi < kA * kA; ++xi) {
    const float* d = D + xi * ldd;
    const float* v = V + xi * ldv;
    float* s = S + xi * Kp * Cp;
    for (int64_t c0 = 0; c0 < Cp; c0 += 4 * VW) {
      const int64_t cv = (Cp - c0) / VW;
      if (cv >= 4) weight_columns<4>(T, Cp, Kp, d, v + c0, s + c0);
      else if (cv == 3) weight_columns<3>(T, Cp, Kp, d, v + c0, s + c0);
      else if (cv == 2) weight_columns<2>(T, Cp, Kp, d, v + c0, s + c0);
      else weight_columns<1>(T, Cp, Kp, d, v + c0, s + c0);
    }
  }
}

#if defined(__AVX512F__)
// dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols, in 16 x 16 blocks held in zmm registers
// (16 masked loads, 64 shuffles, 16 masked stores; the 8 x 8 ymm transpose of the direct weight
// gradient does 24 shuffles per 64 floats, and its 8-float stores write a line of y's planes in
// two halves). Measured: conv_winograd.cpp, transpose().
void transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd) {
  for (int64_t r0 = 0; r0 < rows; r0 += 16) {
    const int nr = static_cast<int>(rows - r0 < 16 ? rows - r0 : 16);
    const __mmask16 row_mask = static_cast<__mmask16>((1u << nr) - 1u);
    for (int64_t c0 = 0; c0 < cols; c0 += 16) {
      const int nc = static_cast<int>(cols - c0 < 16 ? cols - c0 : 16);
      const __mmask16 col_mask = static_cast<__mmask16>((1u << nc) - 1u);
      __m512 r[16], t[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i)
        r[i] = i < nr ? _mm512_maskz_loadu_ps(col_mask, src + (r0 + i) * lds + c0) : _mm512_setzero_ps();
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
      }
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        r[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
      }
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m512 v0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
        const __m512 w0 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        const __m512 w1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
        t[j] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        t[j + 8] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
        t[j + 4] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        t[j + 12] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
      }
#pragma GCC unroll 16
      for (int c = 0; c < 16; ++c)
        if (c < nc) _mm512_mask_storeu_ps(dst + (c0 + c) * ldd + r0, row_mask, t[c]);
    }
  }
}
constexpr auto kTranspose = &transpose;
#else
constexpr void (*kTranspose)(const float*, int64_t, int64_t, int64_t, float*, int64_t) = nullptr;
#endif

}  // namespace
extern const ConvWinogradSimd conv_winograd_simd = {VW, &input_tiles, &output_tiles, &products, &gradient_tiles,
                                                    &weight_products, kTranspose};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
