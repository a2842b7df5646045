// Softmax / log-softmax over the middle axis of (outer, len, inner), forward and backward.
//
// Read top to bottom:
//   1. The reference: one line of len elements at stride `inner`, forward then backward, in
//      double. float64, and float32 under md.backend.use("scalar") or with inner > 1, run these;
//      softmax_simd.cpp holds the float32 row versions (SoftmaxSimd, inner == 1), tested
//      against them.
//   2. Which path runs: float32 rows (inner == 1) on the active SIMD set, otherwise the
//      reference; OpenMP over the outer * inner lines, about 16K elements per task.
#include "softmax.h"

#include <cmath>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::SoftmaxSimd, softmax_simd)

namespace minidl {
namespace {

// ---- reference: one line x[0], x[stride], ..., x[(len-1) stride] --------------------------

// --8<-- [start:forward_reference]
// m = max_r x_r,  s = sum_r exp(x_r - m)
// softmax:      y_r = exp(x_r - m) / s
// log_softmax:  y_r = (x_r - m) - log s
template <class T>
inline void softmax_forward_reference(const T* x, T* y, int64_t len, int64_t stride, bool log) {
  T m = -INFINITY;
  for (int64_t r = 0; r < len; ++r) m = x[r * stride] > m ? x[r * stride] : m;
  if (std::isinf(m) && m < 0) m = 0;  // an all -inf row: exp(-inf - 0) = 0, sum 0 -> nan like torch
  double sum = 0;
  for (int64_t r = 0; r < len; ++r) sum += std::exp(static_cast<double>(x[r * stride] - m));
  if (log) {
    // (x - m) - log(sum), not x - (m + log(sum)): m + log(sum) rounds to m's ulp (1000 -> 6e-5)
    const double log_sum = std::log(sum);
    for (int64_t r = 0; r < len; ++r)
      y[r * stride] = static_cast<T>(static_cast<double>(x[r * stride] - m) - log_sum);
  } else {
    const double inv = 1.0 / sum;
    for (int64_t r = 0; r < len; ++r)
      y[r * stride] = static_cast<T>(std::exp(static_cast<double>(x[r * stride] - m)) * inv);
  }
}
// --8<-- [end:forward_reference]

// --8<-- [start:backward_reference]
// softmax:      gx_r = y_r (gy_r - sum_k gy_k y_k)          (dy_k/dx_r = y_k ([k = r] - y_r))
// log_softmax:  gx_r = gy_r - exp(y_r) sum_k gy_k           (dy_k/dx_r = [k = r] - softmax_r)
template <class T>
inline void softmax_backward_reference(const T* gy, const T* y, T* gx, int64_t len, int64_t stride, bool log) {
  double dot = 0;
  for (int64_t r = 0; r < len; ++r)
    dot += log ? static_cast<double>(gy[r * stride]) : static_cast<double>(gy[r * stride]) * y[r * stride];
  for (int64_t r = 0; r < len; ++r) {
    const int64_t j = r * stride;
    gx[j] = log ? static_cast<T>(gy[j] - std::exp(static_cast<double>(y[j])) * dot)
                : static_cast<T>(y[j] * (gy[j] - dot));
  }
}
// --8<-- [end:backward_reference]

// ---- which path runs ----------------------------------------------------------------------

// lines per parallel task: about 16K elements
int64_t line_grain(int64_t len) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)); }

}  // namespace

// --8<-- [start:which_path]
void softmax_forward(const void* x, void* y, DType dtype, int64_t outer, int64_t len, int64_t inner, bool log) {
  if (dtype == DType::f32 && inner == 1)
    if (const SoftmaxSimd* simd = softmax_simd_active()) {
      bool done = true;
      parallel_for(outer, line_grain(len), [&](int64_t b, int64_t e) {
        if (!simd->forward_f32(static_cast<const float*>(x) + b * len, static_cast<float*>(y) + b * len, e - b, len, log))
          done = false;
      });
      if (done) return;
    }
  MINIDL_DISPATCH_FLOAT(dtype, "softmax", {
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    parallel_for(outer * inner, line_grain(len), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t base = (k / inner) * len * inner + (k % inner);
        softmax_forward_reference(px + base, py + base, len, inner, log);
      }
    });
  });
}
// --8<-- [end:which_path]

void softmax_backward(const void* gy, const void* y, void* gx, DType dtype, int64_t outer, int64_t len,
                      int64_t inner, bool log) {
  if (dtype == DType::f32 && inner == 1)
    if (const SoftmaxSimd* simd = softmax_simd_active()) {
      bool done = true;
      parallel_for(outer, line_grain(len), [&](int64_t b, int64_t e) {
        if (!simd->backward_f32(static_cast<const float*>(gy) + b * len, static_cast<const float*>(y) + b * len,
                                static_cast<float*>(gx) + b * len, e - b, len, log))
          done = false;
      });
      if (done) return;
    }
  MINIDL_DISPATCH_FLOAT(dtype, "softmax_backward", {
    const T* pg = static_cast<const T*>(gy);
    const T* py = static_cast<const T*>(y);
    T* po = static_cast<T*>(gx);
    parallel_for(outer * inner, line_grain(len), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t base = (k / inner) * len * inner + (k % inner);
        softmax_backward_reference(pg + base, py + base, po + base, len, inner, log);
      }
    });
  });
}

}  // namespace minidl
