// RMS normalization (Zhang & Sennrich, 2019; LLaMA, T5) as one fused kernel per direction.
// x is viewed as (M, N): M rows (every leading dimension), N = the product of the
// normalized_shape dimensions. No mean is subtracted; per row:
//   rrms = 1 / sqrt(sum(x^2) / N + eps),   y = x rrms weight      (weight: N values, or null = 1)
// Backward with xhat = x rrms and g = dy weight (means over the row):
//   dx = rrms (g - xhat mean(g xhat)) = rrms g - x rrms^3 mean(g x)
//   dweight = sum over rows of dy xhat.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// save_rrms receives M values (dtype of x).
void rms_norm_forward(const void* x, void* y, const void* weight, void* save_rrms, DType dtype, int64_t rows,
                      int64_t cols, double eps);

// gx and gweight may each be null (not wanted); weight null means 1.
void rms_norm_backward(const void* gy, const void* x, const void* weight, const void* save_rrms, void* gx,
                       void* gweight, DType dtype, int64_t rows, int64_t cols);

// Float32 building blocks over one row of n values (rmsnorm_simd.cpp), the vector versions of
// the steps of the reference row loops at the top of rmsnorm.cpp.
struct RmsNormSimd {
  // sum x^2 (row_sum_sq_dev of ops/reduce/row_stats_simd.h with mean 0: its blocked sums)
  float (*sum_sq)(const float* x, int64_t n);
  // y = x rrms w   (w may be null)
  void (*scale_row)(const float* x, float* y, const float* w, int64_t n, float rrms);
  // one pass: returns sum g x with g = dy w (w null = 1); if gw_acc is not null, gw_acc += dy x rrms
  float (*backward_sums)(const float* dy, const float* x, const float* w, int64_t n, float rrms, float* gw_acc);
  // dx = rrms g - c x
  void (*backward_input)(const float* dy, const float* x, const float* w, float* dx, int64_t n, float rrms, float c);
};

}  // namespace minidl
