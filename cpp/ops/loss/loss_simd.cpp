// Float32 row helpers for the softmax-based losses (cross-entropy, focal), one ISA (LossSimd):
// must match row_logsumexp_reference and row_softmax_scaled_reference in
// cpp/ops/loss/loss_softmax.cpp; and the elementwise losses (MSE, L1, BCE, BCE on logits),
// the vector versions of loss_one and grad_one in cpp/ops/loss/loss_pointwise.cpp.
#include "loss.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int W = Vec::width;

// --8<-- [start:simd_rows]
// log sum_c exp(x_c): a max pass, then an exp-sum pass (the row stays in L1)
float row_logsumexp(const float* x, int64_t C) {
  Vec vmax = Vec::set1(-__builtin_inff());
  int64_t c = 0;
  for (; c + W <= C; c += W) vmax = max(vmax, Vec::load(x + c));
  float m = reduce_max(vmax);
  for (; c < C; ++c) m = x[c] > m ? x[c] : m;
  if (m == __builtin_inff() || m == -__builtin_inff()) return m;
  const Vec vm = Vec::set1(m);
  Vec s0 = Vec::zero(), s1 = Vec::zero();
  c = 0;
  for (; c + 2 * W <= C; c += 2 * W) {
    s0 = s0 + exp(Vec::load(x + c) - vm);
    s1 = s1 + exp(Vec::load(x + c + W) - vm);
  }
  for (; c + W <= C; c += W) s0 = s0 + exp(Vec::load(x + c) - vm);
  float tail = 0;
  if (c < C) {
    // masked lanes load 0 and exp(0 - m) would count: add only the r real lanes. (Padding the
    // lanes with -inf instead made exp underflow, a microcode assist per row: (65536, 21)
    // logits took 10.2 ms here against 1.7 for (65536, 16), Xeon, 1 thread, CPU time.)
    const int r = static_cast<int>(C - c);
    float lanes[W];
    exp(Vec::load_partial(x + c, r) - vm).store(lanes);
    for (int k = 0; k < r; ++k) tail += lanes[k];
  }
  return m + __builtin_logf(reduce_add(s0 + s1) + tail);
}
// --8<-- [end:simd_rows]

// --8<-- [start:simd_softmax_scaled]
void row_softmax_scaled(const float* x, float lse, float scale, float* dx, int64_t C) {
  const Vec vl = Vec::set1(lse), vs = Vec::set1(scale);
  int64_t c = 0;
  for (; c + W <= C; c += W) (vs * exp(Vec::load(x + c) - vl)).store(dx + c);
  if (c < C) {
    const int r = static_cast<int>(C - c);
    (vs * exp(Vec::load_partial(x + c, r) - vl)).store_partial(dx + c, r);
  }
}
// --8<-- [end:simd_softmax_scaled]

void scaled_exp(const float* x, const float* lse, const float* a, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) (Vec::load(a + i) * exp(Vec::load(x + i) - Vec::load(lse + i))).store(dx + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    (Vec::load_partial(a + i, r) * exp(Vec::load_partial(x + i, r) - Vec::load_partial(lse + i, r)))
        .store_partial(dx + i, r);
  }
}

