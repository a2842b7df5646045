// Cross-entropy and focal loss on logits, with the log-softmax fused in: the forward keeps
// only each row's log-sum-exp (N numbers), the backward rebuilds softmax from x and lse in
// the same pass that writes dx.
//
// Read top to bottom:
//   1. The reference row helpers, lse = log sum_c exp(x_c) and dx_c = scale softmax_c, and which
//      of them runs: LossSimd (loss_simd.cpp) for float32 on the active SIMD set, else these.
//   2. Cross-entropy forward and backward, then focal forward and backward: the formulas (also
//      in loss.h), one implementation for every dtype, OpenMP over the N rows (~32K logits per
//      task); only the two row helpers change with the kernel set.
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "loss.h"
#include "core/parallel.h"
#include "ops/softmax/softmax.h"

MINIDL_SIMD_TABLE(minidl::LossSimd, loss_simd)

namespace minidl {
namespace {

// ---- reference row helpers ----------------------------------------------------------------

// --8<-- [start:reference_rows]
// lse = m + log sum_c exp(x_c - m), m = max_c x_c (m itself when it is +-inf)
template <class T>
inline T row_logsumexp_reference(const T* x, int64_t C, int64_t stride = 1) {
  T m = x[0];
  for (int64_t c = 1; c < C; ++c) m = x[c * stride] > m ? x[c * stride] : m;
  if (std::isinf(m)) return m;
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(x[c * stride] - m));
  return static_cast<T>(m + std::log(s));
}

// dx_c = scale * softmax_c = scale * exp(x_c - lse)
template <class T>
inline void row_softmax_scaled_reference(const T* x, T lse, T scale, T* dx, int64_t C) {
  for (int64_t c = 0; c < C; ++c) dx[c] = scale * static_cast<T>(std::exp(static_cast<double>(x[c] - lse)));
}
// --8<-- [end:reference_rows]

// --8<-- [start:which_helper]
// ---- which helper runs: float32 on the active SIMD set, else the reference ----------------

template <class T>
T row_lse(const T* x, int64_t C) {
  if constexpr (std::is_same_v<T, float>)
    if (const LossSimd* simd = loss_simd_active()) return simd->row_logsumexp(x, C);
  return row_logsumexp_reference(x, C);
}

template <class T>
void row_softmax_scaled(const T* x, T lse, T scale, T* dx, int64_t C) {
  if constexpr (std::is_same_v<T, float>)
    if (const LossSimd* simd = loss_simd_active()) return simd->row_softmax_scaled(x, lse, scale, dx, C);
  row_softmax_scaled_reference(x, lse, scale, dx, C);
}
// --8<-- [end:which_helper]

void check_targets(const int64_t* target, int64_t N, int64_t C, int64_t ignore_index) {
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = target[i];
    if (t != ignore_index && (t < 0 || t >= C))
      throw KernelIndexError("Target " + std::to_string(t) + " is out of bounds: expected a class index in [0, " +
                        std::to_string(C) + ") (sample " + std::to_string(i) + ")");
  }
}

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

// The pieces the row (N, C) and the spatial (N, C, inner) forms share:
// one index-target loss, (1-eps) w_t (lse - x_t) + eps/C sum_c w_c (lse - x_c), with class c at
// x[c * stride] (stride 1 for a row, inner for a position of a map); the differences lse - x
// are taken in lse's type L (the row form passes T, the spatial form double, as each did)
template <class T, class L>
double index_target_loss(const T* x, int64_t stride, int64_t C, int64_t t, L lse, const T* w, double eps) {
  double v = (1.0 - eps) * (w ? w[t] : 1.0) * (lse - x[t * stride]);
  if (eps != 0.0) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += (w ? w[c] : 1.0) * (lse - x[c * stride]);
    v += eps / C * s;
  }
  return v;
}

// W = sum_c w_c (C without weights)
template <class T>
double class_weight_total(const T* w, int64_t C) {
  if (!w) return static_cast<double>(C);
  double W = 0;
  for (int64_t c = 0; c < C; ++c) W += w[c];
  return W;
}

