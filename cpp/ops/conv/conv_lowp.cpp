// 16-bit convolution (conv_lowp.h): bfloat16 im2col + the bf16 GEMM (AMX or vdpbf16ps), or widen to float32.
// The same sums as conv.cpp's reference loops with float32 accumulation; tests/cpp/
// test_kernels.cpp checks every path on every kernel set against those loops run in double.
//
// The bf16 path is conv.cpp's im2col + GEMM scheme (blocks of ~256 output positions, whole
// images per thread; see conv.cpp for why) with 16-bit operands and a channels-last column
// matrix col (block x CRS, bf16; see "channels-last im2col" below for why):
//   forward   Y (f32, Kg x block) = W @ col^T (gemm_lowp);  + bias, rounded to bf16 once per
//             block (one vectorized cast of the Kg x block result), rows scattered to NCHW;
//             with Kg = 16, 32 or 64 on AMX transposed, Y^T (block x Kg) = col @ W^T (see kTransposedKg)
//   dx        dcol (f32, block x CRS) = dY^T @ W (gemm_lowp);  col2im adds it into a padded
//             float32 copy of the block's images, rounded to bf16 once per image (several taps
//             add into one pixel: rounding after each add would lose bits R*S times)
//   dw        dW (f32, one partial per range of images) += dY @ col (gemm_lowp, beta = 1), rounded
//             once at the end (the sum over the batch stays float32 all along)
// Why not the direct kernel of conv_direct.cpp (the float32 default): it is an FMA kernel
// with float32 operands in registers; vdpbf16ps needs both operands packed as interleaved k
// pairs, which is exactly gemm_lowp's packing, so the bf16 column block + gemm_lowp gets the
// doubled multiply-add rate with no new micro-kernel. The bf16 column block is half the
// bytes of the float32 one, so the same 256-position blocks stay in L2 with room to spare.
// Measured with bench/python/bench_conv.py --dtype bf16 (forward + dx + dw + db through autograd,
// autocast casts included; 1 thread, Zen 5), minidl fp32 / minidl bf16 / torch bf16 ms:
//   digits CNN 32->64 @4x4, batch 256   3.91 / 1.77 / 1.71    (bf16 GEMM path)
//   64->64 @8x8, batch 32               2.32 / 1.51 / 1.43    (bf16 GEMM path)
//   32->32 @16x16, batch 32             2.16 / 2.03 / 1.57    (bf16 GEMM path)
//   16->16 @32x32, batch 32             2.25 / 2.49 / 2.25    (widened: K/groups < 32)
#include "conv_lowp.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/copy/copy.h"
#include "ops/gemm/gemm_lowp.h"
#include "core/parallel.h"
#include "conv_im2col.h"
#include "conv_threads.h"
#include "conv_tune.h"
#include "core/dispatch.h"

MINIDL_SIMD_TABLE(minidl::conv_lowp_detail::ConvLowpSimd, conv_lowp_simd)

