// Negative log-likelihood on log-probabilities: the gather half of cross-entropy.
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
