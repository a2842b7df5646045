// Float32 statistics of one contiguous run of values, for one ISA: the sum (for a pilot mean
// p), then in one more pass the sums of d = x - p and of d^2. Shared by LayerNorm (one row:
// layernorm_simd.cpp) and BatchNorm (one run of a channel: batchnorm_simd.cpp), so the two
// normalizations compute their statistics with the same code. The caller finishes with the
// corrected two-pass formulas (Chan, Golub & LeVeque 1983; Higham, "Accuracy and Stability of
// Numerical Algorithms", sec. 1.9), in double:
//   mean = p + sum(d) / n,   var = (sum(d^2) - sum(d)^2 / n) / n.
// Why the correction: a float32 sum of n values near 1000 is off by a few ulps of 1000, so a
// mean taken from it alone is off too, and (x - mean) rstd shifts every output of a
// low-spread row (a constant row of 1000.3 gave 0.0193 instead of 0). The d are small and
// exact (x - p, Sterbenz), so sum(d) / n restores the mean to well under an ulp; a constant
// row gets its own value back exactly.
// Independent accumulators (four for the sum, two pairs for the deviations) hide the add
// latency and keep the rounding error ~sqrt(k) smaller than one running sum; the callers add
// per-run results in double. The scalar reference of these loops and the finishing formulas
// are in row_stats.h.
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

// *sum_d = sum d, *sum_d2 = sum d^2 with d = x - pilot
inline void row_sum_dev(const float* x, int64_t n, float pilot, float* sum_d, float* sum_d2) {
  constexpr int64_t W = Vec::width;
  const Vec p = Vec::set1(pilot);
  Vec s0 = Vec::zero(), s1 = Vec::zero(), q0 = Vec::zero(), q1 = Vec::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const Vec d0 = Vec::load(x + i) - p, d1 = Vec::load(x + i + W) - p;
    s0 = s0 + d0;
    s1 = s1 + d1;
    q0 = fmadd(d0, d0, q0);
    q1 = fmadd(d1, d1, q1);
  }
  if (i + W <= n) {
    const Vec d = Vec::load(x + i) - p;
    s0 = s0 + d;
    q0 = fmadd(d, d, q0);
    i += W;
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    // the tail through a zero-padded buffer, so unused lanes add nothing
    alignas(64) float tmp[W];
    for (int l = 0; l < W; ++l) tmp[l] = l < r ? x[i + l] - pilot : 0.0f;
    const Vec d = Vec::load(tmp);
    s1 = s1 + d;
    q1 = fmadd(d, d, q1);
  }
  *sum_d = reduce_add(s0 + s1);
  *sum_d2 = reduce_add(q0 + q1);
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
