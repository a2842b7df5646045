// Losses: the map of where each one lives, then the negative log-likelihood.
//
// Every loss takes a batch of predictions x and targets and returns one loss per element or
// per sample; 'mean' / 'sum' is applied by the caller (python/minidl/nn/loss.py).
//
// --8<-- [start:loss_map]
//   loss             file                 forward                          d loss / d x
//   nll              loss.cpp (below)     -w_t logp_t                      -w_t at class t, 0 elsewhere
//   cross_entropy    loss_softmax.cpp     w_t (lse - x_t)                  w_t (softmax(x) - onehot(t))
//                    (+ label smoothing and probability targets; log-softmax fused in)
//   focal            loss_softmax.cpp     -a_t (1 - p_t)^g log p_t         K ([c = t] - p_c), K: see there
//   mse              loss_pointwise.cpp   (x - y)^2                        2 (x - y)
//   l1               loss_pointwise.cpp   |x - y|                          sign(x - y)
//   bce              loss_pointwise.cpp   -w [y log x + (1-y) log(1-x)]    w (x - y) / (x (1 - x))
//   bce_with_logits  loss_pointwise.cpp   -w [L y log s(x) + (1-y) log(1 - s(x))]
//                                         d/dx = w [(1 + (L-1) y) s(x) - L y]  (L = pos_weight, s = sigmoid)
// --8<-- [end:loss_map]
//
// Each of those files opens with its reference. Only cross-entropy and focal have float32 SIMD
// parts: their two row helpers (log-sum-exp, scaled softmax), LossSimd in loss_simd.cpp. The
// shapes and the API are in loss.h, the pybind11 functions in loss_bind.cpp.
//
// NLL on log-probabilities is the gather half of cross-entropy: one serial pass over N samples
// (N reads of logp, no SIMD table), forward and backward side by side.
#include "loss.h"

#include <string>

#include "core/dtype_dispatch.h"

namespace minidl {

static void check_targets(const int64_t* target, int64_t N, int64_t C, int64_t ignore_index) {
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = target[i];
    if (t != ignore_index && (t < 0 || t >= C))
      throw KernelIndexError("Target " + std::to_string(t) + " is out of bounds: expected a class index in [0, " +
                        std::to_string(C) + ") (sample " + std::to_string(i) + ")");
  }
}

// out_i = -w_{t_i} logp[i, t_i]  (0 where t_i == ignore_index);  weight_sum = sum_i w_{t_i}
void nll_forward(const void* logp, const int64_t* target, const void* weight, DType dtype, int64_t N,
                 int64_t C, int64_t ignore_index, void* out, double* weight_sum) {
  check_targets(target, N, C, ignore_index);
  MINIDL_DISPATCH_FLOAT(dtype, "nll_loss", {
    const T* lp = static_cast<const T*>(logp);
    const T* w = static_cast<const T*>(weight);
    T* o = static_cast<T*>(out);
    double ws = 0;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t t = target[i];
      if (t == ignore_index) { o[i] = T(0); continue; }
      const T wt = w ? w[t] : T(1);
      o[i] = -wt * lp[i * C + t];
      ws += wt;
    }
    *weight_sum = ws;
  });
}

// d out_i / d logp[i, c] = -w_{t_i} [c = t_i]:  glogp[i, t_i] = -w_{t_i} g_i, zero elsewhere
void nll_backward(const void* g, bool g_scalar, const int64_t* target, const void* weight, DType dtype,
                  int64_t N, int64_t C, int64_t ignore_index, void* glogp) {
  check_targets(target, N, C, ignore_index);
  MINIDL_DISPATCH_FLOAT(dtype, "nll_loss_backward", {
    const T* pg = static_cast<const T*>(g);
    const T* w = static_cast<const T*>(weight);
    T* o = static_cast<T*>(glogp);
    for (int64_t i = 0; i < N * C; ++i) o[i] = T(0);
    for (int64_t i = 0; i < N; ++i) {
      const int64_t t = target[i];
      if (t == ignore_index) continue;
      o[i * C + t] = -(w ? w[t] : T(1)) * pg[g_scalar ? 0 : i];
    }
  });
}

}  // namespace minidl
