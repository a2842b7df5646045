// Optimizer updates (SGD, Adam/AdamW, LAMB).
//
// Read top to bottom:
//   1. The reference loops, one element at a time with the formula in the comment above each:
//      sgd_range, adam_range, lamb_moments_range + lamb_apply_range. float64, and float32 under
//      md.backend.use("scalar"), run these; optim_simd.cpp holds the float32 vector versions
//      (OptimSimd), same formulas in the same operation order.
//   2. Which path runs: the multi-tensor drivers split all tensors of a parameter group into
//      chunks shared by the OpenMP team; each float32 chunk goes to the active SIMD set, any
//      other chunk to the reference loop.
#include "optim.h"

#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::OptimSimd, optim_simd)

namespace minidl {

namespace {

// ---- reference loops ---------------------------------------------------------------------

// --8<-- [start:sgd_reference]
// SGD (torch.optim.SGD):
//   d   = -g if maximize else g
//   d  += weight_decay * p                                   (L2 penalty)
//   buf = d  on the first step, else  momentum * buf + (1 - dampening) * d
//   d   = d + momentum * buf  if nesterov  else  buf
//   p  -= lr * d
template <class T>
void sgd_range(T* p, const T* g, T* buf, int64_t n, const SgdScalars& s) {
  const T lr = T(s.lr), mom = T(s.momentum), keep = T(1.0 - s.dampening), wd = T(s.weight_decay);
  for (int64_t i = 0; i < n; ++i) {
    T d = s.maximize ? -g[i] : g[i];
    if (wd != T(0)) d = d + wd * p[i];
    if (mom != T(0)) {
      T b = s.first_step ? d : mom * buf[i] + keep * d;
      buf[i] = b;
      d = s.nesterov ? d + mom * b : b;
    }
    p[i] = p[i] - lr * d;
  }
}
// --8<-- [end:sgd_reference]

// --8<-- [start:adam_reference]
// Adam / AdamW (torch.optim.Adam, Kingma & Ba 2015; Loshchilov & Hutter 2019 for AdamW):
//   d  = -g if maximize else g
//   AdamW: p *= 1 - lr * wd            Adam: d += wd * p
//   m  = lerp(m, d, 1 - beta1)         (= beta1 m + (1 - beta1) d)
//   v  = beta2 v + (1 - beta2) d^2
//   vmax = max(vmax, v), used instead of v  if amsgrad
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
template <class T>
void adam_range(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamScalars& s) {
  const T w1 = T(1.0 - s.beta1), b2 = T(s.beta2), w2 = T(1.0 - s.beta2), eps = T(s.eps);
  const T wd = T(s.weight_decay), decay = T(1.0 - s.lr * s.weight_decay);
  const T neg_step = T(-s.step_size), bc2 = T(s.bias_corr2_sqrt);
  const bool lerp_low = (1.0 - s.beta1) < 0.5;   // torch's lerp picks the stabler form
  const T keep1 = T(s.beta1);
  for (int64_t i = 0; i < n; ++i) {
    T d = s.maximize ? -g[i] : g[i];
    T w = p[i];
    if (s.decoupled) w = w * decay;
    else if (wd != T(0)) d = d + wd * w;
    T mi = lerp_low ? m[i] + w1 * (d - m[i]) : d - (d - m[i]) * keep1;
    T vi = v[i] * b2 + w2 * d * d;
    m[i] = mi;
    v[i] = vi;
    if (s.amsgrad) {
      if (vmax[i] > vi) vi = vmax[i];
      vmax[i] = vi;
    }
    T denom = std::sqrt(vi) / bc2 + eps;
    p[i] = w + neg_step * (mi / denom);
  }
}
// --8<-- [end:adam_reference]

// --8<-- [start:lamb_reference]
// LAMB (You et al. 2020, Algorithm 2), pass 1:
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
//   u = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) + wd * w
//   sums += (w . w, u . u)
template <class T>
inline T lamb_u(T w, T mi, T vi, T bc1, T bc2, T eps, T wd) {
  return (mi / bc1) / (std::sqrt(vi / bc2) + eps) + wd * w;
}

template <class T>
void lamb_moments_range(const T* p, const T* g, T* m, T* v, int64_t n, const LambScalars& s,
                        double* sums) {
  const T w1 = T(1.0 - s.beta1), b2 = T(s.beta2), w2 = T(1.0 - s.beta2), eps = T(s.eps);
  const T wd = T(s.weight_decay), bc1 = T(s.bias_corr1), bc2 = T(s.bias_corr2);
  double ww = 0, uu = 0;
  for (int64_t i = 0; i < n; ++i) {
    T mi = m[i] + w1 * (g[i] - m[i]);
    T vi = v[i] * b2 + w2 * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    T u = lamb_u(p[i], mi, vi, bc1, bc2, eps, wd);
    ww += double(p[i]) * double(p[i]);
    uu += double(u) * double(u);
  }
  sums[0] += ww;
  sums[1] += uu;
}

// LAMB pass 2: w -= lr * r * u, r = ||w|| / ||u|| of the whole tensor (scale = lr * r).
template <class T>
void lamb_apply_range(T* p, const T* m, const T* v, int64_t n, const LambScalars& s, double scale) {
  const T eps = T(s.eps), wd = T(s.weight_decay), bc1 = T(s.bias_corr1), bc2 = T(s.bias_corr2);
  const T neg = T(-scale);
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] + neg * lamb_u(p[i], m[i], v[i], bc1, bc2, eps, wd);
}
// --8<-- [end:lamb_reference]

// ---- which path runs: multi-tensor chunking -----------------------------------------------

// --8<-- [start:chunks]
// 16384 elements = 64 KiB per array: big enough to amortize the per-chunk setup, small
// enough that 2 threads split 20 tensors evenly.
constexpr int64_t kChunk = 16384;
// below this many elements in total, one thread (waking the team costs more than it saves)
constexpr int64_t kSerialBelow = 65536;

struct Chunk {
  int64_t tensor, begin, end;
};

std::vector<Chunk> make_chunks(int64_t n_tensors, const int64_t* sizes, int64_t* total) {
  std::vector<Chunk> chunks;
  *total = 0;
  for (int64_t t = 0; t < n_tensors; ++t) {
    for (int64_t b = 0; b < sizes[t]; b += kChunk) chunks.push_back({t, b, std::min(sizes[t], b + kChunk)});
    *total += sizes[t];
  }
  return chunks;
}
// --8<-- [end:chunks]

// f(chunk_index, chunk) for every chunk; contiguous runs of chunks per thread (locality)
template <class F>
void for_each_chunk(const std::vector<Chunk>& chunks, int64_t total, const F& f) {
  const int64_t n = static_cast<int64_t>(chunks.size());
  parallel_for(n, total >= kSerialBelow ? 1 : n, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) f(c, chunks[c]);
  });
}

