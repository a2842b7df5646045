// Layer normalization, forward and backward (formulas and shapes: layernorm.h).
//
// First the reference: the textbook loops of one row, forward and backward side by side
// (llm.c's layernorm_forward / layernorm_backward, generalised to any row length and optional
// affine parameters), sums in double. The scalar kernel set and float64 run them; the float32
// SIMD set runs LayerNormSimd (layernorm_simd.cpp), the same steps vectorized, and tests
// compare the two (tests/cpp/test_kernels.cpp, tests/test_layernorm.py).
//
// Then which path runs. Each row is independent, so both passes split rows between threads;
// the weight and bias gradients are column sums over rows, accumulated per thread into private
// buffers and added at the end (no atomics, deterministic for a fixed thread count).
#include "layernorm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "ops/reduce/row_stats.h"

MINIDL_SIMD_TABLE(minidl::LayerNormSimd, layernorm_simd)

namespace minidl {
namespace {

// ---- reference: one row of n values ------------------------------------------------

// --8<-- [start:forward_reference]
// y = (x - mean) rstd w + b; saves mean and rstd for the backward
template <class T>
void layer_norm_row_forward_reference(const T* x, T* y, const T* w, const T* b, int64_t n, double eps,
                                      T* save_mean, T* save_rstd) {
  // mean = sum(x) / N, var = sum((x - mean)^2) / N (biased), in two passes: the mean as
  // x[0] + sum(x - x[0]) / N (exact for a constant row), then the squared deviations from it
  // (ops/reduce/row_stats.h), so no cancellation
  double mean = 0, var = 0;
  if (n > 0) {
    mean = double(x[0]) + run_sum_shifted_reference(x, n, double(x[0])) / n;
    var = finish_var(run_sum_sq_dev_reference(x, n, mean), n, 0.0);
  }
  // rstd = 1 / sqrt(var + eps)
  const double rstd = 1.0 / std::sqrt(var + eps);
  *save_mean = T(mean);
  *save_rstd = T(rstd);
  // y = xhat w + b with xhat = (x - mean) rstd (w null = 1, b null = 0)
  for (int64_t i = 0; i < n; ++i) {
    const double xhat = (x[i] - mean) * rstd;
    y[i] = T(xhat * (w ? double(w[i]) : 1.0) + (b ? double(b[i]) : 0.0));
  }
}
// --8<-- [end:forward_reference]

// --8<-- [start:backward_reference]
// With g = dy w and the saved mean and rstd:
//   dx = rstd (g - mean(g) - xhat mean(g xhat)),  dweight += dy xhat,  dbias += dy
// (dweight and dbias: this row's share of the column sums, added into gw_acc / gb_acc; any of
// dx, gw_acc, gb_acc may be null)
template <class T, class Acc>
void layer_norm_row_backward_reference(const T* dy, const T* x, const T* w, int64_t n, double mean, double rstd,
                                       T* dx, Acc* gw_acc, Acc* gb_acc) {
  // one pass for the two row sums and the parameter gradients
  double sum_g = 0, sum_g_xhat = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double xhat = (x[i] - mean) * rstd;
    const double g = double(dy[i]) * (w ? double(w[i]) : 1.0);
    sum_g += g;
    sum_g_xhat += g * xhat;
    if (gw_acc) gw_acc[i] += Acc(dy[i] * xhat);
    if (gb_acc) gb_acc[i] += Acc(dy[i]);
  }
  if (!dx) return;
  // dx = rstd (g - a - xhat c) with a = mean(g), c = mean(g xhat)
  const double a = sum_g / n, c = sum_g_xhat / n;
  for (int64_t i = 0; i < n; ++i) {
    const double xhat = (x[i] - mean) * rstd;
    const double g = double(dy[i]) * (w ? double(w[i]) : 1.0);
    dx[i] = T(rstd * (g - a - xhat * c));
  }
}
// --8<-- [end:backward_reference]

// ---- which path runs ---------------------------------------------------------------

// rows per thread chunk: fork when a chunk holds ~16K values or more
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

template <class T>
// --8<-- [start:forward_impl]
void forward_impl(const T* x, T* y, const T* w, const T* b, T* save_mean, T* save_rstd, int64_t rows, int64_t cols,
                  double eps) {
  const LayerNormSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = layernorm_simd_active();
  parallel_for(rows, row_grain(cols), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      if constexpr (std::is_same<T, float>::value) {
        if (simd) {
          // two passes over a row that sits in L1: the shifted mean, then the squared deviations
          // from its float32 rounding (ops/reduce/row_stats.h)
          double mean = 0, var = 0;
          if (cols > 0) {
            mean = double(xr[0]) + double(simd->sum_shifted(xr, cols, xr[0])) / cols;
            var = finish_var(simd->sum_sq_dev(xr, cols, float(mean)), cols, mean - double(float(mean)));
          }
          const double rstd = 1.0 / std::sqrt(var + eps);
          save_mean[r] = float(mean);
          save_rstd[r] = float(rstd);
          simd->normalize_row(xr, yr, w, b, cols, float(mean), float(mean - double(float(mean))), float(rstd));
          continue;
        }
      }
      layer_norm_row_forward_reference(xr, yr, w, b, cols, eps, save_mean + r, save_rstd + r);
    }
  });
}
// --8<-- [end:forward_impl]

