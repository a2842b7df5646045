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
// Why tiles of one image rather than the whole batch's column matrix or a pure implicit GEMM:
// the column matrix is R*S times larger than x (9x for 3x3); built for the whole batch it is
// written to and read back from DRAM. Per image it is small, and it is cut further into
// column tiles of at most kTileCols output positions so col (Cg*R*S x tile) stays in L2 while
// the GEMM reads it, then is overwritten by the next tile. The tile width was chosen by
// measurement (bench/python/bench_conv.py shapes, MINIDL_CONV_TILE to override): see the
// comment at kTileCols.
//
// Threads: with at least as many images as threads, each thread takes whole images (its own
// col buffer, a single-threaded GEMM: minidl::sgemm does not fork inside a parallel region),
// which needs no barrier; the weight gradient then goes into one partial sum per thread,
// added at the end (no races, deterministic for a fixed thread count). With fewer images than
// threads (batch 1 inference) the images run one after another and the GEMM splits itself.
//
// Depthwise convolutions (groups == C == K) are R*S multiply-adds per output, a GEMM with
// K = R*S (9) would spend its time packing: they run a direct SIMD kernel instead
// (cpp/src/simd/conv_simd.cpp), float32 only; the scalar set and float64 take the GEMM path.
#include "minidl/conv.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "minidl/dispatch.h"
#include "minidl/gemm.h"
#include "minidl/parallel.h"

MINIDL_SIMD_TABLE(minidl::ConvSimd, conv_simd)

