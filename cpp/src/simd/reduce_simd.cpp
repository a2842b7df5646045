// Float32 reductions for one ISA. (stub: not yet vectorized)
#include "minidl/reduce.h"
#include "minidl/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {
bool reduce_f32(ReduceOp, const float*, int64_t, int64_t, int64_t, float*, float) { return false; }
}  // namespace
extern const ReduceSimd reduce_simd = {&reduce_f32};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
