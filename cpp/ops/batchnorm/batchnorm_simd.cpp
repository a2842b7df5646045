// Float32 batch-norm building blocks for one ISA, over one contiguous run of a channel: the
// statistics (ops/reduce/row_stats_simd.h, shared with LayerNorm), the fused pointwise maps
// and the two gradient sums. The vector versions of the per-run loops of the reference at the
// top of batchnorm.cpp; the caller adds per-run results in double.
#include "batchnorm.h"
#include "core/vec.h"
#include "ops/reduce/row_stats_simd.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

void affine(const float* x, float* y, int64_t n, float mean, float a, float b) {
  const Vec vm = Vec::set1(mean), va = Vec::set1(a), vb = Vec::set1(b);
  int64_t i = 0;
  for (; i + W <= n; i += W) fmadd(Vec::load(x + i) - vm, va, vb).store(y + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    fmadd(Vec::load_partial(x + i, r) - vm, va, vb).store_partial(y + i, r);
  }
}

// --8<-- [start:simd_backward]
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
// --8<-- [end:simd_backward]

// The backward of relu(batch_norm(x)): the ReLU's mask y > 0 recomputed with the forward's
// affine() arithmetic (the same fmadd of the same float32 values, so the same bits of y), and
// dy selected: 0 where y <= relu_floor (0, or what a 16-bit output rounded to 0), dy elsewhere, as the ReLU's own backward (activation_simd.cpp),
// so an inf or NaN dy gives the same numbers fused or not. Reads dy and x only: the ReLU's own
// pass (read dy and y, write the masked dy) is gone.
// --8<-- [start:simd_backward_relu]
void grad_sums_relu(const float* dy, const float* x, int64_t n, float mean, float relu_scale, float relu_shift,
                    float relu_floor, float* sum_dy, float* sum_dy_xmu) {
  const Vec m = Vec::set1(mean), ra = Vec::set1(relu_scale), rb = Vec::set1(relu_shift), fl = Vec::set1(relu_floor);
  const Vec z = Vec::zero(), one = Vec::set1(1.0f);
  Vec s0 = z, s1 = z, p0 = z, p1 = z;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const Vec xm0 = Vec::load(x + i) - m, xm1 = Vec::load(x + i + W) - m;
    const Vec g0 = blend(cmp_le(fmadd(xm0, ra, rb), fl), Vec::load(dy + i), z);
    const Vec g1 = blend(cmp_le(fmadd(xm1, ra, rb), fl), Vec::load(dy + i + W), z);
    s0 = s0 + g0;
    s1 = s1 + g1;
    p0 = fmadd(g0, xm0, p0);
    p1 = fmadd(g1, xm1, p1);
  }
  for (; i + W <= n; i += W) {
    const Vec xm = Vec::load(x + i) - m;
    const Vec g = blend(cmp_le(fmadd(xm, ra, rb), fl), Vec::load(dy + i), z);
    s0 = s0 + g;
    p0 = fmadd(g, xm, p0);
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    const Vec xm = Vec::load_partial(x + i, r) - m;
    const Vec g = blend(cmp_le(fmadd(xm, ra, rb), fl), Vec::load_partial(dy + i, r), z);  // 0 in unused lanes
    s1 = s1 + g;
    p1 = fmadd(g, xm, p1);
  }
  *sum_dy = reduce_add(s0 + s1);
  *sum_dy_xmu = reduce_add(p0 + p1);
}

void grad_input_relu(const float* dy, const float* x, float* dx, int64_t n, float mean, float a, float b, float c,
                     float relu_scale, float relu_shift, float relu_floor) {
  const Vec vm = Vec::set1(mean), va = Vec::set1(a), vb = Vec::set1(b), vc = Vec::set1(c);
  const Vec ra = Vec::set1(relu_scale), rb = Vec::set1(relu_shift), fl = Vec::set1(relu_floor), z = Vec::zero(),
            one = Vec::set1(1.0f);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const Vec xm = Vec::load(x + i) - vm;
    const Vec g = blend(cmp_le(fmadd(xm, ra, rb), fl), Vec::load(dy + i), z);
    fmadd(g, va, fmadd(xm, vb, vc)).store(dx + i);
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    const Vec xm = Vec::load_partial(x + i, r) - vm;
    const Vec g = blend(cmp_le(fmadd(xm, ra, rb), fl), Vec::load_partial(dy + i, r), z);
    fmadd(g, va, fmadd(xm, vb, vc)).store_partial(dx + i, r);
  }
}
// --8<-- [end:simd_backward_relu]

}  // namespace

extern const NormSimd norm_simd = {&row_sum_shifted, &row_sum_sq_dev, &affine,         &grad_sums,
                                   &grad_input,      &grad_sums_relu, &grad_input_relu};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
