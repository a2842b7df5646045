// Convolution fast path: im2col on tiles of one image + the project's GEMM.
//
// For one image n and group g, the forward pass is one matrix product
//   Y_g (Kg x PQ) = W_g (Kg x Cg*R*S) @ col (Cg*R*S x PQ),
// where col row (c, r, u) holds the input pixels tap (r, u) of channel c reads for every output
// position (zeros where the tap falls into the padding). The backward passes are the two other
// products of the same matrices:
//   dcol = W_g^T @ dY_g  then col2im (scatter-add dcol back to the pixels), and
//   dW_g += dY_g @ col^T (summed over the batch).
// 1x1 stride-1 unpadded convolutions skip im2col: col is x itself (Cg x HW).
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
// per thread, added at the end (no races; the summation order depends on the scheduling). With fewer images than
// threads (batch 1 inference) the images run one after another and the GEMM splits itself.
//
// float32 on a SIMD kernel set normally takes the direct path instead (conv_direct.cpp: no
// column matrix at all, measured 1.5-2x faster at ResNet shapes); this path remains for
// float64, the scalar set, the input gradient of strided convolutions and very large images.
//
// Depthwise convolutions (groups == C == K) are R*S multiply-adds per output, a GEMM with
// K = R*S (9) would spend its time packing: they run a direct SIMD kernel instead
// (cpp/src/simd/conv_simd.cpp), float32 only; the scalar set and float64 take the GEMM path.
#include "minidl/conv.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "minidl/conv_direct.h"
#include "minidl/dispatch.h"
#include "minidl/gemm.h"
#include "minidl/parallel.h"
#include "conv_threads.h"

MINIDL_SIMD_TABLE(minidl::ConvSimd, conv_simd)

