// 2-D convolution, forward and backward (the sums and shapes: conv.h).
//
// The file opens with the reference: the textbook loops of the forward and of the backward
// (dx, dw, db), side by side. They are the definition to check the formula against and the
// oracle every fast path is tested against (reference=True in tests/test_conv.py and
// tests/test_conv_direct.py; the 16-bit paths in tests/cpp/test_kernels.cpp).
//
// Then which path runs (conv2d_forward / conv2d_backward_input / conv2d_backward_weight at the
// bottom; float32 and float64, through MINIDL_DISPATCH_FLOAT):
//   float32 on a SIMD set, depthwise (groups == C == K)   conv_simd.cpp, threads over planes
//   float32 on a SIMD set, otherwise (when it applies)    the direct kernel, conv_direct.cpp, or
//                                                         im2col + GEMM or (3x3 stride 1)
//                                                         Winograd F(4x4, 3x3),
//                                                         conv_winograd.cpp, where that measured
//                                                         faster on this CPU (conv_tune.cpp)
//   everything else                                       im2col + GEMM, below
//
// --8<-- [start:im2col_gemm]
// ---- the im2col + GEMM path ----
// For one image n and group g, the forward pass is one matrix product
//   Y_g (Kg x PQ) = W_g (Kg x Cg*R*S) @ col (Cg*R*S x PQ),
// where col row (c, r, u) holds the input pixels tap (r, u) of channel c reads for every output
// position (zeros where the tap falls into the padding). The backward passes are the two other
// products of the same matrices:
//   dcol = W_g^T @ dY_g  then col2im (scatter-add dcol back to the pixels), and
//   dW_g += dY_g @ col^T (summed over the batch).
// 1x1 stride-1 unpadded convolutions skip im2col: col is x itself (Cg x HW).
// --8<-- [end:im2col_gemm]
//
// Why tiles rather than the whole batch's column matrix: the column matrix is R*S times larger
// than x (9x for 3x3); built for the whole batch it is written to and read back from DRAM.
// Here it is built for one block of ~256 output positions at a time (a tile of one image, or
// several whole small images side by side), stays in L2 while the GEMM reads it, and is
// overwritten by the next block: an implicit GEMM at block granularity. The block width was
// chosen by measurement: see tile_cols().
//
// Threads: with at least as many images as threads, each thread takes whole images, handed out
// in chunks from an atomic counter (its own col buffer, a single-threaded GEMM: minidl::sgemm
// does not fork inside a parallel region); the weight gradient then goes into one partial sum
// per fixed range of images, added at the end in order (conv_threads.h over_image_slots: no
// races, and the same bits in every run). With fewer images than
// threads (batch 1 inference) the images run one after another and the GEMM splits itself.
//
// float32 on a SIMD kernel set normally takes the direct path instead (conv_direct.cpp: no
// column matrix at all, measured 1.5-2x faster at ResNet shapes; the input gradient of a
// strided convolution as stride-1 phases, conv_direct_phases.cpp); this path remains for
// float64, the scalar set and very large images, and as the tuner's other candidate.
//
// The im2col / col2im loops and the block helpers live in conv_im2col.h, shared with the
// 16-bit convolution (conv_lowp.cpp).
//
// Depthwise convolutions (groups == C == K) are R*S multiply-adds per output, a GEMM with
// K = R*S (9) would spend its time packing: they run a direct SIMD kernel instead
// (cpp/ops/conv/conv_simd.cpp), float32 only; the scalar set and float64 take the GEMM path.
#include "conv.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <vector>

#include "conv_direct.h"
#include "conv_im2col.h"
#include "conv_threads.h"
#include "conv_tune.h"
#include "conv_winograd.h"
#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "ops/gemm/gemm.h"

