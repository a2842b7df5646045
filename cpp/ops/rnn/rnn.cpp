// RNN / LSTM / GRU layer-direction over a whole sequence: forward and backward through time.
//
// The reference is rnn_cells.h: the textbook cell of each mode, forward and backward side by
// side (the equations of PyTorch's nn.RNN / nn.LSTM / nn.GRU docs), which the scalar set runs
// and rnn_simd.cpp's float32 versions are tested against (tests/test_rnn.py, kernel sets).
// --8<-- [start:bptt]
// Around the cells, a step is two matrix products, the same for every kernel set:
//   forward   xw_t = x_t W_ih^T, hw_t = h_{t-1} W_hh^T,  (h_t, c_t) = cell(xw_t, hw_t, b, c_{t-1})
//   backward  dpre_t = cell_backward(dh_t + dy_t, ...),  dh_{t-1} = dpre_h,t W_hh (+ the GRU's
//             direct path z dh_t); then over all steps dx = dpre_x W_ih, dW_ih = dpre_x^T x,
//             dW_hh = sum_t dpre_h,t^T h_{t-1}, db = column sums of dpre
//   (dpre_h = dpre_x except for the GRU, whose n gate sees r * (W_hn h + b_hn)).
// --8<-- [end:bptt]
// This file says which path runs and how: the whole-sequence GEMMs go through gemm<T> (gemm.h);
// the per-step recurrent product uses W_hh packed once per call (PackedMatrixB); the cell of
// each step is rnn_cells.h (scalar set, float64) or RnnCellSimd (float32 on a SIMD set). The
// time loop runs in one parallel region with the hidden units split between the threads (see
// UnitSlice) or the batch rows (RowSlice).
//
// Buffers per call (T steps, B batch, H hidden, G gates):
//   forward:  xw (T B, G H) input projections of all steps (LSTM / RNN compute it straight
//             into the first G H columns of each row of `work`, which the cell then
//             overwrites in place with the activations),
//             hw (B, G H) one step's recurrent projection.
//   backward: dpre_x (T B, G H) pre-activation gradients of every step, dpre_h the same on the
//             recurrent side (differs only for the GRU, whose n gate sees r * (W_hn h + b_hn)),
//             dh, dc (B, H) the running state gradients.
#include "rnn.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "ops/gemm/gemm.h"
#include "core/parallel.h"
#include "rnn_cells.h"
#include "rnn_tune.h"

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
  switch (mode) {
    case RnnMode::lstm: return 4 * hidden;  // i, f, g, o
    case RnnMode::gru: return 4 * hidden;   // r, z, n, W_hn h + b_hn
    default: return hidden;
  }
}