namespace minidl {
namespace {

// GEMM columns (output positions) per block: a tile of one image when the image has more
// positions, else as many whole images as fit (one wider GEMM, weights packed once). col is
// Cg*R*S x tile floats: 144 KB (3x3, 16 channels) .. 590 KB (64 channels) at 256, in L2.
// Measured, 1 thread, batch 32, forward / dx / dw ms (Zen 5, AVX-512):
//   tile        16->16 @32          32->32 @16          64->64 @8
//   256    1.74 / 1.38 / 1.83   1.37 / 1.07 / 1.36   1.30 / 1.28 / 1.23
//   512    1.67 / 1.32 / 2.11   1.42 / 1.11 / 1.56   1.27 / 1.32 / 1.32
//   1024   1.91 / 2.49 / 2.22   1.49 / 1.17 / 1.59   1.29 / 1.30 / 1.33
//   4096   1.95 / 2.48 / 2.25   1.67 / 1.30 / 1.67   1.65 / 1.62 / 1.51
//   whole image, one image per GEMM (before blocks): 2.15 / 2.94 / 2.26 at 16->16 @32.
// The dx column matrix of a whole 32x32 image (590 KB at 16 channels) plus the GEMM's packed
// panels overflows L2; at 4096 the multi-image col matrix does too. MINIDL_CONV_TILE overrides.
int64_t tile_cols() {
  static const int64_t t = [] {
    const char* e = std::getenv("MINIDL_CONV_TILE");
    const int64_t v = e ? std::atoll(e) : 0;
    return v > 0 ? v : int64_t{256};
  }();
  return t;
}

inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                 int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

bool is_pointwise(const ConvShape& s) {  // 1x1, stride 1, no padding: col would be x itself
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// For tap column offset `off` (= u*dw - pw) and stride sw: the q range [lo, hi) whose input
// column q*sw + off lies inside [0, W).
inline void valid_q(int64_t off, int64_t sw, int64_t W, int64_t Q, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  hi = W - off <= 0 ? 0 : std::min(Q, (W - off - 1) / sw + 1);
  if (hi < lo) hi = lo;
}

// col[(c*R + r)*S + u][o - o0] = x_g[c, p*sh - ph + r*dh, q*sw - pw + u*dw] for output
// positions o = p*Q + q in [o0, o1); ld = o1 - o0.
template <class T>
void im2col(const ConvShape& s, const T* xg, int64_t o0, int64_t o1, T* col, int64_t ld) {
  const int64_t Cg = s.Cg();
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t u = 0; u < s.S; ++u) {
        T* dst = col + ((c * s.R + r) * s.S + u) * ld;
        const int64_t off = u * s.dil_w - s.pad_w;
        int64_t qlo, qhi;
        valid_q(off, s.stride_w, s.W, s.Q, qlo, qhi);
        for (int64_t o = o0; o < o1;) {
          const int64_t p = o / s.Q, q0 = o - p * s.Q, q1 = std::min(s.Q, q0 + (o1 - o));
          T* d = dst + (o - o0);
          const int64_t i = p * s.stride_h - s.pad_h + r * s.dil_h;
          if (i < 0 || i >= s.H) {
            std::fill(d, d + (q1 - q0), T(0));
          } else {
            const T* row = xg + (c * s.H + i) * s.W;
            const int64_t a = std::min(q1, std::max(q0, qlo)), b = std::max(a, std::min(q1, qhi));
            std::fill(d, d + (a - q0), T(0));
            if (s.stride_w == 1) {
              std::memcpy(d + (a - q0), row + a + off, sizeof(T) * (b - a));
            } else {
              for (int64_t q = a; q < b; ++q) d[q - q0] = row[q * s.stride_w + off];
            }
            std::fill(d + (b - q0), d + (q1 - q0), T(0));
          }
          o += q1 - q0;
        }
      }
}

// The adjoint of im2col: gx_g[c, i, j] += col[(c, r, u)][o - o0] for every (o, r, u) reading it.
template <class T>
void col2im_add(const ConvShape& s, const T* col, int64_t o0, int64_t o1, T* gxg, int64_t ld) {
  const int64_t Cg = s.Cg();
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t u = 0; u < s.S; ++u) {
        const T* src = col + ((c * s.R + r) * s.S + u) * ld;
        const int64_t off = u * s.dil_w - s.pad_w;
        int64_t qlo, qhi;
        valid_q(off, s.stride_w, s.W, s.Q, qlo, qhi);
        for (int64_t o = o0; o < o1;) {
          const int64_t p = o / s.Q, q0 = o - p * s.Q, q1 = std::min(s.Q, q0 + (o1 - o));
          const T* d = src + (o - o0);
          const int64_t i = p * s.stride_h - s.pad_h + r * s.dil_h;
          if (i >= 0 && i < s.H) {
            T* row = gxg + (c * s.H + i) * s.W;
            const int64_t a = std::min(q1, std::max(q0, qlo)), b = std::max(a, std::min(q1, qhi));
            if (s.stride_w == 1) {
              T* rr = row + off;
              for (int64_t q = a; q < b; ++q) rr[q] += d[q - q0];
            } else {
              for (int64_t q = a; q < b; ++q) row[q * s.stride_w + off] += d[q - q0];
            }
          }
          o += q1 - q0;
        }
      }
}

// float32 on a SIMD kernel set: the vectorized copies in conv_simd.cpp
void im2col(const ConvShape& s, const float* xg, int64_t o0, int64_t o1, float* col, int64_t ld) {
  if (const ConvSimd* simd = conv_simd_active()) simd->im2col(s, xg, o0, o1, col, ld);
  else im2col<float>(s, xg, o0, o1, col, ld);
}
void col2im_add(const ConvShape& s, const float* col, int64_t o0, int64_t o1, float* gxg, int64_t ld) {
  if (const ConvSimd* simd = conv_simd_active()) simd->col2im_add(s, col, o0, o1, gxg, ld);
  else col2im_add<float>(s, col, o0, o1, gxg, ld);
}

using conv_detail::image_threads;

// whole-image chunks of about tile_cols() output positions (at least one image)
template <class F>
void over_images(const ConvShape& s, int nt, const F& body) {
  if (nt <= 1) return body(0, int64_t{0}, s.N);
  conv_detail::over_images(s, nt, tile_cols() / std::max<int64_t>(1, s.P * s.Q), body);
}

template <class T>
std::vector<T>& scratch() {
  thread_local std::vector<T> buf;
  return buf;
}

// A block of GEMM columns: output positions [o0, o1) of images [n0, n1) (several whole images
// when the images are small, else a tile of one image). col for the block has
// (n1 - n0) * (o1 - o0) columns, image after image.
struct Block {
  int64_t n0, n1, o0, o1;
  int64_t width() const { return (n1 - n0) * (o1 - o0); }
  bool single() const { return n1 - n0 == 1; }
};

// Calls f(block) for the blocks covering images [n0, n1), each about tile_cols() wide.
template <class F>
void for_blocks(const ConvShape& s, int64_t n0, int64_t n1, const F& f) {
  const int64_t PQ = s.P * s.Q, target = tile_cols();
  if (PQ >= target) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t o0 = 0; o0 < PQ; o0 += target) f(Block{n, n + 1, o0, std::min(PQ, o0 + target)});
  } else {
    const int64_t per = std::max<int64_t>(1, target / PQ);
    for (int64_t n = n0; n < n1; n += per) f(Block{n, std::min(n1, n + per), 0, PQ});
  }
}