namespace minidl {

// ---- reference ---------------------------------------------------------------------
// Output (n, k, p, q) reads input pixel (i, j) = (p sh - ph + r dh, q sw - pw + u dw) through
// tap (r, u) of every input channel c of its group; taps that land in the padding read 0.

// --8<-- [start:forward_reference]
// y[n, k, p, q] = b[k] + sum_{c, r, u} w[k, c, r, u] x[n, g Cg + c, i, j]
template <class T>
void conv2d_forward_reference(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < s.P; ++p)
        for (int64_t q = 0; q < s.Q; ++q) {
          T acc = bias ? bias[k] : T(0);
          const int64_t c0 = (k / Kg) * Cg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t u = 0; u < s.S; ++u) {
                const int64_t i = p * s.stride_h - s.pad_h + r * s.dil_h;
                const int64_t j = q * s.stride_w - s.pad_w + u * s.dil_w;
                if (i < 0 || i >= s.H || j < 0 || j >= s.W) continue;
                acc += w[((k * Cg + c) * s.R + r) * s.S + u] *
                       x[((n * s.C + c0 + c) * s.H + i) * s.W + j];
              }
          y[((n * s.K + k) * s.P + p) * s.Q + q] = acc;
        }
}
// --8<-- [end:forward_reference]

// --8<-- [start:backward_reference]
// The same loop nest read the other way round: every product w x of the forward sends
//   dx[n, g Cg + c, i, j] += w[k, c, r, u] dy[n, k, p, q]
//   dw[k, c, r, u]        += x[n, g Cg + c, i, j] dy[n, k, p, q]
//   db[k]                 += dy[n, k, p, q]
// after zeroing the three gradients.
template <class T>
void conv2d_backward_reference(const ConvShape& s, const T* gy, const T* x, const T* w, T* gx,
                               T* gw, T* gb) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
  if (gx) for (int64_t i = 0; i < s.N * s.C * s.H * s.W; ++i) gx[i] = T(0);
  if (gw) for (int64_t i = 0; i < s.K * Cg * s.R * s.S; ++i) gw[i] = T(0);
  if (gb) for (int64_t i = 0; i < s.K; ++i) gb[i] = T(0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < s.P; ++p)
        for (int64_t q = 0; q < s.Q; ++q) {
          const T g = gy[((n * s.K + k) * s.P + p) * s.Q + q];
          if (gb) gb[k] += g;
          const int64_t c0 = (k / Kg) * Cg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t u = 0; u < s.S; ++u) {
                const int64_t i = p * s.stride_h - s.pad_h + r * s.dil_h;
                const int64_t j = q * s.stride_w - s.pad_w + u * s.dil_w;
                if (i < 0 || i >= s.H || j < 0 || j >= s.W) continue;
                const int64_t wi = ((k * Cg + c) * s.R + r) * s.S + u;
                const int64_t xi = ((n * s.C + c0 + c) * s.H + i) * s.W + j;
                if (gx) gx[xi] += w[wi] * g;
                if (gw) gw[wi] += x[xi] * g;
              }
        }
}
// --8<-- [end:backward_reference]

template void conv2d_forward_reference<float>(const ConvShape&, const float*, const float*, const float*, float*);
template void conv2d_forward_reference<double>(const ConvShape&, const double*, const double*, const double*,
                                               double*);
template void conv2d_backward_reference<float>(const ConvShape&, const float*, const float*, const float*, float*,
                                               float*, float*);
template void conv2d_backward_reference<double>(const ConvShape&, const double*, const double*, const double*,
                                                double*, double*, double*);

