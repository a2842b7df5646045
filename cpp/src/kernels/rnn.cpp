// RNN / LSTM / GRU layer-direction over a whole sequence: forward and backward through time.
// The GEMMs go through gemm.h (sgemm / dgemm); the pointwise cell of each step is one fused
// kernel (rnn_cells.h reference, rnn_simd.cpp float32 vector versions) run in parallel over
// the batch rows when the step is big enough to pay for waking the threads.
//
// Buffers per call (T steps, B batch, H hidden, G gates):
//   forward:  xw (T B, G H) input projections of all steps (LSTM / RNN compute it straight
//             into `work`, which the cell then overwrites in place with the activations),
//             hw (B, G H) one step's recurrent projection.
//   backward: dpre_x (T B, G H) pre-activation gradients of every step, dpre_h the same on the
//             recurrent side (differs only for the GRU, whose n gate sees r * (W_hn h + b_hn)),
//             dh, dc (B, H) the running state gradients.
#include "minidl/rnn.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "dtype_dispatch.h"
#include "minidl/dispatch.h"
#include "minidl/gemm.h"
#include "minidl/parallel.h"
#include "rnn_cells.h"

MINIDL_SIMD_TABLE(minidl::RnnCellSimd, rnn_cell_simd)

namespace minidl {

int rnn_gate_count(RnnMode mode) {
  switch (mode) {
    case RnnMode::lstm: return 4;
    case RnnMode::gru: return 3;
    default: return 1;
  }
}

int64_t rnn_work_size(RnnMode mode, int64_t hidden) {
  return (mode == RnnMode::gru ? 4 : rnn_gate_count(mode)) * hidden;
}

namespace {

inline void gemm_t(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm_t(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                   int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Batch rows per parallel chunk: fork only when a chunk holds ~2K hidden units or more (the
// cell costs tens of cycles per unit, waking the team a few microseconds).
int64_t row_grain(int64_t hidden) { return std::max<int64_t>(1, 2048 / std::max<int64_t>(hidden, 1)); }

// Where step s (0-based in processing order) reads and writes: time index t and the previous
// time index (-1 at the first step: the initial state).
struct Steps {
  int64_t T;
  bool reverse;
  int64_t time(int64_t s) const { return reverse ? T - 1 - s : s; }
  int64_t prev(int64_t s) const { return s == 0 ? -1 : time(s - 1); }
};

template <class T>
const RnnCellSimd* cell_simd() {
  if constexpr (std::is_same<T, float>::value) return rnn_cell_simd_active();
  return nullptr;
}

template <class T>
void forward_impl(RnnMode mode, const RnnShape& sh, const T* x, const T* h0, const T* c0, const T* w_ih,
                  const T* w_hh, const T* b_ih, const T* b_hh, T* y, T* h_n, T* c_n, T* cell, T* work) {
  const int64_t B = sh.batch, H = sh.hidden, I = sh.input, GH = rnn_gate_count(mode) * H;
  const int64_t WS = rnn_work_size(mode, H), BH = B * H;
  const Steps steps{sh.seq, sh.reverse};
  const RnnCellSimd* simd = cell_simd<T>();
  const bool relu = mode == RnnMode::rnn_relu;
  // biases: LSTM / RNN only ever use b_ih + b_hh; the GRU keeps them apart (b_hn sits inside r *)
  std::vector<T> bias_sum(GH, T(0)), bias_i(GH, T(0)), bias_h(GH, T(0));
  for (int64_t k = 0; k < GH; ++k) {
    if (b_ih) bias_i[k] = b_ih[k];
    if (b_hh) bias_h[k] = b_hh[k];
    bias_sum[k] = bias_i[k] + bias_h[k];
  }
  // input projection of all steps: one GEMM
  std::vector<T> xw_gru;
  T* xw = work;
  if (mode == RnnMode::gru) {
    xw_gru.resize(static_cast<size_t>(sh.seq * B * GH));
    xw = xw_gru.data();
  }
  if (sh.seq * B > 0) gemm_t(false, true, sh.seq * B, GH, I, T(1), x, I, w_ih, I, T(0), xw, GH);
  std::vector<T> hw(static_cast<size_t>(B * GH));
  for (int64_t s = 0; s < sh.seq; ++s) {
    const int64_t t = steps.time(s), tp = steps.prev(s);
    const T* h_prev = tp < 0 ? h0 : y + tp * BH;
    const T* c_prev = mode == RnnMode::lstm ? (tp < 0 ? c0 : cell + tp * BH) : nullptr;
    gemm_t(false, true, B, GH, H, T(1), h_prev, H, w_hh, H, T(0), hw.data(), GH);
    const T* xw_t = xw + t * B * GH;
    T* work_t = work + t * B * WS;
    T* y_t = y + t * BH;
    parallel_for(B, row_grain(H), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const T* xr = xw_t + b * GH;
        const T* hr = hw.data() + b * GH;
        if (mode == RnnMode::lstm) {
          if constexpr (std::is_same<T, float>::value)
            if (simd) {
              simd->lstm_forward(xr, hr, bias_sum.data(), c_prev + b * H, work_t + b * WS, cell + t * BH + b * H,
                                 y_t + b * H, H, H);
              continue;
            }
          rnn_ref::lstm_forward(xr, hr, bias_sum.data(), c_prev + b * H, work_t + b * WS, cell + t * BH + b * H,
                                y_t + b * H, H, H);
        } else if (mode == RnnMode::gru) {
          if constexpr (std::is_same<T, float>::value)
            if (simd) {
              simd->gru_forward(xr, hr, bias_i.data(), bias_h.data(), h_prev + b * H, work_t + b * WS, y_t + b * H, H, H);
              continue;
            }
          rnn_ref::gru_forward(xr, hr, bias_i.data(), bias_h.data(), h_prev + b * H, work_t + b * WS, y_t + b * H, H, H);
        } else {
          if constexpr (std::is_same<T, float>::value)
            if (simd) {
              simd->rnn_forward(xr, hr, bias_sum.data(), y_t + b * H, H, relu);
              continue;
            }
          rnn_ref::rnn_forward(xr, hr, bias_sum.data(), y_t + b * H, H, relu);
        }
      }
    });
  }
  // final states: the last step in processing order (the initial ones for an empty sequence)
  const int64_t t_last = sh.seq > 0 ? steps.time(sh.seq - 1) : -1;
  std::memcpy(h_n, t_last < 0 ? h0 : y + t_last * BH, sizeof(T) * BH);
  if (mode == RnnMode::lstm) std::memcpy(c_n, t_last < 0 ? c0 : cell + t_last * BH, sizeof(T) * BH);
}

// column sums of a (rows, cols) matrix into out (cols)
template <class T>
void column_sums(const T* m, int64_t rows, int64_t cols, T* out) {
  parallel_for(cols, 256, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) out[c] = T(0);
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = m + r * cols;
      for (int64_t c = c0; c < c1; ++c) out[c] += row[c];
    }
  });
}

