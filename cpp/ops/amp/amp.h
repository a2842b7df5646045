// Dynamic loss scaling (md.amp.GradScaler): the inf/NaN check and the unscale of every
// gradient in ONE pass over memory, for all gradient tensors of an optimizer in one call
// (PyTorch's _amp_foreach_non_finite_check_and_unscale_):
//   found_inf = any(!isfinite(g))  over all elements of all tensors (checked before scaling)
//   g        *= inv_scale          (skipped when inv_scale == 1)
// Shapes: gradient tensor t is sizes[t] contiguous elements at grads[t], float32 or float64.
// The reference loop is unscale_range in cpp/ops/amp/amp.cpp, the float32 SIMD loop (AmpSimd,
// below) in cpp/ops/amp/amp_simd.cpp; tensors are cut into chunks the OpenMP team shares.
#pragma once
#include <cstdint>

namespace minidl {

// Returns true when some element of some tensor was inf or NaN. T = float or double.
template <class T>
bool unscale_and_check(int64_t n_tensors, T* const* grads, const int64_t* sizes, T inv_scale);

struct AmpSimd {
  // g[0..n) *= inv_scale (unless inv_scale == 1); returns true if some g was not finite
  bool (*unscale_f32)(float* g, int64_t n, float inv_scale);
};

}  // namespace minidl