namespace minidl {
namespace {

using namespace conv_detail;

inline float bf16_value(uint16_t v) {  // exact: a bf16 is the top half of a float32
  const uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bool is_depthwise(const ConvShape& s) { return s.groups > 1 && s.groups == s.C && s.K == s.C; }

// The GEMM path needs GEMM-sized operands: measured, 1 thread, batch 256 / 32, bf16 GEMM path
// vs widen + float32 direct path, forward / dx / dw ms (Zen 5):
//   1->32 @8x8 (C*R*S = 9)   0.23 / 0.35 / 0.46  vs  0.15 / 0.73 / 0.16
//   32->64 @4x4              0.51 / 0.57 / 0.55  vs  1.17 / 1.42 / 1.34
//   16->16 @32x32            1.01 / 1.31 / 1.26  vs  0.78 / 0.77 / 0.84
//   64->64 @8x8              0.45 / 0.49 / 0.47  vs  0.73 / 0.73 / 0.85
// With K/groups < 32 the 14-row micro-kernel runs mostly empty rows in the forward and dw
// products, and with C*R*S < 32 the products are all packing.
// The bf16 path also on AMX CPUs, whose gemm_lowp then runs AMX tiles inside each thread's block
// (until issue 18 it required the vdpbf16ps kernel, and AMX CPUs widened every convolution).
// Measured there, 1 thread, forward + backward through autograd, float32 / bfloat16 ms (minima of
// 5 CPU-time runs, Xeon with AMX, load average 10 from other jobs): digits CNN 32->64 @4x4 batch
// 256 6.1 / 2.8 (widened: 6.5), 64->64 @8x8 3.7 / 2.4 (4.2), 32->32 @16x16 4.1 / 3.9 (4.5).
// That rule is the fixed order (md.backends.cpu.benchmark = False); with measurement on, both
// paths are timed on the first convolution of each shape class and direction (conv_tune.cpp),
// since the crossover moves with the CPU: per direction the bf16 GEMM path even wins some of
// the shapes the rule widens (ResNet-20, batch 64, 1 thread, Xeon with AMX, load average 0.4,
// bf16_gemm vs convert_f32 ms: 16->16 @32x32 weight gradient 2.72 vs 3.14).
std::vector<ConvPath> candidates(const ConvShape& s, DType t) {
  if (t != DType::bf16 || is_depthwise(s) || std::strcmp(gemm_lowp_path(DType::bf16), "convert_f32") == 0)
    return {ConvPath::convert_f32};
  if (s.Kg() >= 32 && s.Cg() * s.R * s.S >= 32) return {ConvPath::bf16_gemm, ConvPath::convert_f32};
  return {ConvPath::convert_f32, ConvPath::bf16_gemm};
}

void check_dtype(DType t) {
  if (t != DType::bf16 && t != DType::f16)
    throw std::invalid_argument(std::string("conv2d_lowp: expected bfloat16 or float16, got ") + dtype_name(t));
}

// ---- bf16: channels-last im2col + gemm_lowp -------------------------------------------
//
// The column matrix is stored position-major: col[o][(r*S + u)*Cg + c] (one row of R*S*Cg
// per output position), built from a zero-padded channels-last (NHWC) copy of the block's
// images. Why not conv.cpp's channel-major rows: at the small images of a digits CNN (4x4,
// 8x8) a channel-major row is P runs of Q = 4..8 values, and the copies cost more than the
// GEMM (measured: im2col ~50% of the time). Channels-last, tap row r of one output position
// reads S*Cg consecutive values (one memcpy of 192 bytes at 3x3 x 32 channels), with no
// bounds checks (the padding is real zeros). The weight is permuted to (K, R, S, Cg) to match
// (and dW permuted back), dx is scattered into a padded channels-last float32 buffer.

inline void copy16(uint16_t* d, const uint16_t* s, int64_t n) {
  if (n > 16) std::memcpy(d, s, size_t(n) * 2);
  else for (int64_t i = 0; i < n; ++i) d[i] = s[i];
}

struct Padded {  // geometry of the zero-padded NHWC copy of one image
  int64_t Hp, Wp, C;
  explicit Padded(const ConvShape& s) : Hp(s.H + 2 * s.pad_h), Wp(s.W + 2 * s.pad_w), C(s.C) {}
  int64_t size() const { return Hp * Wp * C; }
};

// xp = zero-padded NHWC copy of the CHW image xn. Only the padding is zeroed (the interior is
// overwritten): zeroing the whole copy first took 9% of a 16->16 @32x32 bf16 forward (perf, Xeon
// with AMX). The interior: the active kernel set's to_channels_last (conv_lowp_simd.cpp), else
// the scalar loop below (the reference).
void pad_nhwc(const ConvShape& s, const Padded& L, const uint16_t* xn, uint16_t* xp) {
  const size_t row = size_t(L.Wp * L.C), left = size_t(s.pad_w * L.C), right = row - left - size_t(s.W * L.C);
  std::memset(xp, 0, row * s.pad_h * 2);
  std::memset(xp + (s.pad_h + s.H) * row, 0, row * (L.Hp - s.pad_h - s.H) * 2);
  for (int64_t i = 0; i < s.H; ++i) {
    uint16_t* r = xp + (i + s.pad_h) * row;
    std::memset(r, 0, left * 2);
    std::memset(r + row - right, 0, right * 2);
  }
  uint16_t* interior = xp + (s.pad_h * L.Wp + s.pad_w) * L.C;
  const conv_lowp_detail::ConvLowpSimd* k = conv_lowp_simd_active();
  if (k && k->to_channels_last && s.C >= conv_lowp_detail::ConvLowpSimd::kMinChannels) {
    k->to_channels_last(xn, s.C, s.H, s.W, interior, L.Wp * L.C);
    return;
  }
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t i = 0; i < s.H; ++i) {
      const uint16_t* src = xn + (c * s.H + i) * s.W;
      uint16_t* dst = xp + ((i + s.pad_h) * L.Wp + s.pad_w) * L.C + c;
      for (int64_t j = 0; j < s.W; ++j) dst[j * L.C] = src[j];
    }
}

// col rows for output positions [o0, o1) of one padded image, group g; row stride ld >= CRS,
// the ld - CRS values past each row's CRS set to zero
void im2col_nhwc(const ConvShape& s, const Padded& L, const uint16_t* xp, int64_t g, int64_t o0, int64_t o1,
                 uint16_t* col, int64_t ld) {
  const int64_t Cg = s.Cg(), CRS = Cg * s.R * s.S;
  const bool contiguous_taps = s.groups == 1 && s.dil_w == 1;  // the S taps of a row: S*Cg in a run
  for (int64_t o = o0; o < o1; ++o) {
    const int64_t p = o / s.Q, q = o - p * s.Q;
    uint16_t* d = col + (o - o0) * ld;
    if (ld > CRS) std::memset(d + CRS, 0, size_t(ld - CRS) * 2);
    for (int64_t r = 0; r < s.R; ++r) {
      const uint16_t* src = xp + ((p * s.stride_h + r * s.dil_h) * L.Wp + q * s.stride_w) * L.C + g * Cg;
      if (contiguous_taps) copy16(d + r * s.S * Cg, src, s.S * Cg);
      else
        for (int64_t u = 0; u < s.S; ++u) copy16(d + (r * s.S + u) * Cg, src + u * s.dil_w * L.C, Cg);
    }
  }
}

// gxp (padded NHWC float32) += the adjoint of im2col_nhwc for dcol rows [o0, o1)
void col2im_nhwc(const ConvShape& s, const Padded& L, const float* dcol, int64_t g, int64_t o0, int64_t o1,
                 float* gxp) {
  const int64_t Cg = s.Cg(), CRS = Cg * s.R * s.S;
  for (int64_t o = o0; o < o1; ++o) {
    const int64_t p = o / s.Q, q = o - p * s.Q;
    const float* src = dcol + (o - o0) * CRS;
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t u = 0; u < s.S; ++u) {
        float* d = gxp + ((p * s.stride_h + r * s.dil_h) * L.Wp + q * s.stride_w + u * s.dil_w) * L.C + g * Cg;
        const float* a = src + (r * s.S + u) * Cg;
        for (int64_t c = 0; c < Cg; ++c) d[c] += a[c];
      }
  }
}

// to_last: dst (K, R, S, Cg) = src (K, Cg, R, S); else the way back
template <class T>
void permute_weight(const ConvShape& s, const T* src, T* dst, bool to_last) {
  const int64_t Cg = s.Cg(), RS = s.R * s.S;
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t i = 0; i < RS; ++i) {
        const int64_t a = (k * Cg + c) * RS + i, b = (k * RS + i) * Cg + c;
        if (to_last) dst[b] = src[a];
        else dst[a] = src[b];
      }
}

