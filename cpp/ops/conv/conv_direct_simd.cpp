// Forward micro-kernels of the direct convolution (see conv_direct.h for the buffer layout),
// compiled once per instruction set: the per-ISA twin of conv_direct.cpp, which drives them.
// No scalar version of its own: on the scalar set conv.cpp takes the im2col + GEMM path, and
// the results are checked against conv.cpp's reference loops (tests/test_conv_direct.py).
//
// forward: an MR x (NV vectors) tile of Y, accumulated over all taps in registers. Per tap it
//   loads NV vectors of the input buffer (unaligned, each a contiguous run: the implicit B
//   panel; the vectors of a tile may come from different output rows or images, see forward)
//   and broadcasts MR packed weights. AVX-512: 8 x 3 vectors -> 24 zmm accumulators + 3 loads +
//   1 broadcast of the 32 registers; 8 + 3 loads per 24 FMAs. 8 rows divide the 16/32/64
//   output channels of ResNet layers exactly (the 12-row tile of the GEMM computes 16 rows
//   as 12 + 4, the 4-row tile at a third of the rate).
// The weight gradient's kernels are in conv_direct_weight_simd.cpp.
#include <algorithm>

#include "conv_direct.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int VW = Vec::width;
#if defined(__AVX512F__)
constexpr int kMR = 8;
#else
constexpr int kMR = 4;
#endif

