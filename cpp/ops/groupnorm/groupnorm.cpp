// Group normalization, forward and backward (formulas and shapes: groupnorm.h).
//
// First the reference: the textbook loops of one group of one sample, forward and backward
// side by side, sums in double. The scalar kernel set and float64 run them; the float32 SIMD
// set runs GroupNormSimd (groupnorm_simd.cpp), the same steps vectorized (along each channel's
// S positions, or across channels when S = 1), and tests compare the two (tests/cpp/test_kernels.cpp, tests/test_groupnorm.py).
//
// Then which path runs. Groups are independent, so both directions split the N G groups
// between threads, and each group is finished while it is in cache: the forward reads the
// group twice for its statistics and once more to write y, the backward reads (dy, x) for the
// per-channel sums and again for dx. A group of GroupNorm(8, 64) at 32x32 is 8 x 1024 floats
// (32 KiB per tensor), so the second reads hit L2 and each direction streams its tensors from
// memory once. (PyTorch's backward makes two sweeps over the whole tensor, the sums and then
// dx.) The weight and bias gradients are sums over n of the per-(n, c) sums, taken after the
// parallel part in a fixed order: deterministic for any thread count.
#include "groupnorm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "ops/reduce/row_stats.h"

MINIDL_SIMD_TABLE(minidl::GroupNormSimd, groupnorm_simd)

namespace minidl {
namespace {

// ---- reference: one group of d channels x s positions (x, y, dy, dx point at its start) ----

// y = (x - mean) rstd gamma[c] + beta[c] for the group's channels c0 .. c0 + d - 1
template <class T>
void group_forward_reference(const T* x, T* y, const T* gamma, const T* beta, int64_t c0, int64_t d, int64_t s,
                             double eps, T* save_mean, T* save_rstd) {
  // mean and biased variance over the group's m = d s values, shifted two-pass (row_stats.h)
  const int64_t m = d * s;
  const double mean = double(x[0]) + run_sum_shifted_reference(x, m, double(x[0])) / m;
  const double var = finish_var(run_sum_sq_dev_reference(x, m, mean), m, 0.0);
  const double rstd = 1.0 / std::sqrt(var + eps);
  *save_mean = T(mean);
  *save_rstd = T(rstd);
  for (int64_t c = 0; c < d; ++c) {
    // the channel's scale a = rstd gamma and shift beta: one multiply-add per value
    const double a = rstd * (gamma ? double(gamma[c0 + c]) : 1.0);
    const double b = beta ? double(beta[c0 + c]) : 0.0;
    for (int64_t i = 0; i < s; ++i) y[c * s + i] = T((double(x[c * s + i]) - mean) * a + b);
  }
}

// Per channel: db[c] = sum dy, dsc[c] = sum dy (x - mean) (the shares of dbeta and dgamma);
// then, if dx is wanted, dx = k1[c] dy + k2 (x - mean) + k3 (groupnorm.h).
template <class T>
void group_backward_reference(const T* dy, const T* x, const T* gamma, int64_t c0, int64_t d, int64_t s, double mean,
                              double rstd, T* dx, double* db, double* dsc) {
  double sum_g = 0, sum_g_xc = 0;  // sum over the group of g = dy gamma and of g (x - mean)
  for (int64_t c = 0; c < d; ++c) {
    double sdy = 0, sdyx = 0;
    for (int64_t i = 0; i < s; ++i) {
      sdy += double(dy[c * s + i]);
      sdyx += double(dy[c * s + i]) * (double(x[c * s + i]) - mean);
    }
    db[c] = sdy;
    dsc[c] = sdyx;
    const double gm = gamma ? double(gamma[c0 + c]) : 1.0;
    sum_g += gm * sdy;
    sum_g_xc += gm * sdyx;
  }
  if (!dx) return;
  // dx = rstd (g - mean(g) - xhat mean(g xhat)) with xhat = (x - mean) rstd
  const double m = double(d * s);
  const double k2 = -rstd * rstd * rstd * sum_g_xc / m, k3 = -rstd * sum_g / m;
  for (int64_t c = 0; c < d; ++c) {
    const double k1 = rstd * (gamma ? double(gamma[c0 + c]) : 1.0);
    for (int64_t i = 0; i < s; ++i)
      dx[c * s + i] = T(k1 * double(dy[c * s + i]) + k2 * (double(x[c * s + i]) - mean) + k3);
  }
}

// ---- float32 SIMD: the same steps, the loops over the group in GroupNormSimd ------------

void group_forward_simd(const GroupNormSimd& simd, const float* x, float* y, const float* gamma, const float* beta,
                        int64_t c0, int64_t d, int64_t s, double eps, float* save_mean, float* save_rstd) {
  const int64_t m = d * s;
  const double mean = double(x[0]) + double(simd.sum_shifted(x, m, x[0])) / m;
  // pass 2 and the normalisation see the mean rounded to float32; mean_lo is the rest
  const float mean_f = float(mean);
  const double mean_lo = mean - double(mean_f);
  const double var = finish_var(simd.sum_sq_dev(x, m, mean_f), m, mean_lo);
  const double rstd = 1.0 / std::sqrt(var + eps);
  *save_mean = mean_f;
  *save_rstd = float(rstd);
  simd.normalize_group(x, y, gamma ? gamma + c0 : nullptr, beta ? beta + c0 : nullptr, d, s, mean_f, float(mean_lo),
                       float(rstd));
}

// sum_dy, sum_dy_xc: d floats of scratch
void group_backward_simd(const GroupNormSimd& simd, const float* dy, const float* x, const float* gamma, int64_t c0,
                         int64_t d, int64_t s, double mean, double rstd, float* dx, double* db, double* dsc,
                         float* sum_dy, float* sum_dy_xc) {
  simd.channel_sums(dy, x, d, s, float(mean), sum_dy, sum_dy_xc);
  double sum_g = 0, sum_g_xc = 0;
  for (int64_t c = 0; c < d; ++c) {
    db[c] = sum_dy[c];
    dsc[c] = sum_dy_xc[c];
    const double gm = gamma ? double(gamma[c0 + c]) : 1.0;
    sum_g += gm * db[c];
    sum_g_xc += gm * dsc[c];
  }
  if (!dx) return;
  const double m = double(d * s);
  const double k2 = -rstd * rstd * rstd * sum_g_xc / m, k3 = -rstd * sum_g / m;
  simd.input_grad(dy, x, dx, gamma ? gamma + c0 : nullptr, d, s, float(mean), float(rstd), float(k2), float(k3));
}

// ---- which path runs ---------------------------------------------------------------

// groups per thread chunk: fork when a chunk holds ~16K values or more
int64_t group_grain(int64_t group_size) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(group_size, 1)); }

