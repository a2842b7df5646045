// The float32 loops of a one-sided Jacobi rotation for one ISA: the dot product w_p.w_q that
// decides the rotation, and the rotation itself (svd.cpp has the reference loops and the
// method). The dot product sums in float32 lanes with 4 independent vector accumulators (the
// reference sums in double): the rounding error of the cosine it yields, about
// eps * len / (4 W) in the worst case, stays below the convergence tolerance sqrt(len) eps
// for every len up to (4 W)^2 (4096 with AVX-512), and the singular values themselves are
// then taken from the reference's double sums.
#include "core/vec.h"
#include "decomposition.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

inline Vec load_tail(const float* p, int64_t i, int64_t n) {
  return n - i >= W ? Vec::load(p + i) : Vec::load_partial(p + i, int(n - i));
}

// --8<-- [start:jacobi_simd]
float dot(const float* x, const float* y, int64_t n) {
  Vec a0 = Vec::zero(), a1 = Vec::zero(), a2 = Vec::zero(), a3 = Vec::zero();
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {  // 4 chains hide the FMA latency
    a0 = fmadd(Vec::load(x + i), Vec::load(y + i), a0);
    a1 = fmadd(Vec::load(x + i + W), Vec::load(y + i + W), a1);
    a2 = fmadd(Vec::load(x + i + 2 * W), Vec::load(y + i + 2 * W), a2);
    a3 = fmadd(Vec::load(x + i + 3 * W), Vec::load(y + i + 3 * W), a3);
  }
  for (; i < n; i += W) a0 = fmadd(load_tail(x, i, n), load_tail(y, i, n), a0);
  return reduce_add((a0 + a1) + (a2 + a3));
}

void rotate(float* x, float* y, int64_t n, float c, float s) {
  const Vec vc = Vec::set1(c), vs = Vec::set1(s);
  for (int64_t i = 0; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    const Vec xv = load_tail(x, i, n), yv = load_tail(y, i, n);
    const Vec nx = fnmadd(vs, yv, vc * xv);  // c x - s y
    const Vec ny = fmadd(vs, xv, vc * yv);   // s x + c y
    if (r == W) {
      nx.store(x + i);
      ny.store(y + i);
    } else {
      nx.store_partial(x + i, r);
      ny.store_partial(y + i, r);
    }
  }
}
// --8<-- [end:jacobi_simd]

}  // namespace

extern const JacobiSimd jacobi_simd = {&dot, &rotate};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