// --8<-- [start:forward_tile]
// ROWS (<= kMR) rows of the packed block starting at w (rows kMR apart per tap) x NV vectors;
// vector v reads the input run at x + xo[v] + toff[t] and lands at y + yo[v] (+ r*ldy)
template <int NV, int ROWS = kMR>
// (add = true: accumulate onto y, the partial sum of the previous tap blocks)
inline void forward_tile(int64_t taps, const float* __restrict w, const int64_t* __restrict toff,
                         const float* __restrict x, const int64_t* xo, float* __restrict y, const int64_t* yo,
                         int64_t ldy, bool add) {
  Vec acc[ROWS][NV];
  const float* xv[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) xv[v] = x + xo[v];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = add ? Vec::load(y + r * ldy + yo[v]) : Vec::zero();
#pragma GCC unroll 2
  for (int64_t t = 0; t < taps; ++t, w += kMR) {
    const int64_t off = toff[t];
    Vec b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = Vec::load(xv[v] + off);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      const Vec a = Vec::set1(w[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v].store(y + r * ldy + yo[v]);
}
// --8<-- [end:forward_tile]

void forward(int64_t kblocks, int64_t taps, int64_t L, int64_t row, int64_t row_in, int64_t row_out,
             const float* wpk, const int64_t* toff, const float* x, float* y, int64_t ldy, bool accumulate) {
  // Taps in blocks whose weights (all kblocks) take <= 64 KiB: L2-resident, not L1 (every
  // tile of a block reads its 2-8 KiB weight block once, streaming), and few enough blocks
  // that re-loading and storing the y tiles once per block stays small. The blocks after the
  // first add onto y. Measured (64->64 3x3 @8, batch 32, 1 thread, forward ms, CPU time, best
  // of 5 alternating processes, Xeon family 6 model 167, load 3-4): 16 KiB blocks (64 taps)
  // 1.00-1.02, 32 KiB 0.95-0.98, 64 KiB 0.94, all 576 taps (147 KiB) 0.97; the AVX2 set
  // 1.43 -> 1.36 with 64 KiB; input gradient 1.01 -> 0.97; 32->32 @16 and 16->16 @32 (2-4
  // blocks or one) unchanged. With 128 channels a block still holds 128 taps.
  const int64_t tb_max = std::max<int64_t>(16, 16384 / (kblocks * kMR));
  for (int64_t t0 = 0; t0 < taps; t0 += tb_max) {
    const int64_t nt = std::min(tb_max, taps - t0);
    const bool add = accumulate || t0 > 0;
    // Output chunks outside, weight blocks inside: the input runs a chunk reads stay in L1
    // while every weight block uses them. Chunks of 3 vectors, the last 4 as one chunk rather
    // than 3 + 1: a 1-vector tile does 8 broadcasts per 8 FMAs (load-bound), and 64 outputs
    // (8x8 images) would run a quarter of their work in one.
    for (int64_t o = 0; o < L;) {
      const int64_t left = (L - o) / VW;  // L is a multiple of VW
      const int nv = left == 4 ? 4 : left == 2 ? 2 : left == 1 ? 1 : 3;
      int64_t xo[4], yo[4];  // where each vector of the chunk reads and writes (see conv_direct.h)
      for (int v = 0; v < nv; ++v) {
        const int64_t i = o + v * VW, r = i / row, c = i - r * row;
        xo[v] = r * row_in + c;
        yo[v] = r * row_out + c;
      }
      for (int64_t kb = 0; kb < kblocks; ++kb) {
        const float* w = wpk + (kb * taps + t0) * kMR;
        const int64_t* to = toff + t0;
        float* yb = y + kb * kMR * ldy;
        if (nv == 4) {  // two half blocks of 4 x 4 vectors: 8 loads per 16 FMAs, not 10 (8 x 2)
          forward_tile<4, kMR / 2>(nt, w, to, x, xo, yb, yo, ldy, add);
          forward_tile<4, kMR / 2>(nt, w + kMR / 2, to, x, xo, yb + kMR / 2 * ldy, yo, ldy, add);
        } else if (nv == 3) {
          forward_tile<3>(nt, w, to, x, xo, yb, yo, ldy, add);
        } else if (nv == 2) {
          forward_tile<2>(nt, w, to, x, xo, yb, yo, ldy, add);
        } else {
          forward_tile<1>(nt, w, to, x, xo, yb, yo, ldy, add);
        }
      }
      o += nv * VW;
    }
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

// One plane of the direct-path buffer (see conv_direct.cpp, fill_image):
//   dst[i2][j] = xc[i2*sh + a - ph][j*sw + t] for i2 < Hs, j < Wg (0 outside the H x W plane).
// Called once per (channel, column variant, row phase) so the index ranges and masks are
// worked out once per plane, not per row: the rows are short (8..34 floats) and many
// (C * S * H per image); a libc memcpy + memsets, or an indirect call, per row cost about half
// the multiply-adds at 8x8. At stride 1 a row is one masked load + store per vector (masked
// loads do not fault, so the padding columns are never read). Also measured and slower (batch
// 64, 1 thread, CPU time, 5 alternating rounds, Xeon family 6 model 167, load 5.5): unmasked
// whole-vector copies with the padding zeros stored one by one, 16->16 @32 forward 1.80-2.10
// -> 2.08-2.23 ms; one call per (variant, phase) for all channels instead of one per plane:
// no difference (64->64 @8, 16->16 @32).
void fill_plane(const float* xc, int64_t H, int64_t W, int64_t sh, int64_t a, int64_t ph,
                int64_t Hs, int64_t t, int64_t sw, int64_t Wg, float* dst) {
  const int64_t lo = std::min(Wg, t >= 0 ? int64_t{0} : (-t + sw - 1) / sw);
  const int64_t hi = std::max(lo, std::min(Wg, W - t <= 0 ? int64_t{0} : (W - t - 1) / sw + 1));
  constexpr int kMaxVec = 8;
  const int64_t nj = (Wg + VW - 1) / VW;
  if (sw == 1 && nj <= kMaxVec) {
    // per vector j of a row: lanes to load (inside [lo, hi)) and lanes to store (inside Wg),
    // the same for every row of the plane
#if defined(__AVX512F__)
    __mmask16 lm[kMaxVec], sm[kMaxVec];
#else
    __m256i lm[kMaxVec], sm[kMaxVec];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#endif
    for (int64_t jv = 0; jv < nj; ++jv) {
      const int64_t j = jv * VW;
      const int64_t l = std::max<int64_t>(lo - j, 0), h = std::min<int64_t>(hi - j, VW);
      const int m = static_cast<int>(std::min<int64_t>(VW, Wg - j));
#if defined(__AVX512F__)
      lm[jv] = static_cast<__mmask16>(h > l ? ((1u << h) - 1u) & ~((1u << l) - 1u) : 0u);
      sm[jv] = static_cast<__mmask16>((1u << m) - 1u);
#else
      lm[jv] = h > l ? _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(static_cast<int>(l) - 1)),
                                        _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(h)), lane))
                     : _mm256_setzero_si256();
      sm[jv] = _mm256_cmpgt_epi32(_mm256_set1_epi32(m), lane);
#endif
    }
    for (int64_t i2 = 0; i2 < Hs; ++i2) {
      float* row = dst + i2 * Wg;
      const int64_t i = i2 * sh + a - ph;
      if (i < 0 || i >= H) {
        for (int64_t jv = 0; jv < nj; ++jv)
#if defined(__AVX512F__)
          _mm512_mask_storeu_ps(row + jv * VW, sm[jv], _mm512_setzero_ps());
#else
          _mm256_maskstore_ps(row + jv * VW, sm[jv], _mm256_setzero_ps());
#endif
        continue;
      }
      const float* src = xc + i * W + t;
      for (int64_t jv = 0; jv < nj; ++jv)
#if defined(__AVX512F__)
        _mm512_mask_storeu_ps(row + jv * VW, sm[jv], _mm512_maskz_loadu_ps(lm[jv], src + jv * VW));
#else
        _mm256_maskstore_ps(row + jv * VW, sm[jv], _mm256_maskload_ps(src + jv * VW, lm[jv]));
#endif
    }
    return;
  }
#if defined(__AVX512F__)
  if (sw == 2 && nj <= kMaxVec) {
    // output lanes j..j+15 read src[2j .. 2j+31] (two loads, even lanes kept by a two-source
    // permute); a load lane is enabled iff its column lies in [0, W), so the padding comes out
    // as zeros; masks per vector j, the same for every row
    __mmask16 la[kMaxVec], lb[kMaxVec], sm[kMaxVec];
    const auto range_mask = [](int64_t l, int64_t h) {  // lanes [l, h) of 16
      l = std::max<int64_t>(l, 0);
      h = std::min<int64_t>(h, 16);
      return static_cast<__mmask16>(h > l ? ((1u << h) - 1u) & ~((1u << l) - 1u) : 0u);
    };
    for (int64_t jv = 0; jv < nj; ++jv) {
      const int64_t k0 = 2 * jv * VW;  // src index of lane 0 of the first load
      la[jv] = range_mask(-t - k0, W - t - k0);
      lb[jv] = range_mask(-t - k0 - 16, W - t - k0 - 16);
      sm[jv] = static_cast<__mmask16>((1u << std::min<int64_t>(VW, Wg - jv * VW)) - 1u);
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t i2 = 0; i2 < Hs; ++i2) {
      float* row = dst + i2 * Wg;
      const int64_t i = i2 * sh + a - ph;
      if (i < 0 || i >= H) {
        for (int64_t jv = 0; jv < nj; ++jv) _mm512_mask_storeu_ps(row + jv * VW, sm[jv], _mm512_setzero_ps());
        continue;
      }
      const float* src = xc + i * W + t;
      for (int64_t jv = 0; jv < nj; ++jv) {
        const __m512 va = _mm512_maskz_loadu_ps(la[jv], src + 2 * jv * VW);
        const __m512 vb = _mm512_maskz_loadu_ps(lb[jv], src + 2 * jv * VW + 16);
        _mm512_mask_storeu_ps(row + jv * VW, sm[jv], _mm512_permutex2var_ps(va, even, vb));
      }
    }
    return;
  }
#endif
  for (int64_t i2 = 0; i2 < Hs; ++i2) {
    float* row = dst + i2 * Wg;
    const int64_t i = i2 * sh + a - ph;
    if (i < 0 || i >= H) {
      for (int64_t j = 0; j < Wg; ++j) row[j] = 0.0f;
      continue;
    }
    const float* src = xc + i * W + t;
    for (int64_t j = 0; j < lo; ++j) row[j] = 0.0f;
    if (sw == 1) for (int64_t j = lo; j < hi; ++j) row[j] = src[j];
    else if (sw == 2) gather_stride2(src + 2 * lo, W - t - 2 * lo, hi - lo, row + lo);
    else for (int64_t j = lo; j < hi; ++j) row[j] = src[j * sw];
    for (int64_t j = hi; j < Wg; ++j) row[j] = 0.0f;
  }
}

