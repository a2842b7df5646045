// Layer normalization (Ba, Kiros & Hinton, 2016) as one fused kernel, forward and backward.
// x is viewed as (M, N): M rows (every leading dimension), N = the product of the
// normalized_shape dimensions. Statistics are per row (computed by the shifted two-pass
// algorithm of ops/reduce/row_stats.h, so a constant row normalises to exactly 0):
//   mean = sum(x) / N,  var = sum((x - mean)^2) / N (biased),  rstd = 1 / sqrt(var + eps)
//   y = (x - mean) * rstd * weight + bias          (weight, bias: N values, or null = 1 / 0)
// Backward with xhat = (x - mean) rstd and g = dy * weight:
//   dx = rstd (g - mean(g) - xhat mean(g xhat))     (means over the row)
//   dweight = sum over rows of dy xhat,  dbias = sum over rows of dy.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// save_mean and save_rstd receive M values each (dtype of x).
void layer_norm_forward(const void* x, void* y, const void* weight, const void* bias, void* save_mean,
                        void* save_rstd, DType dtype, int64_t rows, int64_t cols, double eps);

// gx, gweight, gbias may each be null (not wanted); weight null means 1.
void layer_norm_backward(const void* gy, const void* x, const void* weight, const void* save_mean,
                         const void* save_rstd, void* gx, void* gweight, void* gbias, DType dtype, int64_t rows,
                         int64_t cols);

// Float32 building blocks over one row of n values (layernorm_simd.cpp), the vector versions
// of the steps of the reference row loops at the top of layernorm.cpp.
struct LayerNormSimd {
  // the row statistics: sum (x - shift), then sum (x - mean)^2 (the shifted two-pass mean and
  // variance of ops/reduce/row_stats.h; the code is ops/reduce/row_stats_simd.h, shared with
  // BatchNorm)
  float (*sum_shifted)(const float* x, int64_t n, float shift);
  float (*sum_sq_dev)(const float* x, int64_t n, float mean);
  // y = (x - mean) rstd w + b   (w and b may be null), with the mean given as a float32 pair
  // mean + mean_lo, so the row's mean is not rounded to float32 before the subtraction
  void (*normalize_row)(const float* x, float* y, const float* w, const float* b, int64_t n, float mean,
                        float mean_lo, float rstd);
  // one pass over the row: *sum_g = sum g, *sum_g_xhat = sum g xhat with g = dy w (w null = 1);
  // if gw_acc/gb_acc are not null, gw_acc += dy xhat and gb_acc += dy
  void (*backward_sums)(const float* dy, const float* x, const float* w, int64_t n, float mean, float rstd,
                        float* sum_g, float* sum_g_xhat, float* gw_acc, float* gb_acc);
  // dx = rstd (g - a - xhat c)  with g = dy w, xhat = (x - mean) rstd
  void (*backward_input)(const float* dy, const float* x, const float* w, float* dx, int64_t n, float mean,
                         float rstd, float a, float c);
};

}  // namespace minidl