namespace {

// ---- im2col + GEMM -----------------------------------------------------------------
using conv_detail::image_threads;
using namespace conv_detail;

template <class T>
void forward_gemm(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), PQ = s.P * s.Q, HW = s.H * s.W, CRS = Cg * s.R * s.S;
  const bool pointwise = is_pointwise(s);
  const int64_t maxw = std::max(PQ, tile_cols()) + PQ;
  over_images(s, image_threads(s), [&](int, int64_t n0, int64_t n1) {
    std::vector<T>& col = scratch<T>();
    if (col.size() < size_t((CRS + Kg) * maxw)) col.resize((CRS + Kg) * maxw);
    T* ybuf = col.data() + CRS * maxw;
    for_blocks(s, n0, n1, [&](const Block& b) {
      const int64_t bw = b.width(), w0 = b.o1 - b.o0;
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* wg = w + g * Kg * CRS;
        if (b.single()) {  // straight into y (bias first, then GEMM with beta = 1)
          T* yg = y + (b.n0 * s.K + g * Kg) * PQ;
          if (bias)
            for (int64_t k = 0; k < Kg; ++k) std::fill(yg + k * PQ + b.o0, yg + k * PQ + b.o1, bias[g * Kg + k]);
          const T* B = x + (b.n0 * s.C + g * Cg) * HW + b.o0;
          int64_t ldb = HW;
          if (!pointwise) {
            im2col_block(s, x, g, b, col.data());
            B = col.data();
            ldb = bw;
          }
          gemm<T>(false, false, Kg, bw, CRS, T(1), wg, CRS, B, ldb, bias ? T(1) : T(0), yg + b.o0, PQ);
        } else {  // several images: one wider GEMM into ybuf, then scattered to y
          im2col_block(s, x, g, b, col.data());
          gemm<T>(false, false, Kg, bw, CRS, T(1), wg, CRS, col.data(), bw, T(0), ybuf, bw);
          for (int64_t n = b.n0; n < b.n1; ++n)
            for (int64_t k = 0; k < Kg; ++k) {
              const T* src = ybuf + k * bw + (n - b.n0) * w0;
              T* dst = y + (n * s.K + g * Kg + k) * PQ + b.o0;
              const T bk = bias ? bias[g * Kg + k] : T(0);
              for (int64_t i = 0; i < w0; ++i) dst[i] = src[i] + bk;
            }
        }
      }
    });
  });
}

// gx[n, c] = start[c] (start null: 0) for images [n0, n1)
template <class T>
void fill_planes(const ConvShape& s, const T* start, int64_t n0, int64_t n1, T* gx) {
  const int64_t HW = s.H * s.W;
  for (int64_t i = n0 * s.C; i < n1 * s.C; ++i) std::fill(gx + i * HW, gx + (i + 1) * HW, start ? start[i % s.C] : T(0));
}

template <class T>
void backward_input_gemm(const ConvShape& s, const T* gy, const T* w, T* gx, const T* start) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), PQ = s.P * s.Q, HW = s.H * s.W, CRS = Cg * s.R * s.S;
  const bool pointwise = is_pointwise(s);
  const int64_t maxw = std::max(PQ, tile_cols()) + PQ;
  // a filled gx is added to (col2im, or the pointwise GEMM with beta 1); otherwise the
  // pointwise GEMM writes it
  const bool fill = start || !pointwise || PQ < tile_cols();
  over_images(s, image_threads(s), [&](int, int64_t n0, int64_t n1) {
    std::vector<T>& col = scratch<T>();
    if (col.size() < size_t((CRS + Kg) * maxw)) col.resize((CRS + Kg) * maxw);
    T* gybuf = col.data() + CRS * maxw;
    if (fill) fill_planes(s, start, n0, n1, gx);
    for_blocks(s, n0, n1, [&](const Block& b) {
      const int64_t bw = b.width(), w0 = b.o1 - b.o0;
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* wg = w + g * Kg * CRS;
        if (b.single()) {
          const T* gyg = gy + (b.n0 * s.K + g * Kg) * PQ + b.o0;
          T* gxg = gx + (b.n0 * s.C + g * Cg) * HW;
          if (pointwise) {  // dx_g[:, tile] = W_g^T @ dY_g[:, tile]
            gemm<T>(true, false, CRS, bw, Kg, T(1), wg, CRS, gyg, PQ, fill ? T(1) : T(0), gxg + b.o0, HW);
          } else {
            gemm<T>(true, false, CRS, bw, Kg, T(1), wg, CRS, gyg, PQ, T(0), col.data(), bw);
            col2im_add(s, col.data(), b.o0, b.o1, gxg, bw);
          }
        } else {
          gather_block(s, gy, g * Kg, b, gybuf);
          gemm<T>(true, false, CRS, bw, Kg, T(1), wg, CRS, gybuf, bw, T(0), col.data(), bw);
          for (int64_t n = b.n0; n < b.n1; ++n)
            col2im_add(s, col.data() + (n - b.n0) * w0, b.o0, b.o1, gx + (n * s.C + g * Cg) * HW, bw);
        }
      }
    });
  });
}

