// Float32 row helpers for the softmax-based losses (cross-entropy, focal), one ISA (LossSimd):
// must match row_logsumexp_reference and row_softmax_scaled_reference in
// cpp/ops/loss/loss_softmax.cpp.
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

}  // namespace

extern const LossSimd loss_simd = {&row_logsumexp, &row_softmax_scaled, &scaled_exp};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
