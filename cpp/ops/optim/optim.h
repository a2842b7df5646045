// Multi-tensor optimizer updates: one call updates every parameter of a parameter group.
//
// Each kernel takes parallel arrays of pointers (one entry per parameter tensor) and their
// element counts, walks every tensor once (read p, g, state; write p, state) and splits the
// concatenation of all tensors into fixed-size chunks that the OpenMP team shares, so twenty
// small tensors cost one fork, not twenty. float32 uses the per-ISA SIMD loops of
// cpp/ops/optim/optim_simd.cpp; float64 (and md.backend.use("scalar")) the reference loops of
// cpp/ops/optim/optim.cpp. The formulas are PyTorch's (torch/optim/{sgd,adam}.py) and, for
// LAMB, You et al. 2020, Algorithm 2; each is written out above its reference loop.
//
// Shapes: tensor i is sizes[i] contiguous elements; params[i], grads[i] and its state arrays
// (bufs, exp_avgs, exp_avg_sqs, max_exp_avg_sqs) all have that size and the same dtype.
// OptimSimd (at the end) is the float32 table of optim_simd.cpp.
#pragma once
#include <cstdint>

namespace minidl {

// ---- hyper-parameters, as the per-element loops see them ------------------------------
// Held in double; each loop rounds them once to its element type, as PyTorch rounds a Python
// scalar to the tensor's dtype.
struct SgdScalars {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  bool first_step;   // momentum buffer does not exist yet: buf = g (PyTorch's clone)
};

struct AdamScalars {
  double lr, beta1, beta2, eps, weight_decay;
  double step_size;         // lr / (1 - beta1^t)
  double bias_corr2_sqrt;   // sqrt(1 - beta2^t)
  bool amsgrad, maximize;
  bool decoupled;           // AdamW: p *= 1 - lr * wd (else g += wd * p)
};

struct LambScalars {
  double beta1, beta2, eps, weight_decay;
  double bias_corr1, bias_corr2;   // 1 - beta^t
};

// ---- multi-tensor entry points (T = float or double) ----------------------------------
// SGD:  d = (maximize ? -g : g) + wd p;  buf = momentum buf + (1 - dampening) d (= d on the first step);
//       p -= lr (nesterov ? d + momentum buf : buf)   (p -= lr d when momentum == 0)
// bufs[i] is ignored when momentum == 0. first_step[i] != 0: bufs[i] is written, not read.
template <class T>
void sgd_step(int64_t n_tensors, T* const* params, const T* const* grads, T* const* bufs,
              const uint8_t* first_step, const int64_t* sizes, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool maximize);

// Adam:  m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2  (vmax = max(vmax, v) if amsgrad),
//        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps);
//        weight decay: g += wd p (Adam) or p *= 1 - lr wd (AdamW, decoupled).
// steps[i] = the step count of tensor i after this step (1 on the first).
// max_exp_avg_sqs is read only when amsgrad.
template <class T>
void adam_step(int64_t n_tensors, T* const* params, const T* const* grads, T* const* exp_avgs,
               T* const* exp_avg_sqs, T* const* max_exp_avg_sqs, const int64_t* sizes,
               const double* steps, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool amsgrad, bool maximize, bool decoupled);

// LAMB: pass 1 updates the moments (as Adam's) and accumulates ||w||^2 and ||u||^2 per tensor,
// u = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) + wd w; pass 2
// applies w -= lr * r * u with r = ||w|| / ||u|| (1 where either is 0). trust_ratios (may be
// null) receives r per tensor.
template <class T>
void lamb_step(int64_t n_tensors, T* const* params, const T* const* grads, T* const* exp_avgs,
               T* const* exp_avg_sqs, const int64_t* sizes, const double* steps, double lr,
               double beta1, double beta2, double eps, double weight_decay, double* trust_ratios);

// ---- float32 inner loops of one ISA, over one contiguous range -------------------------
// The vector versions of sgd_range, adam_range, lamb_moments_range, lamb_apply_range.
struct OptimSimd {
  void (*sgd_f32)(float* p, const float* g, float* buf, int64_t n, const SgdScalars& s);
  void (*adam_f32)(float* p, const float* g, float* m, float* v, float* vmax, int64_t n,
                   const AdamScalars& s);
  // updates m, v; adds sum(p^2) and sum(u^2) of the range to sums[0], sums[1]
  void (*lamb_moments_f32)(const float* p, const float* g, float* m, float* v, int64_t n,
                           const LambScalars& s, double* sums);
  // p -= scale * u, scale = lr * r
  void (*lamb_apply_f32)(float* p, const float* m, const float* v, int64_t n,
                         const LambScalars& s, double scale);
};

}  // namespace minidl
