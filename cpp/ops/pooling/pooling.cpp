// Max, average and adaptive-average pooling over NCHW planes, forward and backward (formulas
// and shapes: pooling.h).
//
// Each plane (one image, one channel) is independent. First the reference: the loops over one
// plane, forward and backward of each pooling side by side, reading like the definition. The
// scalar kernel set and float64 run them for every pooling; float32 max pooling on a SIMD set
// runs PoolSimd::max_pool_plane_f32 (pooling_simd.cpp) where it handles the shape, and
// tests/test_pooling.py compares the two. Then which path runs: every kernel is a parallel
// loop over planes; bfloat16 / float16 tensors are widened to float32 in chunks of planes.
#include "pooling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "ops/copy/copy.h"

namespace minidl {

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation,
                         bool ceil_mode) {
  // PyTorch's pooling_output_shape: floor division rounding toward -inf
  const int64_t num = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  // in ceil mode the last window must start inside the input (or the left padding)
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

namespace {

// ---- reference: the loops over one plane -------------------------------------------

// Window [h0, h1) x [w0, w1) of output (oh, ow) clipped to the input, and its divisor.
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};

inline AvgWindow avg_window(const Pool2dShape& s, int64_t oh, int64_t ow, bool count_include_pad,
                            int64_t divisor_override) {
  int64_t h0 = oh * s.stride_h - s.pad_h, w0 = ow * s.stride_w - s.pad_w;
  int64_t h1 = std::min(h0 + s.kernel_h, s.in_h + s.pad_h), w1 = std::min(w0 + s.kernel_w, s.in_w + s.pad_w);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, s.in_h);
  w1 = std::min(w1, s.in_w);
  int64_t divisor = divisor_override > 0 ? divisor_override
                    : count_include_pad  ? padded_size
                                         : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, divisor};
}

// adaptive pooling: output cell i covers [floor(i * in / out), ceil((i + 1) * in / out))
inline int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// --8<-- [start:max_reference]
// y[oh, ow] = max of x over the window (padding counts as -inf), idx = its position
template <class T>
void max_pool_plane(const T* x, T* y, int64_t* idx, const Pool2dShape& s) {
  for (int64_t oh = 0; oh < s.out_h; ++oh) {
    int64_t h0 = oh * s.stride_h - s.pad_h;
    const int64_t h1 = std::min(h0 + (s.kernel_h - 1) * s.dilation_h + 1, s.in_h);
    while (h0 < 0) h0 += s.dilation_h;
    for (int64_t ow = 0; ow < s.out_w; ++ow) {
      int64_t w0 = ow * s.stride_w - s.pad_w;
      const int64_t w1 = std::min(w0 + (s.kernel_w - 1) * s.dilation_w + 1, s.in_w);
      while (w0 < 0) w0 += s.dilation_w;
      // as PyTorch: start at -inf with the first valid position; a larger value or a NaN
      // replaces the best, so ties keep the first maximum and NaN propagates
      T best = -std::numeric_limits<T>::infinity();
      int64_t best_index = h0 * s.in_w + w0;
      for (int64_t h = h0; h < h1; h += s.dilation_h)
        for (int64_t w = w0; w < w1; w += s.dilation_w) {
          const T v = x[h * s.in_w + w];
          if (v > best || std::isnan(v)) {
            best = v;
            best_index = h * s.in_w + w;
          }
        }
      y[oh * s.out_w + ow] = best;
      idx[oh * s.out_w + ow] = best_index;
    }
  }
}

// gx = 0, then gx[indices[o]] += gy[o]: each output's gradient goes to its arg-max
template <class T>
void max_pool_plane_backward(const T* gy, const int64_t* idx, T* gx, const Pool2dShape& s) {
  const int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  std::fill(gx, gx + in_plane, T(0));
  for (int64_t o = 0; o < out_plane; ++o)
    gx[idx[o]] += gy[o];
}
// --8<-- [end:max_reference]

// --8<-- [start:avg_reference]
// y[oh, ow] = sum of x over the window clipped to the input / divisor (0 for an empty window)
template <class T>
void avg_pool_plane(const T* x, T* y, const Pool2dShape& s, bool count_include_pad, int64_t divisor_override) {
  for (int64_t oh = 0; oh < s.out_h; ++oh)
    for (int64_t ow = 0; ow < s.out_w; ++ow) {
      const AvgWindow win = avg_window(s, oh, ow, count_include_pad, divisor_override);
      T sum = 0;
      for (int64_t h = win.h0; h < win.h1; ++h)
        for (int64_t w = win.w0; w < win.w1; ++w) sum += x[h * s.in_w + w];
      // an empty window (all padding) gives 0, as PyTorch
      y[oh * s.out_w + ow] = (win.h0 >= win.h1 || win.w0 >= win.w1) ? T(0) : sum / T(win.divisor);
    }
}
// --8<-- [end:avg_reference]

