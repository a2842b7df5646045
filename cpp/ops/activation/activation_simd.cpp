// Float32 activations for one ISA (ActivationSimd): must match activation_forward_reference
// and activation_backward_reference in cpp/ops/activation/activation.cpp (forward_one,
// derivative_one), the same formulas on Vec, with the transcendental parts from vec.h (exp,
// sigmoid, tanh, erf, log). Each forward and backward is one streaming pass: y = f(x),
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

// (softplus and log1p_unit: core/vec.h, shared with the pointwise losses)

// tanh(softplus(x)) = n / (n + 2), n = e^x (e^x + 2): one exp, exact in the x -> -inf tail;
// for x > 20 the ratio is 1 in float32, and clamping x there keeps n finite.
inline Vec tanh_softplus(Vec x) {
  Vec e = exp(min(x, Vec::set1(20.0f)));
  Vec n = e * (e + Vec::set1(2.0f));
  return n / (n + Vec::set1(2.0f));
}

// e^x - 1 with expm1's relative accuracy near 0, where exp(x) - 1 cancels (ELU of -1e-30
// would be 0): |x| < 1/2 uses the Taylor series to x^8/8! (truncation < 1e-8 relative).
inline Vec expm1(Vec x) {
  Vec p = fmadd(Vec::set1(1.0f / 40320), x, Vec::set1(1.0f / 5040));
  p = fmadd(p, x, Vec::set1(1.0f / 720));
  p = fmadd(p, x, Vec::set1(1.0f / 120));
  p = fmadd(p, x, Vec::set1(1.0f / 24));
  p = fmadd(p, x, Vec::set1(1.0f / 6));
  p = fmadd(p, x, Vec::set1(0.5f));
  p = fmadd(p, x, Vec::set1(1.0f));
  return blend(cmp_lt(abs(x), Vec::set1(0.5f)), exp(x) - Vec::set1(1.0f), p * x);
}

// 1 where lo < s < hi, else 0
inline Vec inside(Vec s, Vec lo, Vec hi) {
  const Vec zero = Vec::zero(), one = Vec::set1(1.0f);
  return blend(cmp_gt(s, lo), zero, blend(cmp_lt(s, hi), zero, one));
}

bool forward_f32(Activation act, const float* x, float* y, int64_t n, float param, float q) {
  const Vec zero = Vec::zero(), one = Vec::set1(1.0f);
  const Vec slope = Vec::set1(param), vq = Vec::set1(q);
  const Vec three = Vec::set1(3.0f), six = Vec::set1(6.0f), sixth = Vec::set1(1.0f / 6.0f);
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
    // --8<-- [start:simd_forward_gelu]
    // x Phi(x) = x/2 (1 + erf(x/sqrt2)), erf rational (no exp): memory-bound, abs. error < 1e-6
    case Activation::gelu:
      map1(x, y, n, [](Vec v) {
        Vec half_v = Vec::set1(0.5f) * v;
        return fmadd(half_v, erf_rational(v * Vec::set1(0.70710678118654752f)), half_v);
      });
      return true;
    // --8<-- [end:simd_forward_gelu]
    // x/2 (1 + tanh u) = x sigmoid(2u)
    case Activation::gelu_tanh:
      map1(x, y, n, [](Vec v) { return v * tanh_gelu_parts(v, v * v).sig; });
      return true;
    case Activation::silu: map1(x, y, n, [](Vec v) { return v * sigmoid(v); }); return true;
    case Activation::mish: map1(x, y, n, [](Vec v) { return v * tanh_softplus(v); }); return true;
    case Activation::elu:  // q (x if x > 0 else p (e^x - 1))
      map1(x, y, n, [&](Vec v) { return vq * blend(cmp_gt(v, zero), slope * expm1(v), v); });
      return true;
    case Activation::celu: {
      const Vec inv_alpha = Vec::set1(1.0f / param);
      map1(x, y, n, [&](Vec v) { return blend(cmp_gt(v, zero), slope * expm1(v * inv_alpha), v); });
      return true;
    }
    case Activation::softplus: {  // x where p x > q, else softplus(p x) / p
      const Vec inv_beta = Vec::set1(1.0f / param);
      map1(x, y, n, [&](Vec v) {
        Vec bx = slope * v;
        return blend(cmp_gt(bx, vq), softplus(bx) * inv_beta, v);
      });
      return true;
    }
    case Activation::softsign: map1(x, y, n, [&](Vec v) { return v / (one + abs(v)); }); return true;
    // min(max(v, lo), hi): max/min return the second operand for NaN, so NaN passes through
    case Activation::hardtanh: map1(x, y, n, [&](Vec v) { return min(vq, max(slope, v)); }); return true;
    case Activation::hardswish:
      map1(x, y, n, [&](Vec v) { return v * min(six, max(zero, v + three)) * sixth; });
      return true;
    case Activation::hardsigmoid:
      map1(x, y, n, [&](Vec v) { return min(six, max(zero, v + three)) * sixth; });
      return true;
    case Activation::logsigmoid: map1(x, y, n, [](Vec v) { return neg(softplus(neg(v))); }); return true;
    case Activation::softshrink: {  // x - p, x + p, or x * 0 (NaN stays NaN) in [-p, p]
      const Vec neg_slope = neg(slope);
      map1(x, y, n, [&](Vec v) {
        Vec r = blend(cmp_lt(v, neg_slope), v * zero, v + slope);
        return blend(cmp_gt(v, slope), r, v - slope);
      });
      return true;
    }
    case Activation::hardshrink: {  // 0 in [-p, p], else x (NaN stays NaN)
      const Vec neg_slope = neg(slope);
      map1(x, y, n, [&](Vec v) { return blend(cmp_ge(v, neg_slope), v, blend(cmp_le(v, slope), v, zero)); });
      return true;
    }
    case Activation::threshold:  // q where x <= p, else x (NaN stays NaN)
      map1(x, y, n, [&](Vec v) { return blend(cmp_le(v, slope), v, vq); });
      return true;
  }
  return false;
}

