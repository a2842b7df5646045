// Elementwise losses: MSE, L1, BCE on probabilities, BCE on logits; forward (fused with the
// sum) and backward.
//
// Read top to bottom:
//   1. The reference: one element's loss (loss_one) and its derivative d loss / d x (grad_one),
//      in double for every dtype:
//        mse               (x - y)^2                                   2 (x - y)
//        l1                |x - y|                                     sign(x - y)
//        bce               -w [y log x + (1-y) log(1-x)]               w (x - y) / max(x (1-x), 1e-12)
//        bce_with_logits   -w [L y log s(x) + (1-y) log(1 - s(x))]     w [(1 + (L-1) y) s(x) - L y]
//      (L = pos_weight, s = sigmoid; d loss / d y = -d loss / d x for mse and l1.)
//   2. Which path runs: float32 with at most one pos_weight on a SIMD set runs LossSimd's
//      pointwise rows (loss_simd.cpp: the same formulas in float32 vectors); otherwise the
//      reference. In double per element, BCE on logits (log1p and exp) took 5x PyTorch's time
//      on 1M values (24.6 ms against 6.1, 1 thread, Xeon family 6 model 167) and is the loss of
//      every multi-label and binary-mask model. OpenMP over chunks of at least 64K elements; the
//      forward adds per-chunk sums in chunk order, so the total does not depend on the thread
//      count.
#include <cmath>
#include <string>
#include <type_traits>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "loss.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::LossSimd, loss_simd)

namespace minidl {
namespace {

// ---- reference: one element ---------------------------------------------------------------

// log clamped at -100, as PyTorch's binary_cross_entropy, so 0 and 1 never give inf
template <class T>
inline double clamped_log(T v) {
  const double l = std::log(static_cast<double>(v));
  return l < -100.0 ? -100.0 : l;
}

template <class T>
inline double loss_one(PointwiseLoss kind, T x, T y, double w, double pw) {
  switch (kind) {
    case PointwiseLoss::mse: { const double d = static_cast<double>(x) - y; return d * d; }
    case PointwiseLoss::l1: return std::fabs(static_cast<double>(x) - y);
    case PointwiseLoss::bce: return -w * (y * clamped_log(x) + (1.0 - y) * clamped_log(T(1) - x));
    case PointwiseLoss::bce_with_logits: {
      // (1-y) x + (1 + (pw-1) y) (log(1 + e^-|x|) + max(-x, 0)): no overflow for any x
      const double xd = x, lw = 1.0 + (pw - 1.0) * y;
      return w * ((1.0 - y) * xd + lw * (std::log1p(std::exp(-std::fabs(xd))) + (xd < 0 ? -xd : 0.0)));
    }
  }
  return 0;
}

template <class T>
inline double grad_one(PointwiseLoss kind, T x, T y, double w, double pw) {
  switch (kind) {
    case PointwiseLoss::mse: return 2.0 * (static_cast<double>(x) - y);
    case PointwiseLoss::l1: { const double d = static_cast<double>(x) - y; return (d > 0) - (d < 0); }
    case PointwiseLoss::bce: {  // w (x - y) / max(x (1 - x), 1e-12)
      const double xd = x, denom = xd * (1.0 - xd);
      return w * (xd - y) / (denom < 1e-12 ? 1e-12 : denom);
    }
    case PointwiseLoss::bce_with_logits: {  // w [lw s(x) - pw y],  lw = 1 + (pw-1) y
      const double xd = x, s = xd >= 0 ? 1.0 / (1.0 + std::exp(-xd)) : std::exp(xd) / (1.0 + std::exp(xd));
      const double lw = 1.0 + (pw - 1.0) * y;
      return w * (lw * s - pw * y);
    }
  }
  return 0;
}

}  // namespace

// ---- which path runs ----------------------------------------------------------------------

void pointwise_loss_forward(PointwiseLoss kind, const void* x, const void* y, const void* weight,
                            const void* pos_weight, int64_t pw_len, DType dtype, int64_t n, void* out,
                            double* sum) {
  MINIDL_DISPATCH_FLOAT(dtype, "loss", {
    const T* px = static_cast<const T*>(x);
    const T* py = static_cast<const T*>(y);
    const T* pw = static_cast<const T*>(weight);
    const T* ppw = static_cast<const T*>(pos_weight);
    T* po = static_cast<T*>(out);
    if (kind == PointwiseLoss::bce)
      for (int64_t i = 0; i < n; ++i)
        if (!(px[i] >= T(0) && px[i] <= T(1)))
          throw KernelError("all elements of input should be between 0 and 1 (binary_cross_entropy got " +
                            std::to_string(static_cast<double>(px[i])) + " at index " + std::to_string(i) + ")");
    // per-thread partial sums, added in thread order so the result is deterministic
    double partial[256] = {0};
    const int64_t chunks = std::min<int64_t>(256, std::max<int64_t>(1, n / 65536));
    const LossSimd* simd = nullptr;
    if constexpr (std::is_same_v<T, float>)
      if (pw_len <= 1) simd = loss_simd_active();
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
        if (simd) {  // (set for float32 only: the casts below change nothing then)
          const auto f = [](const T* p) { return reinterpret_cast<const float*>(p); };
          partial[c] = simd->pointwise_forward(kind, f(px + b), f(py + b), pw ? f(pw + b) : nullptr,
                                               ppw ? static_cast<float>(ppw[0]) : 1.0f,
                                               po ? reinterpret_cast<float*>(po + b) : nullptr, e - b);
          continue;
        }
        double s = 0;
        for (int64_t i = b; i < e; ++i) {
          const double v = loss_one(kind, px[i], py[i], pw ? static_cast<double>(pw[i]) : 1.0,
                                    ppw ? static_cast<double>(ppw[i % pw_len]) : 1.0);
          if (po) po[i] = static_cast<T>(v);
          s += v;
        }
        partial[c] = s;
      }
    });
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[c];
    *sum = total;
  });
}