template <class T>
const OptimSimd* simd_for() {
  if constexpr (std::is_same_v<T, float>) return optim_simd_active();
  else return nullptr;
}

}  // namespace

template <class T>
void sgd_step(int64_t n_tensors, T* const* params, const T* const* grads, T* const* bufs,
              const uint8_t* first_step, const int64_t* sizes, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool maximize) {
  int64_t total = 0;
  const std::vector<Chunk> chunks = make_chunks(n_tensors, sizes, &total);
  const OptimSimd* simd = simd_for<T>();
  const bool has_buf = momentum != 0.0;
  for_each_chunk(chunks, total, [&](int64_t, const Chunk& c) {
    const int64_t t = c.tensor, n = c.end - c.begin;
    SgdScalars s{lr, momentum, dampening, weight_decay, nesterov, maximize,
                 has_buf && first_step[t] != 0};
    T* buf = has_buf ? bufs[t] + c.begin : nullptr;
    if constexpr (std::is_same_v<T, float>) {
      if (simd) return simd->sgd_f32(params[t] + c.begin, grads[t] + c.begin, buf, n, s);
    }
    sgd_range<T>(params[t] + c.begin, grads[t] + c.begin, buf, n, s);
  });
}

// --8<-- [start:adam_driver]
template <class T>
void adam_step(int64_t n_tensors, T* const* params, const T* const* grads, T* const* exp_avgs,
               T* const* exp_avg_sqs, T* const* max_exp_avg_sqs, const int64_t* sizes,
               const double* steps, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool amsgrad, bool maximize, bool decoupled) {
  int64_t total = 0;
  const std::vector<Chunk> chunks = make_chunks(n_tensors, sizes, &total);
  // bias corrections per tensor: each parameter has its own step count
  std::vector<AdamScalars> scal(n_tensors);
  for (int64_t t = 0; t < n_tensors; ++t) {
    const double bc1 = 1.0 - std::pow(beta1, steps[t]), bc2 = 1.0 - std::pow(beta2, steps[t]);
    scal[t] = AdamScalars{lr, beta1, beta2, eps, weight_decay, lr / bc1, std::sqrt(bc2),
                          amsgrad, maximize, decoupled};
  }
  const OptimSimd* simd = simd_for<T>();
  for_each_chunk(chunks, total, [&](int64_t, const Chunk& c) {
    const int64_t t = c.tensor, b = c.begin, n = c.end - c.begin;
    T* vmax = amsgrad ? max_exp_avg_sqs[t] + b : nullptr;
    if constexpr (std::is_same_v<T, float>) {
      if (simd)
        return simd->adam_f32(params[t] + b, grads[t] + b, exp_avgs[t] + b, exp_avg_sqs[t] + b, vmax, n,
                              scal[t]);
    }
    adam_range<T>(params[t] + b, grads[t] + b, exp_avgs[t] + b, exp_avg_sqs[t] + b, vmax, n, scal[t]);
  });
}
// --8<-- [end:adam_driver]

