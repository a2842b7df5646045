// Batch normalization, forward and backward (formulas and shapes: batchnorm.h).
//
// Channel c of x (N, C, S) is N contiguous runs of S values, and every step of the textbook
// algorithm is a loop over those runs. First the reference: the loop of each step over one
// run, forward and backward side by side, sums in double. The scalar kernel set and float64
// run them; the float32 SIMD set runs NormSimd (batchnorm_simd.cpp), the same loops vectorized,
// and tests/test_batchnorm.py compares the two.
//
// Then which path runs, fused per channel: the forward reads x twice for the statistics (a
// mean shifted by the channel's first value, then the squared deviations: the shifted two-pass
// statistics of ops/reduce/row_stats.h) and once for
// y; the backward reads (dy, x) once for the two sums and once for dx. Sums over a channel are
// kept in double, whatever the storage type. Channels are split between threads. The backward
// of relu(batch_norm(x)) (relu_affine) is the same two passes with the ReLU's mask recomputed
// from x: the ReLU's own pass over dy and y disappears.
#include "batchnorm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "ops/reduce/row_stats.h"

MINIDL_SIMD_TABLE(minidl::NormSimd, norm_simd)

namespace minidl {
namespace {

// --8<-- [start:reference]
// ---- reference: the loops of one run of S values -----------------------------------
// Forward, over the M = N S values of a channel (mean and var by the shifted two-pass
// algorithm of ops/reduce/row_stats.h, so a constant channel normalises to exactly 0):
//   mean = sum(x) / M,  var = sum((x - mean)^2) / M (biased),  invstd = 1 / sqrt(var + eps),
//   y = (x - mean) a + b  with a = weight invstd, b = bias.

// (the statistics of a run: run_sum_shifted_reference and run_sum_sq_dev_reference of
// ops/reduce/row_stats.h, shared with LayerNorm)

// y = (x - mean) a + b
template <class T>
T affine_reference(T x, double mean, double a, double b) {
  return T((x - mean) * a + b);
}
template <class T>
void run_affine_reference(const T* x, T* y, int64_t n, double mean, double a, double b) {
  for (int64_t i = 0; i < n; ++i) y[i] = affine_reference(x[i], mean, a, b);
}

// Backward, with xhat = (x - mean) invstd and sums over the channel:
//   dweight = sum(dy xhat),  dbias = sum(dy),
//   dx = weight invstd (dy - mean(dy) - xhat mean(dy xhat))  (batch statistics)
//      = k dy + bx (x - mean) + c0  with k = weight invstd, bx = -k invstd^2 sum(dy (x - mean)) / M,
//        c0 = -k sum(dy) / M;  with fixed (running) statistics bx = c0 = 0.

// *sum_dy += sum dy,  *sum_dy_xmu += sum dy (x - mean)
template <class T>
void run_grad_sums_reference(const T* dy, const T* x, int64_t n, double mean, double* sum_dy, double* sum_dy_xmu) {
  double s1 = 0, s2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    s1 += dy[i];
    s2 += double(dy[i]) * (x[i] - mean);
  }
  *sum_dy += s1;
  *sum_dy_xmu += s2;
}

// dx = k dy + bx (x - mean) + c0
template <class T>
void run_grad_input_reference(const T* dy, const T* x, T* dx, int64_t n, double mean, double k, double bx,
                              double c0) {
  for (int64_t i = 0; i < n; ++i) dx[i] = T(k * dy[i] + bx * (x[i] - mean) + c0);
}

// Backward of relu(batch_norm(x)): the same two loops on dy' = (y <= 0 ? 0 : dy), with y
// recomputed as the forward computed it (relu_affine: BatchNormAffine in batchnorm.h). A
// select, as the ReLU's own backward (activation.cpp, gradient_one) and PyTorch's
// threshold_backward: an inf or NaN dy where y <= 0 gives 0, fused or not.
// (floor: relu_floor_of the dtype the forward rounded y to; 0 when it did not)
template <class T>
T relu_passes(T dy, T x, const double* relu_affine, float floor) {
  const double mean = relu_affine[0], a = relu_affine[1], b = relu_affine[2];
  if (relu_affine[3] == BatchNormAffine::float_fma)  // only float32 runs record this kind
    return std::fma(float(x) - float(mean), float(a), float(b)) <= floor ? T(0) : dy;
  return affine_reference(x, mean, a, b) <= T(floor) ? T(0) : dy;
}

template <class T>
void run_grad_sums_relu_reference(const T* dy, const T* x, int64_t n, double mean, const double* relu_affine,
                                  float floor, double* sum_dy, double* sum_dy_xmu) {
  double s1 = 0, s2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T g = relu_passes(dy[i], x[i], relu_affine, floor);
    s1 += g;
    s2 += double(g) * (x[i] - mean);
  }
  *sum_dy += s1;
  *sum_dy_xmu += s2;
}

