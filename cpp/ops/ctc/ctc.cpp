// CTC loss: the forward (alpha) and backward (beta, then the gradient) recursions in log space.
//
// Read top to bottom:
//   1. The three per-frame pieces, each the reference of its ctc_simd.cpp twin: one step of the
//      recursion (both directions share it), a frame's posterior weights, a frame's gradient.
//   2. One sample's forward and one sample's backward, side by side. Each keeps the rows it
//      works on padded with two -inf entries on the side the recursion reads past, and a
//      `skip` row that is 0 where the two-label jump s-2 -> s (alpha) or s+2 -> s (beta) is
//      allowed and -inf where it is not (a blank, or a label equal to the one two places on),
//      so the step has no branch and no bounds test.
//   3. Which path runs: samples in parallel (OpenMP over N; within a sample, time is a chain),
//      the float32 per-frame pieces from the SIMD table of the active ISA.
//
// The arithmetic is PyTorch's (aten/src/ATen/native/LossCTC.cpp): every log-sum-exp subtracts
// the largest of its terms, in the input's dtype, so the values agree to rounding. The
// posterior differs in form only: PyTorch log-adds alpha + beta into each class one position
// at a time (an exp and a log per position); here each frame subtracts its largest position
// posterior (in log space), sums exp() per class in linear space and scales once.
#include "ctc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::CtcSimd, ctc_simd)

namespace minidl {
namespace {

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// ---- 1. one step: out[s] = lp[s] + log(e^a[s] + e^a[s+d] + e^(a[s+2d] + skip[s])) -----------

// e^x for x <= 0, with 0 where e^x would be subnormal (x < ln of the smallest normal, about
// -87.3 for float, -708.4 for double). In the recursion such a term is added to one equal to 1
// (the largest, shifted to 0), so dropping it changes no result; in the posterior it is a
// probability below 1e-38 times the frame's most likely position's. Computing it costs a
// microcode assist per subnormal on x86: the float32 forward took 3.1 ms with them and 0.7 ms
// without (T=200, N=16, 2L+1 <= 121, AVX-512, one thread of this project's Xeon, CPU time).
template <class T>
inline T exp_or_zero(T x) {
  constexpr T kSmallestNormalLog = T(std::numeric_limits<T>::min_exponent - 1) * T(0.6931471805599453);
  return x < kSmallestNormalLog ? T(0) : std::exp(x);
}

// --8<-- [start:ctc_step_reference]
template <class T>
void recursion_step_reference(const T* a, int64_t d, const T* skip, const T* lp, T* out, int64_t n) {
  for (int64_t s = 0; s < n; ++s) {
    const T a1 = a[s], a2 = a[s + d], a3 = a[s + 2 * d] + skip[s];
    const T m = std::max(a1, std::max(a2, a3));
    if (m == kNegInf<T>) {  // no path reaches s (and -inf - -inf would be NaN)
      out[s] = kNegInf<T>;
      continue;
    }
    out[s] = std::log(exp_or_zero(a1 - m) + exp_or_zero(a2 - m) + exp_or_zero(a3 - m)) + m + lp[s];
  }
}
// --8<-- [end:ctc_step_reference]

// The posterior weights of one frame. x_s = alpha[s] + beta[s] - lp[s] is log gamma_t(s) - nll,
// the log posterior of position s (beta counts lp_t once more than a path does): weights[s] =
// e^(x_s - m) with m = max_s x_s, returned (-inf, and every weight 0, when no path passes t).
// Normalising the posterior rather than alpha + beta matters: a class forced on the path at a
// frame that gives it log-probability -164 has posterior 1 but alpha + beta 164 below another
// position's, and e^-164 is 0 in float32.
template <class T>
T frame_weights_reference(const T* alpha, const T* beta, const T* lp, T* weights, int64_t n) {
  T m = kNegInf<T>;
  for (int64_t s = 0; s < n; ++s) {
    const T ab = alpha[s] + beta[s];
    weights[s] = ab == kNegInf<T> ? ab : ab - lp[s];  // (lp = -inf there too: -inf - -inf is NaN)
    m = std::max(m, weights[s]);
  }
  for (int64_t s = 0; s < n; ++s) weights[s] = m == kNegInf<T> ? T(0) : exp_or_zero(weights[s] - m);
  return m;
}

// One frame's gradient from its class sums: gamma_c = class_sum[c] * posterior_scale with
// posterior_scale = e^(m + nll) (the largest position's posterior, >= 1 / (2L + 1), so neither
// factor over- or underflows); g[c] = (e^lp[c] - gamma_c) * grad_out.
template <class T>
void frame_gradient_reference(const T* lp, const T* class_sum, T posterior_scale, T grad_out, T* g, int64_t C) {
  for (int64_t c = 0; c < C; ++c) g[c] = (std::exp(lp[c]) - class_sum[c] * posterior_scale) * grad_out;
}

template <class T>
using StepFn = void (*)(const T*, int64_t, const T*, const T*, T*, int64_t);
template <class T>
using WeightsFn = T (*)(const T*, const T*, const T*, T*, int64_t);
template <class T>
using GradientFn = void (*)(const T*, const T*, T, T, T*, int64_t);

// ---- 2. one sample --------------------------------------------------------------------------

// The sample's extended labels l' and its rows of the recursion.
template <class T>
struct SampleWork {
  int64_t S = 0;                       // 2L + 1 extended labels
  std::vector<int64_t> label;          // l'_s
  std::vector<T> skip_alpha, skip_beta, lp_ext, weights;
  std::vector<T> row_a, row_b;         // S + 4 entries: 2 of -inf padding on each side