template <class T>
void bias_grad(const ConvShape& s, const T* gy, T* gb) {
  const int64_t PQ = s.P * s.Q;
  parallel_for(s.K, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, s.N * PQ)), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      double total = 0;
      for (int64_t n = 0; n < s.N; ++n) {
        const T* g = gy + (n * s.K + k) * PQ;
        T acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < PQ; ++i) acc += g[i];
        total += acc;
      }
      gb[k] = static_cast<T>(total);
    }
  });
}

template <class T>
void backward_weight_gemm(const ConvShape& s, const T* gy, const T* x, T* gw) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), PQ = s.P * s.Q, HW = s.H * s.W, CRS = Cg * s.R * s.S;
  const int64_t wsize = s.K * CRS;
  const bool pointwise = is_pointwise(s);
  const int64_t maxw = std::max(PQ, tile_cols()) + PQ;
  const int nt = image_threads(s);
  // slot 0 sums into gw itself, the others into partials added at the end, in slot order
  // (no more slots than images: an empty slot would never be zeroed)
  const int64_t slot_floats = wsize * int64_t(sizeof(T) / sizeof(float));
  const int slots = int(std::min<int64_t>(conv_detail::reduction_slots(nt, slot_floats), s.N));
  std::unique_ptr<T[]> partial(new T[size_t(slots - 1) * wsize]);  // (zeroed by the slot's thread)
  const int64_t chunk = tile_cols() / std::max<int64_t>(1, s.P * s.Q);
  conv_detail::over_image_slots(s, nt, slots, chunk, [&](int slot, int64_t n0, int64_t n1) {
    T* acc = slot == 0 ? gw : partial.get() + size_t(slot - 1) * wsize;
    if (n0 == s.N * slot / slots) std::fill(acc, acc + wsize, T(0));
    std::vector<T>& col = scratch<T>();
    if (col.size() < size_t((CRS + Kg) * maxw)) col.resize((CRS + Kg) * maxw);
    T* gybuf = col.data() + CRS * maxw;
    for_blocks(s, n0, n1, [&](const Block& b) {
      const int64_t bw = b.width();
      for (int64_t g = 0; g < s.groups; ++g) {
        int64_t lda;
        const T* A = block_rows(s, gy, g * Kg, b, gybuf, lda);
        const T* B = x + (b.n0 * s.C + g * Cg) * HW + b.o0;
        int64_t ldb = HW;
        if (!pointwise || !b.single()) {
          im2col_block(s, x, g, b, col.data());
          B = col.data();
          ldb = bw;
        }
        // dW_g (Kg x CRS) += dY_g[:, block] @ col^T
        gemm<T>(false, true, Kg, CRS, bw, T(1), A, lda, B, ldb, T(1), acc + g * Kg * CRS, CRS);
      }
    });
  });
  // the slots added in order, split between threads along gw (as conv_direct.cpp's weight gradient)
  if (slots > 1)
    parallel_for(wsize, 16384, [&](int64_t i0, int64_t i1) {
      for (int t = 1; t < slots; ++t) {
        const T* p = partial.get() + size_t(t - 1) * wsize;
        for (int64_t i = i0; i < i1; ++i) gw[i] += p[i];
      }
    });
}

// ---- depthwise (groups == C == K), float32 SIMD ------------------------------------
bool use_depthwise(const ConvShape& s) {
  return s.groups == s.C && s.K == s.C && s.groups > 1 && s.S <= 64 && conv_simd_active() != nullptr;
}

void depthwise_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  const ConvSimd* simd = conv_simd_active();
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, RS = s.R * s.S;
  parallel_for(s.N * s.C, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, PQ * RS)), [&](int64_t i0, int64_t i1) {
    std::vector<float>& buf = scratch<float>();
    buf.resize(std::max<size_t>(buf.size(), depthwise_buffer_floats(s)));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t c = i % s.C;
      simd->depthwise_forward(s, x + i * HW, w + c * RS, bias ? bias[c] : 0.0f, y + i * PQ, buf.data());
    }
  });
}