// rows of dx from their two column phases at stride 2 (conv_direct_phases.cpp, whose scalar loop
// is the reference for this): dst[r ldd + j] = (j even ? even : odd)[r lds + j / 2] for j < n,
// r < rows; a null source reads as zeros. Per 2 vectors of output two loads and two two-source
// permutes (AVX-512) or unpacks + lane permutes (AVX2) instead of a load and a store per
// float; a whole phase's rows per call, the tail masks worked out once (rows are 8..32 floats:
// a call and the masks per row cost as much as the row).
void interleave2(const float* even, const float* odd, int64_t lds, int64_t n, int64_t rows, float* dst,
                 int64_t ldd) {
  const Vec zero = Vec::zero();
#if defined(__AVX512F__)
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const int64_t body = n / 32 * 32, m = n - body;  // m < 32 left: (m + 1) / 2 evens, m / 2 odds
  const auto lanes = [](int64_t k) { return static_cast<__mmask16>(k >= 16 ? 0xFFFFu : (1u << k) - 1u); };
  const __mmask16 me = lanes((m + 1) / 2), mo = lanes(m / 2), m0 = lanes(m), m1 = lanes(m > 16 ? m - 16 : 0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* e = even ? even + r * lds : nullptr;
    const float* o = odd ? odd + r * lds : nullptr;
    float* d = dst + r * ldd;
    for (int64_t j = 0; j < body; j += 32) {
      const __m512 a = e ? _mm512_loadu_ps(e + j / 2) : zero.v, b = o ? _mm512_loadu_ps(o + j / 2) : zero.v;
      _mm512_storeu_ps(d + j, _mm512_permutex2var_ps(a, lo, b));
      _mm512_storeu_ps(d + j + 16, _mm512_permutex2var_ps(a, hi, b));
    }
    if (m) {
      const __m512 a = e ? _mm512_maskz_loadu_ps(me, e + body / 2) : zero.v;
      const __m512 b = o ? _mm512_maskz_loadu_ps(mo, o + body / 2) : zero.v;
      _mm512_mask_storeu_ps(d + body, m0, _mm512_permutex2var_ps(a, lo, b));
      if (m > 16) _mm512_mask_storeu_ps(d + body + 16, m1, _mm512_permutex2var_ps(a, hi, b));
    }
  }
#else
  for (int64_t r = 0; r < rows; ++r) {
    const float* e = even ? even + r * lds : nullptr;
    const float* o = odd ? odd + r * lds : nullptr;
    float* d = dst + r * ldd;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
      const __m256 a = e ? _mm256_loadu_ps(e + j / 2) : zero.v, b = o ? _mm256_loadu_ps(o + j / 2) : zero.v;
      const __m256 l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);  // a0 b0 a1 b1 | a4 b4 a5 b5, ..
      _mm256_storeu_ps(d + j, _mm256_permute2f128_ps(l, h, 0x20));
      _mm256_storeu_ps(d + j + 8, _mm256_permute2f128_ps(l, h, 0x31));
    }
    for (; j < n; ++j) {
      const float* src = j % 2 ? o : e;
      d[j] = src ? src[j / 2] : 0.0f;
    }
  }
#endif
}

}  // namespace
extern const ConvDirectSimd conv_direct_simd = {VW, kMR, &forward, &fill_plane, &interleave2};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
