// Batch normalization, forward and backward (formulas and shapes: batchnorm.h).
//
// Channel c of x (N, C, S) is N contiguous runs of S values, and every step of the textbook
// algorithm is a loop over those runs. First the reference: the loop of each step over one
// run, forward and backward side by side, sums in double. The scalar kernel set and float64
// run them; the float32 SIMD set runs NormSimd (batchnorm_simd.cpp), the same loops vectorized,
// and tests/test_batchnorm.py compares the two.
//
// Then which path runs, fused per block of neighbouring channels (channel_block: one block
// stays in L2, so memory is read once): the forward reads x twice for the statistics (a mean
// shifted by the channel's first value, then the squared deviations: the shifted two-pass
// statistics of ops/reduce/row_stats.h) and once for y; the backward reads (dy, x) once for
// the two sums and once for dx. Sums over a channel are kept in double, whatever the storage
// type, and are the same bits whatever the block. Blocks are split between threads. The backward
// of relu(batch_norm(x)) (relu_affine) is the same two passes with the ReLU's mask recomputed
// from x: the ReLU's own pass over dy and y disappears.
#include "batchnorm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/cpu_caches.h"
#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "ops/reduce/row_stats.h"

MINIDL_SIMD_TABLE(minidl::NormSimd, norm_simd)

namespace minidl {
namespace {

// --8<-- [start:reference]
// ---- reference: the loops of one run of S values -----------------------------------
// Forward, over the M = N S values of a channel (mean and var by the shifted two-pass
// algorithm of ops/reduce/row_stats.h, so a constant channel normalises to exactly 0):
//   mean = sum(x) / M,  var = sum((x - mean)^2) / M (biased),  invstd = 1 / sqrt(var + eps),
//   y = (x - mean) a + b  with a = weight invstd, b = bias.

// (the statistics of a run: run_sum_shifted_reference and run_sum_sq_dev_reference of
// ops/reduce/row_stats.h, shared with LayerNorm)

// y = (x - mean) a + b
template <class T>
T affine_reference(T x, double mean, double a, double b) {
  return T((x - mean) * a + b);
}
template <class T>
void run_affine_reference(const T* x, T* y, int64_t n, double mean, double a, double b) {
  for (int64_t i = 0; i < n; ++i) y[i] = affine_reference(x[i], mean, a, b);
}

// Backward, with xhat = (x - mean) invstd and sums over the channel:
//   dweight = sum(dy xhat),  dbias = sum(dy),
//   dx = weight invstd (dy - mean(dy) - xhat mean(dy xhat))  (batch statistics)
//      = k dy + bx (x - mean) + c0  with k = weight invstd, bx = -k invstd^2 sum(dy (x - mean)) / M,
//        c0 = -k sum(dy) / M;  with fixed (running) statistics bx = c0 = 0.

// *sum_dy += sum dy,  *sum_dy_xmu += sum dy (x - mean)
template <class T>
void run_grad_sums_reference(const T* dy, const T* x, int64_t n, double mean, double* sum_dy, double* sum_dy_xmu) {
  double s1 = 0, s2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    s1 += dy[i];
    s2 += double(dy[i]) * (x[i] - mean);
  }
  *sum_dy += s1;
  *sum_dy_xmu += s2;
}

// dx = k dy + bx (x - mean) + c0
template <class T>
void run_grad_input_reference(const T* dy, const T* x, T* dx, int64_t n, double mean, double k, double bx,
                              double c0) {
  for (int64_t i = 0; i < n; ++i) dx[i] = T(k * dy[i] + bx * (x[i] - mean) + c0);
}

// Backward of relu(batch_norm(x)): the same two loops on dy' = (y <= 0 ? 0 : dy), with y
// recomputed as the forward computed it (relu_affine: BatchNormAffine in batchnorm.h). A
// select, as the ReLU's own backward (activation.cpp, gradient_one) and PyTorch's
// threshold_backward: an inf or NaN dy where y <= 0 gives 0, fused or not.
// (floor: relu_floor_of the dtype the forward rounded y to; 0 when it did not)
template <class T>
T relu_passes(T dy, T x, const double* relu_affine, float floor) {
  const double mean = relu_affine[0], a = relu_affine[1], b = relu_affine[2];
  if (relu_affine[3] == BatchNormAffine::float_fma)  // only float32 runs record this kind
    return std::fma(float(x) - float(mean), float(a), float(b)) <= floor ? T(0) : dy;
  return affine_reference(x, mean, a, b) <= T(floor) ? T(0) : dy;
}

template <class T>
void run_grad_sums_relu_reference(const T* dy, const T* x, int64_t n, double mean, const double* relu_affine,
                                  float floor, double* sum_dy, double* sum_dy_xmu) {
  double s1 = 0, s2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T g = relu_passes(dy[i], x[i], relu_affine, floor);
    s1 += g;
    s2 += double(g) * (x[i] - mean);
  }
  *sum_dy += s1;
  *sum_dy_xmu += s2;
}