  void setup(const int64_t* targets, int64_t L, int64_t blank) {
    S = 2 * L + 1;
    label.assign(S, blank);
    for (int64_t i = 0; i < L; ++i) label[2 * i + 1] = targets[i];
    skip_alpha.assign(S, kNegInf<T>);
    skip_beta.assign(S, kNegInf<T>);
    for (int64_t s = 0; s < S; ++s) {
      if (s >= 2 && label[s] != label[s - 2]) skip_alpha[s] = T(0);
      if (s + 2 < S && label[s] != label[s + 2]) skip_beta[s] = T(0);
    }
    lp_ext.resize(S);
    weights.resize(S);
    row_a.assign(S + 4, kNegInf<T>);
    row_b.assign(S + 4, kNegInf<T>);
  }
  // lp_t(l'_s) for every s: a gather from frame t of this sample
  void gather(const T* lp_frame) {
    for (int64_t s = 0; s < S; ++s) lp_ext[s] = lp_frame[label[s]];
  }
};

template <class T>
inline T log_add(T a, T b) {
  const T m = std::max(a, b);
  if (m == kNegInf<T>) return m;
  return std::log(std::exp(a - m) + std::exp(b - m)) + m;
}

// --8<-- [start:ctc_forward_sample]
template <class T>
void forward_sample(const T* lp, const CtcShape& sh, int64_t b, const int64_t* targets, int64_t input_length,
                    int64_t L, StepFn<T> step, SampleWork<T>& w, T* nll, T* log_alpha) {
  if (input_length == 0) {  // the empty alignment emits nothing: probability 1 for L = 0, else 0
    nll[b] = L == 0 ? T(0) : std::numeric_limits<T>::infinity();
    return;
  }
  w.setup(targets, L, sh.blank);
  const int64_t S = w.S, width = 2 * sh.max_target_length + 1;
  auto frame = [&](int64_t t) { return lp + (t * sh.N + b) * sh.C; };
  T* prev = w.row_a.data() + 2;  // alpha_{t-1}; prev[-2], prev[-1] stay -inf
  T* cur = w.row_b.data() + 2;
  prev[0] = frame(0)[sh.blank];  // alpha_0: start on the blank or on the first label
  if (L > 0) prev[1] = frame(0)[w.label[1]];
  std::copy(prev, prev + S, log_alpha + (b * sh.T) * width);
  for (int64_t t = 1; t < input_length; ++t) {
    w.gather(frame(t));
    step(prev, -1, w.skip_alpha.data(), w.lp_ext.data(), cur, S);
    std::copy(cur, cur + S, log_alpha + (b * sh.T + t) * width);
    std::swap(prev, cur);
  }
  // end on the last blank or on the last label
  nll[b] = -log_add(prev[S - 1], L > 0 ? prev[S - 2] : kNegInf<T>);
}
// --8<-- [end:ctc_forward_sample]

// --8<-- [start:ctc_backward_sample]
template <class T>
void backward_sample(T grad_out, const T* lp, const CtcShape& sh, int64_t b, const int64_t* targets,
                     int64_t input_length, int64_t L, T nll, const T* log_alpha, bool zero_infinity,
                     StepFn<T> step, WeightsFn<T> weights, GradientFn<T> gradient, SampleWork<T>& w,
                     std::vector<T>& class_sum, T* grad) {
  const int64_t C = sh.C;
  auto grad_frame = [&](int64_t t) { return grad + (t * sh.N + b) * C; };
  for (int64_t t = input_length; t < sh.T; ++t) std::fill(grad_frame(t), grad_frame(t) + C, T(0));
  if (input_length == 0) return;
  if (std::isinf(nll)) {  // no alignment: PyTorch gives 0 with zero_infinity, else NaN (inf - inf)
    const T fill = zero_infinity ? T(0) : std::numeric_limits<T>::quiet_NaN();
    for (int64_t t = 0; t < input_length; ++t) std::fill(grad_frame(t), grad_frame(t) + C, fill);
    return;
  }
  w.setup(targets, L, sh.blank);
  const int64_t S = w.S, width = 2 * sh.max_target_length + 1;
  auto frame = [&](int64_t t) { return lp + (t * sh.N + b) * C; };
  T* next = w.row_a.data() + 2;  // beta_{t+1}; next[S], next[S+1] stay -inf
  T* cur = w.row_b.data() + 2;
  for (int64_t t = input_length - 1; t >= 0; --t) {
    const T* lpt = frame(t);
    w.gather(lpt);
    if (t == input_length - 1) {  // beta_{T-1}: end on the last blank or on the last label
      cur[S - 1] = lpt[sh.blank];
      if (L > 0) cur[S - 2] = lpt[w.label[S - 2]];
    } else {
      step(next, +1, w.skip_beta.data(), w.lp_ext.data(), cur, S);
    }
    // gamma_t(c) = sum_{s: l'_s = c} exp(alpha_t(s) + beta_t(s) - lp_t(c) + nll), the terms
    // summed relative to the frame's most likely position (frame_weights)
    const T m = weights(log_alpha + (b * sh.T + t) * width, cur, w.lp_ext.data(), w.weights.data(), S);
    std::fill(class_sum.begin(), class_sum.end(), T(0));
    for (int64_t s = 0; s < S; ++s) class_sum[w.label[s]] += w.weights[s];
    gradient(lpt, class_sum.data(), m == kNegInf<T> ? T(0) : std::exp(m + nll), grad_out, grad_frame(t), C);
    std::swap(next, cur);
  }
}
// --8<-- [end:ctc_backward_sample]

// ---- 3. which path runs ---------------------------------------------------------------------

template <class T>
StepFn<T> active_step() {
  if constexpr (std::is_same_v<T, float>)
    if (const CtcSimd* simd = ctc_simd_active()) return simd->recursion_step_f32;
  return &recursion_step_reference<T>;
}

template <class T>
WeightsFn<T> active_weights() {
  if constexpr (std::is_same_v<T, float>)
    if (const CtcSimd* simd = ctc_simd_active()) return simd->frame_weights_f32;
  return &frame_weights_reference<T>;
}

template <class T>
GradientFn<T> active_gradient() {
  if constexpr (std::is_same_v<T, float>)
    if (const CtcSimd* simd = ctc_simd_active()) return simd->frame_gradient_f32;
  return &frame_gradient_reference<T>;
}

}  // namespace

void ctc_loss_forward(const void* log_probs, DType dtype, const CtcShape& shape, const int64_t* targets,
                      const int64_t* target_offsets, const int64_t* input_lengths, const int64_t* target_lengths,
                      void* nll, void* log_alpha) {
  MINIDL_DISPATCH_FLOAT(dtype, "ctc_loss", {
    const StepFn<T> step = active_step<T>();
    parallel_for(shape.N, 1, [&](int64_t b0, int64_t b1) {
      SampleWork<T> work;
      for (int64_t b = b0; b < b1; ++b)
        forward_sample(static_cast<const T*>(log_probs), shape, b, targets + target_offsets[b], input_lengths[b],
                       target_lengths[b], step, work, static_cast<T*>(nll), static_cast<T*>(log_alpha));
    });
  });
}

void ctc_loss_backward(const void* grad_out, const void* log_probs, DType dtype, const CtcShape& shape,
                       const int64_t* targets, const int64_t* target_offsets, const int64_t* input_lengths,
                       const int64_t* target_lengths, const void* nll, const void* log_alpha, bool zero_infinity,
                       void* grad_log_probs) {
  MINIDL_DISPATCH_FLOAT(dtype, "ctc_loss backward", {
    const StepFn<T> step = active_step<T>();
    const WeightsFn<T> weights = active_weights<T>();
    const GradientFn<T> gradient = active_gradient<T>();
    parallel_for(shape.N, 1, [&](int64_t b0, int64_t b1) {
      SampleWork<T> work;
      std::vector<T> class_sum(static_cast<size_t>(shape.C));
      for (int64_t b = b0; b < b1; ++b)
        backward_sample(static_cast<const T*>(grad_out)[b], static_cast<const T*>(log_probs), shape, b,
                        targets + target_offsets[b], input_lengths[b], target_lengths[b],
                        static_cast<const T*>(nll)[b], static_cast<const T*>(log_alpha), zero_infinity, step, weights, gradient, work,
                        class_sum, static_cast<T*>(grad_log_probs));
    });
  });
}

}  // namespace minidl