void depthwise_backward_input(const ConvShape& s, const float* gy, const float* w, float* gx) {
  const ConvSimd* simd = conv_simd_active();
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, RS = s.R * s.S;
  parallel_for(s.N * s.C, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, PQ * RS)), [&](int64_t i0, int64_t i1) {
    std::vector<float>& buf = scratch<float>();
    buf.resize(std::max<size_t>(buf.size(), depthwise_buffer_floats(s)));
    for (int64_t i = i0; i < i1; ++i)
      simd->depthwise_backward_input(s, gy + i * PQ, w + (i % s.C) * RS, gx + i * HW, buf.data());
  });
}

void depthwise_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw) {
  const ConvSimd* simd = conv_simd_active();
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, RS = s.R * s.S;
  // one channel per task, summing over the batch: no two threads write the same weights
  parallel_for(s.C, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s.N * PQ * RS)), [&](int64_t c0, int64_t c1) {
    std::vector<float>& buf = scratch<float>();
    buf.resize(std::max<size_t>(buf.size(), depthwise_buffer_floats(s)));
    for (int64_t c = c0; c < c1; ++c) {
      float* g = gw + c * RS;
      std::fill(g, g + RS, 0.0f);
      simd->depthwise_backward_weight(s, gy + c * PQ, x + c * HW, g, buf.data(), s.N);
    }
  });
}

// ---- which path runs ---------------------------------------------------------------
// --8<-- [start:forward_path]
template <class T>
void forward_path(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  if (s.N * s.K * s.P * s.Q == 0) return;
  if constexpr (std::is_same<T, float>::value) {
    if (use_depthwise(s)) return depthwise_forward(s, x, w, bias, y);
    const bool winograd = conv_winograd_available(s);
    if (conv_direct_available(s)) {  // direct, or im2col + GEMM or Winograd where it measured faster (conv_tune.cpp)
      const auto run = [&](ConvPath p) {
        if (p == ConvPath::im2col) forward_gemm<float>(s, x, w, bias, y);
        else if (p == ConvPath::winograd && winograd) conv2d_winograd_forward(s, x, w, bias, y);
        else conv2d_direct_forward(s, x, w, bias, y);
      };
      const ConvPath p = conv_choose(ConvDirection::forward, s, run, winograd);
      if (p != ConvPath::automatic) run(p);
      return;
    }
    // the scalar set: Winograd's reference transforms only when forced (tests)
    if (winograd && conv_forced_path() == ConvPath::winograd) return conv2d_winograd_forward(s, x, w, bias, y);
  }
  forward_gemm<T>(s, x, w, bias, y);
}
// --8<-- [end:forward_path]

// gx[n, c] += start[c]: the kernels that write gx without filling it first
template <class T>
void add_start(const ConvShape& s, const T* start, T* gx) {
  const int64_t HW = s.H * s.W;
  parallel_for(s.N * s.C, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, HW)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < HW; ++j) gx[i * HW + j] += start[i % s.C];
  });
}

template <class T>
void backward_input_path(const ConvShape& s, const T* gy, const T* w, T* gx, const T* start) {
  if (s.N * s.C * s.H * s.W == 0) return;
  if (s.K * s.P * s.Q == 0) {  // nothing flows back
    fill_planes(s, start, 0, s.N, gx);
    return;
  }
  if constexpr (std::is_same<T, float>::value) {
    if (use_depthwise(s)) {
      depthwise_backward_input(s, gy, w, gx);
      if (start) add_start(s, start, gx);
      return;
    }
    const bool winograd = conv_winograd_available(s);
    if (conv_direct_backward_input_available(s)) {
      const auto run = [&](ConvPath p) {
        if (p == ConvPath::im2col) return backward_input_gemm<float>(s, gy, w, gx, start);
        if (p == ConvPath::winograd && winograd) return conv2d_winograd_backward_input(s, gy, w, gx, start);
        conv2d_direct_backward_input(s, gy, w, gx);
        if (start) add_start(s, start, gx);
      };
      const ConvPath p = conv_choose(ConvDirection::backward_input, s, run, winograd);
      if (p != ConvPath::automatic) run(p);
      return;
    }
    if (winograd && conv_forced_path() == ConvPath::winograd)
      return conv2d_winograd_backward_input(s, gy, w, gx, start);
  }
  backward_input_gemm<T>(s, gy, w, gx, start);
}

