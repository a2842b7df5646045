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
#include <cstring>
#include <stdexcept>
#include <vector>

#include "conv_direct.h"
#include "core/dispatch.h"
#include "ops/gemm/gemm.h"
#include "core/parallel.h"
#include "conv_im2col.h"
#include "conv_threads.h"


namespace minidl {
namespace {


inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                 int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

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
