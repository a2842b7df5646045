// --8<-- [start:winograd_idea]
// Winograd F(4x4, 3x3) float32 convolution (Lavin & Gray 2016, "Fast Algorithms for
// Convolutional Neural Networks", arXiv:1509.09308), for 3x3 stride-1 convolutions.
//
// A 4 x 4 block of outputs of one (image, output channel) reads a 6 x 6 block d of each input
// channel. Winograd's minimal filtering algorithm computes it as
//   Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A
// where .* is the element-wise product of 6 x 6 matrices: 36 multiplies per input channel
// instead of the direct form's 16 x 9 = 144 (4x fewer), at the price of the transforms.
//   B^T = [ 4  0 -5  0  1  0 ]    G = [  1/4     0     0  ]    A^T = [ 1  1  1  1  1  0 ]
//         [ 0 -4 -4  1  1  0 ]        [ -1/6  -1/6  -1/6  ]          [ 0  1 -1  2 -2  0 ]
//         [ 0  4 -4 -1  1  0 ]        [ -1/6   1/6  -1/6  ]          [ 0  1  1  4  4  0 ]
//         [ 0 -2 -1  2  1  0 ]        [  1/24  1/12  1/6  ]          [ 0  1 -1  8 -8  1 ]
//         [ 0  2 -1 -2  1  0 ]        [  1/24 -1/12  1/6  ]
//         [ 0  4  0 -5  0  1 ]        [  0      0     1   ]
// Summed over the input channels, the 36 element positions xi = (a, b) are 36 independent
// matrix products over the tiles t of a block of images:
//   M[xi] (tiles x K) = V[xi] (tiles x C) @ U[xi] (C x K),  V[xi][t][c] = (B^T d_tc B)[xi],
//   U[xi][c][k] = (G g_kc G^T)[xi],  then Y_tk = A^T M[.][t][k] A.
// The input gradient of a 3x3 stride-1 convolution with padding p is the same computation on
// dY with the kernel rotated by 180 degrees, its channels swapped and padding 2 - p. The weight
// gradient differentiates Y with respect to U: dU_kc = sum_t (A dY_tk A^T) .* V_tc, 36 products
// summed over the tiles, and dW_kc = G^T dU_kc G.
//
// Files: conv_winograd.cpp (the driver: weight transform, channel-last copies, GEMMs through
// sgemm_batched, threads; and the scalar transforms, the reference), conv_winograd_simd.cpp
// (the same transforms, one vector of channels at a time, per instruction set). conv_tune.cpp
// offers it as a candidate next to the direct kernel and im2col + GEMM, so a shape takes it only
// where it measured faster on the running CPU.
//
// Accuracy: the transforms scale values by up to 8 x 8 (A) and 25 (B), so the rounding error
// is larger than the direct sum's; measured max |error| against the float64 reference:
// tests/test_conv_winograd.py and the notes at conv_winograd.cpp's top.
// --8<-- [end:winograd_idea]
#pragma once
#include <cstdint>

#include "conv.h"

namespace minidl {

constexpr int kWinogradTile = 4;    // outputs per tile side (m)
constexpr int kWinogradAlpha = 6;   // input tile side, m + 3 - 1
constexpr int kWinogradPoints = 36; // alpha^2: the element-wise products, one GEMM each

// Per-ISA tile transforms (conv_winograd_simd.cpp); conv_winograd.cpp has the scalar ones.
// Images are stored channel-last with Cp (resp. Kp) floats a pixel, a multiple of vw.
struct ConvWinogradSimd {
  int vw;  // floats per vector
  // V[xi*ldv + t*Cp + c] = (B^T d B)[xi] of channel c for the tiles t = i*TW + j (i < TH, j < TW)
  // of one image xp (channel-last, zero-padded; tile (i, j) reads rows 4i..4i+5 and columns
  // 4j..4j+5 of the Wp-wide rows)
  void (*input_tiles)(const float* xp, int64_t Wp, int64_t Cp, int64_t TH, int64_t TW, float* V, int64_t ldv);
  // yp[(p*Q + q)*Kp + k] = bias[k] + (A^T M A)[p - 4i][q - 4j] of tile t = i*TW + j, M[xi*ldm + t*Kp
  // + k], for the p < P, q < Q the tile covers (bias: Kp floats)
  void (*output_tiles)(const float* M, int64_t ldm, int64_t Kp, int64_t TH, int64_t TW, int64_t P, int64_t Q,
                       const float* bias, float* yp);
  // M[xi*ldm + t*Kp + k] = sum_c V[xi*ldv + t*Cp + c] U[(xi*Cp + c)*Kp + k] for xi < 36, t < T,
  // k < Kp: the 36 products (the scalar set: sgemm_batched)
  void (*products)(int64_t T, int64_t Cp, int64_t Kp, const float* V, int64_t ldv, const float* U, float* M,
                   int64_t ldm);
  // the weight gradient: D[xi*ldd + t*Kp + k] = (A y A^T)[xi] of the 4 x 4 tile y of dY (channel-last
  // 4 TH x Wq pixels, Wq = 4 TW, zeros past P and Q) of channel k, tile t = i*TW + j
  void (*gradient_tiles)(const float* dyp, int64_t Wq, int64_t Kp, int64_t TH, int64_t TW, float* D, int64_t ldd);
  // S[(xi*Kp + k)*Cp + c] += sum_{t < T} D[xi*ldd + t*Kp + k] V[xi*ldv + t*Cp + c]
  void (*weight_products)(int64_t T, int64_t Cp, int64_t Kp, const float* D, int64_t ldd, const float* V,
                          int64_t ldv, float* S);
  // dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols (AVX-512: 16 x 16 register blocks;
  // null: the direct weight gradient's 8 x 8 transpose)
  void (*transpose)(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd);
};

// True where the Winograd path computes this float32 convolution: 3x3, stride 1, dilation 1,
// groups 1, padding <= 2 (so that the input gradient is a forward convolution of dY too), and
// buffers of a bounded size. Any kernel set (the scalar set runs the reference transforms).
bool conv_winograd_available(const ConvShape& s);

void conv2d_winograd_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
// grad_x[n, c] starts from start[c] (null: 0), as conv2d_backward_input
void conv2d_winograd_backward_input(const ConvShape& s, const float* gy, const float* w, float* gx,
                                    const float* start);
// dW = G^T [ sum over tiles of (A dY_t A^T) .* (B^T d_t B) ] G: the forward's bilinear form
// differentiated with respect to the transformed weights, then taken back through G
void conv2d_winograd_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw);

}  // namespace minidl
