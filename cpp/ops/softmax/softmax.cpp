// Softmax / log-softmax over the middle axis of (outer, len, inner), forward and backward.
#include "softmax.h"

#include <cmath>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::SoftmaxSimd, softmax_simd)

namespace minidl {

void softmax_forward(const void* x, void* y, DType dtype, int64_t outer, int64_t len, int64_t inner, bool log) {
  if (dtype == DType::f32 && inner == 1)
    if (const SoftmaxSimd* simd = softmax_simd_active()) {
      bool done = true;
      parallel_for(outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
        if (!simd->forward_f32(static_cast<const float*>(x) + b * len, static_cast<float*>(y) + b * len, e - b, len, log))
          done = false;
      });
      if (done) return;
    }
  MINIDL_DISPATCH_FLOAT(dtype, "softmax", {
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    parallel_for(outer * inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t base = (k / inner) * len * inner + (k % inner);
        T m = -INFINITY;
        for (int64_t r = 0; r < len; ++r) m = px[base + r * inner] > m ? px[base + r * inner] : m;
        if (std::isinf(m) && m < 0) m = 0;  // an all -inf row: exp(-inf - 0) = 0, sum 0 -> nan like torch
        double sum = 0;
        for (int64_t r = 0; r < len; ++r) sum += std::exp(static_cast<double>(px[base + r * inner] - m));
        if (log) {
          // (x - m) - log(sum), not x - (m + log(sum)): m + log(sum) rounds to m's ulp (1000 -> 6e-5)
          const double log_sum = std::log(sum);
          for (int64_t r = 0; r < len; ++r)
            py[base + r * inner] = static_cast<T>(static_cast<double>(px[base + r * inner] - m) - log_sum);
        } else {
          const double inv = 1.0 / sum;
          for (int64_t r = 0; r < len; ++r)
            py[base + r * inner] = static_cast<T>(std::exp(static_cast<double>(px[base + r * inner] - m)) * inv);
        }
      }
    });
  });
}

void softmax_backward(const void* gy, const void* y, void* gx, DType dtype, int64_t outer, int64_t len,
                      int64_t inner, bool log) {
  if (dtype == DType::f32 && inner == 1)
    if (const SoftmaxSimd* simd = softmax_simd_active()) {
      bool done = true;
      parallel_for(outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
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
    parallel_for(outer * inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t base = (k / inner) * len * inner + (k % inner);
        double dot = 0;
        for (int64_t r = 0; r < len; ++r)
          dot += log ? static_cast<double>(pg[base + r * inner])
                     : static_cast<double>(pg[base + r * inner]) * py[base + r * inner];
        for (int64_t r = 0; r < len; ++r) {
          const int64_t j = base + r * inner;
          po[j] = log ? static_cast<T>(pg[j] - std::exp(static_cast<double>(py[j])) * dot)
                      : static_cast<T>(py[j] * (pg[j] - dot));
        }
      }
    });
  });
}

}  // namespace minidl
