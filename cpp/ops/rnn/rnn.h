// Recurrent layers (Elman RNN, LSTM, GRU): one layer in one direction over a whole sequence,
// forward and backward through time, in the gate order and conventions of PyTorch's nn.RNN,
// nn.LSTM and nn.GRU (so weights move between the two unchanged).
//
// Shapes (time-major, contiguous): x (T, B, I), h0 / c0 / h_n / c_n (B, H), y (T, B, H),
// W_ih (G H, I), W_hh (G H, H), b_ih / b_hh (G H) where G = 1 (RNN), 4 (LSTM: i, f, g, o),
// 3 (GRU: r, z, n). A reverse direction walks t = T-1 .. 0 and writes y at the same t.
//
// Per layer-direction the work is
//   xw = x @ W_ih^T                               one GEMM for all T steps (T B x G H)
//   per step: hw = h_{t-1} @ W_hh^T                one GEMM for all gates (B x G H)
//             gates, c_t, h_t = cell(xw_t, hw, ..)  one fused pointwise kernel
// and the backward through time mirrors it: per step one fused pointwise kernel and one GEMM
// (dh_{t-1} = dgates_h @ W_hh); after the loop dx, dW_ih, dW_hh are one GEMM each over all
// steps (dW_hh from the saved hidden states), and the bias gradients one column sum.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

enum class RnnMode : int { rnn_tanh = 0, rnn_relu = 1, lstm = 2, gru = 3 };

// number of gate blocks G (rows of W_ih are G * hidden)
int rnn_gate_count(RnnMode mode);
// floats per (t, b) of the saved activations `work`: G H (GRU: 4 H, it also keeps W_hn h + b_hn)
int64_t rnn_work_size(RnnMode mode, int64_t hidden);

struct RnnShape {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0;
  bool reverse = false;
  // Variable-length batches (PyTorch's PackedSequence): lengths[b] in [0, T] valid steps of
  // row b, or null = all T. A step t >= lengths[b] carries row b's state unchanged (h_t =
  // h_{t-1}, c_t = c_{t-1}, y_t = h_{t-1}), so h_n / c_n are the states after the row's last
  // valid step (the forward direction) or after its first one (reverse: it starts from h0 at
  // t = lengths[b] - 1), and a carried step contributes no gradient to x, W or b.
  const int64_t* lengths = nullptr;
};

// Forward of one layer-direction. b_ih / b_hh may be null (no bias); c0 / c_n / cell are
// used by the LSTM only (cell: (T, B, H) cell states, kept for the backward). work
// (T, B, rnn_work_size) receives the gate activations the backward needs.
void rnn_forward(RnnMode mode, DType dtype, const RnnShape& shape, const void* x, const void* h0,
                 const void* c0, const void* w_ih, const void* w_hh, const void* b_ih,
                 const void* b_hh, void* y, void* h_n, void* c_n, void* cell, void* work);

// Backward of one layer-direction through all T steps, from the forward's saved x, h0, c0,
// y, cell, work. gy (T, B, H) is the gradient of y, gh_n / gc_n (B, H) those of h_n / c_n
// (any of the three may be null = zero). Outputs (each may be null = not wanted):
// gx (T, B, I), gh0, gc0 (B, H), gw_ih, gw_hh, gb_ih, gb_hh (overwritten, not accumulated).
void rnn_backward(RnnMode mode, DType dtype, const RnnShape& shape, const void* x, const void* h0,
                  const void* c0, const void* w_ih, const void* w_hh, const void* y,
                  const void* cell, const void* work, const void* gy, const void* gh_n,
                  const void* gc_n, void* gx, void* gh0, void* gc0, void* gw_ih, void* gw_hh,
                  void* gb_ih, void* gb_hh);

// Float32 fused pointwise steps over `n` hidden units of one batch row (the SIMD versions,
// cpp/ops/rnn/rnn_simd.cpp; the scalar references live in cpp/ops/rnn/rnn_cells.h).
// Pointers are offset to the row (and to the first unit of the range); gate block k starts
// at k * ld_gate (= H).
struct RnnCellSimd {
  // LSTM: pre = xw + hw + bias (bias = b_ih + b_hh, G H); i,f,o = sigmoid, g = tanh;
  // c = f c_prev + i g, h = o tanh(c). gates <- (i, f, g, o)
  void (*lstm_forward)(const float* xw, const float* hw, const float* bias, const float* c_prev,
                       float* gates, float* c, float* h, int64_t n, int64_t ld_gate);
  // dh + gy, dc: gradients of h_t (through the next step, and through y_t: gy may be null = 0)
  // and of c_t (dc may be null = 0); gates as the forward wrote them, c = c_t; writes the
  // pre-activation gradients dpre (i, f, g, o) and dc_prev, and adds dpre to the bias
  // gradient's running sums db (4 blocks at ld_gate; null: none)
  void (*lstm_backward)(const float* dh, const float* gy, const float* dc, const float* gates, const float* c,
                        const float* c_prev, float* dpre, float* dc_prev, float* db, int64_t n, int64_t ld_gate);
  // GRU: r, z = sigmoid(xw + b_i + hw + b_h), hn = hw_n + b_hn, n = tanh(xw_n + b_in + r hn),
  // h = (1 - z) n + z h_prev. work <- (r, z, n, hn)
  void (*gru_forward)(const float* xw, const float* hw, const float* b_i, const float* b_h,
                      const float* h_prev, float* work, float* h, int64_t n, int64_t ld_gate);
  // writes dpre_x (r, z, n), dpre_h (r, z, r * dn) and dh_prev = dh z (the direct path)
  void (*gru_backward)(const float* dh, const float* work, const float* h_prev, float* dpre_x,
                       float* dpre_h, float* dh_prev, int64_t n, int64_t ld_gate);
  // Elman: h = act(xw + hw + bias) (relu or tanh); backward dpre = dh act'(h)
  void (*rnn_forward)(const float* xw, const float* hw, const float* bias, float* h, int64_t n,
                      bool relu);
  void (*rnn_backward)(const float* dh, const float* h, float* dpre, int64_t n, bool relu);
};

}  // namespace minidl