// per-thread buffers of one block: padded images and the column matrix
struct BlockScratch {
  std::vector<uint16_t> xp, col;
  void fit(size_t nxp, size_t ncol) {
    if (xp.size() < nxp) xp.resize(nxp);
    if (col.size() < ncol) col.resize(ncol);
  }
};
BlockScratch& block_scratch() {
  thread_local BlockScratch b;
  return b;
}

// images per block (tile blocks: 1)
inline int64_t block_images(const ConvShape& s) { return std::max<int64_t>(1, tile_cols() / std::max<int64_t>(1, s.P * s.Q)); }

// col for group g of block b (positions of image after image, row stride ld, default CRS); the
// padded copies of the block's images are made when the block starts an image (o0 == 0)
void block_columns(const ConvShape& s, const Padded& L, const uint16_t* x, int64_t g, const Block& b,
                   BlockScratch& sc, int64_t ld = 0) {
  if (g == 0 && b.o0 == 0)
    for (int64_t n = b.n0; n < b.n1; ++n) pad_nhwc(s, L, x + n * s.C * s.H * s.W, sc.xp.data() + (n - b.n0) * L.size());
  const int64_t w0 = b.o1 - b.o0;
  if (ld == 0) ld = s.Cg() * s.R * s.S;
  for (int64_t n = b.n0; n < b.n1; ++n)
    im2col_nhwc(s, L, sc.xp.data() + (n - b.n0) * L.size(), g, b.o0, b.o1, sc.col.data() + (n - b.n0) * w0 * ld, ld);
}

