// Depthwise convolution (one filter per channel) for one ISA, one (image, channel) plane per
// call; cpp/src/kernels/conv.cpp splits the planes between threads.
//
// A depthwise 3x3 does 9 multiply-adds per output; as a GEMM that is K = 9, where packing
// costs as much as the arithmetic. Here each plane is first copied into a zero-padded buffer
// split into stride_w phases: padded column j*sw + phase is stored at [row][phase][j]. Tap
// (r, u) of output (p, q) reads padded column q*sw + u*dw = (q + off)*sw + phase with
// off = (u*dw) / sw, phase = (u*dw) % sw, so for a fixed tap the outputs of a row read a
// contiguous run of the buffer: one vector load + one FMA per W outputs, for any stride and
// dilation, and no bounds checks (the padding is real zeros).
// The backward-input pass runs the same loop as a scatter (buffer += w * dy), then copies the
// interior out; the backward-weight pass is R*S dot products of dy with shifted buffer runs.
#include "minidl/conv.h"
#include "minidl/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int W = Vec::width;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// index of padded row i, phase f, column j in the phase-split buffer
struct PhaseBuffer {
  int64_t sw, wps;
  int64_t at(int64_t i, int64_t f, int64_t j) const { return (i * sw + f) * wps + j; }
};

PhaseBuffer layout(const ConvShape& s) { return {s.stride_w, depthwise_phase_width(s)}; }

inline int64_t buffer_size(const ConvShape& s) {
  return (s.H + 2 * s.pad_h) * s.stride_w * depthwise_phase_width(s);
}

void zero(float* p, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) Vec::zero().store(p + i);
  for (; i < n; ++i) p[i] = 0.0f;
}

// buf = zero-padded, phase-split copy of the H x W plane x
void fill_buffer(const ConvShape& s, const float* x, float* buf) {
  const PhaseBuffer L = layout(s);
  zero(buf, buffer_size(s));
  for (int64_t i = 0; i < s.H; ++i) {
    const float* row = x + i * s.W;
    if (s.stride_w == 1) {
      float* d = buf + L.at(i + s.pad_h, 0, s.pad_w);
      int64_t j = 0;
      for (; j + W <= s.W; j += W) Vec::load(row + j).store(d + j);
      for (; j < s.W; ++j) d[j] = row[j];
    } else {
      for (int64_t j = 0; j < s.W; ++j) {
        const int64_t jp = j + s.pad_w;
        buf[L.at(i + s.pad_h, jp % s.stride_w, jp / s.stride_w)] = row[j];
      }
    }
  }
}

void depthwise_forward(const ConvShape& s, const float* x, const float* w, float bias, float* y,
                       float* buf) {
  const PhaseBuffer L = layout(s);
  fill_buffer(s, x, buf);
  const Vec vb = Vec::set1(bias);
  for (int64_t p = 0; p < s.P; ++p) {
    float* yr = y + p * s.Q;
    for (int64_t q = 0; q < s.Q; q += W) {
      const int n = static_cast<int>(min64(W, s.Q - q));
      Vec acc = vb;
      for (int64_t r = 0; r < s.R; ++r) {
        const int64_t i = p * s.stride_h + r * s.dil_h;
        for (int64_t u = 0; u < s.S; ++u) {
          const int64_t t = u * s.dil_w;
          const float* src = buf + L.at(i, t % s.stride_w, q + t / s.stride_w);
          const Vec v = n == W ? Vec::load(src) : Vec::load_partial(src, n);
          acc = fmadd(Vec::set1(w[r * s.S + u]), v, acc);
        }
      }
      if (n == W) acc.store(yr + q);
      else acc.store_partial(yr + q, n);
    }
  }
}

void depthwise_backward_input(const ConvShape& s, const float* gy, const float* w, float* gx,
                              float* buf) {
  const PhaseBuffer L = layout(s);
  zero(buf, buffer_size(s));
  for (int64_t p = 0; p < s.P; ++p) {
    const float* gr = gy + p * s.Q;
    for (int64_t q = 0; q < s.Q; q += W) {
      const int n = static_cast<int>(min64(W, s.Q - q));
      const Vec g = n == W ? Vec::load(gr + q) : Vec::load_partial(gr + q, n);
      for (int64_t r = 0; r < s.R; ++r) {
        const int64_t i = p * s.stride_h + r * s.dil_h;
        for (int64_t u = 0; u < s.S; ++u) {
          const int64_t t = u * s.dil_w;
          float* dst = buf + L.at(i, t % s.stride_w, q + t / s.stride_w);
          const Vec wv = Vec::set1(w[r * s.S + u]);
          if (n == W) fmadd(wv, g, Vec::load(dst)).store(dst);
          else fmadd(wv, g, Vec::load_partial(dst, n)).store_partial(dst, n);
        }
      }
    }
  }
  for (int64_t i = 0; i < s.H; ++i) {  // the interior is dx; the padding ring is dropped
    float* row = gx + i * s.W;
    if (s.stride_w == 1) {
      const float* src = buf + L.at(i + s.pad_h, 0, s.pad_w);
      int64_t j = 0;
      for (; j + W <= s.W; j += W) Vec::load(src + j).store(row + j);
      for (; j < s.W; ++j) row[j] = src[j];
    } else {
      for (int64_t j = 0; j < s.W; ++j) {
        const int64_t jp = j + s.pad_w;
        row[j] = buf[L.at(i + s.pad_h, jp % s.stride_w, jp / s.stride_w)];
      }
    }
  }
}

void depthwise_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw,
                               float* buf) {
  const PhaseBuffer L = layout(s);
  fill_buffer(s, x, buf);
  for (int64_t r = 0; r < s.R; ++r)
    for (int64_t u = 0; u < s.S; ++u) {
      const int64_t t = u * s.dil_w;
      Vec acc0 = Vec::zero(), acc1 = Vec::zero();
      for (int64_t p = 0; p < s.P; ++p) {
        const float* gr = gy + p * s.Q;
        const float* src = buf + L.at(p * s.stride_h + r * s.dil_h, t % s.stride_w, t / s.stride_w);
        int64_t q = 0;
        for (; q + 2 * W <= s.Q; q += 2 * W) {
          acc0 = fmadd(Vec::load(gr + q), Vec::load(src + q), acc0);
          acc1 = fmadd(Vec::load(gr + q + W), Vec::load(src + q + W), acc1);
        }
        for (; q < s.Q; q += W) {
          const int n = static_cast<int>(min64(W, s.Q - q));
          acc0 = fmadd(Vec::load_partial(gr + q, n), Vec::load_partial(src + q, n), acc0);
        }
      }
      gw[r * s.S + u] += reduce_add(acc0 + acc1);
    }
}

}  // namespace
extern const ConvSimd conv_simd = {&depthwise_forward, &depthwise_backward_input,
                                   &depthwise_backward_weight};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
