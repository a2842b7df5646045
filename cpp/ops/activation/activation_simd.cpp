// Float32 activations for one ISA (ActivationSimd): must match activation_forward_reference
// and activation_backward_reference in cpp/ops/activation/activation.cpp (forward_one,
// derivative_one), the same formulas on Vec, with the transcendental parts from vec.h (exp,
// sigmoid, tanh, erf). Each forward and backward is one streaming pass: y = f(x),
// gx = gy * f'(saved). Returning false sends the call to the reference.
#include "activation.h"
#include "core/vec.h"
#include "core/map_loops.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr float kSqrt2OverPi = 0.79788456080286535588f;  // sqrt(2/pi)
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;   // 1/sqrt(2 pi)
constexpr float kGeluCubic = 0.044715f;

// GELU (tanh form) pieces, u = sqrt(2/pi) (x + 0.044715 x^3):
//   1 + tanh(u) = 2 sigmoid(2u),  1 - tanh(u)^2 = 4 sigmoid(2u) sigmoid(-2u).
// With e = exp(-2|u|) <= 1 and r = 1 / (1 + e):  sigmoid(2u) = r (u >= 0) or e r (u < 0), and
// sigmoid(2u) sigmoid(-2u) = e r^2 either way, so neither tail cancels nor overflows.
struct TanhGeluParts {
  Vec sig;       // sigmoid(2u) = (1 + tanh u) / 2
  Vec sig_sig;   // sigmoid(2u) sigmoid(-2u) = (1 - tanh^2 u) / 4
};
inline TanhGeluParts tanh_gelu_parts(Vec x, Vec x2) {
  Vec u = Vec::set1(kSqrt2OverPi) * fmadd(Vec::set1(kGeluCubic) * x2, x, x);
  Vec e = exp(abs(u) * Vec::set1(-2.0f));
  Vec r = reciprocal_nr(Vec::set1(1.0f) + e);
  Vec er = e * r;
  return {blend(cmp_lt(u, Vec::zero()), r, er), er * r};
}

bool forward_f32(Activation act, const float* x, float* y, int64_t n, float param) {
  const Vec zero = Vec::zero();
  const Vec slope = Vec::set1(param);
  switch (act) {
    // max(0, v): maxps returns its second operand when either is NaN, so NaN passes through as
    // in the reference (and for two zeros, so relu(-0) is -0 here, +0 there: equal numbers)
    case Activation::relu: map1(x, y, n, [&](Vec v) { return max(zero, v); }); return true;
    case Activation::leaky_relu:
      map1(x, y, n, [&](Vec v) { return blend(cmp_gt(v, zero), slope * v, v); });
      return true;
    case Activation::sigmoid: map1(x, y, n, [](Vec v) { return sigmoid(v); }); return true;
    // rational tanh (vec.h tanh_rational): no exp, memory-bound; abs. error 3.4e-7
    case Activation::tanh: map1(x, y, n, [](Vec v) { return tanh_rational(v); }); return true;
    // x Phi(x) = x/2 (1 + erf(x/sqrt2)), erf rational (no exp): memory-bound, abs. error < 1e-6
    case Activation::gelu:
      map1(x, y, n, [](Vec v) {
        Vec half_v = Vec::set1(0.5f) * v;
        return fmadd(half_v, erf_rational(v * Vec::set1(0.70710678118654752f)), half_v);
      });
      return true;
    // x/2 (1 + tanh u) = x sigmoid(2u)
    case Activation::gelu_tanh:
      map1(x, y, n, [](Vec v) { return v * tanh_gelu_parts(v, v * v).sig; });
      return true;
  }
  return false;
}

bool backward_f32(Activation act, const float* gy, const float* saved, float* gx, int64_t n, float param) {
  const Vec zero = Vec::zero(), one = Vec::set1(1.0f);
  const Vec slope = Vec::set1(param);
  switch (act) {
    // gy * (s > 0 ? 1 : 0): multiply rather than select, so gy = inf or NaN behaves as the reference
    case Activation::relu:
      map2(gy, saved, gx, n, [&](Vec g, Vec s) { return g * blend(cmp_gt(s, zero), zero, one); });
      return true;
    case Activation::leaky_relu:
      map2(gy, saved, gx, n, [&](Vec g, Vec s) { return g * blend(cmp_gt(s, zero), slope, one); });
      return true;
    case Activation::sigmoid:  // saved = y: y (1 - y)
      map2(gy, saved, gx, n, [&](Vec g, Vec s) { return g * (s * (one - s)); });
      return true;
    case Activation::tanh:  // saved = y: 1 - y^2
      map2(gy, saved, gx, n, [&](Vec g, Vec s) { return g * fnmadd(s, s, one); });
      return true;
    case Activation::gelu:  // Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
      map2(gy, saved, gx, n, [](Vec g, Vec s) {
        Vec pdf = Vec::set1(kInvSqrt2Pi) * exp(Vec::set1(-0.5f) * s * s);
        Vec cdf = fmadd(Vec::set1(0.5f), erf_rational(s * Vec::set1(0.70710678118654752f)), Vec::set1(0.5f));
        return g * fmadd(s, pdf, cdf);
      });
      return true;
    case Activation::gelu_tanh:
      // 0.5 (1 + t) + 0.5 x (1 - t^2) u' = sigmoid(2u) + 2 x sigmoid(2u) sigmoid(-2u) u',
      // u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
      map2(gy, saved, gx, n, [&](Vec g, Vec s) {
        Vec x2 = s * s;
        TanhGeluParts p = tanh_gelu_parts(s, x2);
        Vec du = Vec::set1(kSqrt2OverPi) * fmadd(Vec::set1(3.0f * kGeluCubic), x2, one);
        return g * fmadd(Vec::set1(2.0f) * s * p.sig_sig, du, p.sig);
      });
      return true;
  }
  return false;
}

}  // namespace
extern const ActivationSimd activation_simd = {&forward_f32, &backward_f32};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