// The forward with 16 output channels per group runs transposed on AMX, Y^T (positions x 16) =
// col @ W^T: the column matrix is then the GEMM's A operand, which the AMX kernel reads as tiles
// where it lies (rows padded with zeros to kColAlign values; in place up to 256 k,
// gemm_amx_simd.cpp), the small weight matrix is the packed B, and the 16 channels fill one
// column of tiles. The other way round (Y = W @ col^T) the whole column matrix is repacked into
// k-pair panels for every block: 28% of a 16->16 @32x32 forward (perf). Measured (batch 64,
// 1 thread, Xeon with AMX, forced bf16_gemm path, minima of 50 alternating CPU-time runs, load
// average 0.7), W @ col^T -> col @ W^T ms: 16->16 @32x32 forward 2.35 -> 1.82, input gradient
// (a forward with 16 channels) 2.19 -> 1.83; but 16->8 @32x32 3.15 -> 4.22, 16->24 3.04 -> 3.25
// (fewer channels, or a second, part-empty column of tiles) and 32->16 @16x16 0.95 -> 1.11 (C*R*S
// = 288: the column matrix packed again); 32->32, 64->64 then within noise. Hence Kg = 16 with
// C*R*S <= 256, and the AMX path (vdpbf16ps CPUs: not measured, they keep W @ col^T).
// 32 and 64 channels per group (one or two 32-column panels of W) run transposed at any C*R*S:
// the AMX kernel reads A in place across k chunks where C has at most two panels (gemm_amx_simd.cpp):
// measured W @ col^T -> col @ W^T (batch 64, 1 thread, Xeon with AMX, forced bf16_gemm path,
// minima of 15 CPU-time runs in alternating processes, load average 4) 32->32 @16x16 forward
// 1.28-1.32 -> 0.80-0.91 ms, 64->64 @8x8 0.88-0.92 -> 0.66-0.67 ms (PyTorch 0.91-1.00 / 0.65-0.73),
// input gradients (forwards) 1.16-1.18 -> 0.82-0.84 and 0.83-0.98 -> 0.64-0.71; shapes it was
// not aimed at too (same runs): 3->32
// @32x32 forward 3.0-3.1 -> 1.8-2.0 ms, 16->64 1x1 3.4-4.1 -> 2.3-2.8, 64->32 1x1 @8x8 0.34-0.36 ->
// 0.23, 128->64 @8x8 (C*R*S = 1152) 1.8-2.0 -> 1.4.
constexpr int64_t kColAlign = 32;  // one AMX tile row: 32 bf16
constexpr int64_t kTransposedKg = 16, kTransposedMaxCRS = 256, kTransposedWideKg = 64;
inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// y[k * PQ + o] = round16(yt[o * Kg + k] + bias[k]) for o < w, k < Kg (bias null: 0): the
// transposed product's rows of one image scattered to NCHW
void store_transposed(const float* yt, int64_t w, int64_t Kg, const float* bias, uint16_t* y, int64_t PQ) {
  const conv_lowp_detail::ConvLowpSimd* simd = conv_lowp_simd_active();
  if (simd && simd->from_position_rows && Kg % 16 == 0)
    return simd->from_position_rows(yt, w, Kg, bias, y, PQ);
  thread_local std::vector<float> row;  // not scratch<float>(): that one holds yt
  if (row.size() < size_t(w)) row.resize(w);
  for (int64_t k = 0; k < Kg; ++k) {
    const float bk = bias ? bias[k] : 0.0f;
    for (int64_t o = 0; o < w; ++o) row[o] = yt[o * Kg + k] + bk;
    cast_contiguous(row.data(), DType::f32, y + k * PQ, DType::bf16, w);
  }
}