template <class T>
void forward_impl(const T* x, T* y, const T* gamma, const T* beta, T* save_mean, T* save_rstd,
                  const GroupNormShape& sh, double eps) {
  const GroupNormSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = groupnorm_simd_active();
  const int64_t d = sh.c / sh.groups, m = d * sh.s;
  parallel_for(sh.n * sh.groups, group_grain(m), [&](int64_t begin, int64_t end) {
    for (int64_t ng = begin; ng < end; ++ng) {
      const int64_t c0 = (ng % sh.groups) * d, off = ng * m;
      if constexpr (std::is_same<T, float>::value) {
        if (simd) {
          group_forward_simd(*simd, x + off, y + off, gamma, beta, c0, d, sh.s, eps, save_mean + ng, save_rstd + ng);
          continue;
        }
      }
      group_forward_reference(x + off, y + off, gamma, beta, c0, d, sh.s, eps, save_mean + ng, save_rstd + ng);
    }
  });
}

template <class T>
void backward_impl(const T* gy, const T* x, const T* gamma, const T* save_mean, const T* save_rstd, T* gx, T* ggamma,
                   T* gbeta, const GroupNormShape& sh) {
  const GroupNormSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = groupnorm_simd_active();
  const int64_t d = sh.c / sh.groups, m = d * sh.s;
  std::vector<double> db(sh.n * sh.c), dsc(sh.n * sh.c);  // per (n, c): sum dy, sum dy (x - mean)
  parallel_for(sh.n * sh.groups, group_grain(m), [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(simd ? 2 * d : 0);  // the SIMD set's float32 per-channel sums
    for (int64_t ng = begin; ng < end; ++ng) {
      const int64_t c0 = (ng % sh.groups) * d, off = ng * m;
      T* dx = gx ? gx + off : nullptr;
      if constexpr (std::is_same<T, float>::value) {
        if (simd) {
          group_backward_simd(*simd, gy + off, x + off, gamma, c0, d, sh.s, save_mean[ng], save_rstd[ng], dx,
                              db.data() + ng * d, dsc.data() + ng * d, scratch.data(), scratch.data() + d);
          continue;
        }
      }
      group_backward_reference(gy + off, x + off, gamma, c0, d, sh.s, double(save_mean[ng]), double(save_rstd[ng]),
                               dx, db.data() + ng * d, dsc.data() + ng * d);
    }
  });
  // dbeta[c] = sum_n db[n, c],  dgamma[c] = sum_n rstd[n, g(c)] dsc[n, c]
  for (int64_t c = 0; c < sh.c; ++c) {
    double sb = 0, sg = 0;
    for (int64_t n = 0; n < sh.n; ++n) {
      sb += db[n * sh.c + c];
      sg += double(save_rstd[n * sh.groups + c / d]) * dsc[n * sh.c + c];
    }
    if (gbeta) gbeta[c] = T(sb);
    if (ggamma) ggamma[c] = T(sg);
  }
}

}  // namespace

void group_norm_forward(const void* x, void* y, const void* gamma, const void* beta, void* save_mean,
                        void* save_rstd, DType dtype, const GroupNormShape& shape, double eps) {
  if (shape.n * shape.c * shape.s == 0) return;
  MINIDL_DISPATCH_FLOAT(dtype, "group_norm", {
    forward_impl<T>(static_cast<const T*>(x), static_cast<T*>(y), static_cast<const T*>(gamma),
                    static_cast<const T*>(beta), static_cast<T*>(save_mean), static_cast<T*>(save_rstd), shape, eps);
  });
}

void group_norm_backward(const void* gy, const void* x, const void* gamma, const void* save_mean,
                         const void* save_rstd, void* gx, void* ggamma, void* gbeta, DType dtype,
                         const GroupNormShape& shape) {
  MINIDL_DISPATCH_FLOAT(dtype, "group_norm_backward", {
    backward_impl<T>(static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const T*>(gamma),
                     static_cast<const T*>(save_mean), static_cast<const T*>(save_rstd), static_cast<T*>(gx),
                     static_cast<T*>(ggamma), static_cast<T*>(gbeta), shape);
  });
}

}  // namespace minidl