template <class T>
void backward_weight_path(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb) {
  const bool empty = s.N * s.P * s.Q == 0;
  if (gw) {
    if (empty) {
      std::fill(gw, gw + s.K * s.Cg() * s.R * s.S, T(0));
    } else if constexpr (std::is_same<T, float>::value) {
      if (use_depthwise(s)) {
        depthwise_backward_weight(s, gy, x, gw);
      } else if (conv_direct_available(s)) {
        const bool winograd = conv_winograd_available(s);
        const auto run = [&](ConvPath p) {
          if (p == ConvPath::im2col) backward_weight_gemm<float>(s, gy, x, gw);
          else if (p == ConvPath::winograd && winograd) conv2d_winograd_backward_weight(s, gy, x, gw);
          else conv2d_direct_backward_weight(s, gy, x, gw);
        };
        const ConvPath p = conv_choose(ConvDirection::backward_weight, s, run, winograd);
        if (p != ConvPath::automatic) run(p);
      } else if (conv_winograd_available(s) && conv_forced_path() == ConvPath::winograd) {
        conv2d_winograd_backward_weight(s, gy, x, gw);  // the scalar set, forced (tests)
      } else {
        backward_weight_gemm<T>(s, gy, x, gw);
      }
    } else {
      backward_weight_gemm<T>(s, gy, x, gw);
    }
  }
  if (gb) {
    if (empty) std::fill(gb, gb + s.K, T(0));
    else bias_grad<T>(s, gy, gb);
  }
}

// F.unfold / F.fold: the GEMM path's im2col and col2im over whole images, one (image,
// channel) plane at a time (a plane's R S x P Q block of col is contiguous), the planes split
// between threads
ConvShape one_plane(const ConvShape& s) {
  ConvShape plane = s;
  plane.N = plane.C = plane.K = plane.groups = 1;
  return plane;
}
int64_t plane_grain(const ConvShape& s) { return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, s.R * s.S * s.P * s.Q)); }

// --8<-- [start:fold_planes]
template <class T>
void unfold_impl(const ConvShape& s, const T* x, T* col) {
  const ConvShape plane = one_plane(s);
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, block = s.R * s.S * PQ;
  parallel_for(s.N * s.C, plane_grain(s), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) conv_detail::im2col(plane, x + i * HW, 0, PQ, col + i * block, PQ);
  });
}

template <class T>
void fold_impl(const ConvShape& s, const T* col, T* x) {
  const ConvShape plane = one_plane(s);
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, block = s.R * s.S * PQ;
  parallel_for(s.N * s.C, plane_grain(s), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      std::fill(x + i * HW, x + (i + 1) * HW, T(0));
      conv_detail::col2im_add(plane, col + i * block, 0, PQ, x + i * HW, PQ);
    }
  });
}
// --8<-- [end:fold_planes]

}  // namespace

void conv2d_unfold(const ConvShape& s, DType t, const void* x, void* col) {
  MINIDL_DISPATCH_FLOAT(t, "unfold", unfold_impl<T>(s, static_cast<const T*>(x), static_cast<T*>(col)));
}

void conv2d_fold(const ConvShape& s, DType t, const void* col, void* x) {
  MINIDL_DISPATCH_FLOAT(t, "fold", fold_impl<T>(s, static_cast<const T*>(col), static_cast<T*>(x)));
}

void conv2d_forward(const ConvShape& s, DType t, const void* x, const void* w, const void* bias, void* y) {
  MINIDL_DISPATCH_FLOAT(t, "conv2d", {
    forward_path<T>(s, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                    static_cast<T*>(y));
  });
}

void conv2d_backward_input(const ConvShape& s, DType t, const void* gy, const void* w, void* gx, const void* start) {
  MINIDL_DISPATCH_FLOAT(t, "conv2d_backward_input", {
    backward_input_path<T>(s, static_cast<const T*>(gy), static_cast<const T*>(w), static_cast<T*>(gx),
                           static_cast<const T*>(start));
  });
}

void conv2d_backward_weight(const ConvShape& s, DType t, const void* gy, const void* x, void* gw, void* gb) {
  MINIDL_DISPATCH_FLOAT(t, "conv2d_backward_weight", {
    backward_weight_path<T>(s, static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<T*>(gw),
                            static_cast<T*>(gb));
  });
}

}  // namespace minidl