void forward_bf16(const ConvShape& s, const uint16_t* x, const uint16_t* w, const uint16_t* bias, uint16_t* y) {
  const int64_t Kg = s.Kg(), PQ = s.P * s.Q, CRS = s.Cg() * s.R * s.S;
  const int64_t maxw = std::max(PQ, tile_cols()) + PQ;
  const Padded L(s);
  std::vector<uint16_t> wt(size_t(s.K * CRS));
  permute_weight(s, w, wt.data(), true);
  std::vector<float> bf(bias ? s.K : 0);
  for (size_t k = 0; k < bf.size(); ++k) bf[k] = bf16_value(bias[k]);
  const int64_t CRSp = round_up(CRS, kColAlign);
  const bool transposed = ((Kg == kTransposedKg && CRSp <= kTransposedMaxCRS) ||
                           (Kg % kColAlign == 0 && Kg <= kTransposedWideKg)) &&
                          std::strcmp(gemm_lowp_path(DType::bf16), "amx_bf16") == 0;
  std::vector<uint16_t> wp(transposed ? size_t(s.K * CRSp) : 0);  // wt, rows padded with zeros to CRSp
  for (int64_t k = 0; transposed && k < s.K; ++k) {
    std::memcpy(wp.data() + k * CRSp, wt.data() + k * CRS, size_t(CRS) * 2);
    std::fill(wp.data() + k * CRSp + CRS, wp.data() + (k + 1) * CRSp, uint16_t(0));
  }
  over_images(s, image_threads(s), [&](int, int64_t n0, int64_t n1) {
    BlockScratch& sc = block_scratch();
    sc.fit(size_t(block_images(s) * L.size()), size_t((CRSp + Kg) * maxw));
    uint16_t* ylow = sc.col.data() + CRS * maxw;
    std::vector<float>& ybuf = scratch<float>();
    if (ybuf.size() < size_t(Kg * maxw)) ybuf.resize(Kg * maxw);
    for_blocks(s, n0, n1, [&](const Block& b) {
      const int64_t bw = b.width(), w0 = b.o1 - b.o0;
      for (int64_t g = 0; g < s.groups; ++g) {
        if (transposed) {  // Y_g^T (bw x Kg) = col (bw x CRSp) @ W_g^T (W_g stored Kg x CRSp)
          block_columns(s, L, x, g, b, sc, CRSp);
          gemm_lowp(DType::bf16, false, true, bw, Kg, CRSp, 1.0f, sc.col.data(), CRSp, wp.data() + g * Kg * CRSp,
                    CRSp, 0.0f, ybuf.data(), Kg);
          for (int64_t n = b.n0; n < b.n1; ++n)
            store_transposed(ybuf.data() + (n - b.n0) * w0 * Kg, w0, Kg, bias ? bf.data() + g * Kg : nullptr,
                             y + (n * s.K + g * Kg) * PQ + b.o0, PQ);
          continue;
        }
        block_columns(s, L, x, g, b, sc);
        // Y_g (Kg x bw) = W_g (Kg x CRS) @ col^T (col stored bw x CRS)
        gemm_lowp(DType::bf16, false, true, Kg, bw, CRS, 1.0f, wt.data() + g * Kg * CRS, CRS, sc.col.data(), CRS,
                  0.0f, ybuf.data(), bw);
        if (bias)
          for (int64_t k = 0; k < Kg; ++k) {
            float* row = ybuf.data() + k * bw;
            const float bk = bf[g * Kg + k];
            for (int64_t i = 0; i < bw; ++i) row[i] += bk;
          }
        // one vectorized rounding of the whole block, then rows scattered to NCHW
        cast_contiguous(ybuf.data(), DType::f32, ylow, DType::bf16, Kg * bw);
        for (int64_t n = b.n0; n < b.n1; ++n)
          for (int64_t k = 0; k < Kg; ++k)
            std::memcpy(y + (n * s.K + g * Kg + k) * PQ + b.o0, ylow + k * bw + (n - b.n0) * w0, 2 * w0);
      }
    });
  });
}

