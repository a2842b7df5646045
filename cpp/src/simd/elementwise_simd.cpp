// Float32 elementwise inner loops for one ISA (compiled once per ISA, see vec.h).
#include "minidl/elementwise.h"
#include "minidl/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// out[i] = op(a[i*sa], b[i*sb]) with sa, sb in {0, 1}
template <class Op>
inline void binary_loop(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, Op op) {
  constexpr int W = Vec::width;
  int64_t i = 0;
  if (sa == 1 && sb == 1) {
    for (; i + W <= n; i += W) op(Vec::load(a + i), Vec::load(b + i)).store(out + i);
    if (i < n) op(Vec::load_partial(a + i, n - i), Vec::load_partial(b + i, n - i)).store_partial(out + i, n - i);
  } else if (sa == 1) {
    const Vec vb = Vec::set1(*b);
    for (; i + W <= n; i += W) op(Vec::load(a + i), vb).store(out + i);
    if (i < n) op(Vec::load_partial(a + i, n - i), vb).store_partial(out + i, n - i);
  } else if (sb == 1) {
    const Vec va = Vec::set1(*a);
    for (; i + W <= n; i += W) op(va, Vec::load(b + i)).store(out + i);
    if (i < n) op(va, Vec::load_partial(b + i, n - i)).store_partial(out + i, n - i);
  } else {
    const Vec v = op(Vec::set1(*a), Vec::set1(*b));
    for (; i + W <= n; i += W) v.store(out + i);
    if (i < n) v.store_partial(out + i, n - i);
  }
}

bool binary_f32(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  switch (op) {
    case BinaryOp::add: binary_loop(a, sa, b, sb, out, n, [](Vec x, Vec y) { return x + y; }); return true;
    case BinaryOp::sub: binary_loop(a, sa, b, sb, out, n, [](Vec x, Vec y) { return x - y; }); return true;
    case BinaryOp::mul: binary_loop(a, sa, b, sb, out, n, [](Vec x, Vec y) { return x * y; }); return true;
    case BinaryOp::div: binary_loop(a, sa, b, sb, out, n, [](Vec x, Vec y) { return x / y; }); return true;
    default: return false;
  }
}

bool unary_f32(UnaryOp, const float*, float*, int64_t) { return false; }

void copy_f32(const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace

extern const ElementwiseSimd elementwise_simd = {&binary_f32, &unary_f32, &copy_f32};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