template <class T>
void run_grad_input_relu_reference(const T* dy, const T* x, T* dx, int64_t n, double mean, double k, double bx,
                                   double c0, const double* relu_affine, float floor) {
  for (int64_t i = 0; i < n; ++i)
    dx[i] = T(k * relu_passes(dy[i], x[i], relu_affine, floor) + bx * (x[i] - mean) + c0);
}
// --8<-- [end:reference]

// ---- which path runs ---------------------------------------------------------------

// Channel c is N runs of S contiguous values: x[(n C + c) S + s].
int64_t run_offset(const BatchNormShape& sh, int64_t n, int64_t c) { return (n * sh.c + c) * sh.s; }

// Channels are processed in blocks of cb neighbours, each pass walking sample n's cb runs (one
// contiguous piece of cb S values) before sample n + 1's. Per channel nothing changes: the same
// run sums, added in double in the same order n = 0, 1, ..., so the results are the bits of a
// channel at a time, and no thread count changes them. What changes is the access pattern.
// One channel's runs lie C S values apart: short runs (the 8x8 maps of ResNet's last stage are
// 256 bytes) defeat the hardware prefetchers, which follow a stream only within a 4 KiB page,
// so every run started with a miss. A block's piece of kStreamBytes (a page) per sample is a
// stream they follow. The block stays in L2 between the passes (statistics, then y; or the two
// sums, then dx): `streams` tensors of N cb S values within half of it (cpu_caches), so x is
// read from memory once. cb = 1 for runs of a page and more: the old channel at a time.
constexpr int64_t kStreamBytes = 4096;

int64_t channel_block(const BatchNormShape& sh, int64_t elem_bytes, int streams) {
  const int64_t run_bytes = std::max<int64_t>(sh.s, 1) * elem_bytes;
  int64_t cb = std::max<int64_t>(1, kStreamBytes / run_bytes);
  const int64_t half_l2 = cpu_caches().l2.size / 2;
  const int64_t block_bytes = std::max<int64_t>(1, int64_t(streams) * std::max<int64_t>(sh.n, 1) * run_bytes);
  cb = std::min(cb, std::max<int64_t>(1, half_l2 / block_bytes));
  return std::min(cb, std::max<int64_t>(sh.c, 1));
}

// blocks of cb channels per parallel chunk: fork when a chunk is ~32K values or more
template <class F>
void for_channel_blocks(const BatchNormShape& sh, int64_t cb, const F& f) {
  const int64_t blocks = (sh.c + cb - 1) / cb;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(sh.n * sh.s * cb, 1));
  parallel_for(blocks, grain, [&](int64_t bb, int64_t be) {
    for (int64_t b = bb; b < be; ++b) f(b * cb, std::min(sh.c, (b + 1) * cb));
  });
}

template <class T>
constexpr bool is_f32() { return std::is_same<T, float>::value; }