// the weight the mean divides by: sum of w_t over the n targets not ignored (their count without weights)
template <class T>
double counted_weight(const int64_t* target, int64_t n, const T* w, int64_t ignore_index) {
  double ws = 0;
  for (int64_t i = 0; i < n; ++i)
    if (target[i] != ignore_index) ws += w ? static_cast<double>(w[target[i]]) : 1.0;
  return ws;
}

}  // namespace

// ---- cross-entropy: forward and backward ---------------------------------------------------
// index targets:  loss_i = (1-eps) w_t (lse_i - x_it) + eps/C sum_c w_c (lse_i - x_ic)
// prob targets:   q = (1-eps) p + eps/C;  loss_i = sum_c w_c q_ic (lse_i - x_ic)
void cross_entropy_forward(const void* x, DType dtype, int64_t N, int64_t C, const int64_t* target,
                           const void* prob, const void* weight, int64_t ignore_index, double smoothing,
                           void* loss, void* lse, double* weight_sum) {
  if (target) check_targets(target, N, C, ignore_index);
  MINIDL_DISPATCH_FLOAT(dtype, "cross_entropy", {
    const T* px = static_cast<const T*>(x);
    const T* w = static_cast<const T*>(weight);
    const T* p = static_cast<const T*>(prob);
    T* out = static_cast<T*>(loss);
    T* l = static_cast<T*>(lse);
    const double eps = smoothing;
    parallel_for(N, row_grain(C), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T* xi = px + i * C;
        const T li = row_lse(xi, C);
        l[i] = li;
        if (target) {
          const int64_t t = target[i];
          if (t == ignore_index) { out[i] = T(0); continue; }
          out[i] = static_cast<T>(index_target_loss(xi, 1, C, t, li, w, eps));
        } else {
          const T* pi = p + i * C;
          double s = 0;
          for (int64_t c = 0; c < C; ++c) {
            const double q = (1.0 - eps) * pi[c] + eps / C;
            s += (w ? w[c] : 1.0) * q * (li - xi[c]);
          }
          out[i] = static_cast<T>(s);
        }
      }
    });
    *weight_sum = target ? counted_weight(target, N, w, ignore_index) : 0.0;
  });
}

// --8<-- [start:ce_backward]
// index targets: dloss_i/dx_c = (1-eps) w_t (p_c - [c=t]) + eps/C (W p_c - w_c),  W = sum_c w_c
// prob targets:  dloss_i/dx_c = p_c sum_k w_k q_k - w_c q_c
void cross_entropy_backward(const void* x, const void* lse, const void* g, bool g_scalar, double scale,
                            DType dtype, int64_t N, int64_t C, const int64_t* target, const void* prob,
                            const void* weight, int64_t ignore_index, double smoothing, void* dx) {
  MINIDL_DISPATCH_FLOAT(dtype, "cross_entropy_backward", {
    const T* px = static_cast<const T*>(x);
    const T* pl = static_cast<const T*>(lse);
    const T* pg = static_cast<const T*>(g);
    const T* w = static_cast<const T*>(weight);
    const T* p = static_cast<const T*>(prob);
    T* out = static_cast<T*>(dx);
    const double eps = smoothing;
    const double W = class_weight_total(w, C);
    parallel_for(N, row_grain(C), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T* xi = px + i * C;
        T* di = out + i * C;
        const double gi = static_cast<double>(pg[g_scalar ? 0 : i]) * scale;
        if (target) {
          const int64_t t = target[i];
          if (t == ignore_index) { for (int64_t c = 0; c < C; ++c) di[c] = T(0); continue; }
          const double wt = w ? w[t] : 1.0;
          // the p_c coefficient: (1-eps) w_t + eps/C W
          const double coef = (1.0 - eps) * wt + eps / C * W;
          row_softmax_scaled(xi, pl[i], static_cast<T>(gi * coef), di, C);
          di[t] -= static_cast<T>(gi * (1.0 - eps) * wt);
          if (eps != 0.0)
            for (int64_t c = 0; c < C; ++c) di[c] -= static_cast<T>(gi * eps / C * (w ? w[c] : 1.0));
        } else {
          const T* pi = p + i * C;
          double sq = 0;
          for (int64_t c = 0; c < C; ++c) sq += (w ? w[c] : 1.0) * ((1.0 - eps) * pi[c] + eps / C);
          row_softmax_scaled(xi, pl[i], static_cast<T>(gi * sq), di, C);
          for (int64_t c = 0; c < C; ++c)
            di[c] -= static_cast<T>(gi * (w ? w[c] : 1.0) * ((1.0 - eps) * pi[c] + eps / C));
        }
      }
    });
  });
}
// --8<-- [end:ce_backward]

