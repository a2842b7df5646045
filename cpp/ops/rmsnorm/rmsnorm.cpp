// RMS normalization, forward and backward (formulas and shapes: rmsnorm.h).
//
// First the reference: the textbook loops of one row, forward and backward side by side, sums
// in double. The scalar kernel set and float64 run them; the float32 SIMD set runs RmsNormSimd
// (rmsnorm_simd.cpp), the same steps vectorized, and tests compare the two
// (tests/cpp/test_kernels.cpp, tests/test_groupnorm.py).
//
// Then which path runs, as for LayerNorm (ops/layernorm/layernorm.cpp): rows split between
// threads; a row stays in L1 between its two passes, so the forward streams x once and the
// backward (dy, x) once; the weight gradient is a column sum over rows, accumulated per thread
// chunk into private buffers and added at the end in a fixed order.
#include "rmsnorm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::RmsNormSimd, rmsnorm_simd)

namespace minidl {
namespace {

// ---- reference: one row of n values ------------------------------------------------

// --8<-- [start:rms_reference]
// y = x rrms w with rrms = 1 / sqrt(mean(x^2) + eps); saves rrms for the backward
template <class T>
void rms_norm_row_forward_reference(const T* x, T* y, const T* w, int64_t n, double eps, T* save_rrms) {
  double sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) sum_sq += double(x[i]) * double(x[i]);
  const double rrms = 1.0 / std::sqrt(sum_sq / n + eps);
  *save_rrms = T(rrms);
  for (int64_t i = 0; i < n; ++i) y[i] = T(double(x[i]) * rrms * (w ? double(w[i]) : 1.0));
}

// With g = dy w:  dx = rrms g - x rrms^3 mean(g x),  dweight += dy x rrms
// (dweight: this row's share of the column sum, added into gw_acc; dx or gw_acc may be null)
template <class T, class Acc>
void rms_norm_row_backward_reference(const T* dy, const T* x, const T* w, int64_t n, double rrms, T* dx,
                                     Acc* gw_acc) {
  double sum_gx = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum_gx += double(dy[i]) * (w ? double(w[i]) : 1.0) * double(x[i]);
    if (gw_acc) gw_acc[i] += Acc(double(dy[i]) * double(x[i]) * rrms);
  }
  if (!dx) return;
  const double c = rrms * rrms * rrms * sum_gx / n;
  for (int64_t i = 0; i < n; ++i) dx[i] = T(rrms * double(dy[i]) * (w ? double(w[i]) : 1.0) - c * double(x[i]));
}
// --8<-- [end:rms_reference]

// ---- which path runs ---------------------------------------------------------------

// rows per thread chunk: fork when a chunk holds ~16K values or more
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

template <class T>
void forward_impl(const T* x, T* y, const T* w, T* save_rrms, int64_t rows, int64_t cols, double eps) {
  const RmsNormSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = rmsnorm_simd_active();
  parallel_for(rows, row_grain(cols), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      if constexpr (std::is_same<T, float>::value) {
        if (simd) {
          const double rrms = 1.0 / std::sqrt(double(simd->sum_sq(xr, cols)) / cols + eps);
          save_rrms[r] = float(rrms);
          simd->scale_row(xr, yr, w, cols, float(rrms));
          continue;
        }
      }
      rms_norm_row_forward_reference(xr, yr, w, cols, eps, save_rrms + r);
    }
  });
}

template <class T>
void backward_impl(const T* gy, const T* x, const T* w, const T* save_rrms, T* gx, T* gw, int64_t rows,
                   int64_t cols) {
  const RmsNormSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = rmsnorm_simd_active();
  // dweight accumulators: float rows for float32 (summed in double at the end), double for float64
  using Acc = typename std::conditional<std::is_same<T, float>::value, float, double>::type;
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>(num_threads(), (rows + row_grain(cols) - 1) / row_grain(cols)));
  std::vector<Acc> part_w(gw ? chunks * cols : 0, Acc(0));
  parallel_for(chunks, 0, [&](int64_t cb, int64_t ce) {
    for (int64_t ch = cb; ch < ce; ++ch) {
      Acc* pw = gw ? part_w.data() + ch * cols : nullptr;
      for (int64_t r = rows * ch / chunks; r < rows * (ch + 1) / chunks; ++r) {
        const T* dyr = gy + r * cols;
        const T* xr = x + r * cols;
        const double rrms = save_rrms[r];
        if constexpr (std::is_same<T, float>::value) {
          if (simd) {
            const float sum_gx = simd->backward_sums(dyr, xr, w, cols, float(rrms), pw);
            if (gx) simd->backward_input(dyr, xr, w, gx + r * cols, cols, float(rrms),
                                         float(rrms * rrms * rrms * sum_gx / cols));
            continue;
          }
        }
        rms_norm_row_backward_reference(dyr, xr, w, cols, rrms, gx ? gx + r * cols : nullptr, pw);
      }
    }
  });
  if (!gw) return;
  for (int64_t i = 0; i < cols; ++i) {
    double s = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += part_w[ch * cols + i];
    gw[i] = T(s);
  }
}

}  // namespace

void rms_norm_forward(const void* x, void* y, const void* weight, void* save_rrms, DType dtype, int64_t rows,
                      int64_t cols, double eps) {
  MINIDL_DISPATCH_FLOAT(dtype, "rms_norm", {
    forward_impl<T>(static_cast<const T*>(x), static_cast<T*>(y), static_cast<const T*>(weight),
                    static_cast<T*>(save_rrms), rows, cols, eps);
  });
}

void rms_norm_backward(const void* gy, const void* x, const void* weight, const void* save_rrms, void* gx,
                       void* gweight, DType dtype, int64_t rows, int64_t cols) {
  MINIDL_DISPATCH_FLOAT(dtype, "rms_norm_backward", {
    backward_impl<T>(static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const T*>(weight),
                     static_cast<const T*>(save_rrms), static_cast<T*>(gx), static_cast<T*>(gweight), rows, cols);
  });
}

}  // namespace minidl
