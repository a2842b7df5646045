// --8<-- [start:direct_idea]
// Direct ("implicit GEMM") float32 convolution on a padded, re-arranged copy of the input:
// conv.h's three sums (the reference loops at the top of conv.cpp) regrouped so each is a
// GEMM whose B operand is read straight from that copy.
//
// The input planes of one image and group are copied once into a buffer with the zero padding
// written out and the stride resolved into separate planes (layouts: conv_direct.cpp, Layout),
// such that, numbering the outputs o = p*Wg + q over a grid Wg >= Q wide (columns q >= Q, if
// any, are computed and dropped), tap (c, r, u) of every output reads x_buffer[toff[tap] + o]:
// one contiguous run per tap, for any stride, dilation and padding. So
//   forward:          Y[k][o]    = sum_tap W[k][tap] * X[toff[tap] + o]          (GEMM, B implicit)
//   weight gradient:  dW[k][tap] = sum_{n, o} dY[n][k][o] * X_n[toff[tap] + o]   (o: q < Q only)
// and the stride-1 input gradient is the forward of dY with the flipped, transposed kernel.
// No R*S-fold column matrix and no packed B panel are built: the micro-kernels read B straight
// from the buffer (L1/L2 resident): vectors of it in the forward, broadcasts in the weight
// gradient (whose vectors run along the output channels of dY, transposed per image). cpp/ops/conv/conv_direct.cpp drives them
// (buffers, threads); cpp/ops/conv/conv_direct_simd.cpp holds the per-ISA forward micro-kernels,
// cpp/ops/conv/conv_direct_weight_simd.cpp the weight gradient's.
// --8<-- [end:direct_idea]
#pragma once
#include <cstdint>

#include "conv.h"

namespace minidl {

// The forward's kernels (conv_direct_simd.cpp), one table per instruction set
struct ConvDirectSimd {
  int vw;      // floats per vector
  int mr;      // forward: output channels per weight block
  // forward: y[kb*mr + r][yo(i)] (+)= sum_t wpk[(kb*taps + t)*mr + r] * x[toff[t] + xo(i)] for
  // kb < kblocks and i in [0, L), where output i sits in row i / row, column c = i % row, at
  // xo(i) = (i / row)*row_in + c in the buffer and yo(i) = (i / row)*row_out + c in y; L and
  // row are multiples of vw; rows of y are ldy apart; += when accumulate. One row (row = row_in
  // = row_out = L): the whole Wg-wide grid, contiguous; row = Q, row_in = Wg, row_out = Q: the
  // grid's columns q < Q only, stored straight into y's P x Q plane.
  void (*forward)(int64_t kblocks, int64_t taps, int64_t L, int64_t row, int64_t row_in, int64_t row_out,
                  const float* wpk, const int64_t* toff, const float* x, float* y, int64_t ldy, bool accumulate);
  // one buffer plane: dst[i2][j] = xc[i2*sh + a - ph][j*sw + t] (0 outside the H x W plane
  // xc) for i2 < Hs, j < Wg
  void (*fill_plane)(const float* xc, int64_t H, int64_t W, int64_t sh, int64_t a, int64_t ph,
                     int64_t Hs, int64_t t, int64_t sw, int64_t Wg, float* dst);
  // dst[r*ldd + j] = (j even ? even : odd)[r*lds + j/2] for j < n, r < rows (null: zeros): rows
  // of dx from their two column phases at stride 2 (conv_direct_phases.cpp)
  void (*interleave2)(const float* even, const float* odd, int64_t lds, int64_t n, int64_t rows, float* dst,
                      int64_t ldd);
};

// The weight gradient's kernels (conv_direct_weight_simd.cpp), one table per instruction set
struct ConvDirectWeightSimd {
  int vw;      // floats per vector
  int wt;      // taps per tile
  // weight gradient of one image: gwt[t*Kp + k] += sum_{p < P, q < Q} dyt[(p*Q + q)*Kp + k] *
  // x[toff[t] + p*Wg + q] for k < Kp (multiple of vw), t < taps (multiple of wt); dyt is the
  // image's dY transposed, rows 64-byte aligned.
  void (*weight)(int64_t Kp, int64_t taps, int64_t P, int64_t Q, int64_t Wg, const float* dyt, const float* x,
                 const int64_t* toff, float* gwt);
  // dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols (dY into weight's dyt)
  void (*transpose)(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd);
};

// One image's padded copy plus its output rows must stay cache-resident; beyond this many
// floats (4 MiB) the tiled im2col path is used.
constexpr int64_t kDirectMaxBufferFloats = int64_t{1} << 20;

// True when the direct path handles this float32 convolution on the active kernel set
// (a SIMD set; not depthwise, which has its own kernels). backward_input: at stride 1 with
// padding <= dilation * (kernel - 1) it is a forward convolution of dy; otherwise the phases
// of conv_direct_phases.cpp, whose buffers must fit kDirectMaxBufferFloats too.
bool conv_direct_available(const ConvShape& s);
bool conv_direct_backward_input_available(const ConvShape& s);
bool conv_direct_phases_available(const ConvShape& s);

void conv2d_direct_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
void conv2d_direct_backward_input(const ConvShape& s, const float* gy, const float* w, float* gx);
void conv2d_direct_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw);
// the input gradient as sh x sw stride-1 phases (conv_direct_phases.cpp); any stride, padding,
// dilation, groups (conv2d_direct_backward_input calls it where dy's forward does not apply)
void conv2d_direct_backward_input_phases(const ConvShape& s, const float* gy, const float* w, float* gx);

// n floats of per-thread scratch, 64-byte aligned (the direct path's buffers)
float* conv_direct_scratch_floats(int64_t n);

}  // namespace minidl
