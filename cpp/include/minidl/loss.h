// Loss kernels. Issue 2 has the negative log-likelihood pieces cross-entropy is built from.
#pragma once
#include <cstdint>

#include "minidl/tensor_view.h"

namespace minidl {

// out[i] = -w[t_i] * logp[i, t_i] (0 where t_i == ignore_index), wsum = sum of w[t_i] used.
// logp: (N, C) contiguous; weight may be null (all 1). Throws KernelError naming the first
// target outside [0, C).
void nll_forward(const void* logp, const int64_t* target, const void* weight, DType dtype,
                 int64_t N, int64_t C, int64_t ignore_index, void* out, double* weight_sum);
// glogp[i, t_i] = -w[t_i] * g[i] (g has N elements, or 1 element broadcast); other entries 0.
void nll_backward(const void* g, bool g_scalar, const int64_t* target, const void* weight,
                  DType dtype, int64_t N, int64_t C, int64_t ignore_index, void* glogp);

}  // namespace minidl
