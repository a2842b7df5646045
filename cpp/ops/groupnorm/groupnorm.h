// Group normalization (Wu & He, 2018) as one fused kernel per direction; InstanceNorm is the
// case G = C. x is (N, C, S), contiguous, S = the product of the spatial dims (1 for (N, C)).
// The C channels split into G groups of D = C / G; a group of a sample is the contiguous block
// of M = D S values x[n, g D : (g + 1) D, :]. Per (n, g), by the shifted two-pass algorithm of
// ops/reduce/row_stats.h (a constant group normalises to exactly 0):
//   mean = sum(x) / M,  var = sum((x - mean)^2) / M (biased),  rstd = 1 / sqrt(var + eps)
//   y = (x - mean) rstd gamma[c] + beta[c]          (gamma, beta: C values, or null = 1 / 0)
// computed as y = (x - mean) a[c] + beta[c] with a[c] = rstd gamma[c]: one multiply-add per
// value, the per-channel scale folded with the group's rstd. (PyTorch folds the mean as well,
// y = x a[c] + (beta[c] - mean a[c]); that loses the low digits of a group with a large mean and
// a small spread, which the subtraction first keeps exact: see tests/test_groupnorm.py.)
// Backward, from per-(n, c) sums over the S positions (PyTorch's GroupNormKernel.cpp does the
// same with sum dy x; centred sums keep the large-mean case accurate):
//   db[n, c] = sum dy,   dsc[n, c] = sum dy (x - mean)
//   dbeta[c] = sum_n db[n, c],   dgamma[c] = sum_n rstd dsc[n, c]
// and per (n, g), with g = dy gamma (means over the group's M values):
//   dx = rstd (g - mean(g) - xhat mean(g xhat)),   xhat = (x - mean) rstd
//      = k1[c] dy + k2 (x - mean) + k3,   k1[c] = rstd gamma[c],
//        k2 = -rstd^3 sum_c gamma[c] dsc[n, c] / M,   k3 = -rstd sum_c gamma[c] db[n, c] / M
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

struct GroupNormShape {
  int64_t n = 0, c = 0, s = 0;  // x is (n, c, s)
  int64_t groups = 1;           // divides c
};

// save_mean and save_rstd receive N G values each (dtype of x), in (n, g) order.
void group_norm_forward(const void* x, void* y, const void* gamma, const void* beta, void* save_mean,
                        void* save_rstd, DType dtype, const GroupNormShape& shape, double eps);

// gx, ggamma, gbeta may each be null (not wanted); gamma null means 1.
void group_norm_backward(const void* gy, const void* x, const void* gamma, const void* save_mean,
                         const void* save_rstd, void* gx, void* ggamma, void* gbeta, DType dtype,
                         const GroupNormShape& shape);

// Float32 building blocks over one group of d channels x s positions (x, y, dy, dx point at
// the group's start; gamma and beta at its d values, or null = 1 / 0): the vector versions of
// the steps of the reference loops at the top of groupnorm.cpp (groupnorm_simd.cpp). They run
// along each channel's s positions, or across the channels when s = 1 ((N, C) input), so
// neither shape pays a call per channel.
struct GroupNormSimd {
  // the group statistics over its d s values: sum (x - shift), then sum (x - mean)^2
  // (ops/reduce/row_stats_simd.h, the code LayerNorm and BatchNorm use)
  float (*sum_shifted)(const float* x, int64_t n, float shift);
  float (*sum_sq_dev)(const float* x, int64_t n, float mean);
  // y = (x - mean) a[c] + b[c],  a[c] = rstd gamma[c],  b[c] = beta[c] - mean_lo a[c]
  // (mean + mean_lo: the group's mean as a float32 pair, so it is not rounded before the subtraction)
  void (*normalize_group)(const float* x, float* y, const float* gamma, const float* beta, int64_t d, int64_t s,
                          float mean, float mean_lo, float rstd);
  // per channel c: sum_dy[c] = sum dy,  sum_dy_xc[c] = sum dy (x - mean)
  void (*channel_sums)(const float* dy, const float* x, int64_t d, int64_t s, float mean, float* sum_dy,
                       float* sum_dy_xc);
  // dx = k1[c] dy + k2 (x - mean) + k3,  k1[c] = rstd gamma[c]
  void (*input_grad)(const float* dy, const float* x, float* dx, const float* gamma, int64_t d, int64_t s,
                     float mean, float rstd, float k2, float k3);
};

}  // namespace minidl