// col (CRS x width) for group g of block b
template <class T>
void im2col_block(const ConvShape& s, const T* x, int64_t g, const Block& b, T* col) {
  const int64_t HW = s.H * s.W, w = b.o1 - b.o0;
  for (int64_t n = b.n0; n < b.n1; ++n)
    im2col(s, x + (n * s.C + g * s.Cg()) * HW, b.o0, b.o1, col + (n - b.n0) * w, b.width());
}

// rows [k0, k0 + Kg) of the NCHW tensor t (K channels) over block b, as a Kg x width matrix
template <class T>
void gather_block(const ConvShape& s, const T* t, int64_t k0, const Block& b, T* dst) {
  const int64_t PQ = s.P * s.Q, w = b.o1 - b.o0, bw = b.width();
  for (int64_t n = b.n0; n < b.n1; ++n)
    for (int64_t k = 0; k < s.Kg(); ++k)
      std::memcpy(dst + k * bw + (n - b.n0) * w, t + (n * s.K + k0 + k) * PQ + b.o0, sizeof(T) * w);
}

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
          gemm(false, false, Kg, bw, CRS, T(1), wg, CRS, B, ldb, bias ? T(1) : T(0), yg + b.o0, PQ);
        } else {  // several images: one wider GEMM into ybuf, then scattered to y
          im2col_block(s, x, g, b, col.data());
          gemm(false, false, Kg, bw, CRS, T(1), wg, CRS, col.data(), bw, T(0), ybuf, bw);
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

template <class T>
void backward_input_gemm(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), PQ = s.P * s.Q, HW = s.H * s.W, CRS = Cg * s.R * s.S;
  const bool pointwise = is_pointwise(s);
  const int64_t maxw = std::max(PQ, tile_cols()) + PQ;
  over_images(s, image_threads(s), [&](int, int64_t n0, int64_t n1) {
    std::vector<T>& col = scratch<T>();
    if (col.size() < size_t((CRS + Kg) * maxw)) col.resize((CRS + Kg) * maxw);
    T* gybuf = col.data() + CRS * maxw;
    if (!pointwise || PQ < tile_cols()) std::fill(gx + n0 * s.C * HW, gx + n1 * s.C * HW, T(0));
    for_blocks(s, n0, n1, [&](const Block& b) {
      const int64_t bw = b.width(), w0 = b.o1 - b.o0;
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* wg = w + g * Kg * CRS;
        if (b.single()) {
          const T* gyg = gy + (b.n0 * s.K + g * Kg) * PQ + b.o0;
          T* gxg = gx + (b.n0 * s.C + g * Cg) * HW;
          if (pointwise) {  // dx_g[:, tile] = W_g^T @ dY_g[:, tile]
            gemm(true, false, CRS, bw, Kg, T(1), wg, CRS, gyg, PQ, T(0), gxg + b.o0, HW);
          } else {
            gemm(true, false, CRS, bw, Kg, T(1), wg, CRS, gyg, PQ, T(0), col.data(), bw);
            col2im_add(s, col.data(), b.o0, b.o1, gxg, bw);
          }
        } else {
          gather_block(s, gy, g * Kg, b, gybuf);
          gemm(true, false, CRS, bw, Kg, T(1), wg, CRS, gybuf, bw, T(0), col.data(), bw);
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
  // thread 0 sums into gw itself, the others into partials added at the end
  std::vector<T> partial(nt > 1 ? size_t(nt - 1) * wsize : 0);
  std::fill(gw, gw + wsize, T(0));
  over_images(s, nt, [&](int tid, int64_t n0, int64_t n1) {
    T* acc = tid == 0 ? gw : partial.data() + size_t(tid - 1) * wsize;
    std::vector<T>& col = scratch<T>();
    if (col.size() < size_t((CRS + Kg) * maxw)) col.resize((CRS + Kg) * maxw);
    T* gybuf = col.data() + CRS * maxw;
    for_blocks(s, n0, n1, [&](const Block& b) {
      const int64_t bw = b.width();
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* A = gy + (b.n0 * s.K + g * Kg) * PQ + b.o0;
        int64_t lda = PQ;
        if (!b.single()) {
          gather_block(s, gy, g * Kg, b, gybuf);
          A = gybuf;
          lda = bw;
        }
        const T* B = x + (b.n0 * s.C + g * Cg) * HW + b.o0;
        int64_t ldb = HW;
        if (!pointwise || !b.single()) {
          im2col_block(s, x, g, b, col.data());
          B = col.data();
          ldb = bw;
        }
        // dW_g (Kg x CRS) += dY_g[:, block] @ col^T
        gemm(false, true, Kg, CRS, bw, T(1), A, lda, B, ldb, T(1), acc + g * Kg * CRS, CRS);
      }
    });
  });
  for (int t = 1; t < nt; ++t) {
    const T* p = partial.data() + size_t(t - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) gw[i] += p[i];
  }
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

void check_dtype(DType t) {
  if (t != DType::f32 && t != DType::f64)
    throw std::invalid_argument(std::string("conv2d: expected float32 or float64, got ") + dtype_name(t));
}

}  // namespace

void conv2d_forward(const ConvShape& s, DType t, const void* x, const void* w, const void* bias, void* y) {
  check_dtype(t);
  if (s.N * s.K * s.P * s.Q == 0) return;
  if (t == DType::f64) {
    forward_gemm<double>(s, static_cast<const double*>(x), static_cast<const double*>(w),
                         static_cast<const double*>(bias), static_cast<double*>(y));
  } else if (use_depthwise(s)) {
    depthwise_forward(s, static_cast<const float*>(x), static_cast<const float*>(w),
                      static_cast<const float*>(bias), static_cast<float*>(y));
  } else if (conv_direct_available(s)) {
    conv2d_direct_forward(s, static_cast<const float*>(x), static_cast<const float*>(w),
                          static_cast<const float*>(bias), static_cast<float*>(y));
  } else {
    forward_gemm<float>(s, static_cast<const float*>(x), static_cast<const float*>(w),
                        static_cast<const float*>(bias), static_cast<float*>(y));
  }
}

void conv2d_backward_input(const ConvShape& s, DType t, const void* gy, const void* w, void* gx) {
  check_dtype(t);
  if (s.N * s.C * s.H * s.W == 0) return;
  if (s.K * s.P * s.Q == 0) {  // nothing flows back
    std::memset(gx, 0, size_t(s.N * s.C * s.H * s.W) * dtype_size(t));
    return;
  }
  if (t == DType::f64) {
    backward_input_gemm<double>(s, static_cast<const double*>(gy), static_cast<const double*>(w), static_cast<double*>(gx));
  } else if (use_depthwise(s)) {
    depthwise_backward_input(s, static_cast<const float*>(gy), static_cast<const float*>(w), static_cast<float*>(gx));
  } else if (conv_direct_backward_input_available(s)) {
    conv2d_direct_backward_input(s, static_cast<const float*>(gy), static_cast<const float*>(w), static_cast<float*>(gx));
  } else {
    backward_input_gemm<float>(s, static_cast<const float*>(gy), static_cast<const float*>(w), static_cast<float*>(gx));
  }
}

void conv2d_backward_weight(const ConvShape& s, DType t, const void* gy, const void* x, void* gw, void* gb) {
  check_dtype(t);
  const bool empty = s.N * s.P * s.Q == 0;
  if (t == DType::f64) {
    if (gw) {
      if (empty) std::fill(static_cast<double*>(gw), static_cast<double*>(gw) + s.K * s.Cg() * s.R * s.S, 0.0);
      else backward_weight_gemm<double>(s, static_cast<const double*>(gy), static_cast<const double*>(x), static_cast<double*>(gw));
    }
    if (gb) {
      if (empty) std::fill(static_cast<double*>(gb), static_cast<double*>(gb) + s.K, 0.0);
      else bias_grad<double>(s, static_cast<const double*>(gy), static_cast<double*>(gb));
    }
    return;
  }
  if (gw) {
    float* gwf = static_cast<float*>(gw);
    if (empty) std::fill(gwf, gwf + s.K * s.Cg() * s.R * s.S, 0.0f);
    else if (use_depthwise(s)) depthwise_backward_weight(s, static_cast<const float*>(gy), static_cast<const float*>(x), gwf);
    else if (conv_direct_available(s)) conv2d_direct_backward_weight(s, static_cast<const float*>(gy), static_cast<const float*>(x), gwf);
    else backward_weight_gemm<float>(s, static_cast<const float*>(gy), static_cast<const float*>(x), gwf);
  }
  if (gb) {
    if (empty) std::fill(static_cast<float*>(gb), static_cast<float*>(gb) + s.K, 0.0f);
    else bias_grad<float>(s, static_cast<const float*>(gy), static_cast<float*>(gb));
  }
}

}  // namespace minidl
