// The pointwise activations, forward and backward, elementwise on contiguous tensors.
//
// Shapes: x, y, gy, saved and gx are n contiguous elements of one dtype (float32, float64,
// bfloat16 or float16; the 16-bit ones are computed in float32 and rounded once). The
// reference loops are at the top of activation.cpp; ActivationSimd (below) is the float32
// table of activation_simd.cpp, compiled once per ISA.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

enum class Activation : int {
  relu = 0,     // max(x, 0)
  leaky_relu,   // x if x > 0 else slope * x          (param = negative_slope)
  sigmoid,      // 1 / (1 + e^-x)
  tanh,         // (e^x - e^-x) / (e^x + e^-x)
  gelu,         // x * Phi(x) = x/2 (1 + erf(x / sqrt 2))
  gelu_tanh,    // x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  silu,         // x sigmoid(x)
  mish,         // x tanh(softplus(x))
  elu,          // q (x if x > 0 else p (e^x - 1))      (p = alpha, q = scale: ELU q = 1, SELU)
  celu,         // x if x > 0 else p (e^(x/p) - 1)      (p = alpha)
  softplus,     // log(1 + e^(p x)) / p, x where p x > q (p = beta, q = threshold)
  softsign,     // x / (1 + |x|)
  hardtanh,     // min(max(x, p), q)                    (p = min_val, q = max_val; ReLU6: 0, 6)
  hardswish,    // x min(max(x + 3, 0), 6) / 6
  hardsigmoid,  // min(max(x + 3, 0), 6) / 6
  logsigmoid,   // log(sigmoid(x)) = -softplus(-x)
  softshrink,   // x - p if x > p, x + p if x < -p, else 0   (p = lambda >= 0)
  hardshrink,   // x if |x| > p else 0                  (p = lambda)
  threshold,    // x if x > p else q                    (p = threshold, q = value)
};

// Which tensor the backward needs: the input x (relu, leaky_relu, gelu*) or the output y
// (sigmoid: y(1-y); tanh: 1-y^2), so the autograd node saves only that one.
bool activation_backward_uses_output(Activation act);

// p, q: the activation's parameters as listed above (unused ones are ignored).
void activation_forward(Activation act, const void* x, void* y, DType dtype, int64_t n, double p, double q = 0);
// gx = gy * f'(.) where saved is x or y as above. gy_stride 1: gy has n values; 0: one value for
// all (the gradient of y.sum() or y.mean(), which PyTorch also passes on unmaterialized).
void activation_backward(Activation act, const void* gy, const void* saved, void* gx, DType dtype,
                         int64_t n, double p, double q = 0, int64_t gy_stride = 1);

// gx = (ga + gb) * f'(saved): the backward when the output's gradient arrives in two parts (the
// autograd engine's sum of two consumers' gradients: a ResNet block's output feeds the next
// block's convolution and its shortcut), with the sum never stored. The same bits as
// activation_backward on the float32 / float64 sum ga + gb (16-bit dtypes are not taken: their
// sum is rounded first).
void activation_backward_sum(Activation act, const void* ga, const void* gb, const void* saved, void* gx,
                             DType dtype, int64_t n, double p, double q = 0);

// Float32 forward / backward over n contiguous elements for one ISA; false = not handled
// (the caller runs the reference).
struct ActivationSimd {
  bool (*forward_f32)(Activation act, const float* x, float* y, int64_t n, float p, float q);
  bool (*backward_f32)(Activation act, const float* gy, int64_t gy_stride, const float* saved, float* gx, int64_t n,
                       float p, float q);
  bool (*backward_sum_f32)(Activation act, const float* ga, const float* gb, const float* saved, float* gx,
                           int64_t n, float p, float q);
};

}  // namespace minidl
