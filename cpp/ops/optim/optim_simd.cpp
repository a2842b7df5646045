// Float32 optimizer updates for one ISA (OptimSimd, compiled once per ISA, see vec.h): must
// match the reference loops sgd_range, adam_range, lamb_moments_range and lamb_apply_range in
// cpp/ops/optim/optim.cpp (same formulas, same operation order). Each loop reads
// and writes every array exactly once (these kernels are memory-bound: the arithmetic per
// element is a handful of FMAs against 20-28 bytes of traffic).
#include "optim.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int W = Vec::width;

inline Vec load_n(const float* p, int64_t k) { return k >= W ? Vec::load(p) : Vec::load_partial(p, static_cast<int>(k)); }
inline void store_n(Vec x, float* p, int64_t k) {
  if (k >= W) x.store(p);
  else x.store_partial(p, static_cast<int>(k));
}

void sgd_f32(float* p, const float* g, float* buf, int64_t n, const SgdScalars& s) {
  const Vec lr = Vec::set1(float(s.lr)), mom = Vec::set1(float(s.momentum));
  const Vec keep = Vec::set1(float(1.0 - s.dampening)), wd = Vec::set1(float(s.weight_decay));
  const bool has_wd = float(s.weight_decay) != 0.0f, has_mom = float(s.momentum) != 0.0f;
  for (int64_t i = 0; i < n; i += W) {
    const int64_t k = n - i;
    Vec d = load_n(g + i, k), w = load_n(p + i, k);
    if (s.maximize) d = neg(d);
    if (has_wd) d = fmadd(wd, w, d);
    if (has_mom) {
      Vec b = s.first_step ? d : fmadd(keep, d, mom * load_n(buf + i, k));
      store_n(b, buf + i, k);
      d = s.nesterov ? fmadd(mom, b, d) : b;
    }
    store_n(fnmadd(lr, d, w), p + i, k);
  }
}

// --8<-- [start:adam_simd]
void adam_f32(float* p, const float* g, float* m, float* v, float* vmax, int64_t n, const AdamScalars& s) {
  const Vec w1 = Vec::set1(float(1.0 - s.beta1)), keep1 = Vec::set1(float(s.beta1));
  const Vec b2 = Vec::set1(float(s.beta2)), w2 = Vec::set1(float(1.0 - s.beta2));
  const Vec eps = Vec::set1(float(s.eps)), wd = Vec::set1(float(s.weight_decay));
  const Vec decay = Vec::set1(float(1.0 - s.lr * s.weight_decay));
  const Vec neg_step = Vec::set1(float(-s.step_size)), bc2 = Vec::set1(float(s.bias_corr2_sqrt));
  const bool lerp_low = (1.0 - s.beta1) < 0.5, has_wd = float(s.weight_decay) != 0.0f;
  for (int64_t i = 0; i < n; i += W) {
    const int64_t k = n - i;
    Vec d = load_n(g + i, k), w = load_n(p + i, k), mi = load_n(m + i, k), vi = load_n(v + i, k);
    if (s.maximize) d = neg(d);
    if (s.decoupled) w = w * decay;
    else if (has_wd) d = fmadd(wd, w, d);
    mi = lerp_low ? fmadd(w1, d - mi, mi) : fnmadd(d - mi, keep1, d);
    vi = fmadd(w2 * d, d, vi * b2);
    store_n(mi, m + i, k);
    store_n(vi, v + i, k);
    if (s.amsgrad) {
      vi = max(load_n(vmax + i, k), vi);
      store_n(vi, vmax + i, k);
    }
    const Vec denom = sqrt(vi) / bc2 + eps;
    store_n(fmadd(neg_step, mi / denom, w), p + i, k);
  }
}
// --8<-- [end:adam_simd]

inline Vec lamb_u(Vec w, Vec mi, Vec vi, Vec bc1, Vec bc2, Vec eps, Vec wd) {
  return fmadd(wd, w, (mi / bc1) / (sqrt(vi / bc2) + eps));
}

void lamb_moments_f32(const float* p, const float* g, float* m, float* v, int64_t n, const LambScalars& s,
                      double* sums) {
  const Vec w1 = Vec::set1(float(1.0 - s.beta1)), b2 = Vec::set1(float(s.beta2));
  const Vec w2 = Vec::set1(float(1.0 - s.beta2)), eps = Vec::set1(float(s.eps));
  const Vec wd = Vec::set1(float(s.weight_decay));
  const Vec bc1 = Vec::set1(float(s.bias_corr1)), bc2 = Vec::set1(float(s.bias_corr2));
  // float lane sums over blocks of 64 vectors, then into double: the squared norms stay
  // accurate to ~1e-7 relative on any tensor size
  constexpr int64_t kBlock = 64 * W;
  double ww = 0, uu = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = b + kBlock < n ? b + kBlock : n;
    Vec sw = Vec::zero(), su = Vec::zero();
    for (int64_t i = b; i < e; i += W) {
      const int64_t k = e - i;
      Vec d = load_n(g + i, k), w = load_n(p + i, k), mi = load_n(m + i, k), vi = load_n(v + i, k);
      mi = fmadd(w1, d - mi, mi);
      vi = fmadd(w2 * d, d, vi * b2);
      store_n(mi, m + i, k);
      store_n(vi, v + i, k);
      Vec u = lamb_u(w, mi, vi, bc1, bc2, eps, wd);
      if (k < W) {   // zero the lanes past the end (with eps = 0 they would be 0/0)
        float lanes[W];
        u.store(lanes);
        u = Vec::load_partial(lanes, static_cast<int>(k));
      }
      sw = fmadd(w, w, sw);
      su = fmadd(u, u, su);
    }
    ww += reduce_add(sw);
    uu += reduce_add(su);
  }
  sums[0] += ww;
  sums[1] += uu;
}

void lamb_apply_f32(float* p, const float* m, const float* v, int64_t n, const LambScalars& s, double scale) {
  const Vec eps = Vec::set1(float(s.eps)), wd = Vec::set1(float(s.weight_decay));
  const Vec bc1 = Vec::set1(float(s.bias_corr1)), bc2 = Vec::set1(float(s.bias_corr2));
  const Vec neg = Vec::set1(float(-scale));
  for (int64_t i = 0; i < n; i += W) {
    const int64_t k = n - i;
    const Vec w = load_n(p + i, k);
    store_n(fmadd(neg, lamb_u(w, load_n(m + i, k), load_n(v + i, k), bc1, bc2, eps, wd), w), p + i, k);
  }
}

}  // namespace

extern const OptimSimd optim_simd = {&sgd_f32, &adam_f32, &lamb_moments_f32, &lamb_apply_f32};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
