// Depthwise convolution (one filter per channel) for one ISA, one (image, channel) plane per
// call; conv.cpp splits the planes between threads. The ConvSimd table (conv.h) also holds
// vectorized copies of conv_im2col.h's im2col / col2im. The reference is conv.cpp's loops with
// groups == C == K (there Cg = 1: y[n, c, p, q] = b[c] + sum_{r, u} w[c, 0, r, u] x[n, c, i, j]);
// tests/test_conv.py compares every kernel set with them (test_kernel_sets_match_reference).
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
#include "conv.h"
#include "core/vec.h"

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

// Offsets of the taps inside the buffer, computed once per plane (the divisions would cost
// more than the FMAs in the inner loop): tap (r, u) of output row p starts at
// row_off(p, r) + col_off[u] (+ q).
struct Taps {
  static constexpr int kMax = 64;
  int64_t col[kMax];
  int64_t row_stride;  // floats between padded rows (all phases)
  Taps(const ConvShape& s, const PhaseBuffer& L) : row_stride(L.sw * L.wps) {
    for (int64_t u = 0; u < s.S && u < kMax; ++u) {
      const int64_t t = u * s.dil_w;
      col[u] = (t % L.sw) * L.wps + t / L.sw;
    }
  }
};

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

// Four output rows at a time, one accumulator each: a row of 16 outputs is a single vector,
// and one accumulator per row chains its R*S FMAs on the FMA latency (measured 0.16 -> 0.11 ms,
// 32 channels 16x16, batch 32, 1 thread).
void depthwise_forward(const ConvShape& s, const float* x, const float* w, float bias, float* y,
                       float* buf) {
  const PhaseBuffer L = layout(s);
  const Taps T(s, L);
  fill_buffer(s, x, buf);
  const Vec vb = Vec::set1(bias);
  const int64_t rs = s.stride_h * T.row_stride;  // buffer floats between output rows
  int64_t p = 0;
  for (; p + 4 <= s.P; p += 4)
    for (int64_t q = 0; q < s.Q; q += W) {
      const int n = static_cast<int>(min64(W, s.Q - q));
      Vec acc[4] = {vb, vb, vb, vb};
      for (int64_t r = 0; r < s.R; ++r) {
        const float* rowp = buf + (p * s.stride_h + r * s.dil_h) * T.row_stride + q;
        for (int64_t u = 0; u < s.S; ++u) {
          const float* src = rowp + T.col[u];
          const Vec wv = Vec::set1(w[r * s.S + u]);
          for (int i = 0; i < 4; ++i)
            acc[i] = fmadd(wv, n == W ? Vec::load(src + i * rs) : Vec::load_partial(src + i * rs, n), acc[i]);
        }
      }
      for (int i = 0; i < 4; ++i) {
        if (n == W) acc[i].store(y + (p + i) * s.Q + q);
        else acc[i].store_partial(y + (p + i) * s.Q + q, n);
      }
    }
  for (; p < s.P; ++p) {
    float* yr = y + p * s.Q;
    for (int64_t q = 0; q < s.Q; q += W) {
      const int n = static_cast<int>(min64(W, s.Q - q));
      Vec acc = vb;
      for (int64_t r = 0; r < s.R; ++r) {
        const float* rowp = buf + (p * s.stride_h + r * s.dil_h) * T.row_stride + q;
        for (int64_t u = 0; u < s.S; ++u) {
          const float* src = rowp + T.col[u];
          const Vec v = n == W ? Vec::load(src) : Vec::load_partial(src, n);
          acc = fmadd(Vec::set1(w[r * s.S + u]), v, acc);
        }
      }
      if (n == W) acc.store(yr + q);
      else acc.store_partial(yr + q, n);
    }
  }
}