namespace {

// The per-step recurrent product against W_hh, on a range of column panels (kPackedPanel
// columns each) so that the threads of the time loop can each compute their own hidden units.
// For float32 the matrix is packed once per call into the GEMM micro-kernel's layout (gemm.h
// PackedMatrixB) and reused by all T steps, while A (the step's h or dpre rows) is read in place
// (gemm_packed_simd.cpp); float64 calls dgemm on the column block.
template <class T>
struct StepGemm;
//
// `blocks` matrices B_b = rows [b K_rows, (b+1) K_rows) of B (trans_b: the gate blocks of W_hh,
// one per gate, so every block splits by hidden unit) or B itself (blocks = 1); C_b = C + b N.
template <>
struct StepGemm<float> {
  std::vector<PackedMatrixB> packed;
  std::vector<const PackedMatrixB*> ptrs;  // into `packed`: not copyable
  StepGemm(const StepGemm&) = delete;
  StepGemm& operator=(const StepGemm&) = delete;
  StepGemm(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, int blocks) {
    packed.reserve(blocks);
    for (int b = 0; b < blocks; ++b) packed.emplace_back(trans_b, K, N, B + b * N * ldb, ldb);
    for (const PackedMatrixB& p : packed) ptrs.push_back(&p);
  }
  void run(int64_t M, int64_t q0, int64_t q1, const float* A, int64_t lda, float beta, float* C, int64_t ldc) const {
    float* cs[8];
    const int nb = static_cast<int>(packed.size());
    for (int b = 0; b < nb; ++b) cs[b] = C + b * packed[b].N;
    sgemm_packed_panels_multi(M, q0, q1, 1.0f, A, lda, nb, ptrs.data(), beta, cs, ldc);
  }
};
template <>
struct StepGemm<double> {
  bool trans_b;
  int64_t K, N;
  const double* B;
  int64_t ldb;
  int blocks;
  StepGemm(bool tb, int64_t k, int64_t n, const double* b, int64_t ld, int nb)
      : trans_b(tb), K(k), N(n), B(b), ldb(ld), blocks(nb) {}
  void run(int64_t M, int64_t q0, int64_t q1, const double* A, int64_t lda, double beta, double* C,
           int64_t ldc) const {
    const int64_t j0 = std::min(N, q0 * kPackedPanel), j1 = std::min(N, q1 * kPackedPanel);
    if (M <= 0 || j0 >= j1) return;
    for (int b = 0; b < blocks; ++b) {
      const double* Bb = B + b * N * ldb;
      dgemm(false, trans_b, M, j1 - j0, K, 1.0, A, lda, trans_b ? Bb + j0 * ldb : Bb + j0, ldb, beta, C + b * N + j0,
            ldc);
    }
  }
};

// The time loop runs inside ONE parallel region: thread k owns hidden units [j0, j1) (whole
// kPackedPanel panels) for the whole sequence, computes their gate pre-activations (its column
// slices of every gate), their cell update and their part of h_t, and meets the others at one
// barrier per step (h_t must be complete before anyone's next product). Forking a team per
// GEMM and per pointwise kernel instead would cost two fork/joins per step.
struct UnitSlice {
  int64_t q0, q1, j0, j1;
};

inline int64_t panel_count(int64_t hidden) { return (hidden + kPackedPanel - 1) / kPackedPanel; }

inline UnitSlice unit_slice(int64_t hidden, int tid, int nthreads) {
  const int64_t panels = panel_count(hidden);
  UnitSlice u;
  u.q0 = panels * tid / nthreads;
  u.q1 = panels * (tid + 1) / nthreads;
  u.j0 = std::min(hidden, u.q0 * kPackedPanel);
  u.j1 = std::min(hidden, u.q1 * kPackedPanel);
  return u;
}

// Threads for the time loop: one unless each step has >= ~1M multiply-adds per extra thread.
inline int loop_threads(int64_t batch, int64_t gates_hidden, int64_t hidden) {
  int nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  const int64_t panels = panel_count(hidden);
  const int64_t fma = batch * gates_hidden * hidden;
  nt = static_cast<int>(std::min<int64_t>({int64_t(nt), panels, std::max<int64_t>(1, fma >> 19)}));
  return std::max(nt, 1);
}

// Two ways to share a step between threads (rnn_tune.h; which one runs is rnn_split_choose's:
// the fixed rule, or measured on this CPU):
//   rows:  thread k owns batch rows [b0, b1) for the whole sequence. Its next product reads
//          only its own rows of h_t, so the threads never wait for each other (no barrier at
//          all), but each one streams all of W_hh every step.
//   units: thread k owns hidden units (UnitSlice): W_hh is shared out, but all of h_t must be
//          complete before anyone's next product, so the threads meet at one barrier per step.
struct RowSlice {
  int64_t b0, b1;
};
inline RowSlice row_slice(int64_t batch, int tid, int nthreads) {
  return {batch * tid / nthreads, batch * (tid + 1) / nthreads};
}

template <class F>
void run_time_loop(int nthreads, const F& body) {
#ifdef _OPENMP
  if (nthreads > 1) {
#pragma omp parallel num_threads(nthreads)
    body(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  body(0, 1);
}

inline void step_barrier(int nthreads) {
#ifdef _OPENMP
  if (nthreads > 1) {
#pragma omp barrier
  }
#else
  (void)nthreads;
#endif
}

// An uninitialised buffer (every element is written before it is read; a std::vector would
// zero-fill megabytes first).
template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

// Where step s (0-based in processing order) reads and writes: time index t and the previous
// time index (-1 at the first step: the initial state).
struct Steps {
  int64_t T;
  bool reverse;
  int64_t time(int64_t s) const { return reverse ? T - 1 - s : s; }
  int64_t prev(int64_t s) const { return s == 0 ? -1 : time(s - 1); }
};

template <class T>
constexpr DType float_dtype() {
  return std::is_same<T, float>::value ? DType::f32 : DType::f64;
}

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
  // --8<-- [start:input_projection]
  // input projection of all steps: one GEMM (LSTM / RNN: into the first G H columns of each
  // row of work, row stride WS)
  std::unique_ptr<T[]> xw_gru;
  T* xw = work;
  int64_t ldx = WS;
  if (mode == RnnMode::gru) {
    xw_gru = scratch<T>(sh.seq * B * GH);
    xw = xw_gru.get();
    ldx = GH;
  }
  auto project_inputs = [&] {
    if (sh.seq * B > 0) gemm<T>(false, true, sh.seq * B, GH, I, T(1), x, I, w_ih, I, T(0), xw, ldx);
  };
  project_inputs();
  std::unique_ptr<T[]> hw_buf = scratch<T>(B * GH);
  T* hw = hw_buf.get();
  // h_{t-1} @ W_hh^T per gate block (rows g H .. of W_hh), so each block splits by hidden unit
  const StepGemm<T> recurrent(true, H, H, w_hh, H, rnn_gate_count(mode));
  // --8<-- [end:input_projection]
  // The cell of step s for batch rows [b0, b1) and hidden units [j0, j0 + n).
  auto cells = [&](int64_t s, int64_t b0, int64_t b1, int64_t j0, int64_t n) {
    const int64_t t = steps.time(s), tp = steps.prev(s);
    const T* h_prev = tp < 0 ? h0 : y + tp * BH;
    const T* c_prev = mode == RnnMode::lstm ? (tp < 0 ? c0 : cell + tp * BH) : nullptr;
    const T* xw_t = xw + t * B * ldx;
    T* work_t = work + t * B * WS;
    T* y_t = y + t * BH;
    for (int64_t b = b0; n > 0 && b < b1; ++b) {
      const T* xr = xw_t + b * ldx + j0;
      const T* hr = hw + b * GH + j0;
      T* wr = work_t + b * WS + j0;
      T* yr = y_t + b * H + j0;
      // --8<-- [start:lstm_cell_path]
      if (mode == RnnMode::lstm) {
        const T* cp = c_prev + b * H + j0;
        T* cr = cell + t * BH + b * H + j0;
        if constexpr (std::is_same<T, float>::value)
          if (simd) {
            simd->lstm_forward(xr, hr, bias_sum.data() + j0, cp, wr, cr, yr, n, H);
            continue;
          }
        rnn_ref::lstm_forward(xr, hr, bias_sum.data() + j0, cp, wr, cr, yr, n, H);
      // --8<-- [end:lstm_cell_path]
      } else if (mode == RnnMode::gru) {
        const T* hp = h_prev + b * H + j0;
        if constexpr (std::is_same<T, float>::value)
          if (simd) {
            simd->gru_forward(xr, hr, bias_i.data() + j0, bias_h.data() + j0, hp, wr, yr, n, H);
            continue;
          }
        rnn_ref::gru_forward(xr, hr, bias_i.data() + j0, bias_h.data() + j0, hp, wr, yr, n, H);
      } else {
        if constexpr (std::is_same<T, float>::value)
          if (simd) {
            simd->rnn_forward(xr, hr, bias_sum.data() + j0, yr, n, relu);
            continue;
          }
        rnn_ref::rnn_forward(xr, hr, bias_sum.data() + j0, yr, n, relu);
      }
    }
    // past the end of a row's sequence: the state is carried (computed above and overwritten,
    // so the products keep their full batch; PyTorch's packed path shrinks them instead)
    for (int64_t b = b0; sh.lengths && n > 0 && b < b1; ++b) {
      if (t < sh.lengths[b]) continue;
      std::memcpy(y_t + b * H + j0, h_prev + b * H + j0, sizeof(T) * n);
      if (mode == RnnMode::lstm) std::memcpy(cell + t * BH + b * H + j0, c_prev + b * H + j0, sizeof(T) * n);
    }
  };
  auto h_before = [&](int64_t s) { return steps.prev(s) < 0 ? h0 : y + steps.prev(s) * BH; };
  // Half of the forward cell's perf samples sit on its loads (the input projections, written
  // by the whole-sequence GEMM long before). Tried and dropped, both within the noise of CPU
  // time (LSTM H 256 and 512, B 32, T 64, 1 thread, two builds alternating in one process,
  // Intel Xeon family 6 model 167, load average 5): prefetching the next step's projections
  // into L2 during this step, and running the product and the cell panel by panel so that
  // the cell reads the product's output from L1.
  // --8<-- [start:time_loop]
  const int nt = loop_threads(B, GH, H);
  auto rows_loop = [&] {
    run_time_loop(nt, [&](int tid, int nthr) {
      const RowSlice r = row_slice(B, tid, nthr);
      const int64_t panels = panel_count(H);
      for (int64_t s = 0; s < sh.seq; ++s) {
        recurrent.run(r.b1 - r.b0, 0, panels, h_before(s) + r.b0 * H, H, T(0), hw + r.b0 * GH, GH);
        cells(s, r.b0, r.b1, 0, H);
      }
    });
  };
  auto units_loop = [&] {
    run_time_loop(nt, [&](int tid, int nthr) {
      const UnitSlice u = unit_slice(H, tid, nthr);
      for (int64_t s = 0; s < sh.seq; ++s) {
        recurrent.run(B, u.q0, u.q1, h_before(s), H, T(0), hw, GH);
        cells(s, 0, B, u.j0, u.j1 - u.j0);
        step_barrier(nthr);  // the next product reads every thread's units of h_t
      }
    });
  };
  auto time_loop = [&](RnnSplit split) { split == RnnSplit::rows ? rows_loop() : units_loop(); };
  const RnnSplit split = rnn_split_choose(mode, float_dtype<T>(), RnnPass::forward, sh, nt, [&](RnnSplit sp) {
    // a measured run: the LSTM cell overwrote the input projections in place (gates <- xw)
    if (mode == RnnMode::lstm) project_inputs();
    time_loop(sp);
  });
  if (split != RnnSplit::automatic) time_loop(split);
  // --8<-- [end:time_loop]
  // final states: the last step in processing order (the initial ones for an empty sequence)
  const int64_t t_last = sh.seq > 0 ? steps.time(sh.seq - 1) : -1;
  std::memcpy(h_n, t_last < 0 ? h0 : y + t_last * BH, sizeof(T) * BH);
  if (mode == RnnMode::lstm) std::memcpy(c_n, t_last < 0 ? c0 : cell + t_last * BH, sizeof(T) * BH);
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
  std::unique_ptr<T[]> dpre_x_buf = scratch<T>(TB * GH), dpre_h_gru;
  if (gru) dpre_h_gru = scratch<T>(TB * GH);
  T* dpre_x = dpre_x_buf.get();
  T* dpre_h = gru ? dpre_h_gru.get() : dpre_x;
  const StepGemm<T> recurrent(false, GH, H, w_hh, H, 1);  // dpre_h @ W_hh, split by hidden unit
  // running gradients of h (two buffers: the step reads one, its product writes the other)
  std::unique_ptr<T[]> dh_buf = scratch<T>(2 * BH), dc_buf = scratch<T>(lstm ? BH : 0);
  T* dh_pair[2] = {dh_buf.get(), dh_buf.get() + BH};
  T* dc = lstm ? dc_buf.get() : nullptr;
  // Bias gradients = column sums of dpre_x (and dpre_h), added up inside the time loop while
  // each row of dpre is still in L1, rather than re-reading the (T B, G H) matrices afterwards
  // (8 MiB at T 64, B 32, H 256). One accumulator row per thread (rows split; the units split
  // uses row 0 only: the threads own disjoint columns); the GRU needs a second set for b_hh.
  const int nt = loop_threads(B, GH, H);
  const bool want_db = gb_ih || gb_hh;
  const int acc_rows = nt, acc_sets = gru ? 2 : 1;
  std::vector<T> db_acc(want_db ? static_cast<size_t>(acc_rows * acc_sets * GH) : 0);
  // the running gradients before the first step back (again before every measured run)
  auto start_state = [&] {
    if (gh_n)
      std::memcpy(dh_pair[0], gh_n, sizeof(T) * BH);
    else
      std::fill(dh_pair[0], dh_pair[0] + BH, T(0));
    if (lstm) {
      if (gc_n)
        std::memcpy(dc, gc_n, sizeof(T) * BH);
      else
        std::fill(dc, dc + BH, T(0));
    }
    std::fill(db_acc.begin(), db_acc.end(), T(0));
  };
  auto add_row = [](T* acc, const T* row, int64_t n) {
    for (int64_t j = 0; j < n; ++j) acc[j] += row[j];
  };
  // The LSTM's cell adds gy and sums the bias gradient itself (rnn_cells.h), in the pass it
  // makes anyway; with variable lengths gy is added first, since a carried step passes it on.
  const bool cell_adds_gy = lstm && !sh.lengths;
  // one batch row b of the k-th step back (time t, previous time tp); db_lstm: the LSTM's bias
  // gradient sums at unit j0 (or null)
  auto cell_row = [&](int64_t t, int64_t tp, int64_t b, int64_t j0, int64_t n, T* dh, T* dh_next, const T* h_prev,
                      const T* work_t, T* px_t, T* ph_t, T* db_lstm) {
    T* dhr = dh + b * H + j0;
    const T* gyr = gy ? gy + t * BH + b * H + j0 : nullptr;
    if (gyr && !cell_adds_gy)
      for (int64_t j = 0; j < n; ++j) dhr[j] += gyr[j];
    if (!cell_adds_gy) gyr = nullptr;
    const T* wr = work_t + b * WS + j0;
    T* pxr = px_t + b * GH + j0;
    if (sh.lengths) {
      // variable lengths: the step product adds into dh_next (beta 1), which the cell fills
      // first; a carried step (y_t = h_{t-1}, c_t = c_{t-1}) passes dh and dc straight through
      T* dnr = dh_next + b * H + j0;
      if (t >= sh.lengths[b]) {
        for (int64_t g = 0; g < GH / H; ++g) {
          std::fill(pxr + g * H, pxr + g * H + n, T(0));
          if (gru) std::fill(ph_t + b * GH + j0 + g * H, ph_t + b * GH + j0 + g * H + n, T(0));
        }
        std::copy(dhr, dhr + n, dnr);
        return;  // (dc unchanged)
      }
      if (!gru) std::fill(dnr, dnr + n, T(0));  // the GRU's cell writes its direct path z dh there
    }
    if (lstm) {
      const T* cp = (tp < 0 ? c0 : cell + tp * BH) + b * H + j0;
      const T* cr = cell + t * BH + b * H + j0;
      T* dcr = dc + b * H + j0;
      if constexpr (std::is_same<T, float>::value)
        if (simd) {
          simd->lstm_backward(dhr, gyr, dcr, wr, cr, cp, pxr, dcr, db_lstm, n, H);
          return;
        }
      rnn_ref::lstm_backward(dhr, gyr, dcr, wr, cr, cp, pxr, dcr, db_lstm, n, H);
    } else if (gru) {
      const T* hp = h_prev + b * H + j0;
      T* phr = ph_t + b * GH + j0;
      T* dnr = dh_next + b * H + j0;
      if constexpr (std::is_same<T, float>::value)
        if (simd) {
          simd->gru_backward(dhr, wr, hp, pxr, phr, dnr, n, H);
          return;
        }
      rnn_ref::gru_backward(dhr, wr, hp, pxr, phr, dnr, n, H);
    } else {
      const T* yr = y + t * BH + b * H + j0;
      if constexpr (std::is_same<T, float>::value)
        if (simd) {
          simd->rnn_backward(dhr, yr, pxr, n, relu);
          return;
        }
      rnn_ref::rnn_backward(dhr, yr, pxr, n, relu);
    }
  };
  // The cell of the k-th step back (s = T-1-k) for batch rows [b0, b1) and hidden units
  // [j0, j0 + n): dh of those units (plus gy) -> their pre-activation gradients (and their
  // bias gradient sums in accumulator row acc).
  auto cells = [&](int64_t k, int64_t b0, int64_t b1, int64_t j0, int64_t n, int acc) {
    T* dbx = want_db ? db_acc.data() + static_cast<size_t>(acc * acc_sets) * GH : nullptr;
    T* dbh = gru && dbx ? dbx + GH : nullptr;
    const int64_t s = sh.seq - 1 - k;
    const int64_t t = steps.time(s), tp = steps.prev(s);
    T* dh = dh_pair[k % 2];
    T* dh_next = dh_pair[(k + 1) % 2];
    const T* h_prev = tp < 0 ? h0 : y + tp * BH;
    const T* work_t = work + t * B * WS;
    T* px_t = dpre_x + t * B * GH;
    T* ph_t = dpre_h + t * B * GH;
    for (int64_t b = b0; n > 0 && b < b1; ++b) {
      cell_row(t, tp, b, j0, n, dh, dh_next, h_prev, work_t, px_t, ph_t, lstm && dbx ? dbx + j0 : nullptr);
      for (int64_t g = 0; !lstm && dbx && g < GH / H; ++g) {
        add_row(dbx + g * H + j0, px_t + b * GH + g * H + j0, n);
        if (dbh) add_row(dbh + g * H + j0, ph_t + b * GH + g * H + j0, n);
      }
    }
  };
  // the k-th step back's dpre_h, and where its product dh_{t-1} = dpre_h @ W_hh goes (+ the
  // GRU's direct path z dh, already in dh_next: beta 1)
  auto dpre_h_at = [&](int64_t k) { return dpre_h + steps.time(sh.seq - 1 - k) * B * GH; };
  const T beta = gru || sh.lengths ? T(1) : T(0);
  auto rows_loop = [&] {
    run_time_loop(nt, [&](int tid, int nthr) {
      const RowSlice r = row_slice(B, tid, nthr);
      const int64_t panels = panel_count(H);
      for (int64_t k = 0; k < sh.seq; ++k) {
        cells(k, r.b0, r.b1, 0, H, tid);
        recurrent.run(r.b1 - r.b0, 0, panels, dpre_h_at(k) + r.b0 * GH, GH, beta, dh_pair[(k + 1) % 2] + r.b0 * H, H);
      }
    });
  };
  auto units_loop = [&] {
    run_time_loop(nt, [&](int tid, int nthr) {
      const UnitSlice u = unit_slice(H, tid, nthr);
      for (int64_t k = 0; k < sh.seq; ++k) {
        cells(k, 0, B, u.j0, u.j1 - u.j0, 0);
        step_barrier(nthr);  // the product below reads every thread's gate gradients
        recurrent.run(B, u.q0, u.q1, dpre_h_at(k), GH, beta, dh_pair[(k + 1) % 2], H);
      }
    });
  };
  auto time_loop = [&](RnnSplit split) {
    start_state();
    split == RnnSplit::rows ? rows_loop() : units_loop();
  };
  const RnnSplit split = rnn_split_choose(mode, float_dtype<T>(), RnnPass::backward, sh, nt, time_loop);
  if (split != RnnSplit::automatic) time_loop(split);
  const T* dh_final = dh_pair[sh.seq % 2];
  if (gh0) std::memcpy(gh0, dh_final, sizeof(T) * BH);
  if (gc0 && lstm) std::memcpy(gc0, dc, sizeof(T) * BH);
  // whole-sequence GEMMs
  if (gx) {
    if (TB > 0) gemm<T>(false, false, TB, I, GH, T(1), dpre_x, GH, w_ih, I, T(0), gx, I);
  }
  if (gw_ih) gemm<T>(true, false, GH, I, TB, T(1), dpre_x, GH, x, I, T(0), gw_ih, I);
  if (gw_hh) {
    // dW_hh = sum_t dpre_h[t]^T h_prev(t): the step that started from h0 is one GEMM, every
    // other step pairs with y of its neighbour in time, which is one contiguous block of y.
    if (sh.seq == 0) {
      std::fill(gw_hh, gw_hh + GH * H, T(0));
    } else {
      const int64_t t_first = steps.time(0);  // step that read h0
      gemm<T>(true, false, GH, H, B, T(1), dpre_h + t_first * B * GH, GH, h0, H, T(0), gw_hh, H);
      if (sh.seq > 1) {
        // forward: dpre_h[1..T-1] with y[0..T-2]; reverse: dpre_h[0..T-2] with y[1..T-1]
        const T* dp = dpre_h + (sh.reverse ? 0 : B * GH);
        const T* hp = y + (sh.reverse ? BH : 0);
        gemm<T>(true, false, GH, H, (sh.seq - 1) * B, T(1), dp, GH, hp, H, T(1), gw_hh, H);
      }
    }
  }
  // bias gradients: the accumulator rows added up. LSTM / RNN: both biases enter the same
  // pre-activation, so b_hh's gradient is b_ih's; the GRU keeps a second set for b_hh.
  auto sum_set = [&](int set, T* out) {
    std::fill(out, out + GH, T(0));
    for (int r = 0; r < acc_rows; ++r) add_row(out, db_acc.data() + static_cast<size_t>(r * acc_sets + set) * GH, GH);
  };
  if (gru) {
    if (gb_ih) sum_set(0, gb_ih);
    if (gb_hh) sum_set(1, gb_hh);
  } else if (want_db) {
    sum_set(0, gb_ih ? gb_ih : gb_hh);
    if (gb_ih && gb_hh) std::memcpy(gb_hh, gb_ih, sizeof(T) * GH);
  }
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
