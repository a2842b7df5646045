// Float32 batch-norm building blocks for one ISA: streaming reductions with four independent
// accumulators (hides the add latency and keeps rounding error ~sqrt(n/4) smaller than one
// running sum) and the fused pointwise maps. The caller adds per-run results in double.
#include "batchnorm.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

float sum(const float* x, int64_t n) {
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

float sum_sq_dev(const float* x, int64_t n, float mean) {
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

void affine(const float* x, float* y, int64_t n, float mean, float a, float b) {
  const Vec vm = Vec::set1(mean), va = Vec::set1(a), vb = Vec::set1(b);
  int64_t i = 0;
  for (; i + W <= n; i += W) fmadd(Vec::load(x + i) - vm, va, vb).store(y + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    fmadd(Vec::load_partial(x + i, r) - vm, va, vb).store_partial(y + i, r);
  }
}

void grad_sums(const float* dy, const float* x, int64_t n, float mean, float* sum_dy, float* sum_dy_xmu) {
  const Vec m = Vec::set1(mean);
  Vec s0 = Vec::zero(), s1 = Vec::zero(), p0 = Vec::zero(), p1 = Vec::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    Vec g0 = Vec::load(dy + i), g1 = Vec::load(dy + i + W);
    s0 = s0 + g0;
    s1 = s1 + g1;
    p0 = fmadd(g0, Vec::load(x + i) - m, p0);
    p1 = fmadd(g1, Vec::load(x + i + W) - m, p1);
  }
  for (; i + W <= n; i += W) {
    Vec g = Vec::load(dy + i);
    s0 = s0 + g;
    p0 = fmadd(g, Vec::load(x + i) - m, p0);
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    Vec g = Vec::load_partial(dy + i, r);  // 0 in the unused lanes, so their products vanish
    s1 = s1 + g;
    p1 = fmadd(g, Vec::load_partial(x + i, r) - m, p1);
  }
  *sum_dy = reduce_add(s0 + s1);
  *sum_dy_xmu = reduce_add(p0 + p1);
}

void grad_input(const float* dy, const float* x, float* dx, int64_t n, float mean, float a, float b, float c) {
  const Vec vm = Vec::set1(mean), va = Vec::set1(a), vb = Vec::set1(b), vc = Vec::set1(c);
  int64_t i = 0;
  for (; i + W <= n; i += W) fmadd(Vec::load(dy + i), va, fmadd(Vec::load(x + i) - vm, vb, vc)).store(dx + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    fmadd(Vec::load_partial(dy + i, r), va, fmadd(Vec::load_partial(x + i, r) - vm, vb, vc)).store_partial(dx + i, r);
  }
}

}  // namespace

extern const NormSimd norm_simd = {&sum, &sum_sq_dev, &affine, &grad_sums, &grad_input};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