// dx_i = a_i exp(x_i - lse_i) over n positions: LossSimd for float32 on a SIMD set, else in double
template <class T>
void positions_scaled_exp(const LossSimd* simd, const T* x, const T* lse, const T* a, T* dx, int64_t n) {
  if constexpr (std::is_same_v<T, float>)
    if (simd) return simd->scaled_exp(x, lse, a, dx, n);
  for (int64_t i = 0; i < n; ++i) dx[i] = static_cast<T>(a[i] * std::exp(static_cast<double>(x[i]) - lse[i]));
}

// ---- cross-entropy over (N, C, inner) with class indices: the same formulas per position ----
// Position p = n * inner + i reads its C logits at stride inner, so the work runs across the
// contiguous positions: the lse of every position first (a logsumexp over the middle axis),
// then, per class c, a row of inner positions. (Moving C last first cost a transposing copy
// of x, and of dx back, and rows of C = 21 logits are too short for the vectors.)
void cross_entropy_forward_spatial(const void* x, DType dtype, int64_t N, int64_t C, int64_t inner,
                                   const int64_t* target, const void* weight, int64_t ignore_index,
                                   double smoothing, void* loss, void* lse, double* weight_sum) {
  const int64_t P = N * inner;
  check_targets(target, P, C, ignore_index);
  if (!logsumexp_simd(x, dtype, N, C, inner, lse)) {
    MINIDL_DISPATCH_FLOAT(dtype, "cross_entropy", {
      const T* px = static_cast<const T*>(x);
      T* l = static_cast<T*>(lse);
      parallel_for(P, row_grain(C), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p)
          l[p] = row_logsumexp_reference(px + (p / inner) * C * inner + p % inner, C, inner);
      });
    });
  }
  MINIDL_DISPATCH_FLOAT(dtype, "cross_entropy", {
    const T* px = static_cast<const T*>(x);
    const T* w = static_cast<const T*>(weight);
    const T* l = static_cast<const T*>(lse);
    T* out = static_cast<T*>(loss);
    const double eps = smoothing;
    parallel_for(P, row_grain(eps != 0.0 ? C : 1), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = px + (p / inner) * C * inner + p % inner;  // class c at xp[c * inner]
        const int64_t t = target[p];
        if (t == ignore_index) { out[p] = T(0); continue; }
        out[p] = static_cast<T>(index_target_loss(xp, inner, C, t, static_cast<double>(l[p]), w, eps));
      }
    });
    *weight_sum = counted_weight(target, P, w, ignore_index);
  });
}

// dx[n, c, i] = a_p softmax_c - b_p w_c - [c = t_p] g_p (1-eps) w_t,  a_p = g_p ((1-eps) w_t + eps/C W),
// b_p = g_p eps / C (a = b = 0 where t_p is ignored): per sample n, a row of inner positions
// per class, softmax_c = exp(x - lse) (LossSimd::scaled_exp for float32)
void cross_entropy_backward_spatial(const void* x, const void* lse, const void* g, bool g_scalar, double scale,
                                    DType dtype, int64_t N, int64_t C, int64_t inner, const int64_t* target,
                                    const void* weight, int64_t ignore_index, double smoothing, void* dx) {
  MINIDL_DISPATCH_FLOAT(dtype, "cross_entropy_backward", {
    const T* px = static_cast<const T*>(x);
    const T* pl = static_cast<const T*>(lse);
    const T* pg = static_cast<const T*>(g);
    const T* w = static_cast<const T*>(weight);
    T* out = static_cast<T*>(dx);
    const double eps = smoothing;
    const double W = class_weight_total(w, C);
    const LossSimd* simd = loss_simd_active();
    parallel_for(N, std::max<int64_t>(1, 32768 / std::max<int64_t>(C * inner, 1)), [&](int64_t n0, int64_t n1) {
      std::vector<T> a(static_cast<size_t>(inner)), b(static_cast<size_t>(inner));
      for (int64_t n = n0; n < n1; ++n) {
        const int64_t p0 = n * inner;
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t t = target[p0 + i];
          const double gp = static_cast<double>(pg[g_scalar ? 0 : p0 + i]) * scale;
          const bool kept = t != ignore_index;
          a[i] = kept ? static_cast<T>(gp * ((1.0 - eps) * (w ? w[t] : 1.0) + eps / C * W)) : T(0);
          b[i] = kept ? static_cast<T>(gp * eps / C) : T(0);
        }
        for (int64_t c = 0; c < C; ++c) {
          const T* xc = px + (n * C + c) * inner;
          T* dc = out + (n * C + c) * inner;
          positions_scaled_exp(simd, xc, pl + p0, a.data(), dc, inner);
          if (eps != 0.0) {
            const T wc = w ? w[c] : T(1);
            for (int64_t i = 0; i < inner; ++i) dc[i] -= b[i] * wc;
          }
        }
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t t = target[p0 + i];
          T* di = out + n * C * inner + i;
          if (t == ignore_index) {  // 0, not 0 * exp(...): a NaN logit there stays out of dx
            for (int64_t c = 0; c < C; ++c) di[c * inner] = T(0);
            continue;
          }
          const double gp = static_cast<double>(pg[g_scalar ? 0 : p0 + i]) * scale;
          di[t * inner] -= static_cast<T>(gp * (1.0 - eps) * (w ? w[t] : 1.0));
        }
      }
    });
  });
}

