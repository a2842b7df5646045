// Float32 activations for one ISA. (stub: not yet vectorized)
#include "minidl/activation.h"
#include "minidl/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {
bool forward_f32(Activation, const float*, float*, int64_t, float) { return false; }
bool backward_f32(Activation, const float*, const float*, float*, int64_t, float) { return false; }
}  // namespace
extern const ActivationSimd activation_simd = {&forward_f32, &backward_f32};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