void pointwise_loss_backward(PointwiseLoss kind, const void* x, const void* y, const void* weight,
                             const void* pos_weight, int64_t pw_len, const void* g, bool g_scalar,
                             double scale, DType dtype, int64_t n, void* dx) {
  MINIDL_DISPATCH_FLOAT(dtype, "loss_backward", {
    const T* px = static_cast<const T*>(x);
    const T* py = static_cast<const T*>(y);
    const T* pw = static_cast<const T*>(weight);
    const T* ppw = static_cast<const T*>(pos_weight);
    const T* pg = static_cast<const T*>(g);
    T* po = static_cast<T*>(dx);
    const LossSimd* simd = nullptr;
    if constexpr (std::is_same_v<T, float>)
      if (pw_len <= 1) simd = loss_simd_active();
    parallel_for(n, 65536, [&](int64_t b, int64_t e) {
      if (simd) {  // (set for float32 only: the casts below change nothing then)
        const auto f = [](const T* p) { return reinterpret_cast<const float*>(p); };
        simd->pointwise_backward(kind, f(px + b), f(py + b), pw ? f(pw + b) : nullptr,
                                 ppw ? static_cast<float>(ppw[0]) : 1.0f, g_scalar ? f(pg) : f(pg + b), g_scalar,
                                 static_cast<float>(scale), reinterpret_cast<float*>(po + b), e - b);
        return;
      }
      for (int64_t i = b; i < e; ++i)
        po[i] = static_cast<T>(static_cast<double>(pg[g_scalar ? 0 : i]) * scale *
                               grad_one(kind, px[i], py[i], pw ? static_cast<double>(pw[i]) : 1.0,
                                        ppw ? static_cast<double>(ppw[i % pw_len]) : 1.0));
    });
  });
}

}  // namespace minidl
