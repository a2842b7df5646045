// GradScaler's fused inf/NaN check + unscale (formula in amp.h).
//
// Read top to bottom:
//   1. The reference loop over one range, unscale_range: float64, and float32 under
//      md.backend.use("scalar"), run it; amp_simd.cpp holds the float32 vector version (AmpSimd)
//      with the same result for every input. (No backward: this runs after the backward pass.)
//   2. Which path runs: all gradient tensors cut into 32K-element chunks shared by the OpenMP
//      team; each float32 chunk goes to the active SIMD set, any other to unscale_range.
#include "amp.h"

#include <atomic>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::AmpSimd, amp_simd)

namespace minidl {
namespace {

// ---- reference ----------------------------------------------------------------------------

// --8<-- [start:unscale_reference]
// found |= !isfinite(g[i]);  g[i] *= inv_scale  (the check reads the value before scaling,
// as PyTorch does, so a finite g that overflows only after scaling by a large inv_scale
// is not reported)
template <class T>
bool unscale_range(T* g, int64_t n, T inv_scale) {
  bool found = false;
  const bool scale = inv_scale != T(1);
  for (int64_t i = 0; i < n; ++i) {
    const T v = g[i];
    found |= !std::isfinite(v);
    if (scale) g[i] = v * inv_scale;
  }
  return found;
}
// --8<-- [end:unscale_reference]

// ---- which path runs ----------------------------------------------------------------------

constexpr int64_t kChunk = 1 << 15;  // elements per work item (128 KiB of float32)

}  // namespace

template <class T>
bool unscale_and_check(int64_t n_tensors, T* const* grads, const int64_t* sizes, T inv_scale) {
  // work items: (tensor, offset) chunks over the concatenation of all tensors
  std::vector<int64_t> item_tensor, item_offset;
  for (int64_t t = 0; t < n_tensors; ++t)
    for (int64_t o = 0; o < sizes[t]; o += kChunk) {
      item_tensor.push_back(t);
      item_offset.push_back(o);
    }
  const AmpSimd* simd = std::is_same_v<T, float> ? amp_simd_active() : nullptr;
  std::atomic<bool> found{false};
  parallel_for(static_cast<int64_t>(item_tensor.size()), 2, [&](int64_t i0, int64_t i1) {
    bool local = false;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = item_tensor[i], o = item_offset[i];
      const int64_t n = sizes[t] - o < kChunk ? sizes[t] - o : kChunk;
      T* g = grads[t] + o;
      if constexpr (std::is_same_v<T, float>) {
        if (simd) {
          local |= simd->unscale_f32(g, n, inv_scale);
          continue;
        }
      }
      local |= unscale_range<T>(g, n, inv_scale);
    }
    if (local) found.store(true, std::memory_order_relaxed);
  });
  return found.load();
}

template bool unscale_and_check<float>(int64_t, float* const*, const int64_t*, float);
template bool unscale_and_check<double>(int64_t, double* const*, const int64_t*, double);

}  // namespace minidl
