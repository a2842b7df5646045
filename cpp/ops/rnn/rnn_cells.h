// Scalar reference cells: the fused pointwise part of one time step of RNN, LSTM and GRU, for
// one batch row of n hidden units, forward and backward side by side. These read like the
// equations in PyTorch's nn.LSTM / nn.GRU docs; cpp/ops/rnn/rnn_simd.cpp holds the float32
// vector versions with the same signatures (minidl::RnnCellSimd) and is tested against these.
#pragma once
#include <cmath>
#include <cstdint>

namespace minidl {
namespace rnn_ref {

// 1 / (1 + e^-x) without overflow for large |x|
template <class T>
inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// --8<-- [start:lstm_reference]
// LSTM (gates i, f, g, o in PyTorch's order, block k at k * ld):
//   i = s(pre_i), f = s(pre_f), g = tanh(pre_g), o = s(pre_o), pre = xw + hw + (b_ih + b_hh)
//   c = f c_prev + i g,   h = o tanh(c)
// xw and gates may be the same buffer (each element is read before it is written).
template <class T>
void lstm_forward(const T* xw, const T* hw, const T* bias, const T* c_prev, T* gates, T* c, T* h,
                  int64_t n, int64_t ld) {
  for (int64_t j = 0; j < n; ++j) {
    const T i = sigmoid(xw[j] + hw[j] + bias[j]);
    const T f = sigmoid(xw[ld + j] + hw[ld + j] + bias[ld + j]);
    const T g = std::tanh(xw[2 * ld + j] + hw[2 * ld + j] + bias[2 * ld + j]);
    const T o = sigmoid(xw[3 * ld + j] + hw[3 * ld + j] + bias[3 * ld + j]);
    const T cn = f * c_prev[j] + i * g;
    gates[j] = i;
    gates[ld + j] = f;
    gates[2 * ld + j] = g;
    gates[3 * ld + j] = o;
    c[j] = cn;
    h[j] = o * std::tanh(cn);
  }
}

// With d = dh + gy (gy: the gradient of this step's output y_t; null means 0),
// dc_total = dc + d o (1 - tanh(c)^2); then
//   dpre_i = dc_total g i (1 - i),  dpre_f = dc_total c_prev f (1 - f),
//   dpre_g = dc_total i (1 - g^2),  dpre_o = d tanh(c) o (1 - o),  dc_prev = dc_total f,
// and db[k ld + j] += dpre[k ld + j] (the bias gradient's running column sum; db null: none).
// dc == dc_prev is allowed (in place); dc null means 0.
template <class T>
void lstm_backward(const T* dh, const T* gy, const T* dc, const T* gates, const T* c, const T* c_prev, T* dpre,
                   T* dc_prev, T* db, int64_t n, int64_t ld) {
  for (int64_t j = 0; j < n; ++j) {
    const T i = gates[j], f = gates[ld + j], g = gates[2 * ld + j], o = gates[3 * ld + j];
    const T d = gy ? dh[j] + gy[j] : dh[j];
    const T tc = std::tanh(c[j]);
    const T dct = (dc ? dc[j] : T(0)) + d * o * (T(1) - tc * tc);
    dpre[j] = dct * g * i * (T(1) - i);
    dpre[ld + j] = dct * c_prev[j] * f * (T(1) - f);
    dpre[2 * ld + j] = dct * i * (T(1) - g * g);
    dpre[3 * ld + j] = d * tc * o * (T(1) - o);
    dc_prev[j] = dct * f;
    for (int k = 0; db && k < 4; ++k) db[k * ld + j] += dpre[k * ld + j];
  }
}
// --8<-- [end:lstm_reference]

// --8<-- [start:gru_reference]
// GRU (gates r, z, n; PyTorch applies r after the recurrent product, b_hn included):
//   r = s(xw_r + b_ir + hw_r + b_hr),  z = s(xw_z + b_iz + hw_z + b_hz)
//   hn = hw_n + b_hn,  n = tanh(xw_n + b_in + r hn),  h = (1 - z) n + z h_prev
// work keeps (r, z, n, hn) for the backward (block k at k * ld).
template <class T>
void gru_forward(const T* xw, const T* hw, const T* b_i, const T* b_h, const T* h_prev, T* work, T* h,
                 int64_t n, int64_t ld) {
  for (int64_t j = 0; j < n; ++j) {
    const T r = sigmoid(xw[j] + b_i[j] + hw[j] + b_h[j]);
    const T z = sigmoid(xw[ld + j] + b_i[ld + j] + hw[ld + j] + b_h[ld + j]);
    const T hn = hw[2 * ld + j] + b_h[2 * ld + j];
    const T nn = std::tanh(xw[2 * ld + j] + b_i[2 * ld + j] + r * hn);
    work[j] = r;
    work[ld + j] = z;
    work[2 * ld + j] = nn;
    work[3 * ld + j] = hn;
    h[j] = (T(1) - z) * nn + z * h_prev[j];
  }
}

// dn = dh (1 - z), dpre_n = dn (1 - n^2), dpre_z = dh (h_prev - n) z (1 - z),
// dpre_r = dpre_n hn r (1 - r). The input side gets (dpre_r, dpre_z, dpre_n), the recurrent
// side (dpre_r, dpre_z, dpre_n r); dh_prev receives the direct path dh z.
template <class T>
void gru_backward(const T* dh, const T* work, const T* h_prev, T* dpre_x, T* dpre_h, T* dh_prev,
                  int64_t n, int64_t ld) {
  for (int64_t j = 0; j < n; ++j) {
    const T r = work[j], z = work[ld + j], nn = work[2 * ld + j], hn = work[3 * ld + j];
    const T dpn = dh[j] * (T(1) - z) * (T(1) - nn * nn);
    const T dpz = dh[j] * (h_prev[j] - nn) * z * (T(1) - z);
    const T dpr = dpn * hn * r * (T(1) - r);
    dpre_x[j] = dpr;
    dpre_x[ld + j] = dpz;
    dpre_x[2 * ld + j] = dpn;
    dpre_h[j] = dpr;
    dpre_h[ld + j] = dpz;
    dpre_h[2 * ld + j] = dpn * r;
    dh_prev[j] = dh[j] * z;
  }
}
// --8<-- [end:gru_reference]

// Elman RNN: h = tanh(pre) or relu(pre), pre = xw + hw + (b_ih + b_hh)
template <class T>
void rnn_forward(const T* xw, const T* hw, const T* bias, T* h, int64_t n, bool relu) {
  for (int64_t j = 0; j < n; ++j) {
    const T pre = xw[j] + hw[j] + bias[j];
    h[j] = relu ? (pre > T(0) ? pre : T(0)) : std::tanh(pre);
  }
}

// dpre = dh (1 - h^2) for tanh, dh [h > 0] for relu (derivative 0 at 0, as PyTorch)
template <class T>
void rnn_backward(const T* dh, const T* h, T* dpre, int64_t n, bool relu) {
  for (int64_t j = 0; j < n; ++j) dpre[j] = relu ? (h[j] > T(0) ? dh[j] : T(0)) : dh[j] * (T(1) - h[j] * h[j]);
}

}  // namespace rnn_ref
}  // namespace minidl
