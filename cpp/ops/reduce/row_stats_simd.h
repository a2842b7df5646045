// Float32 statistics of one contiguous run of values, for one ISA: the sum, and the sum of
// squared deviations from a given mean (the second pass of an exact two-pass variance).
// Shared by LayerNorm (one row: layernorm_simd.cpp) and BatchNorm (one run of a channel:
// batchnorm_simd.cpp), so the two normalizations compute their statistics with the same code.
// Four independent accumulators hide the add latency and keep the rounding error ~sqrt(n/4)
// smaller than one running sum; the callers add per-run results in double.
//
// Include ONLY from cpp/ops/*/*_simd.cpp (compiled once per ISA, see core/vec.h): everything
// here lives in minidl::MINIDL_ISA_NS::(anonymous).
#pragma once
#include <cstdint>

#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// sum x
inline float row_sum(const float* x, int64_t n) {
  constexpr int64_t W = Vec::width;
  Vec a0 = Vec::zero(), a1 = Vec::zero(), a2 = Vec::zero(), a3 = Vec::zero();
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 = a0 + Vec::load(x + i);
    a1 = a1 + Vec::load(x + i + W);
    a2 = a2 + Vec::load(x + i + 2 * W);
    a3 = a3 + Vec::load(x + i + 3 * W);
  }
  for (; i + W <= n; i += W) a0 = a0 + Vec::load(x + i);
  if (i < n) a1 = a1 + Vec::load_partial(x + i, static_cast<int>(n - i));
  return reduce_add((a0 + a1) + (a2 + a3));
}

// sum (x - mean)^2
inline float row_sum_sq_dev(const float* x, int64_t n, float mean) {
  constexpr int64_t W = Vec::width;
  const Vec m = Vec::set1(mean);
  Vec a0 = Vec::zero(), a1 = Vec::zero(), a2 = Vec::zero(), a3 = Vec::zero();
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    Vec d0 = Vec::load(x + i) - m, d1 = Vec::load(x + i + W) - m;
    Vec d2 = Vec::load(x + i + 2 * W) - m, d3 = Vec::load(x + i + 3 * W) - m;
    a0 = fmadd(d0, d0, a0);
    a1 = fmadd(d1, d1, a1);
    a2 = fmadd(d2, d2, a2);
    a3 = fmadd(d3, d3, a3);
  }
  for (; i + W <= n; i += W) {
    Vec d = Vec::load(x + i) - m;
    a0 = fmadd(d, d, a0);
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    // the tail through a zero-padded buffer, so unused lanes add nothing
    alignas(64) float tmp[W];
    for (int l = 0; l < W; ++l) tmp[l] = l < r ? x[i + l] - mean : 0.0f;
    Vec t = Vec::load(tmp);
    a1 = fmadd(t, t, a1);
  }
  return reduce_add((a0 + a1) + (a2 + a3));
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
