// Winograd F(4x4, 3x3) float32 convolution: the driver and the scalar (reference) transforms.
// The algorithm, its matrices and the layout of the 36 products: conv_winograd.h.
//
// Per block of images (on one thread):
//   1. each image copied channel-last and zero-padded, xp[row][col][c] (Cp channels a pixel,
//      zeros past C): a tile's 6 x 6 pixels are then 36 contiguous runs of channels, and the
//      transforms work on a vector of channels at a time (conv_winograd_simd.cpp);
//   2. V[xi] = B^T d B for every tile and channel (input_tiles);
//   3. the 36 products M[xi] = V[xi] @ U[xi] in one sgemm_batched call (U: the weights, G g G^T,
//      transformed once per call on the calling thread, in double);
//   4. Y = A^T M A + bias for every tile and output channel (output_tiles) into a channel-last
//      output image, transposed back into y's NCHW planes.
// The images of a block share the GEMMs: an 8x8 image has 4 tiles, too few rows for a GEMM.
//
// Accuracy (max |error| / max |reference| against the float64 reference loops, normal data,
// AVX-512; the direct kernel on the same data in brackets): forward and input gradient
// 5e-6 - 6e-6 at 16..64 channels (1e-6 - 2e-6), weight gradient up to 6.8e-6 (1.3e-6); the
// tolerance tests/test_conv_winograd.py asserts is 2e-5.
//
// Speed (the reason it is a candidate and not the rule): CPU ms, batch 64, 1 thread, min of 25
// alternating rounds, Xeon family 6 model 167 (AVX-512), load 4.4, direct / Winograd / PyTorch 2.13:
//   16->16 @32  forward 2.25 / 2.28 / 3.83  input grad 2.28 / 2.17 / 3.87  weight grad 2.43 / 2.31 / 3.89
//   32->32 @16  forward 2.12 / 1.40 / 2.66  input grad 2.02 / 1.37 / 2.85  weight grad 1.98 / 1.37 / 2.78
//   64->64 @8   forward 2.13 / 1.01 / 2.26  input grad 2.28 / 1.02 / 2.45  weight grad 2.14 / 1.12 / 2.61
// and on the AVX2 set of the same CPU (load 5.2), direct / Winograd: 16->16 @32 3.64 / 3.41,
// 3.59 / 3.34, 3.67 / 3.52; 32->32 @16 3.42 / 2.13, 3.36 / 1.96, 3.25 / 2.24; 64->64 @8
// 3.14 / 1.56, 3.37 / 1.60, 3.55 / 1.92. At 16 channels the products are a quarter of the direct
// kernel's multiply-adds but the transforms and the two channel-last copies (per image the same
// 16K floats in and out at every shape) are not smaller: there the two paths are within the
// tuner's 3% margin on AVX-512, and the tuner decides per CPU (perf at 16->16 @32 with the 8 x 8
// transpose: copies 30-38%, products 26-28%, input transform 20-24%, output 10-13%; the
// 16 x 16 transpose, transpose() below, took ~10% off Winograd there).
//
// Threads (issue 18): the images' blocks run on all threads, and so do the parts around them,
// which ran on the calling thread alone and kept 2 threads at 1.4-1.7x one: the weight
// transform (transform_weights), the weight gradient's zeroing, slot sums and back transform;
// and the blocks split the batch into a multiple of the thread count of (nearly) equal blocks.
// Measured (batch 64, wall ms, median of 6 alternating process pairs of 40-call medians, Xeon
// with AVX-512, 2 cores; before -> after, 1 thread | 2 threads):
//   32->32 @16 forward 1.10 -> 1.07 | 0.62 -> 0.58  input grad 1.10 -> 1.07 | 0.63 -> 0.58
//              weight grad 1.09 -> 1.08 | 0.65 -> 0.57
//   64->64 @8  forward 0.87 -> 0.86 | 0.61 -> 0.49  input grad 0.87 -> 0.85 | 0.62 -> 0.48
//              weight grad 0.87 -> 0.86 | 0.61 -> 0.48
#include "conv_winograd.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "conv_direct.h"
#include "conv_threads.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "ops/gemm/gemm.h"

