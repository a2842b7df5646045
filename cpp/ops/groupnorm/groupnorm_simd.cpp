// Float32 group-norm loops for one ISA: the vector versions of the steps of the reference
// loops at the top of groupnorm.cpp, over a group of D channels x S positions: along each
// channel's S contiguous positions, or across the channels when S = 1 (an (N, C) input: a
// call or a partial vector per single-value channel made GroupNorm(32, 512) on (256, 512)
// 1.7x slower than PyTorch). The group statistics are the shared row_stats_simd.h sums over
// the group's D S values.
#include "groupnorm.h"
#include "core/vec.h"
#include "ops/reduce/row_stats_simd.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

// gamma/beta may be null: 1 / 0 instead
inline Vec load_or(const float* p, int64_t i, int r, float fallback) {
  if (!p) return Vec::set1(fallback);
  return r == W ? Vec::load(p + i) : Vec::load_partial(p + i, r);
}

// y = (x - mean) a + b over n values (one channel)
inline void affine_run(const float* x, float* y, int64_t n, Vec vm, Vec va, Vec vb) {
  int64_t i = 0;
  for (; i + W <= n; i += W) fmadd(Vec::load(x + i) - vm, va, vb).store(y + i);
  if (i < n) {
    const int r = int(n - i);
    fmadd(Vec::load_partial(x + i, r) - vm, va, vb).store_partial(y + i, r);
  }
}

void normalize_group(const float* x, float* y, const float* gamma, const float* beta, int64_t d, int64_t s,
                     float mean, float mean_lo, float rstd) {
  const Vec vm = Vec::set1(mean), vr = Vec::set1(rstd), vlo = Vec::set1(mean_lo);
  if (s == 1) {  // one value per channel: a and b are vectors across the channels
    for (int64_t c = 0; c < d; c += W) {
      const int r = d - c >= W ? int(W) : int(d - c);
      const Vec a = vr * load_or(gamma, c, r, 1.0f), b = fnmadd(vlo, a, load_or(beta, c, r, 0.0f));
      const Vec out = fmadd((r == W ? Vec::load(x + c) : Vec::load_partial(x + c, r)) - vm, a, b);
      if (r == W) out.store(y + c); else out.store_partial(y + c, r);
    }
    return;
  }
  for (int64_t c = 0; c < d; ++c) {
    const float a = rstd * (gamma ? gamma[c] : 1.0f), b = (beta ? beta[c] : 0.0f) - mean_lo * a;
    affine_run(x + c * s, y + c * s, s, vm, Vec::set1(a), Vec::set1(b));
  }
}

// sum dy and sum dy (x - mean) over n values; two accumulator pairs hide the add/FMA latency
inline void run_sums(const float* dy, const float* x, int64_t n, Vec vm, float* sum_dy, float* sum_dy_xc) {
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

void channel_sums(const float* dy, const float* x, int64_t d, int64_t s, float mean, float* sum_dy,
                  float* sum_dy_xc) {
  const Vec vm = Vec::set1(mean);
  if (s == 1) {  // a channel's sums are its single dy and dy (x - mean)
    for (int64_t c = 0; c < d; c += W) {
      const int r = d - c >= W ? int(W) : int(d - c);
      const Vec dv = r == W ? Vec::load(dy + c) : Vec::load_partial(dy + c, r);
      const Vec xc = dv * ((r == W ? Vec::load(x + c) : Vec::load_partial(x + c, r)) - vm);
      if (r == W) {
        dv.store(sum_dy + c);
        xc.store(sum_dy_xc + c);
      } else {
        dv.store_partial(sum_dy + c, r);
        xc.store_partial(sum_dy_xc + c, r);
      }
    }
    return;
  }
  for (int64_t c = 0; c < d; ++c) run_sums(dy + c * s, x + c * s, s, vm, sum_dy + c, sum_dy_xc + c);
}

void input_grad(const float* dy, const float* x, float* dx, const float* gamma, int64_t d, int64_t s, float mean,
                float rstd, float k2, float k3) {
  const Vec vm = Vec::set1(mean), vr = Vec::set1(rstd), v2 = Vec::set1(k2), v3 = Vec::set1(k3);
  if (s == 1) {  // k1 = rstd gamma is a vector across the channels
    for (int64_t c = 0; c < d; c += W) {
      const int r = d - c >= W ? int(W) : int(d - c);
      const Vec k1 = vr * load_or(gamma, c, r, 1.0f);
      const Vec dv = r == W ? Vec::load(dy + c) : Vec::load_partial(dy + c, r);
      const Vec xv = r == W ? Vec::load(x + c) : Vec::load_partial(x + c, r);
      const Vec out = fmadd(dv, k1, fmadd(xv - vm, v2, v3));
      if (r == W) out.store(dx + c); else out.store_partial(dx + c, r);
    }
    return;
  }
  for (int64_t c = 0; c < d; ++c) {
    const Vec k1 = Vec::set1(rstd * (gamma ? gamma[c] : 1.0f));
    const float* dyc = dy + c * s;
    const float* xc = x + c * s;
    float* dxc = dx + c * s;
    int64_t i = 0;
    for (; i + W <= s; i += W) fmadd(Vec::load(dyc + i), k1, fmadd(Vec::load(xc + i) - vm, v2, v3)).store(dxc + i);
    if (i < s) {
      const int r = int(s - i);
      fmadd(Vec::load_partial(dyc + i, r), k1, fmadd(Vec::load_partial(xc + i, r) - vm, v2, v3))
          .store_partial(dxc + i, r);
    }
  }
}

}  // namespace

extern const GroupNormSimd groupnorm_simd = {&row_sum_shifted, &row_sum_sq_dev, &normalize_group, &channel_sums,
                                             &input_grad};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