// Per channel of a block: the forward's statistics and map, or the backward's sums.
struct ChannelState {
  double shift = 0, sum_shifted = 0, mean = 0, seen = 0, sum_sq_dev = 0, invstd = 0, a = 0, b = 0;
  float mean_f = 0, a_f = 0, b_f = 0;
  double sum_dy = 0, sum_dy_xmu = 0, k = 0, bx = 0, c0 = 0;
  const double* relu = nullptr;
  bool vector_runs = false;
};

// The runs of a block of channels in the order every pass reads them: sample by sample, the
// block's channels within a sample (one page of each sample at a time, a stream the hardware
// prefetcher follows): f(state of channel c, offset of run (n, c)).
template <class F>
void for_block_runs(const BatchNormShape& sh, int64_t c0, int64_t c1, ChannelState* st, const F& f) {
  for (int64_t n = 0; n < sh.n; ++n)
    for (int64_t c = c0; c < c1; ++c) f(st[c - c0], run_offset(sh, n, c));
}

// The mean and biased variance of each channel (M > 0): the mean shifted by the channel's first
// value, then the squared deviations from it (from its float32 rounding in the SIMD runs).
template <class T>
void block_mean_var(const T* x, const BatchNormShape& sh, int64_t c0, int64_t c1, ChannelState* st,
                    const NormSimd* simd) {
  const int64_t m = sh.n * sh.s;
  for (int64_t c = c0; c < c1; ++c) st[c - c0].shift = double(x[run_offset(sh, 0, c)]);
  for_block_runs(sh, c0, c1, st, [&](ChannelState& s, int64_t off) {
    const T* run = x + off;
    if constexpr (is_f32<T>())
      if (s.vector_runs) {
        s.sum_shifted += simd->sum_shifted(run, sh.s, float(s.shift));
        return;
      }
    s.sum_shifted += run_sum_shifted_reference(run, sh.s, s.shift);
  });
  for (int64_t c = c0; c < c1; ++c) {
    ChannelState& s = st[c - c0];
    s.mean = s.shift + s.sum_shifted / m;
    s.seen = s.vector_runs ? double(static_cast<float>(s.mean)) : s.mean;  // the mean pass 2 uses
  }
  for_block_runs(sh, c0, c1, st, [&](ChannelState& s, int64_t off) {
    const T* run = x + off;
    if constexpr (is_f32<T>())
      if (s.vector_runs) {
        s.sum_sq_dev += simd->sum_sq_dev(run, sh.s, static_cast<float>(s.seen));
        return;
      }
    s.sum_sq_dev += run_sum_sq_dev_reference(run, sh.s, s.seen);
  });
}