// --8<-- [start:simd_pointwise]
// One vector of losses and one of d loss / d x: the formulas of loss_one / grad_one in float32
// (the reference runs in double), with vec.h's log, softplus and sigmoid. Their per-element
// error is a few ulp of float32; the forward sums vectors of them in blocks of kSumBlock values,
// each block's total added in double, as accurate as the reference's double sum here.
inline Vec loss_vec(PointwiseLoss kind, Vec x, Vec y, Vec w, Vec pw) {
  const Vec one = Vec::set1(1.0f);
  switch (kind) {
    case PointwiseLoss::mse: { const Vec d = x - y; return d * d; }
    case PointwiseLoss::l1: return abs(x - y);
    case PointwiseLoss::bce: {  // logs clamped at -100, as PyTorch's (x was checked in [0, 1])
      const Vec lo = Vec::set1(-100.0f);
      return neg(w) * fmadd(y, max(log(x), lo), (one - y) * max(log(one - x), lo));
    }
    case PointwiseLoss::bce_with_logits: {  // (1 - y) x + (1 + (pw - 1) y) softplus(-x)
      const Vec lw = fmadd(pw - one, y, one);
      return w * fmadd(lw, softplus(neg(x)), (one - y) * x);
    }
  }
  return Vec::zero();
}
inline Vec grad_vec(PointwiseLoss kind, Vec x, Vec y, Vec w, Vec pw) {
  const Vec one = Vec::set1(1.0f);
  switch (kind) {
    case PointwiseLoss::mse: return Vec::set1(2.0f) * (x - y);
    case PointwiseLoss::l1: {  // sign(x - y), 0 at 0 (and for NaN, as the reference's comparisons)
      const Vec d = x - y;
      return blend(cmp_gt(d, Vec::zero()), blend(cmp_lt(d, Vec::zero()), Vec::zero(), neg(one)), one);
    }
    case PointwiseLoss::bce: return w * (x - y) / max(x * (one - x), Vec::set1(1e-12f));
    case PointwiseLoss::bce_with_logits: return w * fmadd(fmadd(pw - one, y, one), sigmoid(x), neg(pw * y));
  }
  return Vec::zero();
}

constexpr int64_t kSumBlock = 1024;

double pointwise_forward(PointwiseLoss kind, const float* x, const float* y, const float* w, float pw, float* out,
                         int64_t n) {
  const Vec vpw = Vec::set1(pw), one = Vec::set1(1.0f);
  double total = 0;
  for (int64_t b = 0; b < n; b += kSumBlock) {
    const int64_t end = b + kSumBlock < n ? b + kSumBlock : n;
    Vec s = Vec::zero();
    for (int64_t i = b; i < end; i += W) {
      const int r = end - i >= W ? W : static_cast<int>(end - i);
      const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
      const Vec yv = r == W ? Vec::load(y + i) : Vec::load_partial(y + i, r);
      const Vec wv = w ? (r == W ? Vec::load(w + i) : Vec::load_partial(w + i, r)) : one;
      Vec l = loss_vec(kind, xv, yv, wv, vpw);
      if (r < W) {  // the padded lanes (x = y = 0 there) must add nothing to the sum
        alignas(64) float lanes[W];
        l.store(lanes);
        for (int k = r; k < W; ++k) lanes[k] = 0.0f;
        l = Vec::load(lanes);
      }
      if (out) { if (r == W) l.store(out + i); else l.store_partial(out + i, r); }
      s = s + l;
    }
    total += reduce_add(s);
  }
  return total;
}

void pointwise_backward(PointwiseLoss kind, const float* x, const float* y, const float* w, float pw,
                        const float* g, bool g_scalar, float scale, float* dx, int64_t n) {
  const Vec vpw = Vec::set1(pw), one = Vec::set1(1.0f), vs = Vec::set1(scale);
  const Vec g0 = g_scalar ? Vec::set1(g[0] * scale) : Vec::zero();
  for (int64_t i = 0; i < n; i += W) {
    const int r = n - i >= W ? W : static_cast<int>(n - i);
    const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    const Vec yv = r == W ? Vec::load(y + i) : Vec::load_partial(y + i, r);
    const Vec wv = w ? (r == W ? Vec::load(w + i) : Vec::load_partial(w + i, r)) : one;
    const Vec gs = g_scalar ? g0 : (r == W ? Vec::load(g + i) : Vec::load_partial(g + i, r)) * vs;
    const Vec d = gs * grad_vec(kind, xv, yv, wv, vpw);
    if (r == W) d.store(dx + i); else d.store_partial(dx + i, r);
  }
}
// --8<-- [end:simd_pointwise]

}  // namespace

extern const LossSimd loss_simd = {&row_logsumexp, &row_softmax_scaled, &scaled_exp, &pointwise_forward,
                                   &pointwise_backward};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