void backward_input_bf16(const ConvShape& s, const uint16_t* gy, const uint16_t* w, uint16_t* gx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), PQ = s.P * s.Q, HW = s.H * s.W, CRS = Cg * s.R * s.S;
  const int64_t maxw = std::max(PQ, tile_cols()) + PQ;
  const Padded L(s);
  std::vector<uint16_t> wt(size_t(s.K * CRS));
  permute_weight(s, w, wt.data(), true);
  const int64_t nimg = block_images(s);
  over_images(s, image_threads(s), [&](int, int64_t n0, int64_t n1) {
    // dcol (maxw x CRS), then the padded float32 dx of the block's images, then one CHW image
    std::vector<float>& fb = scratch<float>();
    const size_t need = size_t(maxw * CRS + nimg * L.size() + s.C * HW);
    if (fb.size() < need) fb.resize(need);
    float *dcol = fb.data(), *gxp = dcol + maxw * CRS, *chw = gxp + nimg * L.size();
    std::vector<uint16_t>& gyb = scratch<uint16_t>();
    if (gyb.size() < size_t(Kg * maxw)) gyb.resize(Kg * maxw);
    for_blocks(s, n0, n1, [&](const Block& b) {
      const int64_t bw = b.width(), w0 = b.o1 - b.o0;
      if (b.o0 == 0) std::fill(gxp, gxp + (b.n1 - b.n0) * L.size(), 0.0f);
      for (int64_t g = 0; g < s.groups; ++g) {
        int64_t lda;
        const uint16_t* A = block_rows(s, gy, g * Kg, b, gyb.data(), lda);
        // dcol (bw x CRS) = dY_g^T (dY_g stored Kg x bw) @ W_g (Kg x CRS)
        gemm_lowp(DType::bf16, true, false, bw, CRS, Kg, 1.0f, A, lda, wt.data() + g * Kg * CRS, CRS, 0.0f, dcol, CRS);
        for (int64_t n = b.n0; n < b.n1; ++n)
          col2im_nhwc(s, L, dcol + (n - b.n0) * w0 * CRS, g, b.o0, b.o1, gxp + (n - b.n0) * L.size());
      }
      if (b.o1 < PQ) return;  // the image continues in the next block
      for (int64_t n = b.n0; n < b.n1; ++n) {  // crop + NHWC -> CHW, round once
        const float* src = gxp + (n - b.n0) * L.size();
        for (int64_t c = 0; c < s.C; ++c)
          for (int64_t i = 0; i < s.H; ++i) {
            const float* row = src + ((i + s.pad_h) * L.Wp + s.pad_w) * L.C + c;
            float* d = chw + (c * s.H + i) * s.W;
            for (int64_t j = 0; j < s.W; ++j) d[j] = row[j * L.C];
          }
        cast_contiguous(chw, DType::f32, gx + n * s.C * HW, DType::bf16, s.C * HW);
      }
    });
  });
}

// A stride-1 input gradient is itself a forward convolution: of dy, with each group's kernel
// transposed (K <-> C) and flipped (r -> R-1-r, u -> S-1-u), padded by dil*(R-1) - pad
// (conv_direct.cpp does the same in float32). So it runs forward_bf16's channels-last im2col +
// one GEMM per block and a bf16 output, instead of backward_input_bf16's float32 dcol block and
// its scatter-add (col2im). Measured (ResNet-20 shapes, batch 64, 1 thread, Xeon with AMX,
// load average 4, CPU time): 32->32 @16x16 2.12 -> 1.22 ms, 64->64 @8x8 1.13 -> 0.83 ms.
bool input_gradient_is_a_forward(const ConvShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && s.pad_h <= s.dil_h * (s.R - 1) && s.pad_w <= s.dil_w * (s.S - 1);
}