// map2 over (gy, saved), or with one gy for all (sg 0: the gradient of y.sum())
template <class F>
inline void map_g(const float* gy, int64_t sg, const float* saved, float* gx, int64_t n, const F& f) {
  if (sg) {
    map2(gy, saved, gx, n, f);
  } else {
    const Vec g = Vec::set1(*gy);
    map1(saved, gx, n, [&](Vec s) { return f(g, s); });
  }
}

bool backward_f32(Activation act, const float* gy, int64_t sg, const float* saved, float* gx, int64_t n, float param,
                  float q) {
  const Vec zero = Vec::zero(), one = Vec::set1(1.0f);
  const Vec slope = Vec::set1(param), vq = Vec::set1(q);
  const Vec three = Vec::set1(3.0f);
  switch (act) {
    // The piecewise activations select, as the reference (gradient_one) and PyTorch: 0 where
    // the derivative is the constant 0, even for gy = inf or NaN; gy (times f') elsewhere.
    case Activation::relu:  // 0 where x <= 0 (a NaN x passes gy)
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec s) { return blend(cmp_le(s, zero), g, zero); });
      return true;
    case Activation::leaky_relu:
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec s) { return g * blend(cmp_gt(s, zero), slope, one); });
      return true;
    case Activation::sigmoid:  // saved = y: y (1 - y)
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec s) { return g * (s * (one - s)); });
      return true;
    case Activation::tanh:  // saved = y: 1 - y^2
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec s) { return g * fnmadd(s, s, one); });
      return true;
    // --8<-- [start:simd_backward_gelu]
    case Activation::gelu:  // Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
      map_g(gy, sg, saved, gx, n, [](Vec g, Vec s) {
        Vec pdf = Vec::set1(kInvSqrt2Pi) * exp(Vec::set1(-0.5f) * s * s);
        Vec cdf = fmadd(Vec::set1(0.5f), erf_rational(s * Vec::set1(0.70710678118654752f)), Vec::set1(0.5f));
        return g * fmadd(s, pdf, cdf);
      });
      return true;
    // --8<-- [end:simd_backward_gelu]
    case Activation::gelu_tanh:
      // 0.5 (1 + t) + 0.5 x (1 - t^2) u' = sigmoid(2u) + 2 x sigmoid(2u) sigmoid(-2u) u',
      // u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec s) {
        Vec x2 = s * s;
        TanhGeluParts p = tanh_gelu_parts(s, x2);
        Vec du = Vec::set1(kSqrt2OverPi) * fmadd(Vec::set1(3.0f * kGeluCubic), x2, one);
        return g * fmadd(Vec::set1(2.0f) * s * p.sig_sig, du, p.sig);
      });
      return true;
    case Activation::silu:  // s (1 + x (1 - s)), s = sigmoid(x)
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) {
        Vec sg = sigmoid(x);
        return g * (sg * fmadd(x, one - sg, one));
      });
      return true;
    case Activation::mish:  // t + x sigmoid(x) (1 - t^2), t = tanh(softplus(x))
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) {
        Vec t = tanh_softplus(x);
        return g * fmadd(x * sigmoid(x), fnmadd(t, t, one), t);
      });
      return true;
    case Activation::elu:  // q if x > 0 else q p e^x
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) { return g * (vq * blend(cmp_gt(x, zero), slope * exp(x), one)); });
      return true;
    case Activation::celu: {  // 1 if x > 0 else e^(x/p)
      const Vec inv_alpha = Vec::set1(1.0f / param);
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) { return g * blend(cmp_gt(x, zero), exp(x * inv_alpha), one); });
      return true;
    }
    case Activation::softplus:  // 1 where p x > q, else sigmoid(p x)
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) {
        Vec bx = slope * x;
        return g * blend(cmp_gt(bx, vq), sigmoid(bx), one);
      });
      return true;
    case Activation::softsign:  // 1 / (1 + |x|)^2
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) {
        Vec d = one + abs(x);
        return g / (d * d);
      });
      return true;
    case Activation::hardtanh:  // gy where p < x < q, else 0 (a NaN x too, as torch)
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) { return blend(cmp_gt(inside(x, slope, vq), zero), zero, g); });
      return true;
    case Activation::hardswish:  // 0 if x < -3, x/3 + 1/2 if x <= 3, else 1
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) {
        Vec mid = fmadd(x, Vec::set1(1.0f / 3.0f), Vec::set1(0.5f));
        Vec d = blend(cmp_gt(x, three), mid, one);  // a NaN x gives NaN, as torch
        return blend(cmp_lt(x, neg(three)), g * d, zero);
      });
      return true;
    case Activation::hardsigmoid:  // 1/6 if -3 < x < 3 else 0
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) {
        return blend(cmp_gt(inside(x, neg(three), three), zero), zero, g * Vec::set1(1.0f / 6.0f));
      });
      return true;
    case Activation::logsigmoid:  // sigmoid(-x)
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) { return g * sigmoid(neg(x)); });
      return true;
    case Activation::softshrink:
    case Activation::hardshrink: {  // gy where x < -p or x > p, else 0 (a NaN x too, as torch)
      const Vec neg_slope = neg(slope);
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) {
        return blend(cmp_lt(x, neg_slope), blend(cmp_gt(x, slope), zero, g), g);
      });
      return true;
    }
    case Activation::threshold:  // 0 where x <= p, else 1
      map_g(gy, sg, saved, gx, n, [&](Vec g, Vec x) { return blend(cmp_le(x, slope), g, zero); });
      return true;
  }
  return false;
}

// gx = (ga + gb) * f'(saved). ReLU in one pass: 3 streams read and 1 written, where the add
// and then the backward read 4 and write 2. The others through an L1 block of the sum (the
// same float32 sum, so the same bits as the two calls).
bool backward_sum_f32(Activation act, const float* ga, const float* gb, const float* saved, float* gx, int64_t n,
                      float param, float q) {
  if (act == Activation::relu) {  // 0 where x <= 0 (a NaN x passes), as backward_f32
    const Vec zero = Vec::zero();
    map3(ga, gb, saved, gx, n, [&](Vec a, Vec b, Vec s) { return blend(cmp_le(s, zero), a + b, zero); });
    return true;
  }
  constexpr int64_t kBlock = 1024;
  float sum[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t m = n - i0 < kBlock ? n - i0 : kBlock;
    map2(ga + i0, gb + i0, sum, m, [](Vec a, Vec b) { return a + b; });
    if (!backward_f32(act, sum, 1, saved + i0, gx + i0, m, param, q)) return false;
  }
  return true;
}

}  // namespace
extern const ActivationSimd activation_simd = {&forward_f32, &backward_f32, &backward_sum_f32};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