template <class T>
void forward_impl(const T* x, T* y, const T* weight, const T* bias, T* running_mean, T* running_var,
                  T* save_mean, T* save_invstd, const BatchNormShape& sh, bool use_batch_stats, double momentum,
                  double eps, const NormSimd* simd, double* affine_out) {
  const int64_t m = sh.n * sh.s;
  const int64_t cb = channel_block(sh, sizeof(T), 2);  // x and y
  for_channel_blocks(sh, cb, [&](int64_t c0, int64_t c1) {
    std::vector<ChannelState> block(size_t(c1 - c0));
    ChannelState* st = block.data();
    for (int64_t c = c0; c < c1; ++c) st[c - c0].vector_runs = is_f32<T>() && simd && sh.s > 1;
    if (use_batch_stats && m > 0) block_mean_var(x, sh, c0, c1, st, simd);
    for (int64_t c = c0; c < c1; ++c) {
      ChannelState& s = st[c - c0];
      double mean, invstd;
      if (use_batch_stats) {
        mean = m > 0 ? s.mean : 0.0;
        const double var = m > 0 ? finish_var(s.sum_sq_dev, m, s.mean - s.seen) : 0.0;  // biased
        invstd = 1.0 / std::sqrt(var + eps);
        if (running_mean) running_mean[c] = T((1 - momentum) * running_mean[c] + momentum * mean);
        if (running_var) {
          const double unbiased = m > 1 ? var * m / (m - 1) : var;
          running_var[c] = T((1 - momentum) * running_var[c] + momentum * unbiased);
        }
      } else {
        mean = running_mean[c];
        invstd = 1.0 / std::sqrt(double(running_var[c]) + eps);
      }
      save_mean[c] = T(mean);
      save_invstd[c] = T(invstd);
      // y = (x - mean) * a + b
      s.mean = mean;
      s.a = (weight ? double(weight[c]) : 1.0) * invstd;
      s.b = bias ? double(bias[c]) : 0.0;
      // (x - mean) a + b with mean = float(mean) + mean_lo in the vector runs: the low part goes
      // into b, so the mean is not rounded to float32 before the subtraction
      s.mean_f = float(mean), s.a_f = float(s.a), s.b_f = float(s.b - (mean - double(s.mean_f)) * s.a);
      if (affine_out) {
        double* o = affine_out + 4 * c;
        if (s.vector_runs) {
          o[0] = s.mean_f, o[1] = s.a_f, o[2] = s.b_f, o[3] = BatchNormAffine::float_fma;
        } else {
          o[0] = mean, o[1] = s.a, o[2] = s.b, o[3] = BatchNormAffine::reference_double;
        }
      }
    }
    for_block_runs(sh, c0, c1, st, [&](const ChannelState& s, int64_t off) {
      const T* xr = x + off;
      T* yr = y + off;
      if constexpr (is_f32<T>())
        if (s.vector_runs) {
          simd->affine(xr, yr, sh.s, s.mean_f, s.a_f, s.b_f);
          return;
        }
      run_affine_reference(xr, yr, sh.s, s.mean, s.a, s.b);
    });
  });
}

// --8<-- [start:backward_impl]
template <class T>
void backward_impl(const T* gy, const T* x, const T* weight, const T* save_mean, const T* save_invstd, T* gx,
                   T* gweight, T* gbias, const BatchNormShape& sh, bool use_batch_stats, const NormSimd* simd,
                   const double* relu_affine, float relu_floor) {
  const int64_t m = sh.n * sh.s;
  const int64_t cb = channel_block(sh, sizeof(T), 3);  // dy, x and dx
  for_channel_blocks(sh, cb, [&](int64_t c0, int64_t c1) {
    std::vector<ChannelState> block(size_t(c1 - c0));
    ChannelState* st = block.data();
    for (int64_t c = c0; c < c1; ++c) {
      ChannelState& s = st[c - c0];
      s.mean = save_mean[c], s.invstd = save_invstd[c];
      s.relu = relu_affine ? relu_affine + 4 * c : nullptr;
      if constexpr (is_f32<T>()) {
        s.vector_runs = simd && sh.s > 1;
        // the vector ReLU mask reproduces the forward's float32 fma of x - mean (the saved mean:
        // the same float the forward used); any other record goes through relu_passes
        if (s.relu && !(s.relu[3] == BatchNormAffine::float_fma && s.relu[0] == double(float(s.mean))))
          s.vector_runs = false;
      }
    }
    // pass 1: sum(dy) and sum(dy (x - mean))
    for_block_runs(sh, c0, c1, st, [&](ChannelState& s, int64_t off) {
      const T* g = gy + off;
      const T* xr = x + off;
      if constexpr (is_f32<T>())
        if (s.vector_runs) {
          float s1, s2;
          if (s.relu)
            simd->grad_sums_relu(g, xr, sh.s, float(s.mean), float(s.relu[1]), float(s.relu[2]), relu_floor, &s1, &s2);
          else
            simd->grad_sums(g, xr, sh.s, float(s.mean), &s1, &s2);
          s.sum_dy += s1;
          s.sum_dy_xmu += s2;
          return;
        }
      if (s.relu)
        run_grad_sums_relu_reference(g, xr, sh.s, s.mean, s.relu, relu_floor, &s.sum_dy, &s.sum_dy_xmu);
      else
        run_grad_sums_reference(g, xr, sh.s, s.mean, &s.sum_dy, &s.sum_dy_xmu);
    });
    for (int64_t c = c0; c < c1; ++c) {
      ChannelState& s = st[c - c0];
      if (gweight) gweight[c] = T(s.sum_dy_xmu * s.invstd);  // sum(dy xhat)
      if (gbias) gbias[c] = T(s.sum_dy);
      s.k = (weight ? double(weight[c]) : 1.0) * s.invstd;
      if (use_batch_stats && m > 0) {
        s.bx = -s.k * s.invstd * s.invstd * s.sum_dy_xmu / m;  // -k xhat mean(dy xhat) / (x - mean)
        s.c0 = -s.k * s.sum_dy / m;                              // -k mean(dy)
      }
    }
    if (!gx) return;
    // pass 2: dx = k dy + bx (x - mean) + c0
    for_block_runs(sh, c0, c1, st, [&](const ChannelState& s, int64_t off) {
      const T* g = gy + off;
      const T* xr = x + off;
      T* o = gx + off;
      if constexpr (is_f32<T>())
        if (s.vector_runs) {
          if (s.relu)
            simd->grad_input_relu(g, xr, o, sh.s, float(s.mean), float(s.k), float(s.bx), float(s.c0),
                                  float(s.relu[1]), float(s.relu[2]), relu_floor);
          else
            simd->grad_input(g, xr, o, sh.s, float(s.mean), float(s.k), float(s.bx), float(s.c0));
          return;
        }
      if (s.relu)
        run_grad_input_relu_reference(g, xr, o, sh.s, s.mean, s.k, s.bx, s.c0, s.relu, relu_floor);
      else
        run_grad_input_reference(g, xr, o, sh.s, s.mean, s.k, s.bx, s.c0);
    });
  });
}
// --8<-- [end:backward_impl]

}  // namespace