// ---- focal loss (Lin et al. 2017): forward and backward ------------------------------------
// loss_i = -alpha_t (1 - p_t)^gamma log p_t,  log p_t = x_it - lse_i
void focal_forward(const void* x, DType dtype, int64_t N, int64_t C, const int64_t* target, const void* alpha,
                   double alpha_scalar, double gamma, void* loss, void* lse) {
  check_targets(target, N, C, INT64_MIN);
  MINIDL_DISPATCH_FLOAT(dtype, "focal_loss", {
    const T* px = static_cast<const T*>(x);
    const T* a = static_cast<const T*>(alpha);
    T* out = static_cast<T*>(loss);
    T* l = static_cast<T*>(lse);
    parallel_for(N, row_grain(C), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T* xi = px + i * C;
        const int64_t t = target[i];
        l[i] = row_lse(xi, C);
        const double logpt = static_cast<double>(xi[t]) - l[i];
        const double pt = std::exp(logpt);
        const double at = a ? static_cast<double>(a[t]) : alpha_scalar;
        out[i] = static_cast<T>(-at * std::pow(1.0 - pt, gamma) * logpt);
      }
    });
  });
}

// dloss_i/dx_c = K_i ([c=t] - p_c),  K_i = -alpha_t [(1-p_t)^gamma - gamma (1-p_t)^(gamma-1) p_t log p_t]
void focal_backward(const void* x, const void* lse, const void* g, bool g_scalar, double scale, DType dtype,
                    int64_t N, int64_t C, const int64_t* target, const void* alpha, double alpha_scalar,
                    double gamma, void* dx) {
  MINIDL_DISPATCH_FLOAT(dtype, "focal_loss_backward", {
    const T* px = static_cast<const T*>(x);
    const T* pl = static_cast<const T*>(lse);
    const T* pg = static_cast<const T*>(g);
    const T* a = static_cast<const T*>(alpha);
    T* out = static_cast<T*>(dx);
    parallel_for(N, row_grain(C), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T* xi = px + i * C;
        T* di = out + i * C;
        const int64_t t = target[i];
        const double logpt = static_cast<double>(xi[t]) - pl[i];
        const double pt = std::exp(logpt), one_minus = 1.0 - pt;
        const double at = a ? static_cast<double>(a[t]) : alpha_scalar;
        // (1-p)^(gamma-1) p log p -> 0 as p -> 1 for gamma > 0
        const double second = (gamma == 0.0 || one_minus <= 0.0) ? 0.0
                              : gamma * std::pow(one_minus, gamma - 1.0) * pt * logpt;
        const double K = -at * (std::pow(one_minus, gamma) - second);
        const double gi = static_cast<double>(pg[g_scalar ? 0 : i]) * scale;
        row_softmax_scaled(xi, pl[i], static_cast<T>(-gi * K), di, C);
        di[t] += static_cast<T>(gi * K);
      }
    });
  });
}

}  // namespace minidl
