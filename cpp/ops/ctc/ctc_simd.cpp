// The float32 per-frame pieces of the CTC loss for one ISA (CtcSimd): must match
// recursion_step_reference, frame_weights_reference and frame_gradient_reference in
// cpp/ops/ctc/ctc.cpp.
//
// Within one frame the 2L + 1 positions are independent (each reads only the previous row), so
// the step runs Vec::width positions at a time: three shifted loads of the previous row, the
// skip row added to the third, the max, three exp and one log per lane (vec.h's, ~2 ulp, where
// the reference calls expf / logf one position at a time). A position with no path (all three
// terms -inf) takes max 0 instead, so exp gives 0, log gives -inf and the result is -inf, as in
// the reference. The backward's frame weights (alpha + beta - max, exp) and per-class gradient
// run the same way. T=200, N=16, C=30, 2L+1 <= 121, one thread, CPU time: forward 0.7 ms
// (AVX2 1.3, scalar reference 3.2, PyTorch 4.6), backward 1.2 ms (AVX2 1.9, scalar 4.9,
// PyTorch 8.5). (No <cmath>/STL here: see vec.h on inline functions in per-ISA files.)
#include "ctc.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int W = Vec::width;

// e^x for x <= 0, 0 below -87 (where e^x is subnormal): the reference's exp_or_zero. Clamping
// before exp keeps every intermediate normal; a subnormal costs a microcode assist (see ctc.cpp).
inline Vec exp_or_zero(Vec x) {
  const Vec lowest = Vec::set1(-87.0f);
  return blend(cmp_lt(x, lowest), exp(max(lowest, x)), Vec::zero());
}

// --8<-- [start:ctc_step_simd]
inline Vec step_lanes(Vec a1, Vec a2, Vec a3, Vec lp) {
  const Vec neg_inf = Vec::set1(-__builtin_inff());
  Vec m = max(a1, max(a2, a3));
  m = blend(cmp_eq(m, neg_inf), m, Vec::zero());
  return log(exp_or_zero(a1 - m) + exp_or_zero(a2 - m) + exp_or_zero(a3 - m)) + m + lp;
}

void recursion_step_f32(const float* a, int64_t d, const float* skip, const float* lp, float* out, int64_t n) {
  int64_t s = 0;
  for (; s + W <= n; s += W) {
    const Vec a3 = Vec::load(a + s + 2 * d) + Vec::load(skip + s);
    step_lanes(Vec::load(a + s), Vec::load(a + s + d), a3, Vec::load(lp + s)).store(out + s);
  }
  if (s < n) {
    // the tail: lanes past n read 0 and are not stored
    const int r = static_cast<int>(n - s);
    const Vec a3 = Vec::load_partial(a + s + 2 * d, r) + Vec::load_partial(skip + s, r);
    step_lanes(Vec::load_partial(a + s, r), Vec::load_partial(a + s + d, r), a3, Vec::load_partial(lp + s, r))
        .store_partial(out + s, r);
  }
}
// --8<-- [end:ctc_step_simd]

// x = alpha + beta - lp, kept -inf where alpha + beta is (lp is -inf there too: NaN otherwise)
inline Vec log_posterior_lanes(Vec alpha, Vec beta, Vec lp) {
  const Vec ab = alpha + beta;
  return blend(cmp_eq(ab, Vec::set1(-__builtin_inff())), ab - lp, ab);
}

float frame_weights_f32(const float* alpha, const float* beta, const float* lp, float* weights, int64_t n) {
  const float neg_inf = -__builtin_inff();
  Vec mv = Vec::set1(neg_inf);
  int64_t s = 0;
  for (; s + W <= n; s += W) {
    const Vec x = log_posterior_lanes(Vec::load(alpha + s), Vec::load(beta + s), Vec::load(lp + s));
    x.store(weights + s);
    mv = max(x, mv);
  }
  float m = reduce_max(mv);
  for (int64_t r = s; r < n; ++r) {
    const float ab = alpha[r] + beta[r];
    weights[r] = ab == neg_inf ? ab : ab - lp[r];
    m = weights[r] > m ? weights[r] : m;
  }
  if (m == neg_inf) {
    for (int64_t r = 0; r < n; ++r) weights[r] = 0.0f;
    return m;
  }
  const Vec mm = Vec::set1(m);
  for (s = 0; s + W <= n; s += W) exp_or_zero(Vec::load(weights + s) - mm).store(weights + s);
  if (s < n) {
    const int r = static_cast<int>(n - s);
    exp_or_zero(Vec::load_partial(weights + s, r) - mm).store_partial(weights + s, r);
  }
  return m;
}

void frame_gradient_f32(const float* lp, const float* class_sum, float posterior_scale, float grad_out, float* g,
                        int64_t C) {
  const Vec scale = Vec::set1(posterior_scale), gv = Vec::set1(grad_out);
  int64_t c = 0;
  for (; c + W <= C; c += W)
    ((exp_or_zero(Vec::load(lp + c)) - Vec::load(class_sum + c) * scale) * gv).store(g + c);
  if (c < C) {
    const int r = static_cast<int>(C - c);
    ((exp_or_zero(Vec::load_partial(lp + c, r)) - Vec::load_partial(class_sum + c, r) * scale) * gv)
        .store_partial(g + c, r);
  }
}

}  // namespace
extern const CtcSimd ctc_simd = {&recursion_step_f32, &frame_weights_f32, &frame_gradient_f32};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