// Stride 1: dx is a correlation of dy (zero-padded by the kernel extent) with the flipped
// kernel, computed like the forward (gathers into registers). The scatter form below does a
// load + store per tap on overlapping addresses, which stalls on store-to-load forwarding.
void depthwise_backward_input_stride1(const ConvShape& s, const float* gy, const float* w, float* gx,
                                      float* buf) {
  const int64_t Tp = (s.R - 1) * s.dil_h, Lp = (s.S - 1) * s.dil_w;
  const int64_t Hb = s.P + 2 * Tp, Wb = s.Q + 2 * Lp;
  zero(buf, Hb * Wb);
  for (int64_t p = 0; p < s.P; ++p) {
    float* d = buf + (p + Tp) * Wb + Lp;
    const float* src = gy + p * s.Q;
    int64_t q = 0;
    for (; q + W <= s.Q; q += W) Vec::load(src + q).store(d + q);
    for (; q < s.Q; ++q) d[q] = src[q];
  }
  int64_t i = 0;
  for (; i + 4 <= s.H; i += 4)  // four rows, four accumulators (as in the forward)
    for (int64_t j = 0; j < s.W; j += W) {
      const int n = static_cast<int>(min64(W, s.W - j));
      Vec acc[4] = {Vec::zero(), Vec::zero(), Vec::zero(), Vec::zero()};
      for (int64_t r = 0; r < s.R; ++r) {
        const float* rowp = buf + (i + s.pad_h - r * s.dil_h + Tp) * Wb + j + s.pad_w + Lp;
        for (int64_t u = 0; u < s.S; ++u) {
          const float* src = rowp - u * s.dil_w;
          const Vec wv = Vec::set1(w[r * s.S + u]);
          for (int k = 0; k < 4; ++k)
            acc[k] = fmadd(wv, n == W ? Vec::load(src + k * Wb) : Vec::load_partial(src + k * Wb, n), acc[k]);
        }
      }
      for (int k = 0; k < 4; ++k) {
        if (n == W) acc[k].store(gx + (i + k) * s.W + j);
        else acc[k].store_partial(gx + (i + k) * s.W + j, n);
      }
    }
  for (; i < s.H; ++i) {
    float* row = gx + i * s.W;
    for (int64_t j = 0; j < s.W; j += W) {
      const int n = static_cast<int>(min64(W, s.W - j));
      Vec acc = Vec::zero();
      for (int64_t r = 0; r < s.R; ++r) {
        const float* rowp = buf + (i + s.pad_h - r * s.dil_h + Tp) * Wb + j + s.pad_w + Lp;
        for (int64_t u = 0; u < s.S; ++u) {
          const float* src = rowp - u * s.dil_w;
          const Vec v = n == W ? Vec::load(src) : Vec::load_partial(src, n);
          acc = fmadd(Vec::set1(w[r * s.S + u]), v, acc);
        }
      }
      if (n == W) acc.store(row + j);
      else acc.store_partial(row + j, n);
    }
  }
}

