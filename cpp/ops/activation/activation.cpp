// ReLU, Leaky ReLU, Sigmoid, Tanh, GELU (erf and tanh forms), SiLU, Mish, ELU/SELU, CELU,
// Softplus, Softsign, Hardtanh/ReLU6, Hardswish, Hardsigmoid, LogSigmoid, Softshrink,
// Hardshrink and Threshold, forward and backward.
//
// Read top to bottom:
//   1. The reference: each activation's f(x) (forward_one) and f'(.) (derivative_one), then the
//      two loops y = f(x) and gx = gy * f'(saved). float64, and float32 under
//      md.backend.use("scalar"), run these; activation_simd.cpp holds the float32 vector
//      versions of the same formulas (ActivationSimd) and is tested against them.
//   2. Which path runs: bfloat16/float16 widened to float32 in L1-sized blocks; float32 on the
//      active SIMD set; otherwise the reference. OpenMP splits the flat array into ranges.
#include "activation.h"

#include <algorithm>
#include <cmath>

#include "core/dtype_dispatch.h"
#include "ops/copy/copy.h"
#include "core/dispatch.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::ActivationSimd, activation_simd)

namespace minidl {
namespace {

// ---- reference: f(x) and f'(.) of each activation, then the two loops ---------------------
//
// --8<-- [start:reference_formulas]
//   activation   forward y = f(x)                          backward f'   (from x, or from y)
//   relu         max(x, 0)                                 [x > 0]
//   leaky_relu   x if x > 0 else a x                       1 if x > 0 else a
//   sigmoid      1 / (1 + e^-x)                            y (1 - y)
//   tanh         tanh x                                    1 - y^2
//   gelu         x Phi(x) = x/2 (1 + erf(x / sqrt 2))      Phi(x) + x phi(x),  phi(x) = e^(-x^2/2) / sqrt(2 pi)
//   gelu_tanh    x/2 (1 + tanh u),                         (1 + tanh u)/2 + x/2 (1 - tanh^2 u) u',
//                u = sqrt(2/pi) (x + 0.044715 x^3)          u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//   silu         x s, s = sigmoid(x)                       s (1 + x (1 - s))
//   mish         x t, t = tanh(softplus(x))                t + x sigmoid(x) (1 - t^2)
//   elu          q x if x > 0 else q p (e^x - 1)           q if x > 0 else q p e^x
//   celu         x if x > 0 else p (e^(x/p) - 1)           1 if x > 0 else e^(x/p)
//   softplus     log(1 + e^(p x)) / p  (x if p x > q)      sigmoid(p x)  (1 if p x > q)
//   softsign     x / (1 + |x|)                             1 / (1 + |x|)^2
//   hardtanh     min(max(x, p), q)                         1 if p < x < q else 0
//   hardswish    x min(max(x + 3, 0), 6) / 6               0 if x < -3, x/3 + 1/2 if x <= 3, else 1
//   hardsigmoid  min(max(x + 3, 0), 6) / 6                 1/6 if -3 < x < 3 else 0
//   logsigmoid   min(x, 0) - log(1 + e^-|x|)               sigmoid(-x)
//   softshrink   x - p (x > p), x + p (x < -p), else 0     1 if |x| > p else 0
//   hardshrink   x if |x| > p else 0                       1 if |x| > p else 0
//   threshold    q if x <= p else x                        0 if x <= p else 1
// The boundary cases (which side gets the gradient at x = p, +-3, ...) are PyTorch's.
// --8<-- [end:reference_formulas]

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi)

template <class T>
inline T sigmoid_one(T x) {  // without overflow: for x < 0 use e^x / (1 + e^x)
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

// log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)
template <class T>
inline T softplus_one(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

template <class T>
inline T forward_one(Activation act, T x, T slope, T q) {
  switch (act) {
    case Activation::relu: return x > T(0) || x != x ? x : T(0);  // NaN stays NaN, as torch.relu
    case Activation::leaky_relu: return x > T(0) ? x : slope * x;
    case Activation::sigmoid: return sigmoid_one(x);
    case Activation::tanh: return std::tanh(x);
    case Activation::gelu: return T(0.5) * x * (T(1) + std::erf(x / T(kSqrt2)));
    case Activation::gelu_tanh: {
      T inner = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
      return T(0.5) * x * (T(1) + std::tanh(inner));
    }
    case Activation::silu: return x * sigmoid_one(x);
    case Activation::mish: return x * std::tanh(softplus_one(x));
    case Activation::elu: return q * (x > T(0) ? x : slope * std::expm1(x));
    case Activation::celu: return x > T(0) ? x : slope * std::expm1(x / slope);
    case Activation::softplus: return slope * x > q ? x : softplus_one(slope * x) / slope;
    case Activation::softsign: return x / (T(1) + std::abs(x));
    case Activation::hardtanh: return x < slope ? slope : (x > q ? q : x);  // NaN stays NaN
    case Activation::hardswish: return x * std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
    case Activation::hardsigmoid: return std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
    case Activation::logsigmoid: return -softplus_one(-x);
    case Activation::softshrink: return x > slope ? x - slope : (x < -slope ? x + slope : x * T(0));
    case Activation::hardshrink: return x >= -slope && x <= slope ? T(0) : x;
    case Activation::threshold: return x <= slope ? q : x;  // NaN stays NaN, as torch
  }
  return x;
}

// derivative f'(.) given x (relu, leaky, gelu) or y (sigmoid, tanh)
template <class T>
inline T derivative_one(Activation act, T s, T slope, T q) {
  switch (act) {
    case Activation::relu: return s <= T(0) ? T(0) : T(1);  // NaN x passes the gradient, as torch
    case Activation::leaky_relu: return s > T(0) ? T(1) : slope;
    case Activation::sigmoid: return s * (T(1) - s);      // y (1 - y)
    case Activation::tanh: return T(1) - s * s;           // 1 - y^2
    case Activation::gelu: {                              // Phi(x) + x phi(x)
      T cdf = T(0.5) * (T(1) + std::erf(s / T(kSqrt2)));
      T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * s * s);
      return cdf + s * pdf;
    }
    case Activation::gelu_tanh: {
      T x2 = s * s;
      T inner = T(kSqrt2OverPi) * (s + T(0.044715) * x2 * s);
      T t = std::tanh(inner);
      T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x2);
      return T(0.5) * (T(1) + t) + T(0.5) * s * (T(1) - t * t) * dinner;
    }
    case Activation::silu: {
      T sg = sigmoid_one(s);
      return sg * (T(1) + s * (T(1) - sg));
    }
    case Activation::mish: {
      T t = std::tanh(softplus_one(s));
      return t + s * sigmoid_one(s) * (T(1) - t * t);
    }
    case Activation::elu: return s > T(0) ? q : q * slope * std::exp(s);
    case Activation::celu: return s > T(0) ? T(1) : std::exp(s / slope);
    case Activation::softplus: return slope * s > q ? T(1) : sigmoid_one(slope * s);
    case Activation::softsign: {
      T d = T(1) + std::abs(s);
      return T(1) / (d * d);
    }
    case Activation::hardtanh: return s > slope && s < q ? T(1) : T(0);  // NaN x: 0, as torch
    case Activation::hardswish: return s < T(-3) ? T(0) : (s > T(3) ? T(1) : s / T(3) + T(0.5));
    case Activation::hardsigmoid: return s > T(-3) && s < T(3) ? T(1) / T(6) : T(0);
    case Activation::logsigmoid: return sigmoid_one(-s);
    case Activation::softshrink:
    case Activation::hardshrink: return s < -slope || s > slope ? T(1) : T(0);  // NaN x: 0, as torch
    case Activation::threshold: return s <= slope ? T(0) : T(1);
  }
  return T(1);
}

// The piecewise activations' backward selects, as PyTorch's (threshold_backward,
// hardtanh_backward, hardshrink_backward, ...): where the derivative is the constant 0 the
// gradient is 0 even when gy is inf or NaN (a product would give NaN there).
template <class T>
inline T gradient_one(Activation act, T g, T s, T slope, T q) {
  switch (act) {
    case Activation::relu:
    case Activation::hardtanh:
    case Activation::hardsigmoid:
    case Activation::softshrink:
    case Activation::hardshrink:
    case Activation::threshold: {  // the derivative is 0 exactly on the cut-off region
      const T d = derivative_one(act, s, slope, q);
      return d == T(0) ? T(0) : g * d;
    }
    case Activation::hardswish: return s < T(-3) ? T(0) : g * derivative_one(act, s, slope, q);
    default: return g * derivative_one(act, s, slope, q);
  }
}

// --8<-- [start:reference_loops]
// y[i] = f(x[i]); y may alias x
template <class T>
inline void activation_forward_reference(Activation act, const T* x, T* y, int64_t n, T slope, T q) {
  for (int64_t i = 0; i < n; ++i) y[i] = forward_one(act, x[i], slope, q);
}

// gx[i] = gy[i sg] * f'(saved[i]), saved = x or y (activation_backward_uses_output); 0 where a
// piecewise activation cuts the gradient off (gradient_one); sg 0: one gy for all
template <class T>
inline void activation_backward_reference(Activation act, const T* gy, int64_t sg, const T* saved, T* gx, int64_t n,
                                          T slope, T q) {
  for (int64_t i = 0; i < n; ++i) gx[i] = gradient_one(act, gy[i * sg], saved[i], slope, q);
// --8<-- [end:reference_loops]
}

// gx[i] = (ga[i] + gb[i]) * f'(saved[i]): the loop above on the sum, which is never stored
template <class T>
inline void activation_backward_sum_reference(Activation act, const T* ga, const T* gb, const T* saved, T* gx,
                                              int64_t n, T slope, T q) {
  for (int64_t i = 0; i < n; ++i) gx[i] = gradient_one(act, T(ga[i] + gb[i]), saved[i], slope, q);
}

// ---- which path runs ----------------------------------------------------------------------

// 16-bit tensors (bfloat16 / float16, e.g. a ReLU after a BF16-autocast convolution): blocks of
// 4096 values widened to float32 (exact) into an L1-resident buffer, the float32 loop, each
// result rounded once. The same numbers as widening the whole tensor in Python, without the
// two float32 temporaries and their extra passes over memory.
constexpr int64_t kLowpBlock = 4096;

bool is_lowp(DType t) { return t == DType::bf16 || t == DType::f16; }

void lowp_forward(Activation act, const uint16_t* x, uint16_t* y, DType t, int64_t n, double param, double q) {
  parallel_for((n + kLowpBlock - 1) / kLowpBlock, 16, [&](int64_t b0, int64_t b1) {
    float buf[kLowpBlock];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kLowpBlock, m = std::min(kLowpBlock, n - i0);
      cast_contiguous(x + i0, t, buf, DType::f32, m);
      activation_forward(act, buf, buf, DType::f32, m, param, q);
      cast_contiguous(buf, DType::f32, y + i0, t, m);
    }
  });
}