void backward_input_as_forward_bf16(const ConvShape& s, const uint16_t* gy, const uint16_t* w, uint16_t* gx) {
  ConvShape t;  // the transposed convolution: dy (N, K, P, Q) -> dx (N, C, H, W)
  t.N = s.N, t.C = s.K, t.H = s.P, t.W = s.Q, t.K = s.C, t.R = s.R, t.S = s.S, t.groups = s.groups;
  t.dil_h = s.dil_h, t.dil_w = s.dil_w;
  t.pad_h = s.dil_h * (s.R - 1) - s.pad_h, t.pad_w = s.dil_w * (s.S - 1) - s.pad_w;
  t.finish();  // P = H, Q = W
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S;
  std::vector<uint16_t> wt(size_t(s.K * Cg * RS));  // (C, Kg, R, S): wt[g*Cg + c][k] = flip(w[g*Kg + k][c])
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t k = 0; k < Kg; ++k)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t i = 0; i < RS; ++i)
          wt[((g * Cg + c) * Kg + k) * RS + (RS - 1 - i)] = w[((g * Kg + k) * Cg + c) * RS + i];
  forward_bf16(t, gy, wt.data(), nullptr, gx);
}

void backward_weight_bf16(const ConvShape& s, const uint16_t* gy, const uint16_t* x, uint16_t* gw) {
  const int64_t Kg = s.Kg(), PQ = s.P * s.Q, CRS = s.Cg() * s.R * s.S, wsize = s.K * CRS;
  const int64_t maxw = std::max(PQ, tile_cols()) + PQ;
  const Padded L(s);
  const int nt = image_threads(s);
  // one float32 partial dW (K, R, S, Cg) per fixed range of images, added in order
  // (conv_threads.h over_image_slots: the same bits in every run)
  const int slots = conv_detail::reduction_slots(nt, wsize);
  std::vector<float> acc(size_t(slots) * wsize, 0.0f);
  const int64_t chunk = tile_cols() / std::max<int64_t>(1, PQ);
  conv_detail::over_image_slots(s, nt, slots, chunk, [&](int slot, int64_t n0, int64_t n1) {
    float* a = acc.data() + size_t(slot) * wsize;
    BlockScratch& sc = block_scratch();
    sc.fit(size_t(block_images(s) * L.size()), size_t((CRS + Kg) * maxw));
    uint16_t* gyb = sc.col.data() + CRS * maxw;
    for_blocks(s, n0, n1, [&](const Block& b) {
      const int64_t bw = b.width();
      for (int64_t g = 0; g < s.groups; ++g) {
        int64_t lda;
        const uint16_t* A = block_rows(s, gy, g * Kg, b, gyb, lda);
        block_columns(s, L, x, g, b, sc);
        // dW_g (Kg x CRS) += dY_g[:, block] (Kg x bw) @ col (bw x CRS)
        gemm_lowp(DType::bf16, false, false, Kg, CRS, bw, 1.0f, A, lda, sc.col.data(), CRS, 1.0f, a + g * Kg * CRS, CRS);
      }
    });
  });
  for (int t = 1; t < slots; ++t) {
    const float* p = acc.data() + size_t(t) * wsize;
    for (int64_t i = 0; i < wsize; ++i) acc[i] += p[i];
  }
  std::vector<float> gwf(static_cast<size_t>(wsize));
  permute_weight(s, acc.data(), gwf.data(), false);
  cast_contiguous(gwf.data(), DType::f32, gw, DType::bf16, wsize);
}