void depthwise_backward_input(const ConvShape& s, const float* gy, const float* w, float* gx,
                              float* buf) {
  if (s.stride_h == 1 && s.stride_w == 1) return depthwise_backward_input_stride1(s, gy, w, gx, buf);
  const PhaseBuffer L = layout(s);
  const Taps T(s, L);
  zero(buf, buffer_size(s));
  for (int64_t p = 0; p < s.P; ++p) {
    const float* gr = gy + p * s.Q;
    for (int64_t q = 0; q < s.Q; q += W) {
      const int n = static_cast<int>(min64(W, s.Q - q));
      const Vec g = n == W ? Vec::load(gr + q) : Vec::load_partial(gr + q, n);
      for (int64_t r = 0; r < s.R; ++r) {
        float* rowp = buf + (p * s.stride_h + r * s.dil_h) * T.row_stride + q;
        for (int64_t u = 0; u < s.S; ++u) {
          float* dst = rowp + T.col[u];
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

// grad_w[r*S + u] += sum over the nimg planes (gy + n*PQ*C, x + n*HW*C: one channel of
// consecutive images) of sum_{p,q} gy * x. 3x3: rows outside, taps inside, one accumulator per
// tap kept in registers across all images and reduced once (reducing per plane cost as much
// as the multiply-adds at 16x16); the 9 chains are independent, so FMA latency is covered.
// Other kernels: per tap, four accumulators over consecutive rows, reduced per plane.
// RR x SS taps known at compile time: the accumulators are then registers, not an array in
// memory indexed at run time
template <int RR, int SS>
void depthwise_weight_acc(const ConvShape& s, const Taps& T, const float* gy, const float* x,
                          float* gw, float* buf, int64_t nimg) {
  const int64_t gys = s.C * s.P * s.Q, xs = s.C * s.H * s.W;
  Vec acc[RR * SS];
  for (int t = 0; t < RR * SS; ++t) acc[t] = Vec::zero();
  for (int64_t n = 0; n < nimg; ++n) {
    fill_buffer(s, x + n * xs, buf);
    for (int64_t p = 0; p < s.P; ++p) {
      const float* gr = gy + n * gys + p * s.Q;
      for (int64_t q = 0; q < s.Q; q += W) {
        const int m = static_cast<int>(min64(W, s.Q - q));
        const Vec g = m == W ? Vec::load(gr + q) : Vec::load_partial(gr + q, m);
#pragma GCC unroll 8
        for (int r = 0; r < RR; ++r) {
          const float* rowp = buf + (p * s.stride_h + r * s.dil_h) * T.row_stride + q;
#pragma GCC unroll 8
          for (int u = 0; u < SS; ++u) {
            const float* src = rowp + T.col[u];
            const Vec v = m == W ? Vec::load(src) : Vec::load_partial(src, m);
            acc[r * SS + u] = fmadd(g, v, acc[r * SS + u]);
          }
        }
      }
    }
  }
  for (int t = 0; t < RR * SS; ++t) gw[t] += reduce_add(acc[t]);
}

void depthwise_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw,
                               float* buf, int64_t nimg) {
  const PhaseBuffer L = layout(s);
  const Taps T(s, L);
  const int64_t gys = s.C * s.P * s.Q, xs = s.C * s.H * s.W;
  if (s.R == 3 && s.S == 3) {
    depthwise_weight_acc<3, 3>(s, T, gy, x, gw, buf, nimg);
    return;
  }
  for (int64_t n = 0; n < nimg; ++n) {
    fill_buffer(s, x + n * xs, buf);
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t u = 0; u < s.S; ++u) {
        // four accumulators over consecutive rows: a single one would serialize on FMA latency
        Vec acc[4] = {Vec::zero(), Vec::zero(), Vec::zero(), Vec::zero()};
        for (int64_t p = 0; p < s.P; ++p) {
          const float* gr = gy + n * gys + p * s.Q;
          const float* src = buf + (p * s.stride_h + r * s.dil_h) * T.row_stride + T.col[u];
          Vec& a = acc[p & 3];
          int64_t q = 0;
          for (; q + W <= s.Q; q += W) a = fmadd(Vec::load(gr + q), Vec::load(src + q), a);
          if (q < s.Q) {
            const int m = static_cast<int>(s.Q - q);
            a = fmadd(Vec::load_partial(gr + q, m), Vec::load_partial(src + q, m), a);
          }
        }
        const Vec acc0 = acc[0] + acc[1], acc1 = acc[2] + acc[3];
        gw[r * s.S + u] += reduce_add(acc0 + acc1);
      }
  }
}

// ---- im2col / col2im for the GEMM path (same contract as the templates in conv.cpp) ----
inline void copy_run(float* d, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) Vec::load(src + i).store(d + i);
  if (i < n) Vec::load_partial(src + i, static_cast<int>(n - i)).store_partial(d + i, static_cast<int>(n - i));
}
inline void add_run(float* d, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) (Vec::load(d + i) + Vec::load(src + i)).store(d + i);
  if (i < n) {
    const int m = static_cast<int>(n - i);
    (Vec::load_partial(d + i, m) + Vec::load_partial(src + i, m)).store_partial(d + i, m);
  }
}
inline void valid_q(int64_t off, int64_t sw, int64_t Wd, int64_t Q, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  hi = Wd - off <= 0 ? 0 : min64(Q, (Wd - off - 1) / sw + 1);
  if (hi < lo) hi = lo;
}

void im2col(const ConvShape& s, const float* xg, int64_t o0, int64_t o1, float* col, int64_t ld) {
  const int64_t Cg = s.Cg();
  const int64_t p_first = o0 / s.Q, p_last = (o1 - 1) / s.Q;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t u = 0; u < s.S; ++u) {
        float* dst = col + ((c * s.R + r) * s.S + u) * ld - o0;  // indexed by o
        const int64_t off = u * s.dil_w - s.pad_w;
        int64_t qlo, qhi;
        valid_q(off, s.stride_w, s.W, s.Q, qlo, qhi);
        for (int64_t p = p_first; p <= p_last; ++p) {
          const int64_t base = p * s.Q;
          const int64_t q0 = p == p_first ? o0 - base : 0, q1 = p == p_last ? o1 - base : s.Q;
          float* d = dst + base;
          const int64_t i = p * s.stride_h - s.pad_h + r * s.dil_h;
          if (i < 0 || i >= s.H) {
            zero(d + q0, q1 - q0);
            continue;
          }
          const float* row = xg + (c * s.H + i) * s.W;
          const int64_t a0 = q0 > qlo ? q0 : qlo, a = a0 < q1 ? a0 : q1, b0 = q1 < qhi ? q1 : qhi, b = b0 > a ? b0 : a;
          for (int64_t q = q0; q < a; ++q) d[q] = 0.0f;
          if (s.stride_w == 1) copy_run(d + a, row + a + off, b - a);
          else for (int64_t q = a; q < b; ++q) d[q] = row[q * s.stride_w + off];
          for (int64_t q = b; q < q1; ++q) d[q] = 0.0f;
        }
      }
}

