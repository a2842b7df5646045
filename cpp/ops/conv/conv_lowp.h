// 2-D convolution on 16-bit tensors (bfloat16 / float16), float32 accumulation: what
// Conv2d / Conv1d run under BF16 autocast. Same sums and shapes as conv.h (reference loops:
// the top of conv.cpp), rounded once:
//   y  = round16(b + sum w * x)                 (one rounding of the float32 sum)
//   dx = round16(sum w * dy),  dw = round16(sum_{n,p,q} dy * x),  db = round16(sum dy)
// x, w, bias, y, gy and the gradients are raw 16-bit patterns of `t` (all the same dtype, as
// PyTorch: under autocast the weight and bias are cast to bf16 by a differentiable cast, the
// convolution returns bf16 gradients and the cast's backward widens them to the float32
// master weights' dtype).
//
// Paths (cpp/ops/conv/conv_lowp.cpp; conv2d_lowp_path says which one a shape's forward takes):
//   "bf16_gemm"    bfloat16 when gemm_lowp has a native bf16 kernel (AMX tiles or vdpbf16ps: an
//                  AMX or AVX512-BF16 CPU, avx512 kernel set), not depthwise: im2col of the bf16
//                  input into a bf16 column block, then the three products of conv.cpp with
//                  gemm_lowp (float32 accumulation); results rounded once.
//   "convert_f32"  every 16-bit convolution can take it, the only one for float16 (this CPU has
//                  no float16 dot-product instruction: AVX512-FP16 is absent, so float16 would be
//                  widened inside the GEMM anyway), depthwise (its direct SIMD kernel is float32),
//                  the avx2 and scalar kernel sets: widen the operands to float32 (exact), run
//                  the float32 convolution of conv.h, round the results once.
// Where both apply, the fixed rule (md.backends.cpu.benchmark = False) takes bf16_gemm from 32
// output channels per group and 32 inputs per output (C/groups x R x S) up; with measurement on,
// each direction of each shape class times both on first use (conv_tune.h). Both paths compute
// float32 sums of exact products, so they differ only in summation order.
#pragma once
#include <cstdint>

#include "conv.h"

namespace minidl {

// t: DType::bf16 or DType::f16; bias / grad_bias / grad_weight may be nullptr (skipped).
void conv2d_lowp_forward(const ConvShape& s, DType t, const uint16_t* x, const uint16_t* w,
                         const uint16_t* bias, uint16_t* y);
void conv2d_lowp_backward_input(const ConvShape& s, DType t, const uint16_t* grad_y,
                                const uint16_t* w, uint16_t* grad_x);
void conv2d_lowp_backward_weight(const ConvShape& s, DType t, const uint16_t* grad_y,
                                 const uint16_t* x, uint16_t* grad_w, uint16_t* grad_bias);

// The convert_f32 path's three directions (conv_lowp_convert.cpp), for conv_lowp.cpp's dispatch.
namespace conv_lowp_detail {
void forward_convert(const ConvShape& s, DType t, const uint16_t* x, const uint16_t* w, const uint16_t* bias,
                     uint16_t* y);
void backward_input_convert(const ConvShape& s, DType t, const uint16_t* gy, const uint16_t* w, uint16_t* gx);
void backward_weight_convert(const ConvShape& s, DType t, const uint16_t* gy, const uint16_t* x, uint16_t* gw,
                             uint16_t* gb);

// Per-ISA helper of the bf16_gemm path (conv_lowp_simd.cpp; only the AVX-512 set has one):
// dst[i * dst_row + j * C + c] = src[(c * H + i) * W + j] for c < C, i < H, j < W, 16-bit
// values: one CHW image written channels-last into rows dst_row values apart (the interior of
// the zero-padded copy), for C >= kMinChannels (fewer: the scalar loop is faster, see
// conv_lowp_simd.cpp). The scalar loop of conv_lowp.cpp's pad_nhwc is the reference.
struct ConvLowpSimd {
  static constexpr int64_t kMinChannels = 6;
  void (*to_channels_last)(const uint16_t* src, int64_t C, int64_t H, int64_t W, uint16_t* dst, int64_t dst_row);
  // dst[k * dst_row + o] = bf16(src[o * Kg + k] + bias[k]), o < w, k < Kg, Kg a multiple of 16,
  // bias null meaning 0: the transposed forward's result to NCHW (reference: conv_lowp.cpp's
  // store_transposed loop)
  void (*from_position_rows)(const float* src, int64_t w, int64_t Kg, const float* bias, uint16_t* dst,
                             int64_t dst_row);
};
}  // namespace conv_lowp_detail

// "bf16_gemm" or "convert_f32" (see above): the path this shape and dtype's forward takes now with
// the active kernel set (forced, else remembered from a measurement, else the fixed rule)
const char* conv2d_lowp_path(const ConvShape& s, DType t);

}  // namespace minidl