// gx = 0, then every input of output (oh, ow)'s window gets gy[oh, ow] / divisor
template <class T>
void avg_pool_plane_backward(const T* gy, T* gx, const Pool2dShape& s, bool count_include_pad,
                             int64_t divisor_override) {
  std::fill(gx, gx + s.in_h * s.in_w, T(0));
  for (int64_t oh = 0; oh < s.out_h; ++oh)
    for (int64_t ow = 0; ow < s.out_w; ++ow) {
      const AvgWindow win = avg_window(s, oh, ow, count_include_pad, divisor_override);
      const T share = gy[oh * s.out_w + ow] / T(win.divisor);
      for (int64_t h = win.h0; h < win.h1; ++h)
        for (int64_t w = win.w0; w < win.w1; ++w) gx[h * s.in_w + w] += share;
    }
}

// y[oh, ow] = mean of x over rows [adaptive_start(oh), adaptive_end(oh)) x the same for columns
template <class T>
void adaptive_avg_pool_plane(const T* x, T* y, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w) {
  for (int64_t oh = 0; oh < out_h; ++oh) {
    const int64_t h0 = adaptive_start(oh, in_h, out_h), h1 = adaptive_end(oh, in_h, out_h);
    for (int64_t ow = 0; ow < out_w; ++ow) {
      const int64_t w0 = adaptive_start(ow, in_w, out_w), w1 = adaptive_end(ow, in_w, out_w);
      T sum = 0;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) sum += x[h * in_w + w];
      y[oh * out_w + ow] = sum / T((h1 - h0) * (w1 - w0));
    }
  }
}

// gx = 0, then every input of output (oh, ow)'s cell gets gy[oh, ow] / (cell size)
template <class T>
void adaptive_avg_pool_plane_backward(const T* gy, T* gx, int64_t in_h, int64_t in_w, int64_t out_h,
                                      int64_t out_w) {
  std::fill(gx, gx + in_h * in_w, T(0));
  for (int64_t oh = 0; oh < out_h; ++oh) {
    const int64_t h0 = adaptive_start(oh, in_h, out_h), h1 = adaptive_end(oh, in_h, out_h);
    for (int64_t ow = 0; ow < out_w; ++ow) {
      const int64_t w0 = adaptive_start(ow, in_w, out_w), w1 = adaptive_end(ow, in_w, out_w);
      const T share = gy[oh * out_w + ow] / T((h1 - h0) * (w1 - w0));
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) gx[h * in_w + w] += share;
    }
  }
}

}  // namespace
}  // namespace minidl

// ---- which path runs ---------------------------------------------------------------

MINIDL_SIMD_TABLE(minidl::PoolSimd, pool_simd)

namespace minidl {
namespace {

// grain for parallel_for over planes: fork only when a chunk is worth ~a few microseconds
int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(work_per_plane, 1));
}

// 16-bit tensors (bfloat16 / float16, e.g. after a BF16-autocast convolution) stay 16-bit in
// and out: chunks of planes (~4096 values) are widened to float32 into a small buffer
// (exact), pooled by the float32 kernel, and the maxima narrowed back (exact: each is one of
// the inputs). The backward adds the gradients in float32 and rounds each input's sum once.
int64_t lowp_chunk(const Pool2dShape& s) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(1, s.in_h * s.in_w)); }

void max_pool_lowp(const uint16_t* x, uint16_t* y, int64_t* indices, DType t, const Pool2dShape& s) {
  const int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w, pc = lowp_chunk(s);
  const PoolSimd* simd = pool_simd_active();
  parallel_for((s.planes + pc - 1) / pc, std::max<int64_t>(1, plane_grain(out_plane * s.kernel_h * s.kernel_w) / pc),
               [&](int64_t c0, int64_t c1) {
    std::vector<float> xb(size_t(pc * in_plane)), yb(size_t(pc * out_plane));
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t p0 = c * pc, np = std::min(pc, s.planes - p0);
      cast_contiguous(x + p0 * in_plane, t, xb.data(), DType::f32, np * in_plane);
      for (int64_t i = 0; i < np; ++i) {
        const float* xp = xb.data() + i * in_plane;
        float* yp = yb.data() + i * out_plane;
        int64_t* ip = indices + (p0 + i) * out_plane;
        if (!simd || !simd->max_pool_plane_f32(xp, yp, ip, s)) max_pool_plane<float>(xp, yp, ip, s);
      }
      cast_contiguous(yb.data(), DType::f32, y + p0 * out_plane, t, np * out_plane);
    }
  });
}

void max_pool_backward_lowp(const uint16_t* gy, const int64_t* indices, uint16_t* gx, DType t, const Pool2dShape& s) {
  const int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w, pc = lowp_chunk(s);
  parallel_for((s.planes + pc - 1) / pc, std::max<int64_t>(1, plane_grain(in_plane + out_plane) / pc),
               [&](int64_t c0, int64_t c1) {
    std::vector<float> gb(size_t(pc * out_plane)), xb(size_t(pc * in_plane));
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t p0 = c * pc, np = std::min(pc, s.planes - p0);
      cast_contiguous(gy + p0 * out_plane, t, gb.data(), DType::f32, np * out_plane);
      std::fill(xb.begin(), xb.begin() + np * in_plane, 0.0f);
      const int64_t* idx = indices + p0 * out_plane;
      for (int64_t i = 0; i < np; ++i)
        for (int64_t o = 0; o < out_plane; ++o) xb[i * in_plane + idx[i * out_plane + o]] += gb[i * out_plane + o];
      cast_contiguous(xb.data(), DType::f32, gx + p0 * in_plane, t, np * in_plane);
    }
  });
}