MINIDL_SIMD_TABLE(minidl::ConvWinogradSimd, conv_winograd_simd)
MINIDL_SIMD_TABLE(minidl::ConvDirectWeightSimd, conv_direct_weight_simd)

namespace minidl {
namespace {

using conv_detail::image_threads;
using conv_detail::over_image_slots;
using conv_detail::over_images;
using conv_detail::reduction_slots;

constexpr int kA = kWinogradAlpha, kM = kWinogradTile, kXi = kWinogradPoints;

// ---- the transforms, scalar (the reference the SIMD versions are tested against) ------------
// --8<-- [start:winograd_transforms]
// 1-D: v = B^T d (6 values, `step` apart), y = A^T m, u = G g; the 2-D transforms apply them
// to the columns and then to the rows of the tile.
inline void input_1d(const float* d, int64_t step, float* v, int64_t vstep) {
  const float d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step];
  v[0] = 4 * d0 - 5 * d2 + d4;
  v[vstep] = (d3 + d4) - 4 * (d1 + d2);
  v[2 * vstep] = (d4 - d3) + 4 * (d1 - d2);
  v[3 * vstep] = (d4 - d2) + 2 * (d3 - d1);
  v[4 * vstep] = (d4 - d2) - 2 * (d3 - d1);
  v[5 * vstep] = 4 * d1 - 5 * d3 + d5;
}

inline void output_1d(const float* m, int64_t step, float* y, int64_t ystep) {
  const float m0 = m[0], m1 = m[step], m2 = m[2 * step], m3 = m[3 * step], m4 = m[4 * step], m5 = m[5 * step];
  y[0] = m0 + (m1 + m2) + (m3 + m4);
  y[ystep] = (m1 - m2) + 2 * (m3 - m4);
  y[2 * ystep] = (m1 + m2) + 4 * (m3 + m4);
  y[3 * ystep] = (m1 - m2) + 8 * (m3 - m4) + m5;
}

// z = A y (4 -> 6 values) and w = G^T s (6 -> 3): the weight gradient's transforms, the
// transposes of output_1d's and weight_1d's
inline void gradient_1d(const float* y, int64_t step, float* z, int64_t zstep) {
  const float y0 = y[0], y1 = y[step], y2 = y[2 * step], y3 = y[3 * step];
  const float s02 = y0 + y2, s13 = y1 + y3, e = y0 + 4 * y2, f = 2 * y1 + 8 * y3;
  z[0] = y0;
  z[zstep] = s02 + s13;
  z[2 * zstep] = s02 - s13;
  z[3 * zstep] = e + f;
  z[4 * zstep] = e - f;
  z[5 * zstep] = y3;
}

// (multiplications by 1/6, 1/12, 1/24 rounded to double, not divisions: the weight transforms
// of a 64 x 64 layer took 28% of a Winograd forward at 8x8 with divisions)
constexpr double kSixth = 1.0 / 6, kTwelfth = 1.0 / 12, kTwentyFourth = 1.0 / 24;

inline void weight_gradient_1d(const double* s, int64_t step, double* w, int64_t wstep) {
  const double s0 = s[0], s1 = s[step], s2 = s[2 * step], s3 = s[3 * step], s4 = s[4 * step], s5 = s[5 * step];
  w[0] = 0.25 * s0 - kSixth * (s1 + s2) + kTwentyFourth * (s3 + s4);
  w[wstep] = kSixth * (s2 - s1) + kTwelfth * (s3 - s4);
  w[2 * wstep] = kSixth * (s3 + s4 - s1 - s2) + s5;
}

inline void weight_1d(const double* g, int64_t step, double* u, int64_t ustep) {
  const double g0 = g[0], g1 = g[step], g2 = g[2 * step];
  u[0] = 0.25 * g0;
  u[ustep] = -kSixth * (g0 + g1 + g2);
  u[2 * ustep] = -kSixth * (g0 - g1 + g2);
  u[3 * ustep] = kTwentyFourth * g0 + kTwelfth * g1 + kSixth * g2;
  u[4 * ustep] = kTwentyFourth * g0 - kTwelfth * g1 + kSixth * g2;
  u[5 * ustep] = g2;
}

void input_tiles_scalar(const float* xp, int64_t Wp, int64_t Cp, int64_t TH, int64_t TW, float* V, int64_t ldv) {
  float d[kA * kA], t[kA * kA], v[kA * kA];
  for (int64_t i = 0; i < TH; ++i)
    for (int64_t j = 0; j < TW; ++j)
      for (int64_t c = 0; c < Cp; ++c) {
        for (int a = 0; a < kA; ++a)
          for (int b = 0; b < kA; ++b) d[a * kA + b] = xp[((kM * i + a) * Wp + kM * j + b) * Cp + c];
        for (int b = 0; b < kA; ++b) input_1d(d + b, kA, t + b, kA);      // B^T d: the columns
        for (int a = 0; a < kA; ++a) input_1d(t + a * kA, 1, v + a * kA, 1);  // (B^T d) B: the rows
        for (int xi = 0; xi < kXi; ++xi) V[xi * ldv + (i * TW + j) * Cp + c] = v[xi];
      }
}

void output_tiles_scalar(const float* M, int64_t ldm, int64_t Kp, int64_t TH, int64_t TW, int64_t P, int64_t Q,
                         const float* bias, float* yp) {
  float m[kA * kA], t[kM * kA], y[kM * kM];
  for (int64_t i = 0; i < TH; ++i)
    for (int64_t j = 0; j < TW; ++j)
      for (int64_t k = 0; k < Kp; ++k) {
        for (int xi = 0; xi < kXi; ++xi) m[xi] = M[xi * ldm + (i * TW + j) * Kp + k];
        for (int b = 0; b < kA; ++b) output_1d(m + b, kA, t + b, kA);    // A^T m
        for (int a = 0; a < kM; ++a) output_1d(t + a * kA, 1, y + a * kM, 1);  // (A^T m) A
        for (int a = 0; a < kM && kM * i + a < P; ++a)
          for (int b = 0; b < kM && kM * j + b < Q; ++b)
            yp[((kM * i + a) * Q + kM * j + b) * Kp + k] = y[a * kM + b] + bias[k];
      }
}
void gradient_tiles_scalar(const float* dyp, int64_t Wq, int64_t Kp, int64_t TH, int64_t TW, float* D, int64_t ldd) {
  float y[kM * kM], t[kA * kM], z[kA * kA];
  for (int64_t i = 0; i < TH; ++i)
    for (int64_t j = 0; j < TW; ++j)
      for (int64_t k = 0; k < Kp; ++k) {
        for (int a = 0; a < kM; ++a)
          for (int b = 0; b < kM; ++b) y[a * kM + b] = dyp[((kM * i + a) * Wq + kM * j + b) * Kp + k];
        for (int b = 0; b < kM; ++b) gradient_1d(y + b, kM, t + b, kM);    // A y
        for (int a = 0; a < kA; ++a) gradient_1d(t + a * kM, 1, z + a * kA, 1);  // (A y) A^T
        for (int xi = 0; xi < kXi; ++xi) D[xi * ldd + (i * TW + j) * Kp + k] = z[xi];
      }
}
// --8<-- [end:winograd_transforms]

// the 36 products on the project's GEMM
void products_gemm(int64_t T, int64_t Cp, int64_t Kp, const float* V, int64_t ldv, const float* U, float* M,
                   int64_t ldm) {
  sgemm_batched(false, false, kXi, T, Kp, Cp, 1.0f, V, Cp, ldv, U, Kp, Cp * Kp, 0.0f, M, Kp, ldm);
}

// S[xi] (Kp x Cp) += D[xi]^T @ V[xi]
void weight_products_gemm(int64_t T, int64_t Cp, int64_t Kp, const float* D, int64_t ldd, const float* V, int64_t ldv,
                          float* S) {
  sgemm_batched(true, false, kXi, Kp, Cp, T, 1.0f, D, Kp, ldd, V, Cp, ldv, 1.0f, S, Cp, Kp * Cp);
}

const ConvWinogradSimd kScalar = {1, &input_tiles_scalar, &output_tiles_scalar, &products_gemm,
                                  &gradient_tiles_scalar, &weight_products_gemm, nullptr};

const ConvWinogradSimd& kernels() {
  const ConvWinogradSimd* simd = conv_winograd_simd_active();
  return simd ? *simd : kScalar;
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols: the channel-last copies of x and dY
// and the way back to y's planes. AVX-512 with whole 16 x 16 blocks: conv_winograd_simd.cpp's
// zmm transpose, whose stores fill whole 64-byte lines; otherwise the direct weight gradient's
// 8 x 8 ymm blocks. Measured (Winograd at 16->16 @32, batch 64, 1 thread, CPU ms, min of 25,
// two alternating process pairs, Xeon family 6 model 167, load 3.8): forward 2.95, 2.77 -> 2.47,
// 2.30; input gradient 2.94, 2.72 -> 2.44, 2.27; weight gradient 2.54, 2.33 -> 2.34, 2.18. The
// same at 32->32 @16 and 64->64 @8 (forward, C++ driver, 300 calls: 0.43-0.45 s and 0.36-0.37 s
// either way), and slower where a block would be half empty (8-pixel rows of 8x8 images: 0.19
// vs 0.17 s for 150 calls), hence whole blocks only.
void transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd) {
  if (const ConvWinogradSimd* simd = conv_winograd_simd_active())
    if (simd->transpose && rows >= 16 && cols >= 16) return simd->transpose(src, rows, cols, lds, dst, ldd);
  if (const ConvDirectWeightSimd* simd = conv_direct_weight_simd_active())
    return simd->transpose(src, rows, cols, lds, dst, ldd);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

// Sizes of one forward-form convolution (s: x (N, C, H, W) -> y (N, K, P, Q)).
struct Plan {
  int64_t Cp, Kp;       // channels rounded up to the vector width
  int64_t TH, TW;       // tiles per column and row: ceil(P / 4), ceil(Q / 4)
  int64_t Hp, Wp;       // the padded channel-last copy: 4 TH + 2 rows of 4 TW + 2 pixels
  int64_t tiles;        // per image
  int64_t per_block;    // images per block (sharing the 36 GEMMs)
  int64_t block_tiles;  // tiles of a full block
  int64_t scratch;      // floats per thread: xp, V, M and the channel-last output
};

// Images per block: enough tiles that V and M of the block take about kBlockFloats (1 MiB:
// the products read V and write M while they are in L2; 2 MiB L2 on the Xeon this was written
// on, 1-1.25 MiB on other server cores), at least one image. Measured (forward ms, batch 64, 1
// thread, min of 15, Xeon family 6 model 167, load 7-9, two runs each), 256 KiB / 1 MiB / 4 MiB:
// 16->16 @32 2.85, 2.70 / 2.50, 2.63 / 3.21; 32->32 @16 1.60, 1.48 / 1.38, 1.36 / 2.07;
// 64->64 @8 1.27, 1.37 / 1.28, 1.44 / 1.55.
constexpr int64_t kBlockFloats = int64_t(1) << 18;

// (threads > 1: at most a quarter of a thread's share of the batch per block, so that blocks,
// handed out whole, split the batch evenly: 64 images of 8x8 at 64 channels made 5 blocks of 14
// and 8 images, 3 blocks for one thread and 2 for the other)
Plan make_plan(const ConvShape& s, int vw, int threads = 1) {
  Plan p;
  p.Cp = round_up(s.C, vw);
  p.Kp = round_up(s.K, vw);
  p.TH = (s.P + kM - 1) / kM;
  p.TW = (s.Q + kM - 1) / kM;
  p.Hp = kM * p.TH + 2;
  p.Wp = kM * p.TW + 2;
  p.tiles = p.TH * p.TW;
  const int64_t per_tile = kXi * (p.Cp + p.Kp);
  p.per_block = std::max<int64_t>(1, std::min<int64_t>(s.N, kBlockFloats / (per_tile * p.tiles)));
  if (threads > 1) p.per_block = std::max<int64_t>(1, std::min(p.per_block, s.N / (4 * threads)));
  p.block_tiles = p.per_block * p.tiles;
  // (the last part: the forward's channel-last output, P x Q pixels, or the weight gradient's
  // channel-last dY, 4 TH x 4 TW)
  p.scratch = p.Hp * p.Wp * p.Cp + p.block_tiles * per_tile + kM * p.TH * kM * p.TW * p.Kp;
  return p;
}

// xp = image xn (C planes of H x W) channel-last (Cp floats a pixel) at row ph, column pw of an
// Hp x Wp grid, zeros elsewhere (the convolution's padding, the bottom and right tiles'
// overhang, channels >= C)
void pack_image(const float* xn, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw, int64_t Hp, int64_t Wp,
                int64_t Cp, float* xp) {
  const int64_t row = Wp * Cp;
  if (Cp != C) {
    std::memset(xp, 0, sizeof(float) * Hp * row);
  } else {
    std::memset(xp, 0, sizeof(float) * ph * row);
    std::memset(xp + (ph + H) * row, 0, sizeof(float) * (Hp - ph - H) * row);
    for (int64_t i = ph; i < ph + H; ++i) {
      std::memset(xp + i * row, 0, sizeof(float) * pw * Cp);
      std::memset(xp + i * row + (pw + W) * Cp, 0, sizeof(float) * (Wp - pw - W) * Cp);
    }
  }
  for (int64_t i = 0; i < H; ++i) transpose(xn + i * W, C, W, H * W, xp + (i + ph) * row + pw * Cp, Cp);
}

// y = the convolution of x (forward form: s's N, C, H, W, K, padding; 3x3, stride 1) with the
// transformed weights U (kXi x Cp x Kp) plus bias (Kp floats)
void winograd_convolve(const ConvShape& s, const float* x, const float* U, const float* bias, float* y) {
  const ConvWinogradSimd& k = kernels();
  const int nt = image_threads(s);
  const Plan p = make_plan(s, k.vw, nt);
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  const int64_t ldv = p.block_tiles * p.Cp, ldm = p.block_tiles * p.Kp;
  const auto blocks = [&](int, int64_t n0, int64_t n1) {
    float* xp = conv_direct_scratch_floats(p.scratch);
    float* V = xp + p.Hp * p.Wp * p.Cp;
    float* M = V + kXi * ldv;
    float* yp = M + kXi * ldm;
    for (int64_t b0 = n0; b0 < n1; b0 += p.per_block) {
      const int64_t nb = std::min(p.per_block, n1 - b0);
      for (int64_t i = 0; i < nb; ++i) {
        pack_image(x + (b0 + i) * s.C * HW, s.C, s.H, s.W, s.pad_h, s.pad_w, p.Hp, p.Wp, p.Cp, xp);
        k.input_tiles(xp, p.Wp, p.Cp, p.TH, p.TW, V + i * p.tiles * p.Cp, ldv);
      }
      // M[xi] (tiles x Kp) = V[xi] (tiles x Cp) @ U[xi] (Cp x Kp), xi < 36
      k.products(nb * p.tiles, p.Cp, p.Kp, V, ldv, U, M, ldm);
      for (int64_t i = 0; i < nb; ++i) {
        k.output_tiles(M + i * p.tiles * p.Kp, ldm, p.Kp, p.TH, p.TW, s.P, s.Q, bias, yp);
        transpose(yp, PQ, s.K, p.Kp, y + (b0 + i) * s.K * PQ, PQ);
      }
    }
  };
  if (nt <= 1) return over_images(s, nt, p.per_block, blocks);
  // threads: a multiple of nt blocks of (nearly) equal size, not blocks of per_block images and
  // a short last one (64 images of 32->32 @16 at 7 a block: 35 images on one thread, 29 on the
  // other)
  const int64_t nblocks = (s.N + p.per_block * nt - 1) / (p.per_block * nt) * nt;
  over_image_slots(s, nt, int(nblocks), p.per_block, blocks);
}

// U[xi][c][k] = (G g G^T)[xi] of g = w[k][c] (flip: g = w[c][k] rotated by 180 degrees, the
// input gradient's kernel; w then holds C' = K kernels of K' = C channels), in double, zeros
// for the padding channels
// (one input channel at a time into `row`, 36 rows of Kp, then copied out: storing each kernel's
// 36 values straight into U wrote 36 lines Cp*Kp floats apart, one L1 set, per kernel; measured 27%
// of a Winograd forward at 64->64 @8, batch 64, that way)
// The input channels are split between threads (each writes its own rows of U: the same bits at
// any thread count). Run on the calling thread alone it was the serial part that kept the
// Winograd convolutions from scaling: forward at 64->64 @8, batch 64, 0.79 ms at 1 thread, 0.58
// at 2 (the numbers after the change: "Threads" at the top of the file).
void transform_weights(const ConvShape& s, const float* w, bool flip, int64_t Cp, int64_t Kp, std::vector<float>& U) {
  U.resize(size_t(kXi * Cp * Kp));
  float* out = U.data();
  // (about 0.1 us a kernel: below ~50 us of work the fork would cost more than it saves)
  parallel_for(Cp, std::max<int64_t>(1, 512 / std::max<int64_t>(1, s.K)), [&](int64_t c0, int64_t c1) {
    std::vector<float> row(size_t(kXi * Kp), 0.0f);
    double g[9], t[kA * 3], u[kXi];
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t k = 0; c < s.C && k < s.K; ++k) {
        const float* src = flip ? w + (c * s.K + k) * 9 : w + (k * s.C + c) * 9;
        for (int r = 0; r < 9; ++r) g[r] = flip ? src[8 - r] : src[r];
        for (int b = 0; b < 3; ++b) weight_1d(g + b, 3, t + b, 3);  // G g (6 x 3)
        for (int a = 0; a < kA; ++a) weight_1d(t + a * 3, 1, u + a * kA, 1);  // (G g) G^T
        for (int xi = 0; xi < kXi; ++xi) row[xi * Kp + k] = static_cast<float>(u[xi]);
      }
      if (c == s.C) std::fill(row.begin(), row.end(), 0.0f);  // the padding channels: zeros
      for (int xi = 0; xi < kXi; ++xi)
        std::copy(row.begin() + xi * Kp, row.begin() + (xi + 1) * Kp, out + (xi * Cp + c) * Kp);
    }
  });
}

