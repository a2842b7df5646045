// Float32 RMS-norm row loops for one ISA: the vector versions of the steps of the reference
// row loops at the top of rmsnorm.cpp (sum of squares, scale; backward sum, dx). As in
// LayerNorm, a row (typically 512..8192 values) stays in L1 between the two passes.
#include "rmsnorm.h"
#include "core/vec.h"
#include "ops/reduce/row_stats_simd.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

// w may be null: load 1 instead
inline Vec load_or_one(const float* p, int64_t i, int r) {
  if (!p) return Vec::set1(1.0f);
  return r == W ? Vec::load(p + i) : Vec::load_partial(p + i, r);
}

// the blocked sum of row_stats_simd.h (its accuracy on long heavy-tailed rows) with centre 0
float sum_sq(const float* x, int64_t n) { return row_sum_sq_dev(x, n, 0.0f); }

void scale_row(const float* x, float* y, const float* w, int64_t n, float rrms) {
  const Vec vr = Vec::set1(rrms);
  for (int64_t i = 0; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    const Vec out = xv * vr * load_or_one(w, i, r);
    if (r == W) out.store(y + i); else out.store_partial(y + i, r);
  }
}

float backward_sums(const float* dy, const float* x, const float* w, int64_t n, float rrms, float* gw_acc) {
  const Vec vr = Vec::set1(rrms);
  Vec s0 = Vec::zero(), s1 = Vec::zero();
  int64_t i = 0;
  // two independent accumulators hide the FMA latency
  for (; i + 2 * W <= n; i += 2 * W) {
    const Vec d0 = Vec::load(dy + i), d1 = Vec::load(dy + i + W);
    const Vec x0 = Vec::load(x + i), x1 = Vec::load(x + i + W);
    s0 = fmadd(w ? d0 * Vec::load(w + i) : d0, x0, s0);
    s1 = fmadd(w ? d1 * Vec::load(w + i + W) : d1, x1, s1);
    if (gw_acc) {
      fmadd(d0, x0 * vr, Vec::load(gw_acc + i)).store(gw_acc + i);
      fmadd(d1, x1 * vr, Vec::load(gw_acc + i + W)).store(gw_acc + i + W);
    }
  }
  for (; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    // partial loads give 0 in the unused lanes, so they add nothing to any sum
    const Vec d = r == W ? Vec::load(dy + i) : Vec::load_partial(dy + i, r);
    const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    s0 = fmadd(d * load_or_one(w, i, r), xv, s0);
    if (gw_acc) {
      const Vec acc = fmadd(d, xv * vr, r == W ? Vec::load(gw_acc + i) : Vec::load_partial(gw_acc + i, r));
      if (r == W) acc.store(gw_acc + i); else acc.store_partial(gw_acc + i, r);
    }
  }
  return reduce_add(s0 + s1);
}

void backward_input(const float* dy, const float* x, const float* w, float* dx, int64_t n, float rrms, float c) {
  const Vec vr = Vec::set1(rrms), vc = Vec::set1(c);
  for (int64_t i = 0; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    const Vec d = r == W ? Vec::load(dy + i) : Vec::load_partial(dy + i, r);
    const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    const Vec out = fnmadd(vc, xv, d * load_or_one(w, i, r) * vr);
    if (r == W) out.store(dx + i); else out.store_partial(dx + i, r);
  }
}

}  // namespace

extern const RmsNormSimd rmsnorm_simd = {&sum_sq, &scale_row, &backward_sums, &backward_input};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