void batch_norm_forward(const void* x, void* y, const void* weight, const void* bias, void* running_mean,
                        void* running_var, void* save_mean, void* save_invstd, DType dtype,
                        const BatchNormShape& shape, bool use_batch_stats, double momentum, double eps,
                        double* affine_out) {
  if (!use_batch_stats && (!running_mean || !running_var))
    throw KernelError("batch_norm: running_mean and running_var are needed without batch statistics");
  const NormSimd* simd = norm_simd_active();
  MINIDL_DISPATCH_FLOAT(dtype, "batch_norm", {
    forward_impl<T>(static_cast<const T*>(x), static_cast<T*>(y), static_cast<const T*>(weight),
                    static_cast<const T*>(bias), static_cast<T*>(running_mean), static_cast<T*>(running_var),
                    static_cast<T*>(save_mean), static_cast<T*>(save_invstd), shape, use_batch_stats, momentum,
                    eps, simd, affine_out);
  });
}

void batch_norm_backward(const void* gy, const void* x, const void* weight, const void* save_mean,
                         const void* save_invstd, void* gx, void* gweight, void* gbias, DType dtype,
                         const BatchNormShape& shape, bool use_batch_stats, const double* relu_affine,
                         float relu_floor) {
  const NormSimd* simd = norm_simd_active();
  MINIDL_DISPATCH_FLOAT(dtype, "batch_norm_backward", {
    backward_impl<T>(static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const T*>(weight),
                     static_cast<const T*>(save_mean), static_cast<const T*>(save_invstd), static_cast<T*>(gx),
                     static_cast<T*>(gweight), static_cast<T*>(gbias), shape, use_batch_stats, simd,
                     relu_affine, relu_floor);
  });
}

float relu_floor_of(DType t) {
  if (t == DType::bf16) return std::ldexp(1.0f, -134);
  if (t == DType::f16) return std::ldexp(1.0f, -25);
  return 0.0f;
}

}  // namespace minidl
