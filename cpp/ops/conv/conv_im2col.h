// im2col / col2im and the output-position blocking shared by the GEMM convolution paths:
// conv.cpp (float32 / float64) and conv_lowp.cpp (bfloat16, whose column matrix is 16-bit:
// the same templates instantiated for uint16_t, a raw copy of the bit patterns with
// 0x0000 = +0.0 for the padding). im2col writes out, for a block of output positions, the
// input values the reference loops (top of conv.cpp) read through each tap (c, r, u), zeros
// for the padding: the reference's inner sum over (c, r, u) then becomes one GEMM, and
// col2im is the reference backward's scatter-add into dx.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "conv.h"
#include "core/dispatch.h"
#include "conv_threads.h"

MINIDL_SIMD_TABLE(minidl::ConvSimd, conv_simd)

namespace minidl {
namespace conv_detail {

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
inline int64_t tile_cols() {
  static const int64_t t = [] {
    const char* e = std::getenv("MINIDL_CONV_TILE");
    const int64_t v = e ? std::atoll(e) : 0;
    return v > 0 ? v : int64_t{256};
  }();
  return t;
}
inline bool is_pointwise(const ConvShape& s) {  // 1x1, stride 1, no padding: col would be x itself
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// For tap column offset `off` (= u*dw - pw) and stride sw: the q range [lo, hi) whose input
// column q*sw + off lies inside [0, W).
inline void valid_q(int64_t off, int64_t sw, int64_t W, int64_t Q, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  hi = W - off <= 0 ? 0 : std::min(Q, (W - off - 1) / sw + 1);
  if (hi < lo) hi = lo;
}

// --8<-- [start:im2col_reference]
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
// --8<-- [end:im2col_reference]

// --8<-- [start:col2im_reference]
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
// --8<-- [end:col2im_reference]

// float32 on a SIMD kernel set: the vectorized copies in conv_simd.cpp
inline void im2col(const ConvShape& s, const float* xg, int64_t o0, int64_t o1, float* col, int64_t ld) {
  if (const ConvSimd* simd = conv_simd_active()) simd->im2col(s, xg, o0, o1, col, ld);
  else im2col<float>(s, xg, o0, o1, col, ld);
}
inline void col2im_add(const ConvShape& s, const float* col, int64_t o0, int64_t o1, float* gxg, int64_t ld) {
  if (const ConvSimd* simd = conv_simd_active()) simd->col2im_add(s, col, o0, o1, gxg, ld);
  else col2im_add<float>(s, col, o0, o1, gxg, ld);
}
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

// The same Kg x width matrix, read in place when the block lies in one image (ld = P Q), else
// gathered into buf (ld = block width); returns where it starts.
template <class T>
const T* block_rows(const ConvShape& s, const T* t, int64_t k0, const Block& b, T* buf, int64_t& ld) {
  if (b.single()) {
    ld = s.P * s.Q;
    return t + (b.n0 * s.K + k0) * ld + b.o0;
  }
  gather_block(s, t, k0, b, buf);
  ld = b.width();
  return buf;
}


}  // namespace conv_detail
}  // namespace minidl