// float32 on a SIMD set: the SIMD plane kernel on every plane; false (and the reference runs
// instead) for other types, the scalar set, or when the kernel declines a plane's shape
template <class T>
bool max_pool_planes_simd(const T* x, T* y, int64_t* indices, const Pool2dShape& s, int64_t grain) {
  if constexpr (std::is_same<T, float>::value) {
    if (const PoolSimd* simd = pool_simd_active()) {
      const int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
      bool done = true;
      parallel_for(s.planes, grain, [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p)
          if (!simd->max_pool_plane_f32(x + p * in_plane, y + p * out_plane, indices + p * out_plane, s)) {
            done = false;
            return;
          }
      });
      return done;
    }
  }
  return false;
}

}  // namespace

// --8<-- [start:max_forward]
void max_pool2d_forward(const void* x, void* y, int64_t* indices, DType dtype, const Pool2dShape& s) {
  if (dtype == DType::bf16 || dtype == DType::f16)
    return max_pool_lowp(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), indices, dtype, s);
  const int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  const int64_t grain = plane_grain(out_plane * s.kernel_h * s.kernel_w);
  MINIDL_DISPATCH_FLOAT(dtype, "max_pool2d", {
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    if (max_pool_planes_simd(px, py, indices, s, grain)) return;
    parallel_for(s.planes, grain, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        max_pool_plane(px + p * in_plane, py + p * out_plane, indices + p * out_plane, s);
    });
  });
}
// --8<-- [end:max_forward]

void max_pool2d_backward(const void* gy, const int64_t* indices, void* gx, DType dtype, const Pool2dShape& s) {
  if (dtype == DType::bf16 || dtype == DType::f16)
    return max_pool_backward_lowp(static_cast<const uint16_t*>(gy), indices, static_cast<uint16_t*>(gx), dtype, s);
  const int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  MINIDL_DISPATCH_FLOAT(dtype, "max_pool2d_backward", {
    const T* pg = static_cast<const T*>(gy);
    T* po = static_cast<T*>(gx);
    parallel_for(s.planes, plane_grain(in_plane + out_plane), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        max_pool_plane_backward(pg + p * out_plane, indices + p * out_plane, po + p * in_plane, s);
    });
  });
}

void avg_pool2d_forward(const void* x, void* y, DType dtype, const Pool2dShape& s, bool count_include_pad,
                        int64_t divisor_override) {
  const int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  MINIDL_DISPATCH_FLOAT(dtype, "avg_pool2d", {
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    parallel_for(s.planes, plane_grain(out_plane * s.kernel_h * s.kernel_w), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        avg_pool_plane(px + p * in_plane, py + p * out_plane, s, count_include_pad, divisor_override);
    });
  });
}

void avg_pool2d_backward(const void* gy, void* gx, DType dtype, const Pool2dShape& s, bool count_include_pad,
                         int64_t divisor_override) {
  const int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  MINIDL_DISPATCH_FLOAT(dtype, "avg_pool2d_backward", {
    const T* pg = static_cast<const T*>(gy);
    T* po = static_cast<T*>(gx);
    parallel_for(s.planes, plane_grain(out_plane * s.kernel_h * s.kernel_w), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        avg_pool_plane_backward(pg + p * out_plane, po + p * in_plane, s, count_include_pad, divisor_override);
    });
  });
}

void adaptive_avg_pool2d_forward(const void* x, void* y, DType dtype, int64_t planes, int64_t in_h,
                                 int64_t in_w, int64_t out_h, int64_t out_w) {
  const int64_t in_plane = in_h * in_w, out_plane = out_h * out_w;
  MINIDL_DISPATCH_FLOAT(dtype, "adaptive_avg_pool2d", {
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    parallel_for(planes, plane_grain(in_plane + out_plane), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        adaptive_avg_pool_plane(px + p * in_plane, py + p * out_plane, in_h, in_w, out_h, out_w);
    });
  });
}

void adaptive_avg_pool2d_backward(const void* gy, void* gx, DType dtype, int64_t planes, int64_t in_h,
                                  int64_t in_w, int64_t out_h, int64_t out_w) {
  const int64_t in_plane = in_h * in_w, out_plane = out_h * out_w;
  MINIDL_DISPATCH_FLOAT(dtype, "adaptive_avg_pool2d_backward", {
    const T* pg = static_cast<const T*>(gy);
    T* po = static_cast<T*>(gx);
    parallel_for(planes, plane_grain(in_plane + out_plane), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        adaptive_avg_pool_plane_backward(pg + p * out_plane, po + p * in_plane, in_h, in_w, out_h, out_w);
    });
  });
}

}  // namespace minidl
