// Softmax / log-softmax over the middle axis of (outer, len, inner), forward and backward.
//
// Read top to bottom:
//   1. The reference: one line of len elements at stride `inner`, forward then backward, in
//      double. float64, and float32 under md.backend.use("scalar"), run these;
//      softmax_simd.cpp holds the float32 row (inner == 1) and column (inner > 1) versions
//      (SoftmaxSimd), tested against them.
//   2. Which path runs: float32 on the active SIMD set, rows (inner == 1), column panels
//      (inner > 1, over a dim that is not the last) or, for slabs much narrower than a vector,
//      the rows of a transposed copy; otherwise the reference. OpenMP over the rows, the
//      outer x panels, the slabs, or the outer * inner lines, about 16K elements per task.
//      logsumexp over a dim (reduce.cpp's ReduceOp::logsumexp) takes the same float32 paths.
#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/cpu_caches.h"
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

// inner > 1: the slabs (outer, len, inner) are cut into panels of columns, one task each.
// A panel's len x n floats take at most half the L2 (cpu_caches), so the 2nd and 3rd pass
// read it from L2 (a (1024, 1024) slab: panels of 256 columns, 1 KiB read per row); the
// panels are multiples of 16 floats (64 bytes) and at most kMaxColumns wide (the column state
// on the stack: 16 KiB). With fewer tasks than threads the panels are narrowed down to 16
// columns so every thread gets one. Each column is computed by one task from start to end,
// so the result does not depend on the panels or the thread count.
struct Panels {
  int64_t width, per_slab;
};
Panels column_panels(int64_t outer, int64_t len, int64_t inner) {
  const int64_t half_l2 = std::max<int64_t>(cpu_caches().l2.size / 2, 64 * 1024);
  int64_t width = std::clamp<int64_t>(half_l2 / (std::max<int64_t>(len, 1) * 4) / 16 * 16, 16, kMaxColumns);
  int64_t per_slab = (inner + width - 1) / width;
  const int64_t want = (num_threads() + outer - 1) / outer;  // panels per slab that feed every thread
  if (per_slab < want) per_slab = std::min<int64_t>(want, (inner + 15) / 16);
  width = ((inner + per_slab - 1) / per_slab + 15) / 16 * 16;
  return {std::min(width, inner), (inner + width - 1) / width};
}

// f(slab o, first column c0, columns n) for every panel, in parallel
template <class F>
void for_column_panels(int64_t outer, int64_t len, int64_t inner, const F& f) {
  const Panels p = column_panels(outer, len, inner);
  parallel_for(outer * p.per_slab, std::max<int64_t>(1, 16384 / std::max<int64_t>(len * p.width, 1)),
               [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / p.per_slab, c0 = t % p.per_slab * p.width;
      f(o, c0, std::min(p.width, inner - c0));
    }
  });
}

// Narrow slabs ((N, C, 2) logits, a 3 x 3 map): a column vector would use inner of its W
// lanes, so each slab (len, inner) is transposed into a scratch block of inner contiguous
// rows, the row kernel runs on them and the result is transposed back. Taken while a column
// vector would fill less than 2/3 of its lanes (inner < 2 W / 3). Measured (N, 64, inner),
// 1M floats, softmax forward, columns -> transposed, ms (Xeon, 1 thread, CPU time, median of
// 15): AVX-512 inner 2 9.8 -> 2.0, 5 3.9 -> 1.6, 8 2.4 -> 1.5, 12 1.65 -> 1.96 (columns kept);
// AVX2 2 8.9 -> 2.3, 5 3.5 -> 1.9, 8 1.39 -> 1.73 (columns kept); forward + backward and
// logsumexp alike. f(slab o, scratch of `arrays` blocks of len * inner floats), the slabs in
// parallel.
bool narrow(const SoftmaxSimd* simd, int64_t inner) { return inner > 1 && 3 * inner < 2 * simd->lanes; }

template <class F>
void for_narrow_slabs(int64_t outer, int64_t len, int64_t inner, int arrays, const F& f) {
  parallel_for(outer, std::max<int64_t>(1, 16384 / (len * inner)), [&](int64_t b, int64_t e) {
    std::vector<float> scratch(static_cast<size_t>(arrays * len * inner));
    for (int64_t o = b; o < e; ++o) f(o, scratch.data());
  });
}