void run(const ConvShape& s, const float* x, const float* w, bool flip, const float* bias, float* y) {
  const int vw = kernels().vw;
  const int64_t Cp = round_up(s.C, vw), Kp = round_up(s.K, vw);
  thread_local std::vector<float> U, b;
  transform_weights(s, w, flip, Cp, Kp, U);
  b.assign(size_t(Kp), 0.0f);
  if (bias) std::copy(bias, bias + s.K, b.begin());
  winograd_convolve(s, x, U.data(), b.data(), y);
}

// gw = the weight gradient (conv_winograd.h): per range of images the sums S (36 x Kp x Cp)
// over its tiles (over_image_slots: deterministic), added up in order at the end and taken back
// through G^T . G in double
void winograd_weight_gradient(const ConvShape& s, const float* gy, const float* x, float* gw) {
  const ConvWinogradSimd& k = kernels();
  const int nt = image_threads(s);
  const Plan p = make_plan(s, k.vw, nt);
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, Hq = kM * p.TH, Wq = kM * p.TW;
  const int64_t ldv = p.block_tiles * p.Cp, ldd = p.block_tiles * p.Kp, ssize = kXi * p.Kp * p.Cp;
  // (no more slots than images: an empty slot would never be zeroed)
  const int slots = int(std::min<int64_t>(reduction_slots(nt, ssize), s.N));
  // (each slot zeroed by the thread that sums into it, at its first block: no serial fill)
  std::unique_ptr<float[]> sums(new float[size_t(slots * ssize)]);  // (not value-initialized)
  // blocks of (nearly) equal size inside a slot's range: 8 images at 7 a block would be 7 + 1
  const int64_t per_slot = (s.N + slots - 1) / slots, chunk = (per_slot + p.per_block - 1) / p.per_block;
  over_image_slots(s, nt, slots, (per_slot + chunk - 1) / chunk, [&](int slot, int64_t n0, int64_t n1) {
    float* xp = conv_direct_scratch_floats(p.scratch);
    float* V = xp + p.Hp * p.Wp * p.Cp;
    float* D = V + kXi * ldv;
    float* dyp = D + kXi * ldd;
    float* S = sums.get() + slot * ssize;
    if (n0 == s.N * slot / slots) std::fill(S, S + ssize, 0.0f);
    for (int64_t b0 = n0; b0 < n1; b0 += p.per_block) {
      const int64_t nb = std::min(p.per_block, n1 - b0);
      for (int64_t i = 0; i < nb; ++i) {
        pack_image(x + (b0 + i) * s.C * HW, s.C, s.H, s.W, s.pad_h, s.pad_w, p.Hp, p.Wp, p.Cp, xp);
        k.input_tiles(xp, p.Wp, p.Cp, p.TH, p.TW, V + i * p.tiles * p.Cp, ldv);
        pack_image(gy + (b0 + i) * s.K * PQ, s.K, s.P, s.Q, 0, 0, Hq, Wq, p.Kp, dyp);
        k.gradient_tiles(dyp, Wq, p.Kp, p.TH, p.TW, D + i * p.tiles * p.Kp, ldd);
      }
      k.weight_products(nb * p.tiles, p.Cp, p.Kp, D, ldd, V, ldv, S);
    }
  });
  // the slots added in order, then taken back, both split between threads (on the calling thread
  // alone this was a serial part: at 64->64 @8, 2 x 147K floats added, 4096 kernels transformed
  // in double). The sums run along i, not per kernel: a kernel's 36 values lie
  // Kp Cp floats apart (4 KiB at 32 channels, one L1 set), and reading them across 8 slots per
  // kernel made the 32->32 @16 weight gradient at 2 threads 13% slower than the serial sum.
  if (slots > 1)
    parallel_for(ssize, 16384, [&](int64_t i0, int64_t i1) {
      for (int t = 1; t < slots; ++t)
        for (int64_t i = i0; i < i1; ++i) sums[i] += sums[t * ssize + i];
    });
  parallel_for(s.K, std::max<int64_t>(1, 512 / std::max<int64_t>(1, s.C)), [&](int64_t k0, int64_t k1) {
    double u[kXi], g[3 * kA], w[9];
    for (int64_t kk = k0; kk < k1; ++kk)
      for (int64_t c = 0; c < s.C; ++c) {
        for (int xi = 0; xi < kXi; ++xi) u[xi] = sums[(xi * p.Kp + kk) * p.Cp + c];
        for (int b = 0; b < kA; ++b) weight_gradient_1d(u + b, kA, g + b, kA);  // G^T S: 3 x 6
        for (int a = 0; a < 3; ++a) weight_gradient_1d(g + a * kA, 1, w + a * 3, 1);  // (G^T S) G
        for (int r = 0; r < 9; ++r) gw[(kk * s.C + c) * 9 + r] = static_cast<float>(w[r]);
      }
  });
}

}  // namespace