namespace minidl {
namespace {

// Output positions per im2col tile. col is Cg*R*S x tile floats; for the ResNet-style shapes
// (Cg*R*S = 144..576) a tile of 1024 makes it 0.6-2.4 MB. Measured (see the commit log and
// bench_conv.py), the whole image (no tiling) ... [filled in below by measurement]
int64_t tile_cols() {
  static const int64_t t = [] {
    const char* e = std::getenv("MINIDL_CONV_TILE");
    const int64_t v = e ? std::atoll(e) : 0;
    return v > 0 ? v : int64_t{1} << 30;
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
void im2col(const ConvShape& s, const T* xg, int64_t o0, int64_t o1, T* col) {
  const int64_t ld = o1 - o0, Cg = s.Cg();
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
            const int64_t a = std::max(q0, qlo), b = std::max(a, std::min(q1, qhi));
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
void col2im_add(const ConvShape& s, const T* col, int64_t o0, int64_t o1, T* gxg) {
  const int64_t ld = o1 - o0, Cg = s.Cg();
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
            const int64_t a = std::max(q0, qlo), b = std::max(a, std::min(q1, qhi));
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
void im2col(const ConvShape& s, const float* xg, int64_t o0, int64_t o1, float* col) {
  if (const ConvSimd* simd = conv_simd_active()) simd->im2col(s, xg, o0, o1, col);
  else im2col<float>(s, xg, o0, o1, col);
}
void col2im_add(const ConvShape& s, const float* col, int64_t o0, int64_t o1, float* gxg) {
  if (const ConvSimd* simd = conv_simd_active()) simd->col2im_add(s, col, o0, o1, gxg);
  else col2im_add<float>(s, col, o0, o1, gxg);
}

// Threads that take whole images; 1 means "images in turn, GEMM threads itself".
int image_threads(const ConvShape& s) {
  int nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  const int64_t fma = s.N * s.K * s.P * s.Q * s.Cg() * s.R * s.S;
  if (fma < (int64_t{1} << 18)) nt = 1;
  if (s.N < nt) nt = 1;
  return nt;
}

// Runs body(tid, n0, n1) over contiguous image ranges, one per thread.
template <class F>
void over_images(const ConvShape& s, int nt, const F& body) {
  if (nt <= 1) {
    body(0, int64_t{0}, s.N);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), T_ = omp_get_num_threads();
    body(static_cast<int>(t), s.N * t / T_, s.N * (t + 1) / T_);
  }
#else
  body(0, int64_t{0}, s.N);
#endif
}

template <class T>
std::vector<T>& scratch() {
  thread_local std::vector<T> buf;
  return buf;
}

template <class T>
void forward_gemm(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), PQ = s.P * s.Q, HW = s.H * s.W, CRS = Cg * s.R * s.S;
  const bool pointwise = is_pointwise(s);
  const int64_t tile = std::min(PQ, tile_cols());
  over_images(s, image_threads(s), [&](int, int64_t n0, int64_t n1) {
    std::vector<T>& col = scratch<T>();
    if (!pointwise && col.size() < size_t(CRS * tile)) col.resize(CRS * tile);
    for (int64_t n = n0; n < n1; ++n) {
      T* yn = y + n * s.K * PQ;
      if (bias)
        for (int64_t k = 0; k < s.K; ++k) std::fill(yn + k * PQ, yn + (k + 1) * PQ, bias[k]);
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* xg = x + (n * s.C + g * Cg) * HW;
        const T* wg = w + g * Kg * CRS;
        T* yg = yn + g * Kg * PQ;
        for (int64_t o0 = 0; o0 < PQ; o0 += tile) {
          const int64_t o1 = std::min(PQ, o0 + tile);
          const T* B = xg + o0;
          int64_t ldb = HW;
          if (!pointwise) {
            im2col(s, xg, o0, o1, col.data());
            B = col.data();
            ldb = o1 - o0;
          }
          gemm(false, false, Kg, o1 - o0, CRS, T(1), wg, CRS, B, ldb, bias ? T(1) : T(0), yg + o0, PQ);
        }
      }
    }
  });
}

template <class T>
void backward_input_gemm(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), PQ = s.P * s.Q, HW = s.H * s.W, CRS = Cg * s.R * s.S;
  const bool pointwise = is_pointwise(s);
  const int64_t tile = std::min(PQ, tile_cols());
  over_images(s, image_threads(s), [&](int, int64_t n0, int64_t n1) {
    std::vector<T>& col = scratch<T>();
    if (!pointwise && col.size() < size_t(CRS * tile)) col.resize(CRS * tile);
    for (int64_t n = n0; n < n1; ++n) {
      if (!pointwise) std::fill(gx + n * s.C * HW, gx + (n + 1) * s.C * HW, T(0));
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* gyg = gy + (n * s.K + g * Kg) * PQ;
        const T* wg = w + g * Kg * CRS;
        T* gxg = gx + (n * s.C + g * Cg) * HW;
        for (int64_t o0 = 0; o0 < PQ; o0 += tile) {
          const int64_t o1 = std::min(PQ, o0 + tile);
          if (pointwise) {  // dx_g[:, tile] = W_g^T @ dY_g[:, tile]
            gemm(true, false, CRS, o1 - o0, Kg, T(1), wg, CRS, gyg + o0, PQ, T(0), gxg + o0, HW);
          } else {
            gemm(true, false, CRS, o1 - o0, Kg, T(1), wg, CRS, gyg + o0, PQ, T(0), col.data(), o1 - o0);
            col2im_add(s, col.data(), o0, o1, gxg);
          }
        }
      }
    }
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
  const int64_t tile = std::min(PQ, tile_cols());
  const int nt = image_threads(s);
  // thread 0 sums into gw itself, the others into partials added at the end
  std::vector<T> partial(nt > 1 ? size_t(nt - 1) * wsize : 0);
  std::fill(gw, gw + wsize, T(0));
  over_images(s, nt, [&](int tid, int64_t n0, int64_t n1) {
    T* acc = tid == 0 ? gw : partial.data() + size_t(tid - 1) * wsize;
    std::vector<T>& col = scratch<T>();
    if (!pointwise && col.size() < size_t(CRS * tile)) col.resize(CRS * tile);
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* gyg = gy + (n * s.K + g * Kg) * PQ;
        const T* xg = x + (n * s.C + g * Cg) * HW;
        for (int64_t o0 = 0; o0 < PQ; o0 += tile) {
          const int64_t o1 = std::min(PQ, o0 + tile);
          const T* B = xg + o0;
          int64_t ldb = HW;
          if (!pointwise) {
            im2col(s, xg, o0, o1, col.data());
            B = col.data();
            ldb = o1 - o0;
          }
          // dW_g (Kg x CRS) += dY_g[:, tile] @ col^T
          gemm(false, true, Kg, CRS, o1 - o0, T(1), gyg + o0, PQ, B, ldb, T(1), acc + g * Kg * CRS, CRS);
        }
      }
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
      for (int64_t n = 0; n < s.N; ++n)
        simd->depthwise_backward_weight(s, gy + (n * s.C + c) * PQ, x + (n * s.C + c) * HW, g, buf.data());
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
    else backward_weight_gemm<float>(s, static_cast<const float*>(gy), static_cast<const float*>(x), gwf);
  }
  if (gb) {
    if (empty) std::fill(static_cast<float*>(gb), static_cast<float*>(gb) + s.K, 0.0f);
    else bias_grad<float>(s, static_cast<const float*>(gy), static_cast<float*>(gb));
  }
}

}  // namespace minidl