// dst (inner, len) <- src (len, inner), and back
inline void to_rows(const float* src, float* dst, int64_t len, int64_t inner) {
  for (int64_t r = 0; r < len; ++r)
    for (int64_t i = 0; i < inner; ++i) dst[i * len + r] = src[r * inner + i];
}
inline void from_rows(const float* src, float* dst, int64_t len, int64_t inner) {
  for (int64_t r = 0; r < len; ++r)
    for (int64_t i = 0; i < inner; ++i) dst[r * inner + i] = src[i * len + r];
}

}  // namespace

// --8<-- [start:which_path]
void softmax_forward(const void* x, void* y, DType dtype, int64_t outer, int64_t len, int64_t inner, bool log) {
  if (dtype == DType::f32)
    if (const SoftmaxSimd* simd = softmax_simd_active()) {
      const float* px = static_cast<const float*>(x);
      float* py = static_cast<float*>(y);
      bool done = true;
      if (inner == 1) {
        parallel_for(outer, line_grain(len), [&](int64_t b, int64_t e) {
          if (!simd->forward_f32(px + b * len, py + b * len, e - b, len, log)) done = false;
        });
      } else if (narrow(simd, inner)) {
        const int64_t n = len * inner;
        for_narrow_slabs(outer, len, inner, 2, [&](int64_t o, float* t) {
          to_rows(px + o * n, t, len, inner);
          if (!simd->forward_f32(t, t + n, inner, len, log)) done = false;
          from_rows(t + n, py + o * n, len, inner);
        });
      } else {
        for_column_panels(outer, len, inner, [&](int64_t o, int64_t c0, int64_t n) {
          const int64_t at = o * len * inner + c0;
          if (!simd->forward_columns_f32(px + at, py + at, len, inner, n, log)) done = false;
        });
      }
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
  if (dtype == DType::f32)
    if (const SoftmaxSimd* simd = softmax_simd_active()) {
      const float* pg = static_cast<const float*>(gy);
      const float* py = static_cast<const float*>(y);
      float* po = static_cast<float*>(gx);
      bool done = true;
      if (inner == 1) {
        parallel_for(outer, line_grain(len), [&](int64_t b, int64_t e) {
          if (!simd->backward_f32(pg + b * len, py + b * len, po + b * len, e - b, len, log)) done = false;
        });
      } else if (narrow(simd, inner)) {
        const int64_t n = len * inner;
        for_narrow_slabs(outer, len, inner, 3, [&](int64_t o, float* t) {
          to_rows(pg + o * n, t, len, inner);
          to_rows(py + o * n, t + n, len, inner);
          if (!simd->backward_f32(t, t + n, t + 2 * n, inner, len, log)) done = false;
          from_rows(t + 2 * n, po + o * n, len, inner);
        });
      } else {
        for_column_panels(outer, len, inner, [&](int64_t o, int64_t c0, int64_t n) {
          const int64_t at = o * len * inner + c0;
          if (!simd->backward_columns_f32(pg + at, py + at, po + at, len, inner, n, log)) done = false;
        });
      }
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

// --8<-- [start:logsumexp]
bool logsumexp_simd(const void* x, DType dtype, int64_t outer, int64_t len, int64_t inner, void* out) {
  const SoftmaxSimd* simd = softmax_simd_active();
  if (dtype != DType::f32 || len <= 0 || !simd) return false;
  const float* px = static_cast<const float*>(x);
  float* po = static_cast<float*>(out);
  bool done = true;
  if (inner == 1) {
    parallel_for(outer, line_grain(len), [&](int64_t b, int64_t e) {
      if (!simd->logsumexp_rows_f32(px + b * len, po + b, e - b, len)) done = false;
    });
  } else if (narrow(simd, inner)) {
    for_narrow_slabs(outer, len, inner, 1, [&](int64_t o, float* t) {
      to_rows(px + o * len * inner, t, len, inner);
      if (!simd->logsumexp_rows_f32(t, po + o * inner, inner, len)) done = false;
    });
  } else {
    for_column_panels(outer, len, inner, [&](int64_t o, int64_t c0, int64_t n) {
      if (!simd->logsumexp_columns_f32(px + o * len * inner + c0, po + o * inner + c0, len, inner, n)) done = false;
    });
  }
  return done;
}
// --8<-- [end:logsumexp]

}  // namespace minidl