template <class T>
void backward_impl(RnnMode mode, const RnnShape& sh, const T* x, const T* h0, const T* c0, const T* w_ih,
                   const T* w_hh, const T* y, const T* cell, const T* work, const T* gy, const T* gh_n,
                   const T* gc_n, T* gx, T* gh0, T* gc0, T* gw_ih, T* gw_hh, T* gb_ih, T* gb_hh) {
  const int64_t B = sh.batch, H = sh.hidden, I = sh.input, GH = rnn_gate_count(mode) * H;
  const int64_t WS = rnn_work_size(mode, H), BH = B * H, TB = sh.seq * B;
  const Steps steps{sh.seq, sh.reverse};
  const RnnCellSimd* simd = cell_simd<T>();
  const bool relu = mode == RnnMode::rnn_relu, gru = mode == RnnMode::gru, lstm = mode == RnnMode::lstm;
  std::vector<T> dpre_x(static_cast<size_t>(TB * GH)), dpre_h_gru;
  if (gru) dpre_h_gru.resize(static_cast<size_t>(TB * GH));
  T* dpre_h = gru ? dpre_h_gru.data() : dpre_x.data();
  std::vector<T> dh(static_cast<size_t>(BH), T(0)), dh_next(static_cast<size_t>(BH)), dc;
  if (gh_n) std::memcpy(dh.data(), gh_n, sizeof(T) * BH);
  if (lstm) {
    dc.assign(static_cast<size_t>(BH), T(0));
    if (gc_n) std::memcpy(dc.data(), gc_n, sizeof(T) * BH);
  }
  for (int64_t s = sh.seq - 1; s >= 0; --s) {
    const int64_t t = steps.time(s), tp = steps.prev(s);
    const T* h_prev = tp < 0 ? h0 : y + tp * BH;
    if (gy) {
      const T* g = gy + t * BH;
      for (int64_t k = 0; k < BH; ++k) dh[k] += g[k];
    }
    const T* work_t = work + t * B * WS;
    T* px_t = dpre_x.data() + t * B * GH;
    T* ph_t = dpre_h + t * B * GH;
    parallel_for(B, row_grain(H), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const T* dhr = dh.data() + b * H;
        if (lstm) {
          const T* c_prev = (tp < 0 ? c0 : cell + tp * BH) + b * H;
          T* dcr = dc.data() + b * H;
          if constexpr (std::is_same<T, float>::value)
            if (simd) {
              simd->lstm_backward(dhr, dcr, work_t + b * WS, cell + t * BH + b * H, c_prev, px_t + b * GH, dcr, H, H);
              continue;
            }
          rnn_ref::lstm_backward(dhr, dcr, work_t + b * WS, cell + t * BH + b * H, c_prev, px_t + b * GH, dcr, H, H);
        } else if (gru) {
          if constexpr (std::is_same<T, float>::value)
            if (simd) {
              simd->gru_backward(dhr, work_t + b * WS, h_prev + b * H, px_t + b * GH, ph_t + b * GH,
                                 dh_next.data() + b * H, H, H);
              continue;
            }
          rnn_ref::gru_backward(dhr, work_t + b * WS, h_prev + b * H, px_t + b * GH, ph_t + b * GH,
                                dh_next.data() + b * H, H, H);
        } else {
          if constexpr (std::is_same<T, float>::value)
            if (simd) {
              simd->rnn_backward(dhr, y + t * BH + b * H, px_t + b * GH, H, relu);
              continue;
            }
          rnn_ref::rnn_backward(dhr, y + t * BH + b * H, px_t + b * GH, H, relu);
        }
      }
    });
    // dh_{t-1} = dpre_h @ W_hh (+ the GRU's direct path z dh already in dh_next)
    gemm_t(false, false, B, H, GH, T(1), ph_t, GH, w_hh, H, gru ? T(1) : T(0), dh_next.data(), H);
    dh.swap(dh_next);
  }
  if (gh0) std::memcpy(gh0, dh.data(), sizeof(T) * BH);
  if (gc0 && lstm) std::memcpy(gc0, dc.data(), sizeof(T) * BH);
  // whole-sequence GEMMs
  if (gx) {
    if (TB > 0) gemm_t(false, false, TB, I, GH, T(1), dpre_x.data(), GH, w_ih, I, T(0), gx, I);
  }
  if (gw_ih) gemm_t(true, false, GH, I, TB, T(1), dpre_x.data(), GH, x, I, T(0), gw_ih, I);
  if (gw_hh) {
    // dW_hh = sum_t dpre_h[t]^T h_prev(t): the step that started from h0 is one GEMM, every
    // other step pairs with y of its neighbour in time, which is one contiguous block of y.
    if (sh.seq == 0) {
      std::fill(gw_hh, gw_hh + GH * H, T(0));
    } else {
      const int64_t t_first = steps.time(0);  // step that read h0
      gemm_t(true, false, GH, H, B, T(1), dpre_h + t_first * B * GH, GH, h0, H, T(0), gw_hh, H);
      if (sh.seq > 1) {
        // forward: dpre_h[1..T-1] with y[0..T-2]; reverse: dpre_h[0..T-2] with y[1..T-1]
        const T* dp = dpre_h + (sh.reverse ? 0 : B * GH);
        const T* hp = y + (sh.reverse ? BH : 0);
        gemm_t(true, false, GH, H, (sh.seq - 1) * B, T(1), dp, GH, hp, H, T(1), gw_hh, H);
      }
    }
  }
  if (gb_ih) column_sums(dpre_x.data(), TB, GH, gb_ih);
  if (gb_hh) column_sums(dpre_h, TB, GH, gb_hh);
}

}  // namespace

