// Float32 softmax rows for one ISA. (stub: not yet vectorized)
#include "minidl/softmax.h"
#include "minidl/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {
bool forward_f32(const float*, float*, int64_t, int64_t, bool) { return false; }
bool backward_f32(const float*, const float*, float*, int64_t, int64_t, bool) { return false; }
}  // namespace
extern const SoftmaxSimd softmax_simd = {&forward_f32, &backward_f32};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