// --8<-- [start:col2im_simd]
void col2im_add(const ConvShape& s, const float* col, int64_t o0, int64_t o1, float* gxg, int64_t ld) {
  const int64_t Cg = s.Cg();
  const int64_t p_first = o0 / s.Q, p_last = (o1 - 1) / s.Q;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t u = 0; u < s.S; ++u) {
        const float* src = col + ((c * s.R + r) * s.S + u) * ld - o0;
        const int64_t off = u * s.dil_w - s.pad_w;
        int64_t qlo, qhi;
        valid_q(off, s.stride_w, s.W, s.Q, qlo, qhi);
        for (int64_t p = p_first; p <= p_last; ++p) {
          const int64_t i = p * s.stride_h - s.pad_h + r * s.dil_h;
          if (i < 0 || i >= s.H) continue;
          const int64_t base = p * s.Q;
          const int64_t q0 = p == p_first ? o0 - base : 0, q1 = p == p_last ? o1 - base : s.Q;
          const float* d = src + base;
          float* row = gxg + (c * s.H + i) * s.W;
          const int64_t a0 = q0 > qlo ? q0 : qlo, a = a0 < q1 ? a0 : q1, b0 = q1 < qhi ? q1 : qhi, b = b0 > a ? b0 : a;
          if (s.stride_w == 1) add_run(row + a + off, d + a, b - a);
          else for (int64_t q = a; q < b; ++q) row[q * s.stride_w + off] += d[q];
        }
      }
}
// --8<-- [end:col2im_simd]

}  // namespace
extern const ConvSimd conv_simd = {&depthwise_forward, &depthwise_backward_input,
                                   &depthwise_backward_weight, &im2col, &col2im_add};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
