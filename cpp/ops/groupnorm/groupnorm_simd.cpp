// Float32 group-norm loops for one ISA: the vector versions of the steps of the reference
// loops at the top of groupnorm.cpp, over one channel's S contiguous positions (the group
// statistics are the shared row_stats_simd.h sums over the group's D S values).
#include "groupnorm.h"
#include "core/vec.h"
#include "ops/reduce/row_stats_simd.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

// y = (x - mean) a + b
void affine_channel(const float* x, float* y, int64_t n, float mean, float a, float b) {
  const Vec vm = Vec::set1(mean), va = Vec::set1(a), vb = Vec::set1(b);
  int64_t i = 0;
  for (; i + W <= n; i += W) fmadd(Vec::load(x + i) - vm, va, vb).store(y + i);
  if (i < n) {
    const int r = int(n - i);
    fmadd(Vec::load_partial(x + i, r) - vm, va, vb).store_partial(y + i, r);
  }
}

// sum dy and sum dy (x - mean); two accumulator pairs hide the add/FMA latency
void channel_sums(const float* dy, const float* x, int64_t n, float mean, float* sum_dy, float* sum_dy_xc) {
  const Vec vm = Vec::set1(mean);
  Vec s0 = Vec::zero(), s1 = Vec::zero(), p0 = Vec::zero(), p1 = Vec::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const Vec d0 = Vec::load(dy + i), d1 = Vec::load(dy + i + W);
    s0 = s0 + d0;
    s1 = s1 + d1;
    p0 = fmadd(d0, Vec::load(x + i) - vm, p0);
    p1 = fmadd(d1, Vec::load(x + i + W) - vm, p1);
  }
  for (; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    // partial loads give 0 in the unused lanes: dy = 0 there adds nothing to either sum
    const Vec d = r == W ? Vec::load(dy + i) : Vec::load_partial(dy + i, r);
    const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    s0 = s0 + d;
    p0 = fmadd(d, xv - vm, p0);
  }
  *sum_dy = reduce_add(s0 + s1);
  *sum_dy_xc = reduce_add(p0 + p1);
}

// dx = k1 dy + k2 (x - mean) + k3
void channel_input_grad(const float* dy, const float* x, float* dx, int64_t n, float mean, float k1, float k2,
                        float k3) {
  const Vec vm = Vec::set1(mean), v1 = Vec::set1(k1), v2 = Vec::set1(k2), v3 = Vec::set1(k3);
  int64_t i = 0;
  for (; i + W <= n; i += W)
    fmadd(Vec::load(dy + i), v1, fmadd(Vec::load(x + i) - vm, v2, v3)).store(dx + i);
  if (i < n) {
    const int r = int(n - i);
    fmadd(Vec::load_partial(dy + i, r), v1, fmadd(Vec::load_partial(x + i, r) - vm, v2, v3)).store_partial(dx + i, r);
  }
}

}  // namespace

extern const GroupNormSimd groupnorm_simd = {&row_sum_shifted, &row_sum_sq_dev, &affine_channel, &channel_sums,
                                             &channel_input_grad};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
