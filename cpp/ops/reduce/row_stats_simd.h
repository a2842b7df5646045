// Float32 statistics of one contiguous run of values, for one ISA: sum (x - shift) and
// sum (x - mean)^2, the two passes of the shifted two-pass mean and variance of row_stats.h.
// Shared by LayerNorm (one row: layernorm_simd.cpp) and BatchNorm (one run of a channel:
// batchnorm_simd.cpp), so the two normalizations compute their statistics with the same code;
// the callers finish in double (row_stats.h). The scalar reference of these loops is there too.
//
// Include ONLY from cpp/ops/*/*_simd.cpp (compiled once per ISA, see core/vec.h): everything
// here lives in minidl::MINIDL_ISA_NS::(anonymous).
#pragma once
#include <cstdint>

#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// Both sums run in blocks of kBlock values: four vector accumulators within a block, then the
// block's total added to a running vector. Each lane thus adds at most 16 terms in a row
// instead of n / 64. Measured on 4096-value rows with heavy tails or one large outlier
// (tests/test_layernorm.py): one running sum per lane gave up to 19.6x PyTorch's LayerNorm
// error; blocked, at most 3.3x (1-2 ulps of the largest output). The blocking costs one add
// per block.
constexpr int64_t kBlock = 64 * Vec::width;

// The tail of fewer than W values, through a zero-padded buffer (so unused lanes add nothing),
// as d = x - center.
inline Vec tail_dev(const float* x, int r, float center) {
  alignas(64) float tmp[Vec::width];
  for (int l = 0; l < Vec::width; ++l) tmp[l] = l < r ? x[l] - center : 0.0f;
  return Vec::load(tmp);
}

// sum over the row of add(d, acc) for d = x - center: blocks of kBlock values summed in four
// vector accumulators, each block's partial added to a running vector (the tail through
// tail_dev). add(d, acc) = acc + d gives sum (x - shift); fmadd(d, d, acc) gives sum (x - mean)^2.
template <class Add>
inline float row_blocked_sum(const float* x, int64_t n, float center, Add add) {
  constexpr int64_t W = Vec::width;
  const Vec c = Vec::set1(center);
  Vec total = Vec::zero();
  int64_t i = 0;
  while (i + 4 * W <= n) {
    const int64_t whole = (n - i) / (4 * W) * (4 * W);
    const int64_t end = i + (whole < kBlock ? whole : kBlock);
    Vec a0 = Vec::zero(), a1 = Vec::zero(), a2 = Vec::zero(), a3 = Vec::zero();
    for (; i < end; i += 4 * W) {
      a0 = add(Vec::load(x + i) - c, a0);
      a1 = add(Vec::load(x + i + W) - c, a1);
      a2 = add(Vec::load(x + i + 2 * W) - c, a2);
      a3 = add(Vec::load(x + i + 3 * W) - c, a3);
    }
    total = total + ((a0 + a1) + (a2 + a3));
  }
  Vec t = Vec::zero();
  for (; i + W <= n; i += W) t = add(Vec::load(x + i) - c, t);
  if (i < n) t = add(tail_dev(x + i, static_cast<int>(n - i), center), t);
  return reduce_add(total + t);
}

// sum (x - shift)
inline float row_sum_shifted(const float* x, int64_t n, float shift) {
  return row_blocked_sum(x, n, shift, [](Vec d, Vec acc) { return acc + d; });
}

// sum (x - mean)^2
inline float row_sum_sq_dev(const float* x, int64_t n, float mean) {
  return row_blocked_sum(x, n, mean, [](Vec d, Vec acc) { return fmadd(d, d, acc); });
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
