// Connectionist Temporal Classification loss (Graves et al., ICML 2006): the negative log
// probability of a label sequence summed over every frame-level alignment that collapses to it.
//
// Shapes: log_probs (T, N, C) contiguous, log-probabilities per frame; the targets of sample b
// are targets[target_offsets[b] + i], i < target_lengths[b] (no blank among them); frames
// t < input_lengths[b] count. L = target_lengths[b], the extended labels l' = (blank, l_1,
// blank, l_2, ..., l_L, blank), 2L + 1 of them (s even: blank, s odd: l_{(s+1)/2}).
//
//   forward  (alpha, log space): alpha_0(0) = lp_0(blank), alpha_0(1) = lp_0(l'_1),
//            alpha_t(s) = lp_t(l'_s) + log(e^alpha_{t-1}(s) + e^alpha_{t-1}(s-1)
//                                          + [l'_s != l'_{s-2}] e^alpha_{t-1}(s-2))
//            nll = -log(e^alpha_{T-1}(2L) + e^alpha_{T-1}(2L-1))
//   backward (beta, the same recursion from the end, lp_t included as in PyTorch):
//            beta_t(s) = lp_t(l'_s) + log(e^beta_{t+1}(s) + e^beta_{t+1}(s+1)
//                                         + [l'_s != l'_{s+2}] e^beta_{t+1}(s+2))
//            posterior gamma_t(c) = sum_{s: l'_s = c} exp(alpha_t(s) + beta_t(s) - lp_t(c) + nll)
//            grad_t(c) = (exp(lp_t(c)) - gamma_t(c)) * grad_out[b]
//
// The gradient is PyTorch's: d nll / d lp_t(c) alone is -gamma_t(c); the exp(lp) term is the
// part that log_softmax's backward would add (sum_c gamma_t(c) = 1), so the result is the
// gradient with respect to the logits of log_softmax(logits) = lp, written in lp's slot. It
// is 0 for t >= input_lengths[b] and, with zero_infinity, for a sample whose nll is inf.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

struct CtcShape {
  int64_t T, N, C;            // log_probs (T, N, C)
  int64_t max_target_length;  // alpha is (N, T, 2 * max_target_length + 1)
  int64_t blank;
};

// nll (N) and log_alpha (N, T, 2 max_target_length + 1; rows t >= input_length and columns
// s > 2 target_length are left unwritten) in log_probs' dtype (float32 or float64).
void ctc_loss_forward(const void* log_probs, DType dtype, const CtcShape& shape, const int64_t* targets,
                      const int64_t* target_offsets, const int64_t* input_lengths, const int64_t* target_lengths,
                      void* nll, void* log_alpha);

// grad_log_probs (T, N, C), every element written; grad_out (N) holds d loss / d nll_b.
void ctc_loss_backward(const void* grad_out, const void* log_probs, DType dtype, const CtcShape& shape,
                       const int64_t* targets, const int64_t* target_offsets, const int64_t* input_lengths,
                       const int64_t* target_lengths, const void* nll, const void* log_alpha, bool zero_infinity,
                       void* grad_log_probs);

// One step of either recursion over n extended labels, float32, for one ISA:
//   out[s] = lp[s] + log(e^a[s] + e^a[s + d] + e^(a[s + 2d] + skip[s]))
// with d = -1 (alpha: a is row t-1) or +1 (beta: a is row t+1); a[-2], a[-1] (alpha) or a[n],
// a[n+1] (beta) must be readable and -inf; skip[s] is 0 where the two-label jump is allowed
// and -inf where it is not. Positions whose three terms are all -inf give -inf.
// The posterior weights of one frame (backward): x_s = alpha[s] + beta[s] - lp[s] (-inf where
// alpha + beta is), weights[s] = e^(x_s - m), m = max_s x_s returned; -inf, with every weight
// 0, when all are -inf. The gradient of one frame over C classes:
// g[c] = (e^lp[c] - class_sum[c] * posterior_scale) * grad_out.
struct CtcSimd {
  void (*recursion_step_f32)(const float* a, int64_t d, const float* skip, const float* lp, float* out, int64_t n);
  float (*frame_weights_f32)(const float* alpha, const float* beta, const float* lp, float* weights, int64_t n);
  void (*frame_gradient_f32)(const float* lp, const float* class_sum, float posterior_scale, float grad_out,
                             float* g, int64_t C);
};

}  // namespace minidl