// db[k] = sum over images and positions of dy, in float32 per image row (kLanes interleaved
// partial sums, added in lane order), double across rows. One running float32 sum is a chain of
// dependent adds the compiler may not reorder: 20% of a 16->16 @32x32 bf16 weight gradient with
// bias (batch 64, perf, 1 thread, Xeon with AMX); independent lanes vectorize: that weight
// gradient 2.70-2.82 -> 2.22-2.25 ms (minima of 30 CPU-time runs, two rounds).
void bias_grad_bf16(const ConvShape& s, const uint16_t* gy, uint16_t* gb) {
  constexpr int64_t kLanes = 16;
  const int64_t PQ = s.P * s.Q, PQ_lanes = PQ / kLanes * kLanes;
  std::vector<float> out(s.K);
  parallel_for(s.K, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, s.N * PQ)), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      double total = 0;
      for (int64_t n = 0; n < s.N; ++n) {
        const uint16_t* g = gy + (n * s.K + k) * PQ;
        float lane[kLanes] = {};
        for (int64_t i = 0; i < PQ_lanes; i += kLanes)
          for (int64_t l = 0; l < kLanes; ++l) lane[l] += bf16_value(g[i + l]);
        float sum = 0;
        for (int64_t l = 0; l < kLanes; ++l) sum += lane[l];
        for (int64_t i = PQ_lanes; i < PQ; ++i) sum += bf16_value(g[i]);
        total += sum;
      }
      out[k] = static_cast<float>(total);
    }
  });
  cast_contiguous(out.data(), DType::f32, gb, DType::bf16, s.K);
}

}  // namespace

// ---- which path runs: the fixed rule or the measured choice (conv_tune.cpp) ----------------
// (the convert_f32 path: conv_lowp_convert.cpp)

using namespace conv_lowp_detail;

const char* conv2d_lowp_path(const ConvShape& s, DType t) {
  check_dtype(t);
  return conv_path_name(conv_lowp_current(ConvDirection::forward, s, t, candidates(s, t)));
}

void conv2d_lowp_forward(const ConvShape& s, DType t, const uint16_t* x, const uint16_t* w, const uint16_t* bias,
                         uint16_t* y) {
  check_dtype(t);
  if (s.N * s.K * s.P * s.Q == 0) return;
  const auto run = [&](ConvPath p) {
    if (p == ConvPath::bf16_gemm) forward_bf16(s, x, w, bias, y);
    else forward_convert(s, t, x, w, bias, y);
  };
  const ConvPath p = conv_choose_lowp(ConvDirection::forward, s, t, candidates(s, t), run);
  if (p != ConvPath::automatic) run(p);
}

void conv2d_lowp_backward_input(const ConvShape& s, DType t, const uint16_t* gy, const uint16_t* w, uint16_t* gx) {
  check_dtype(t);
  const int64_t nx = s.N * s.C * s.H * s.W, ny = s.N * s.K * s.P * s.Q;
  if (nx == 0) return;
  if (ny == 0) {  // nothing flows back
    std::memset(gx, 0, size_t(nx) * 2);
    return;
  }
  const auto run = [&](ConvPath p) {
    if (p != ConvPath::bf16_gemm) backward_input_convert(s, t, gy, w, gx);
    else if (input_gradient_is_a_forward(s)) backward_input_as_forward_bf16(s, gy, w, gx);
    else backward_input_bf16(s, gy, w, gx);
  };
  const ConvPath p = conv_choose_lowp(ConvDirection::backward_input, s, t, candidates(s, t), run);
  if (p != ConvPath::automatic) run(p);
}

void conv2d_lowp_backward_weight(const ConvShape& s, DType t, const uint16_t* gy, const uint16_t* x, uint16_t* gw,
                                 uint16_t* gb) {
  check_dtype(t);
  const int64_t nw = s.K * s.Cg() * s.R * s.S, ny = s.N * s.K * s.P * s.Q;
  if (ny == 0) {
    if (gw) std::memset(gw, 0, size_t(nw) * 2);
    if (gb) std::memset(gb, 0, size_t(s.K) * 2);
    return;
  }
  const auto run = [&](ConvPath p) {
    if (p != ConvPath::bf16_gemm) return backward_weight_convert(s, t, gy, x, gw, gb);
    if (gw) backward_weight_bf16(s, gy, x, gw);
    if (gb) bias_grad_bf16(s, gy, gb);
  };
  const std::vector<ConvPath> paths = candidates(s, t);
  // the bias gradient alone (a sum of dy) is not the weight gradient's workload: not timed
  const ConvPath p = gw ? conv_choose_lowp(ConvDirection::backward_weight, s, t, paths, run)
                        : conv_lowp_current(ConvDirection::backward_weight, s, t, paths);
  if (p != ConvPath::automatic) run(p);
}

}  // namespace minidl