template <class T>
void backward_impl(const T* gy, const T* x, const T* w, const T* save_mean, const T* save_rstd, T* gx, T* gw, T* gb,
                   int64_t rows, int64_t cols) {
  const LayerNormSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = layernorm_simd_active();
  // accumulators for dweight/dbias: float rows for float32 (summed in double at the end),
  // double for float64
  using Acc = typename std::conditional<std::is_same<T, float>::value, float, double>::type;
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>(num_threads(), (rows + row_grain(cols) - 1) / row_grain(cols)));
  const bool want_w = gw != nullptr, want_b = gb != nullptr;
  std::vector<Acc> part_w(want_w ? chunks * cols : 0, Acc(0)), part_b(want_b ? chunks * cols : 0, Acc(0));
  parallel_for(chunks, 0, [&](int64_t cb, int64_t ce) {
    for (int64_t ch = cb; ch < ce; ++ch) {
      Acc* pw = want_w ? part_w.data() + ch * cols : nullptr;
      Acc* pb = want_b ? part_b.data() + ch * cols : nullptr;
      for (int64_t r = rows * ch / chunks; r < rows * (ch + 1) / chunks; ++r) {
        const T* dyr = gy + r * cols;
        const T* xr = x + r * cols;
        const double mean = save_mean[r], rstd = save_rstd[r];
        if constexpr (std::is_same<T, float>::value) {
          if (simd) {
            float sum_g, sum_g_xhat;
            simd->backward_sums(dyr, xr, w, cols, float(mean), float(rstd), &sum_g, &sum_g_xhat, pw, pb);
            if (gx)
              simd->backward_input(dyr, xr, w, gx + r * cols, cols, float(mean), float(rstd), sum_g / cols,
                                   sum_g_xhat / cols);
            continue;
          }
        }
        layer_norm_row_backward_reference(dyr, xr, w, cols, mean, rstd, gx ? gx + r * cols : nullptr, pw, pb);
      }
    }
  });
  for (int64_t i = 0; i < cols; ++i) {
    double sw = 0, sb = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) {
      if (want_w) sw += part_w[ch * cols + i];
      if (want_b) sb += part_b[ch * cols + i];
    }
    if (want_w) gw[i] = T(sw);
    if (want_b) gb[i] = T(sb);
  }
}

}  // namespace

void layer_norm_forward(const void* x, void* y, const void* weight, const void* bias, void* save_mean,
                        void* save_rstd, DType dtype, int64_t rows, int64_t cols, double eps) {
  MINIDL_DISPATCH_FLOAT(dtype, "layer_norm", {
    forward_impl<T>(static_cast<const T*>(x), static_cast<T*>(y), static_cast<const T*>(weight),
                    static_cast<const T*>(bias), static_cast<T*>(save_mean), static_cast<T*>(save_rstd), rows, cols,
                    eps);
  });
}

void layer_norm_backward(const void* gy, const void* x, const void* weight, const void* save_mean,
                         const void* save_rstd, void* gx, void* gweight, void* gbias, DType dtype, int64_t rows,
                         int64_t cols) {
  MINIDL_DISPATCH_FLOAT(dtype, "layer_norm_backward", {
    backward_impl<T>(static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const T*>(weight),
                     static_cast<const T*>(save_mean), static_cast<const T*>(save_rstd), static_cast<T*>(gx),
                     static_cast<T*>(gweight), static_cast<T*>(gbias), rows, cols);
  });
}

}  // namespace minidl
