// Loss kernels: NLL (loss.cpp), cross-entropy and focal on logits with the log-softmax fused
// in (loss_softmax.cpp), the elementwise losses MSE, L1, BCE, BCE-with-logits
// (loss_pointwise.cpp). loss.cpp opens with the map of the formulas and files. Targets are
// int64 class indices; every float array has the input's dtype (float32 or float64) and is
// contiguous. LossSimd (at the end) is the float32 table of loss_simd.cpp, compiled per ISA.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// --- negative log-likelihood on log-probabilities (the gather half of cross-entropy) ----------
// out[i] = -w[t_i] * logp[i, t_i] (0 where t_i == ignore_index), wsum = sum of w[t_i] used.
// logp: (N, C) contiguous; weight may be null (all 1). Throws KernelError naming the first
// target outside [0, C).
void nll_forward(const void* logp, const int64_t* target, const void* weight, DType dtype,
                 int64_t N, int64_t C, int64_t ignore_index, void* out, double* weight_sum);
// glogp[i, t_i] = -w[t_i] * g[i] (g has N elements, or 1 element broadcast); other entries 0.
void nll_backward(const void* g, bool g_scalar, const int64_t* target, const void* weight,
                  DType dtype, int64_t N, int64_t C, int64_t ignore_index, void* glogp);

// --- cross-entropy on logits, log-softmax fused in (one read of x forward, one read of x and
// one write of dx backward; the n x C log-probabilities are never stored) -----------------
//
// x: (N, C) logits. Targets are class indices `target` (N) or probabilities `prob` (N, C).
// weight: (C) or null. smoothing: label smoothing epsilon.
//   index targets:  loss_i = (1-eps) w[t] (lse_i - x_it) + eps/C sum_c w_c (lse_i - x_ic)
//   prob targets:   q = (1-eps) p + eps/C;  loss_i = sum_c w_c q_ic (lse_i - x_ic)
// Writes loss (N) and lse (N, saved for the backward); weight_sum = sum of w[t_i] over the
// samples not ignored (the 'mean' denominator for index targets).
void cross_entropy_forward(const void* x, DType dtype, int64_t N, int64_t C, const int64_t* target,
                           const void* prob, const void* weight, int64_t ignore_index, double smoothing,
                           void* loss, void* lse, double* weight_sum);
// dx_ic = g_i * scale * d loss_i / d x_ic (g has N elements, or one when g_scalar).
void cross_entropy_backward(const void* x, const void* lse, const void* g, bool g_scalar, double scale,
                            DType dtype, int64_t N, int64_t C, const int64_t* target, const void* prob,
                            const void* weight, int64_t ignore_index, double smoothing, void* dx);

// The same loss on (N, C, inner) logits with class-index targets (N * inner): an NCHW
// segmentation map (inner = H W) without moving C last. Position p = n * inner + i has its
// logits at x[n, :, i] (stride inner); loss, lse and g are per position (N * inner). The lse
// is a logsumexp over the middle axis (the softmax column kernels for float32).
void cross_entropy_forward_spatial(const void* x, DType dtype, int64_t N, int64_t C, int64_t inner,
                                   const int64_t* target, const void* weight, int64_t ignore_index,
                                   double smoothing, void* loss, void* lse, double* weight_sum);
void cross_entropy_backward_spatial(const void* x, const void* lse, const void* g, bool g_scalar, double scale,
                                    DType dtype, int64_t N, int64_t C, int64_t inner, const int64_t* target,
                                    const void* weight, int64_t ignore_index, double smoothing, void* dx);

// --- focal loss (Lin et al. 2017), multi-class on logits -----------------------------------
// loss_i = -alpha_t (1 - p_t)^gamma log p_t, p_t = softmax(x_i)[t_i]; alpha: (C) or null
// (then alpha_scalar for every class).
void focal_forward(const void* x, DType dtype, int64_t N, int64_t C, const int64_t* target, const void* alpha,
                   double alpha_scalar, double gamma, void* loss, void* lse);
void focal_backward(const void* x, const void* lse, const void* g, bool g_scalar, double scale, DType dtype,
                    int64_t N, int64_t C, const int64_t* target, const void* alpha, double alpha_scalar,
                    double gamma, void* dx);

// --- elementwise losses: input x, target y, n elements (contiguous, same shape) ---------------
enum class PointwiseLoss : int {
  mse = 0,          // (x - y)^2
  l1,               // |x - y|
  bce,              // -w [y log x + (1-y) log(1-x)], logs clamped at -100 (PyTorch)
  bce_with_logits,  // -w [L y log s(x) + (1-y) log(1-s(x))], L = pos_weight, stable form
};
// out (n) when out != null; the sum of the losses always returned in *sum.
// weight (n) or null; pos_weight: pos_weight[i % pw_len] or null (bce_with_logits).
// Throws KernelError for bce inputs outside [0, 1].
void pointwise_loss_forward(PointwiseLoss kind, const void* x, const void* y, const void* weight,
                            const void* pos_weight, int64_t pw_len, DType dtype, int64_t n, void* out,
                            double* sum);
// dx = g * scale * dloss/dx  (g: n elements or one when g_scalar). dloss/dy is -dx for mse/l1.
void pointwise_loss_backward(PointwiseLoss kind, const void* x, const void* y, const void* weight,
                             const void* pos_weight, int64_t pw_len, const void* g, bool g_scalar,
                             double scale, DType dtype, int64_t n, void* dx);

// Float32 SIMD row helpers for the softmax-based losses: the vector versions of
// row_logsumexp_reference and row_softmax_scaled_reference in loss_softmax.cpp (one row of C
// contiguous logits).
struct LossSimd {
  // returns log sum_c exp(x_c) of one row (max-shifted)
  float (*row_logsumexp)(const float* x, int64_t C);
  // dx_c = scale * exp(x_c - lse) for one row
  void (*row_softmax_scaled)(const float* x, float lse, float scale, float* dx, int64_t C);
  // dx_i = a_i * exp(x_i - lse_i) over n positions (one class of a spatial cross-entropy)
  void (*scaled_exp)(const float* x, const float* lse, const float* a, float* dx, int64_t n);
  // The elementwise losses of loss_pointwise.cpp on n contiguous float32 values, one pos_weight
  // pw for all (1 when there is none), w null = 1: the sum of the losses (out: each one, or
  // null), and dx = g * scale * dloss/dx (g: n values, or one when g_scalar).
  double (*pointwise_forward)(PointwiseLoss kind, const float* x, const float* y, const float* w, float pw,
                              float* out, int64_t n);
  void (*pointwise_backward)(PointwiseLoss kind, const float* x, const float* y, const float* w, float pw,
                             const float* g, bool g_scalar, float scale, float* dx, int64_t n);
};

}  // namespace minidl