template <class T>
void lamb_step(int64_t n_tensors, T* const* params, const T* const* grads, T* const* exp_avgs,
               T* const* exp_avg_sqs, const int64_t* sizes, const double* steps, double lr,
               double beta1, double beta2, double eps, double weight_decay, double* trust_ratios) {
  int64_t total = 0;
  const std::vector<Chunk> chunks = make_chunks(n_tensors, sizes, &total);
  std::vector<LambScalars> scal(n_tensors);
  for (int64_t t = 0; t < n_tensors; ++t)
    scal[t] = LambScalars{beta1, beta2, eps, weight_decay, 1.0 - std::pow(beta1, steps[t]),
                          1.0 - std::pow(beta2, steps[t])};
  const OptimSimd* simd = simd_for<T>();
  // pass 1: moments and per-chunk partial sums (summed per tensor in chunk order afterwards,
  // so the result does not depend on the thread count)
  std::vector<double> partial(2 * chunks.size(), 0.0);
  for_each_chunk(chunks, total, [&](int64_t ci, const Chunk& c) {
    const int64_t t = c.tensor, b = c.begin, n = c.end - c.begin;
    double* sums = &partial[2 * ci];
    if constexpr (std::is_same_v<T, float>) {
      if (simd) return simd->lamb_moments_f32(params[t] + b, grads[t] + b, exp_avgs[t] + b, exp_avg_sqs[t] + b, n,
                                              scal[t], sums);
    }
    lamb_moments_range<T>(params[t] + b, grads[t] + b, exp_avgs[t] + b, exp_avg_sqs[t] + b, n, scal[t], sums);
  });
  std::vector<double> ww(n_tensors, 0.0), uu(n_tensors, 0.0), scale(n_tensors);
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    ww[chunks[ci].tensor] += partial[2 * ci];
    uu[chunks[ci].tensor] += partial[2 * ci + 1];
  }
  for (int64_t t = 0; t < n_tensors; ++t) {
    const double wn = std::sqrt(ww[t]), un = std::sqrt(uu[t]);
    const double r = (wn > 0 && un > 0) ? wn / un : 1.0;
    if (trust_ratios) trust_ratios[t] = r;
    scale[t] = lr * r;
  }
  // pass 2: w -= lr * r * u
  for_each_chunk(chunks, total, [&](int64_t, const Chunk& c) {
    const int64_t t = c.tensor, b = c.begin, n = c.end - c.begin;
    if constexpr (std::is_same_v<T, float>) {
      if (simd) return simd->lamb_apply_f32(params[t] + b, exp_avgs[t] + b, exp_avg_sqs[t] + b, n, scal[t], scale[t]);
    }
    lamb_apply_range<T>(params[t] + b, exp_avgs[t] + b, exp_avg_sqs[t] + b, n, scal[t], scale[t]);
  });
}

#define MINIDL_OPTIM_INSTANTIATE(T)                                                                  \
  template void sgd_step<T>(int64_t, T* const*, const T* const*, T* const*, const uint8_t*,          \
                            const int64_t*, double, double, double, double, bool, bool);             \
  template void adam_step<T>(int64_t, T* const*, const T* const*, T* const*, T* const*, T* const*,   \
                             const int64_t*, const double*, double, double, double, double, double,  \
                             bool, bool, bool);                                                      \
  template void lamb_step<T>(int64_t, T* const*, const T* const*, T* const*, T* const*,              \
                             const int64_t*, const double*, double, double, double, double, double,  \
                             double*);
MINIDL_OPTIM_INSTANTIATE(float)
MINIDL_OPTIM_INSTANTIATE(double)
#undef MINIDL_OPTIM_INSTANTIATE

}  // namespace minidl