void rnn_forward(RnnMode mode, DType dtype, const RnnShape& shape, const void* x, const void* h0, const void* c0,
                 const void* w_ih, const void* w_hh, const void* b_ih, const void* b_hh, void* y, void* h_n,
                 void* c_n, void* cell, void* work) {
  MINIDL_DISPATCH_FLOAT(dtype, "rnn_forward", {
    forward_impl<T>(mode, shape, static_cast<const T*>(x), static_cast<const T*>(h0), static_cast<const T*>(c0),
                    static_cast<const T*>(w_ih), static_cast<const T*>(w_hh), static_cast<const T*>(b_ih),
                    static_cast<const T*>(b_hh), static_cast<T*>(y), static_cast<T*>(h_n), static_cast<T*>(c_n),
                    static_cast<T*>(cell), static_cast<T*>(work));
  });
}

void rnn_backward(RnnMode mode, DType dtype, const RnnShape& shape, const void* x, const void* h0, const void* c0,
                  const void* w_ih, const void* w_hh, const void* y, const void* cell, const void* work,
                  const void* gy, const void* gh_n, const void* gc_n, void* gx, void* gh0, void* gc0, void* gw_ih,
                  void* gw_hh, void* gb_ih, void* gb_hh) {
  MINIDL_DISPATCH_FLOAT(dtype, "rnn_backward", {
    backward_impl<T>(mode, shape, static_cast<const T*>(x), static_cast<const T*>(h0), static_cast<const T*>(c0),
                     static_cast<const T*>(w_ih), static_cast<const T*>(w_hh), static_cast<const T*>(y),
                     static_cast<const T*>(cell), static_cast<const T*>(work), static_cast<const T*>(gy),
                     static_cast<const T*>(gh_n), static_cast<const T*>(gc_n), static_cast<T*>(gx),
                     static_cast<T*>(gh0), static_cast<T*>(gc0), static_cast<T*>(gw_ih), static_cast<T*>(gw_hh),
                     static_cast<T*>(gb_ih), static_cast<T*>(gb_hh));
  });
}

}  // namespace minidl
