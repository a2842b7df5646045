// 2-D convolution (NCHW), forward and backward; Conv1d is the H == 1 case.
//
//   y[n, k, p, q] = b[k] + sum_{c, r, s} w[k, c, r, s] * x[n, g*Cg + c, p*sh - ph + r*dh, q*sw - pw + s*dw]
//
// with g = k / Kg the group of output channel k, Cg = C / groups input channels and
// Kg = K / groups output channels per group; x outside [0, H) x [0, W) reads as 0 (zero padding).
// Shapes: x (N, C, H, W), w (K, Cg, R, S), b (K,), y (N, K, P, Q) with
//   P = (H + 2 ph - dh (R - 1) - 1) / sh + 1,  Q likewise.
// The backward passes are the same sum read the other way round:
//   dx[n, c, i, j] = sum over the (k, p, q, r, s) that read x[n, c, i, j] of w * dy
//   dw[k, c, r, s] = sum_{n, p, q} dy[n, k, p, q] * x[n, ., ., .],   db[k] = sum_{n, p, q} dy.
//
// Files of this folder: conv.cpp opens with the reference loops of these three sums, then
// says which path runs: conv_direct.{h,cpp} + conv_direct_simd.cpp (forward) and
// conv_direct_weight_simd.cpp (weight gradient) (float32 on a SIMD set, the default;
// conv_direct_phases.cpp, its input gradient of strided convolutions), the im2col + GEMM path
// of conv.cpp with conv_im2col.h (float64, the scalar set, the rest), conv_simd.cpp
// (depthwise float32); conv_threads.h splits the batch between
// threads. bfloat16 / float16 tensors: conv_lowp.{h,cpp} (and conv_lowp_convert.cpp, the
// widening path); conv_tune.{h,cpp} chooses between paths by measurement.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

struct ConvShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t K = 0, R = 0, S = 0;         // output channels, kernel height, width
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  int64_t P = 0, Q = 0;                // output height, width (set by finish())

  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
  // computes P and Q; false when the (padded, dilated) kernel does not fit the input or a
  // stride/dilation/groups value is invalid (the bindings turn that into a ValueError)
  bool finish() {
    if (stride_h < 1 || stride_w < 1 || dil_h < 1 || dil_w < 1 || pad_h < 0 || pad_w < 0 ||
        groups < 1 || C % groups != 0 || K % groups != 0 || R < 1 || S < 1)
      return false;
    const int64_t eh = dil_h * (R - 1) + 1, ew = dil_w * (S - 1) + 1;
    if (H + 2 * pad_h < eh || W + 2 * pad_w < ew) return false;
    P = (H + 2 * pad_h - eh) / stride_h + 1;
    Q = (W + 2 * pad_w - ew) / stride_w + 1;
    return true;
  }
};

// dtype f32 or f64; bias / grad_bias / grad_weight / grad_input may be nullptr (skipped).
void conv2d_forward(const ConvShape& s, DType t, const void* x, const void* w, const void* bias,
                    void* y);
// start (C values) or null: grad_x[n, c] starts from start[c] instead of 0. That is a
// transposed convolution's bias (its forward is this kernel, nn/conv_transpose.py), added
// where the GEMM path fills grad_x anyway instead of in a pass of its own.
void conv2d_backward_input(const ConvShape& s, DType t, const void* grad_y, const void* w,
                           void* grad_x, const void* start = nullptr);
void conv2d_backward_weight(const ConvShape& s, DType t, const void* grad_y, const void* x,
                            void* grad_w, void* grad_bias);

// F.unfold and F.fold: the im2col of whole images, col (N, C R S, P Q) with row (c, r, u) and
// column p Q + q holding x[n, c, p sh - ph + r dh, q sw - pw + u dw] (0 in the padding), and
// its adjoint col2im, x = 0 then each column added back where it was read (overlaps add up).
// Uses N, C, H, W, R, S, stride, padding, dilation, P, Q of s (K and groups: 1).
void conv2d_unfold(const ConvShape& s, DType t, const void* x, void* col);
void conv2d_fold(const ConvShape& s, DType t, const void* col, void* x);

// The textbook loops (7 nested), the readable definition and the oracle the fast paths are
// tested against (md._C.conv2d_forward(..., reference=True)). Defined at the top of conv.cpp,
// instantiated for float and double.
template <class T>
void conv2d_forward_reference(const ConvShape& s, const T* x, const T* w, const T* bias, T* y);
// grad_x = 0, then every product of the forward sends w * dy back to the x it read; gx, gw,
// gb may each be null (not wanted)
template <class T>
void conv2d_backward_reference(const ConvShape& s, const T* gy, const T* x, const T* w, T* gx,
                               T* gw, T* gb);

// Per-ISA kernels, float32. Depthwise (groups == C == K): one (image, channel) plane each;
// cpp/ops/conv/conv_simd.cpp. `buf` is scratch of depthwise_buffer_floats(s) floats.
struct ConvSimd {
  void (*depthwise_forward)(const ConvShape& s, const float* x, const float* w, float bias,
                            float* y, float* buf);
  void (*depthwise_backward_input)(const ConvShape& s, const float* gy, const float* w,
                                   float* gx, float* buf);
  // grad_w[r*S + u] += sum_{p,q} gy * x over nimg planes of one channel of consecutive
  // images (gy + n*C*P*Q, x + n*C*H*W)
  void (*depthwise_backward_weight)(const ConvShape& s, const float* gy, const float* x,
                                    float* grad_w, float* buf, int64_t nimg);
  // the GEMM path's im2col / col2im (see conv.cpp), vectorized copies of the same loops
  void (*im2col)(const ConvShape& s, const float* xg, int64_t o0, int64_t o1, float* col, int64_t ld);
  void (*col2im_add)(const ConvShape& s, const float* col, int64_t o0, int64_t o1, float* gxg, int64_t ld);
};

// The depthwise kernels work on a zero-padded copy of the plane split into stride_w phases
// (column j*sw + phase stored at [phase][j]), so every tap reads a contiguous run of q.
inline int64_t depthwise_phase_width(const ConvShape& s) {
  return (s.W + 2 * s.pad_w + s.stride_w - 1) / s.stride_w;
}
// (also room for dy padded by the kernel extent, the stride-1 backward-input buffer)
inline int64_t depthwise_buffer_floats(const ConvShape& s) {
  return (s.H + 2 * s.pad_h + s.R * s.dil_h) * (s.stride_w * depthwise_phase_width(s) + s.S * s.dil_w) + 64;
}

}  // namespace minidl