bool conv_winograd_available(const ConvShape& s) {
  if (s.R != 3 || s.S != 3 || s.stride_h != 1 || s.stride_w != 1 || s.dil_h != 1 || s.dil_w != 1 || s.groups != 1 ||
      s.pad_h > 2 || s.pad_w > 2)
    return false;
  // the per-thread buffers of both directions within the direct path's bound times 4 (16 MiB):
  // one image of the largest shapes (a 224 x 224 image with 64 channels) still fits
  const int vw = kernels().vw;
  ConvShape back = s;
  back.C = s.K, back.K = s.C, back.H = s.P, back.W = s.Q, back.P = s.H, back.Q = s.W;
  return std::max(make_plan(s, vw).scratch, make_plan(back, vw).scratch) <= 4 * kDirectMaxBufferFloats;
}

void conv2d_winograd_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  run(s, x, w, false, bias, y);
}

void conv2d_winograd_backward_input(const ConvShape& s, const float* gy, const float* w, float* gx,
                                    const float* start) {
  // dx = the stride-1 convolution of dy (K channels, P x Q) with the rotated, transposed kernel
  // and padding 2 - p, whose output is H x W; start is its bias
  ConvShape back = s;
  back.C = s.K, back.K = s.C, back.H = s.P, back.W = s.Q;
  back.pad_h = 2 - s.pad_h, back.pad_w = 2 - s.pad_w;
  back.P = s.H, back.Q = s.W;
  run(back, gy, w, true, start, gx);
}

void conv2d_winograd_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw) {
  winograd_weight_gradient(s, gy, x, gw);
}

}  // namespace minidl
