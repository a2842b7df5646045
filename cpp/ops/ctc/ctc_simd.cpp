// The float32 step of the CTC recursions for one ISA (CtcSimd): must match
// recursion_step_reference in cpp/ops/ctc/ctc.cpp.
//
// Within one frame the 2L + 1 positions are independent (each reads only the previous row), so
// the step runs Vec::width positions at a time: three shifted loads of the previous row, the
// skip row added to the third, the max, three exp and one log per lane (vec.h's, ~2 ulp, where
// the reference calls expf / logf one position at a time). A position with no path (all three
// terms -inf) takes max 0 instead, so exp gives 0, log gives -inf and the result is -inf, as in
// the reference. (No <cmath>/STL here: see vec.h on inline functions in per-ISA files.)
#include "ctc.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int W = Vec::width;

inline Vec step_lanes(Vec a1, Vec a2, Vec a3, Vec lp) {
  const Vec neg_inf = Vec::set1(-__builtin_inff());
  Vec m = max(a1, max(a2, a3));
  m = blend(cmp_eq(m, neg_inf), m, Vec::zero());
  return log(exp(a1 - m) + exp(a2 - m) + exp(a3 - m)) + m + lp;
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

}  // namespace
extern const CtcSimd ctc_simd = {&recursion_step_f32};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