template <class T>
void run_grad_input_relu_reference(const T* dy, const T* x, T* dx, int64_t n, double mean, double k, double bx,
                                   double c0, const double* relu_affine, float floor) {
  for (int64_t i = 0; i < n; ++i)
    dx[i] = T(k * relu_passes(dy[i], x[i], relu_affine, floor) + bx * (x[i] - mean) + c0);
}
// --8<-- [end:reference]

// ---- which path runs ---------------------------------------------------------------

// Channel c is N runs of S contiguous values: x[(n C + c) S + s].
template <class T>
struct Channel {
  const BatchNormShape& sh;
  int64_t c;
  int64_t offset(int64_t n) const { return (n * sh.c + c) * sh.s; }
};

// mean and biased variance of the channel (M > 0): the mean shifted by the channel's first
// value, then the squared deviations from it (from its float32 rounding in the SIMD runs)
template <class T>
MeanVar channel_mean_var(const T* x, const Channel<T>& ch, int64_t m, const NormSimd* simd) {
  bool vector_runs = false;
  if constexpr (std::is_same<T, float>::value) vector_runs = simd && ch.sh.s > 1;
  const T shift = x[ch.offset(0)];
  double sum_shifted = 0;
  for (int64_t n = 0; n < ch.sh.n; ++n) {
    const T* run = x + ch.offset(n);
    if constexpr (std::is_same<T, float>::value)
      if (vector_runs) {
        sum_shifted += simd->sum_shifted(run, ch.sh.s, shift);
        continue;
      }
    sum_shifted += run_sum_shifted_reference(run, ch.sh.s, double(shift));
  }
  const double mean = double(shift) + sum_shifted / m;
  const double seen = vector_runs ? double(static_cast<float>(mean)) : mean;  // the mean pass 2 uses
  double sum_sq_dev = 0;
  for (int64_t n = 0; n < ch.sh.n; ++n) {
    const T* run = x + ch.offset(n);
    if constexpr (std::is_same<T, float>::value)
      if (vector_runs) {
        sum_sq_dev += simd->sum_sq_dev(run, ch.sh.s, static_cast<float>(seen));
        continue;
      }
    sum_sq_dev += run_sum_sq_dev_reference(run, ch.sh.s, seen);
  }
  return {mean, finish_var(sum_sq_dev, m, mean - seen)};
}

// Short runs (S values, S * sizeof(T) below a few KiB) defeat the hardware prefetchers: a
// channel's runs lie C S apart, a stride they do not follow, and each run is over before a
// stream within it is detected. So the backward's first pass asks for the run kPrefetchBytes
// ahead itself. On the Xeon (AVX-512, 1 thread, inputs evicted from cache), the fused
// BatchNorm+ReLU backward of (64, 64, 8, 8) (256-byte runs) took 0.59-0.68 ms with it,
// 0.69-0.83 ms without; (64, 32, 16, 16) 0.57-0.79 vs 0.67-0.86 ms; no change with hot caches.
// Runs of 4 KiB and more ((64, 16, 32, 32)) are left to the hardware.
constexpr int64_t kPrefetchBytes = 2048;

template <class T>
void prefetch_run(const T* p, int64_t s) {
#if defined(__GNUC__)
  const char* b = reinterpret_cast<const char*>(p);
  for (int64_t off = 0; off < s * int64_t(sizeof(T)); off += 64) __builtin_prefetch(b + off);
#else
  (void)p, (void)s;
#endif
}

// channels per parallel chunk: fork when a chunk is ~32K values or more
int64_t channel_grain(const BatchNormShape& sh) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(sh.n * sh.s, 1));
}