void lowp_backward(Activation act, const uint16_t* gy, int64_t gy_stride, const uint16_t* saved, uint16_t* gx, DType t,
                   int64_t n, double param, double q) {
  parallel_for((n + kLowpBlock - 1) / kLowpBlock, 16, [&](int64_t b0, int64_t b1) {
    float g[kLowpBlock], sv[kLowpBlock];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kLowpBlock, m = std::min(kLowpBlock, n - i0);
      if (gy_stride) {
        cast_contiguous(gy + i0, t, g, DType::f32, m);
      } else {
        cast_contiguous(gy, t, g, DType::f32, 1);
        std::fill(g + 1, g + m, g[0]);
      }
      cast_contiguous(saved + i0, t, sv, DType::f32, m);
      activation_backward(act, g, sv, g, DType::f32, m, param, q);
      cast_contiguous(g, DType::f32, gx + i0, t, m);
    }
  });
}

}  // namespace

bool activation_backward_uses_output(Activation act) {
  return act == Activation::sigmoid || act == Activation::tanh;
}

// --8<-- [start:which_path]
void activation_forward(Activation act, const void* x, void* y, DType dtype, int64_t n, double param, double q) {
  if (is_lowp(dtype))
    return lowp_forward(act, static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), dtype, n, param, q);
  if (dtype == DType::f32)
    if (const ActivationSimd* simd = activation_simd_active()) {
      bool done = true;
      parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
        if (!simd->forward_f32(act, static_cast<const float*>(x) + b, static_cast<float*>(y) + b, e - b,
                               static_cast<float>(param), static_cast<float>(q)))
          done = false;
      });
      if (done) return;
    }
  MINIDL_DISPATCH_FLOAT(dtype, "activation", {
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    const T slope = static_cast<T>(param), tq = static_cast<T>(q);
    parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
      activation_forward_reference(act, px + b, py + b, e - b, slope, tq);
    });
  });
}
// --8<-- [end:which_path]

