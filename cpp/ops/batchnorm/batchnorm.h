// Batch normalization (Ioffe & Szegedy, 2015) as one fused kernel, forward and backward.
// x is viewed as (N, C, S): N samples, C channels, S = product of the spatial sizes (1 for
// BatchNorm1d on (N, C)). Statistics are per channel over the M = N * S values.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

struct BatchNormShape {
  int64_t n = 0, c = 0, s = 1;
};

// Training (use_batch_stats): mean_c and biased var_c of the batch (two passes over the
// channel: the mean shifted by the first value, then squared deviations, as in
// ops/reduce/row_stats.h -- no cancellation, and a constant channel gets its value as the
// mean), invstd = 1/sqrt(var+eps);
// if running_mean/var are not null they become (1 - momentum) r + momentum stat, with the
// UNBIASED variance var * M / (M - 1) (PyTorch). Otherwise the running statistics are the
// statistics. Then y = (x - mean) * invstd * weight + bias (weight/bias null = 1/0).
// save_mean and save_invstd (C values, the dtype of x) receive the statistics used.
// affine_out (4 C doubles, or null): per channel the map that produced y, exactly as computed
// (BatchNormAffine below), so that a backward fused with a following ReLU can recompute the
// ReLU's mask y > 0 from x bit for bit instead of reading y or the ReLU's gradient.
void batch_norm_forward(const void* x, void* y, const void* weight, const void* bias, void* running_mean,
                        void* running_var, void* save_mean, void* save_invstd, DType dtype,
                        const BatchNormShape& shape, bool use_batch_stats, double momentum, double eps,
                        double* affine_out = nullptr);

// How the forward computed y from x in channel c: {mean, scale, shift, kind} at affine[4 c].
//   kind 0 (the reference loop, double arithmetic): y = T((x - mean) scale + shift)
//   kind 1 (the float32 SIMD runs):  y = fmaf(x - mean, scale, shift) in float32, one rounding
//          per operation (mean, scale, shift are float32 values then)
struct BatchNormAffine {
  enum Kind { reference_double = 0, float_fma = 1 };
};

// Gradients for the statistics saved by the forward. With batch statistics
// (xhat = (x - mean) invstd, sums over the channel's M values):
//   dx = invstd w (dy - sum(dy)/M - xhat sum(dy xhat)/M)
// with fixed (running) statistics dx = invstd w dy. Both: dweight = sum(dy xhat),
// dbias = sum(dy). gx, gweight, gbias may each be null (not wanted).
// relu_affine (null, or the affine_out of the forward): the backward of relu(batch_norm(x)),
// gy being the gradient of the ReLU's output: dy = gy [y > 0], with y recomputed from x by the
// forward's own arithmetic, so that the mask is the one the ReLU saw (y = 0 and NaN do not
// pass), and a product as in the ReLU's own backward (activation.h), so that the result is
// the two kernels' bit for bit. One pass over memory fewer than the ReLU's backward followed
// by this one. relu_floor: y passes where y > relu_floor; 0, or for a 16-bit forward the
// largest float that its rounding took to 0 (relu_floor_of below), since the ReLU saw the
// rounded y.
void batch_norm_backward(const void* gy, const void* x, const void* weight, const void* save_mean,
                         const void* save_invstd, void* gx, void* gweight, void* gbias, DType dtype,
                         const BatchNormShape& shape, bool use_batch_stats, const double* relu_affine = nullptr,
                         float relu_floor = 0.0f);

// The largest float32 that rounds to +0 in dtype t (round to nearest even): 2^-134 for bfloat16
// (half its smallest subnormal 2^-133, a tie that goes to the even 0), 2^-25 for float16; 0 for
// the float32 and float64 outputs, which are not rounded again.
float relu_floor_of(DType t);

// Float32 building blocks over one contiguous run of a channel (length n).
struct NormSimd {
  // sum (x - shift) and sum (x - mean)^2: the shifted two-pass statistics of ops/reduce/row_stats.h
  float (*sum_shifted)(const float* x, int64_t n, float shift);
  float (*sum_sq_dev)(const float* x, int64_t n, float mean);
  void (*affine)(const float* x, float* y, int64_t n, float mean, float a, float b);  // y = a (x - mean) + b
  // *sum_dy = sum dy, *sum_dy_xmu = sum dy (x - mean)
  void (*grad_sums)(const float* dy, const float* x, int64_t n, float mean, float* sum_dy, float* sum_dy_xmu);
  // dx = a dy + b (x - mean) + c
  void (*grad_input)(const float* dy, const float* x, float* dx, int64_t n, float mean, float a, float b, float c);
  // the same two with dy replaced by dy [fmaf(x - mean, relu_scale, relu_shift) > relu_floor]:
  // the ReLU's mask recomputed as the forward's affine computed y (kind float_fma above)
  void (*grad_sums_relu)(const float* dy, const float* x, int64_t n, float mean, float relu_scale, float relu_shift,
                         float relu_floor, float* sum_dy, float* sum_dy_xmu);
  void (*grad_input_relu)(const float* dy, const float* x, float* dx, int64_t n, float mean, float a, float b,
                          float c, float relu_scale, float relu_shift, float relu_floor);
};

// 16-bit input (what BatchNorm2d sees under BF16 autocast: the convolution before it returns
// bfloat16, while weight, bias and the running statistics stay float32, as in PyTorch).
// x, y, gy, gx are raw bfloat16 / float16 patterns of dtype t; every per-channel array is
// float32. The same sums as the float32 kernels above on the exactly widened values, each
// output rounded to t once (batchnorm_lowp.cpp). affine_out / relu_affine as in the float32
// functions: the float32 arithmetic of y before its rounding, for a backward fused with a ReLU.
void batch_norm_forward_lowp(const uint16_t* x, uint16_t* y, DType t, const float* weight, const float* bias,
                             float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                             const BatchNormShape& shape, bool use_batch_stats, double momentum, double eps,
                             double* affine_out = nullptr);
void batch_norm_backward_lowp(const uint16_t* gy, const uint16_t* x, DType t, const float* weight,
                              const float* save_mean, const float* save_invstd, uint16_t* gx, float* gweight,
                              float* gbias, const BatchNormShape& shape, bool use_batch_stats,
                              const double* relu_affine = nullptr);

}  // namespace minidl