template <class T>
void forward_impl(const T* x, T* y, const T* weight, const T* bias, T* running_mean, T* running_var,
                  T* save_mean, T* save_invstd, const BatchNormShape& sh, bool use_batch_stats, double momentum,
                  double eps, const NormSimd* simd, double* affine_out) {
  const int64_t m = sh.n * sh.s;
  parallel_for(sh.c, channel_grain(sh), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const Channel<T> ch{sh, c};
      double mean, invstd;
      if (use_batch_stats) {
        const MeanVar stats = m > 0 ? channel_mean_var(x, ch, m, simd) : MeanVar{0.0, 0.0};
        mean = stats.mean;
        const double var = stats.var;  // biased
        invstd = 1.0 / std::sqrt(var + eps);
        if (running_mean) running_mean[c] = T((1 - momentum) * running_mean[c] + momentum * mean);
        if (running_var) {
          const double unbiased = m > 1 ? var * m / (m - 1) : var;
          running_var[c] = T((1 - momentum) * running_var[c] + momentum * unbiased);
        }
      } else {
        mean = running_mean[c];
        invstd = 1.0 / std::sqrt(double(running_var[c]) + eps);
      }
      save_mean[c] = T(mean);
      save_invstd[c] = T(invstd);
      // y = (x - mean) * a + b
      const double a = (weight ? double(weight[c]) : 1.0) * invstd;
      const double b = bias ? double(bias[c]) : 0.0;
      bool vector_runs = false;
      if constexpr (std::is_same<T, float>::value) vector_runs = simd && sh.s > 1;
      // (x - mean) a + b with mean = float(mean) + mean_lo in the vector runs: the low part goes
      // into b, so the mean is not rounded to float32 before the subtraction
      const float mean_f = float(mean), a_f = float(a), b_f = float(b - (mean - double(mean_f)) * a);
      for (int64_t n = 0; n < sh.n; ++n) {
        const T* xr = x + ch.offset(n);
        T* yr = y + ch.offset(n);
        if constexpr (std::is_same<T, float>::value)
          if (vector_runs) {
            simd->affine(xr, yr, sh.s, mean_f, a_f, b_f);
            continue;
          }
        run_affine_reference(xr, yr, sh.s, mean, a, b);
      }
      if (affine_out) {
        double* o = affine_out + 4 * c;
        if (vector_runs) {
          o[0] = mean_f, o[1] = a_f, o[2] = b_f, o[3] = BatchNormAffine::float_fma;
        } else {
          o[0] = mean, o[1] = a, o[2] = b, o[3] = BatchNormAffine::reference_double;
        }
      }
    }
  });
}