void activation_backward(Activation act, const void* gy, const void* saved, void* gx, DType dtype,
                         int64_t n, double param, double q, int64_t gy_stride) {
  const int64_t sg = gy_stride ? 1 : 0;
  if (is_lowp(dtype))
    return lowp_backward(act, static_cast<const uint16_t*>(gy), sg, static_cast<const uint16_t*>(saved),
                         static_cast<uint16_t*>(gx), dtype, n, param, q);
  if (dtype == DType::f32)
    if (const ActivationSimd* simd = activation_simd_active()) {
      bool done = true;
      parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
        if (!simd->backward_f32(act, static_cast<const float*>(gy) + b * sg, sg, static_cast<const float*>(saved) + b,
                                static_cast<float*>(gx) + b, e - b, static_cast<float>(param),
                                static_cast<float>(q)))
          done = false;
      });
      if (done) return;
    }
  MINIDL_DISPATCH_FLOAT(dtype, "activation_backward", {
    const T* pg = static_cast<const T*>(gy);
    const T* ps = static_cast<const T*>(saved);
    T* po = static_cast<T*>(gx);
    const T slope = static_cast<T>(param), tq = static_cast<T>(q);
    parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
      activation_backward_reference(act, pg + b * sg, sg, ps + b, po + b, e - b, slope, tq);
    });
  });
}

void activation_backward_sum(Activation act, const void* ga, const void* gb, const void* saved, void* gx,
                             DType dtype, int64_t n, double param, double q) {
  if (dtype == DType::f32)
    if (const ActivationSimd* simd = activation_simd_active()) {
      bool done = true;
      parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
        if (!simd->backward_sum_f32(act, static_cast<const float*>(ga) + b, static_cast<const float*>(gb) + b,
                                    static_cast<const float*>(saved) + b, static_cast<float*>(gx) + b, e - b,
                                    static_cast<float>(param), static_cast<float>(q)))
          done = false;
      });
      if (done) return;
    }
  MINIDL_DISPATCH_FLOAT(dtype, "activation_backward_sum", {
    const T* pa = static_cast<const T*>(ga);
    const T* pb = static_cast<const T*>(gb);
    const T* ps = static_cast<const T*>(saved);
    T* po = static_cast<T*>(gx);
    const T slope = static_cast<T>(param), tq = static_cast<T>(q);
    parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
      activation_backward_sum_reference(act, pa + b, pb + b, ps + b, po + b, e - b, slope, tq);
    });
  });
}

}  // namespace minidl