// --8<-- [start:backward_impl]
template <class T>
void backward_impl(const T* gy, const T* x, const T* weight, const T* save_mean, const T* save_invstd, T* gx,
                   T* gweight, T* gbias, const BatchNormShape& sh, bool use_batch_stats, const NormSimd* simd,
                   const double* relu_affine, float relu_floor) {
  const int64_t m = sh.n * sh.s;
  parallel_for(sh.c, channel_grain(sh), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const Channel<T> ch{sh, c};
      const double mean = save_mean[c], invstd = save_invstd[c];
      const double* relu = relu_affine ? relu_affine + 4 * c : nullptr;
      bool vector_runs = false;
      if constexpr (std::is_same<T, float>::value) {
        vector_runs = simd && sh.s > 1;
        // the vector ReLU mask reproduces the forward's float32 fma of x - mean (the saved mean:
        // the same float the forward used); any other record goes through relu_passes
        if (relu && !(relu[3] == BatchNormAffine::float_fma && relu[0] == double(float(mean))))
          vector_runs = false;
      }
      // pass 1: sum(dy) and sum(dy (x - mean))
      double sum_dy = 0, sum_dy_xmu = 0;
      const int64_t run_bytes = sh.s * int64_t(sizeof(T));
      const int64_t ahead = run_bytes < kPrefetchBytes ? std::max<int64_t>(1, kPrefetchBytes / run_bytes) : 0;
      for (int64_t n = 0; n < ahead && n < sh.n; ++n) {
        prefetch_run(gy + ch.offset(n), sh.s);
        prefetch_run(x + ch.offset(n), sh.s);
      }
      for (int64_t n = 0; n < sh.n; ++n) {
        const T* g = gy + ch.offset(n);
        const T* xr = x + ch.offset(n);
        if (ahead && n + ahead < sh.n) {
          prefetch_run(gy + ch.offset(n + ahead), sh.s);
          prefetch_run(x + ch.offset(n + ahead), sh.s);
        }
        if constexpr (std::is_same<T, float>::value)
          if (vector_runs) {
            float s1, s2;
            if (relu)
              simd->grad_sums_relu(g, xr, sh.s, float(mean), float(relu[1]), float(relu[2]), relu_floor, &s1, &s2);
            else
              simd->grad_sums(g, xr, sh.s, float(mean), &s1, &s2);
            sum_dy += s1;
            sum_dy_xmu += s2;
            continue;
          }
        if (relu)
          run_grad_sums_relu_reference(g, xr, sh.s, mean, relu, relu_floor, &sum_dy, &sum_dy_xmu);
        else
          run_grad_sums_reference(g, xr, sh.s, mean, &sum_dy, &sum_dy_xmu);
      }
      if (gweight) gweight[c] = T(sum_dy_xmu * invstd);  // sum(dy xhat)
      if (gbias) gbias[c] = T(sum_dy);
      if (!gx) continue;
      // pass 2: dx = k dy + bx (x - mean) + c0
      const double k = (weight ? double(weight[c]) : 1.0) * invstd;
      double bx = 0, c0 = 0;
      if (use_batch_stats && m > 0) {
        bx = -k * invstd * invstd * sum_dy_xmu / m;  // -k xhat mean(dy xhat) / (x - mean)
        c0 = -k * sum_dy / m;                        // -k mean(dy)
      }
      for (int64_t n = 0; n < sh.n; ++n) {
        const T* g = gy + ch.offset(n);
        const T* xr = x + ch.offset(n);
        T* o = gx + ch.offset(n);
        if constexpr (std::is_same<T, float>::value)
          if (vector_runs) {
            if (relu)
              simd->grad_input_relu(g, xr, o, sh.s, float(mean), float(k), float(bx), float(c0), float(relu[1]),
                                    float(relu[2]), relu_floor);
            else
              simd->grad_input(g, xr, o, sh.s, float(mean), float(k), float(bx), float(c0));
            continue;
          }
        if (relu)
          run_grad_input_relu_reference(g, xr, o, sh.s, mean, k, bx, c0, relu, relu_floor);
        else
          run_grad_input_reference(g, xr, o, sh.s, mean, k, bx, c0);
      }
    }
  });
}
// --8<-- [end:backward_impl]

}  // namespace

void batch_norm_forward(const void* x, void* y, const void* weight, const void* bias, void* running_mean,
                        void* running_var, void* save_mean, void* save_invstd, DType dtype,
                        const BatchNormShape& shape, bool use_batch_stats, double momentum, double eps,
                        double* affine_out) {
  if (!use_batch_stats && (!running_mean || !running_var))
    throw KernelError("batch_norm: running_mean and running_var are needed without batch statistics");
  const NormSimd* simd = norm_simd_active();
  MINIDL_DISPATCH_FLOAT(dtype, "batch_norm", {
    forward_impl<T>(static_cast<const T*>(x), static_cast<T*>(y), static_cast<const T*>(weight),
                    static_cast<const T*>(bias), static_cast<T*>(running_mean), static_cast<T*>(running_var),
                    static_cast<T*>(save_mean), static_cast<T*>(save_invstd), shape, use_batch_stats, momentum,
                    eps, simd, affine_out);
  });
}

void batch_norm_backward(const void* gy, const void* x, const void* weight, const void* save_mean,
                         const void* save_invstd, void* gx, void* gweight, void* gbias, DType dtype,
                         const BatchNormShape& shape, bool use_batch_stats, const double* relu_affine,
                         float relu_floor) {
  const NormSimd* simd = norm_simd_active();
  MINIDL_DISPATCH_FLOAT(dtype, "batch_norm_backward", {
    backward_impl<T>(static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const T*>(weight),
                     static_cast<const T*>(save_mean), static_cast<const T*>(save_invstd), static_cast<T*>(gx),
                     static_cast<T*>(gweight), static_cast<T*>(gbias), shape, use_batch_stats, simd,
                     relu_affine, relu_floor);
  });
}

float relu_floor_of(DType t) {
  if (t == DType::bf16) return std::ldexp(1.0f, -134);
  if (t == DType::f16) return std::ldexp(1.0f, -25);
  return 0.0f;
}

}  // namespace minidl
