// Interpolation of NC[D][H]W planes, forward and backward (formulas and shapes:
// interpolate.h).
//
// First the per-dim tables (PyTorch's source-index formulas, in PyTorch's precision: float
// for float32, double for float64, and float32 for the nearest modes whatever the dtype),
// then the reference: the loops over one plane, forward and backward side by side, reading
// like the triple sum. The scalar kernel set and float64 run them; float32 on a SIMD set runs
// InterpSimd (interpolate_simd.cpp: the same sum as separable passes, W then H then D), and
// tests/test_interpolate.py compares the two. Then which path runs: a parallel loop over planes.
#include "interpolate.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace minidl {
namespace {

// ---- the per-dim tables ------------------------------------------------------------------

// PyTorch's compute_scales_value: 1 / scale_factor when one was given, else in / out
template <class T>
T scale_value(double scale, int64_t in, int64_t out) {
  return scale > 0. ? static_cast<T>(1.0 / scale) : static_cast<T>(in) / static_cast<T>(out);
}

// PyTorch's area_pixel_compute_scale and area_pixel_compute_source_index
template <class T>
T pixel_scale(int64_t in, int64_t out, bool align_corners, double scale) {
  if (align_corners) return out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  return scale_value<T>(scale, in, out);
}

template <class T>
T source_index(T scale, int64_t o, bool align_corners, bool cubic) {
  if (align_corners) return scale * static_cast<T>(o);
  const T r = scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
  // linear clamps at 0 (both taps are pixel 0 there anyway); cubic keeps r < 0, whose
  // fraction sets the weights of taps -1 .. 2
  return (!cubic && r < T(0)) ? T(0) : r;
}

// PyTorch's guard_index_and_lambda: i0 = floor(r) (floorf, also for double), t = r - i0 in [0, 1]
template <class T>
void floor_and_fraction(T r, int64_t in, int64_t& i0, T& t) {
  i0 = std::min(static_cast<int64_t>(std::floor(static_cast<float>(r))), in - 1);
  t = std::min(std::max(r - static_cast<T>(i0), T(0)), T(1));
}

// Keys' cubic convolution kernel, A = -0.75 (PyTorch's get_cubic_upsample_coefficients):
// |x| <= 1: ((A + 2) x - (A + 3)) x^2 + 1;  1 < |x| < 2: ((A x - 5 A) x + 8 A) x - 4 A
template <class T>
void cubic_weights(T t, T w[4]) {
  const T A = T(-0.75);
  auto near = [A](T x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto far = [A](T x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  w[0] = far(t + T(1));
  w[1] = near(t);
  w[2] = near(T(1) - t);
  w[3] = far((T(1) - t) + T(1));
}

// PIL's resampling filters, as PyTorch's aa_filter: the triangle for linear, Keys' cubic with
// A = -0.5 for cubic (the non-antialiased cubic above uses A = -0.75, as OpenCV)
template <class T>
T antialias_filter(T x, bool cubic) {
  x = std::abs(x);
  if (!cubic) return x < T(1) ? T(1) - x : T(0);
  const T A = T(-0.5);
  if (x < T(1)) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < T(2)) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return T(0);
}

// --8<-- [start:antialias_taps]
// PyTorch's _compute_indices_min_size_weights_aa for output o: taps [xmin, xmin + xsize) of
// the filter stretched by max(scale, 1) around c = scale (o + 0.5), weights normalised; the
// mixed float / double steps written as PyTorch's promotions make them
template <class T>
void antialias_taps(int64_t o, int64_t in, T scale, T support, int64_t taps, bool cubic, int64_t* idx, T* w) {
  const T center = static_cast<T>(scale * (static_cast<double>(o) + 0.5));
  const T invscale = scale >= T(1) ? static_cast<T>(1.0 / scale) : T(1);
  const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(static_cast<double>(center - support) + 0.5), 0);
  int64_t xsize = std::min<int64_t>(static_cast<int64_t>(static_cast<double>(center + support) + 0.5), in) - xmin;
  xsize = std::min(std::max<int64_t>(xsize, 0), taps);
  T total = 0;
  for (int64_t j = 0; j < xsize; ++j) {
    const T x = static_cast<T>((static_cast<double>(static_cast<T>(j + xmin) - center) + 0.5) * invscale);
    w[j] = antialias_filter(x, cubic);
    total += w[j];
  }
  for (int64_t j = 0; j < taps; ++j) {
    idx[j] = std::min(xmin + (j < xsize ? j : 0), in - 1);  // unused taps read a valid pixel with weight 0
    if (j >= xsize) w[j] = T(0);
    else if (total != T(0)) w[j] /= total;
  }
}
// --8<-- [end:antialias_taps]

// The table of one spatial dim, owning its storage. T: the weights' type = PyTorch's opmath.
template <class T>
struct AxisTable {
  std::vector<int64_t> index;
  std::vector<T> weight;
  InterpAxis<T> axis;

  // nearest_shortcuts: PyTorch's x1 / x2 exact shortcuts of the nearest rule, which its
  // forward takes for 2-D input only (1-D and 3-D forwards use floor(o s) even when out = in
  // or 2 in with a scale_factor that is not 1 or 2; their backwards do take them)
  AxisTable(int64_t in, int64_t out, bool real, InterpMode mode, bool align_corners, double scale,
            bool nearest_shortcuts, bool antialias) {
    int64_t taps = !real ? 1 : mode == InterpMode::linear ? 2 : mode == InterpMode::cubic ? 4 : 1;
    if (real && antialias && in == out) real = false;  // PyTorch skips a dim that keeps its size
    if (real && antialias) {
      const T s = pixel_scale<T>(in, out, align_corners, scale);
      const T support = s >= T(1) ? static_cast<T>(taps * 0.5 * s) : static_cast<T>(taps * 0.5);
      const int64_t aa_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
      index.resize(size_t(out * aa_taps));
      weight.resize(size_t(out * aa_taps));
      for (int64_t o = 0; o < out; ++o)
        antialias_taps(o, in, s, support, aa_taps, mode == InterpMode::cubic, index.data() + o * aa_taps,
                       weight.data() + o * aa_taps);
      axis = {in, out, aa_taps, index.data(), weight.data()};
      return;
    }
    // --8<-- [start:interp_tables]
    if (!real) taps = 1;
    index.resize(size_t(out * taps));
    weight.assign(size_t(out * taps), T(1));
    for (int64_t o = 0; o < out; ++o) {
      int64_t* idx = index.data() + o * taps;
      T* w = weight.data() + o * taps;
      if (!real) {
        idx[0] = in == out ? o : 0;  // a missing dim (1 -> 1), or an antialiased dim that keeps its size
      } else if (mode == InterpMode::nearest) {
        // PyTorch's nearest_idx: floor(o * s) in float32
        const float s = scale_value<float>(scale, in, out);
        if (nearest_shortcuts && out == in) idx[0] = o;
        else if (nearest_shortcuts && out == 2 * in) idx[0] = o >> 1;
        else idx[0] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * s)), in - 1);
      } else if (mode == InterpMode::nearest_exact) {
        // (o + 0.5) in double times the float32 scale, rounded to float32 by floorf
        const float s = scale_value<float>(scale, in, out);
        const double r = (static_cast<double>(o) + 0.5) * s;
        idx[0] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(r))), in - 1);
      } else if (mode == InterpMode::linear) {
        if (out == in) {  // PyTorch copies when the size does not change, whatever the scale
          idx[0] = idx[1] = o;
          w[0] = T(1);
          w[1] = T(0);
        } else {
          const T r = source_index(pixel_scale<T>(in, out, align_corners, scale), o, align_corners, false);
          T t;
          floor_and_fraction(r, in, idx[0], t);
          idx[1] = idx[0] + (idx[0] < in - 1 ? 1 : 0);
          w[0] = T(1) - t;
          w[1] = t;
        }
      } else {  // cubic
        const T r = source_index(pixel_scale<T>(in, out, align_corners, scale), o, align_corners, true);
        int64_t i0;
        T t;
        floor_and_fraction(r, in, i0, t);
        cubic_weights(t, w);
        for (int k = 0; k < 4; ++k) idx[k] = std::min(std::max<int64_t>(i0 - 1 + k, 0), in - 1);
      }
    }
    axis = {in, out, taps, index.data(), weight.data()};
    // --8<-- [end:interp_tables]
  }
};

// ---- reference: the loops over one plane -------------------------------------------------

// --8<-- [start:interp_reference_forward]
// y[od, oh, ow] = sum_a wd sum_b wh sum_c ww x[id, ih, iw]   (nested as PyTorch nests it)
template <class T>
void interpolate_plane(const T* x, T* y, const InterpAxis<T>* ax) {
  const InterpAxis<T>&D = ax[0], &H = ax[1], &W = ax[2];
  for (int64_t od = 0; od < D.out; ++od)
    for (int64_t oh = 0; oh < H.out; ++oh)
      for (int64_t ow = 0; ow < W.out; ++ow) {
        T sum_d = 0;
        for (int64_t a = 0; a < D.taps; ++a) {
          const T* slice = x + D.index[od * D.taps + a] * H.in * W.in;
          T sum_h = 0;
          for (int64_t b = 0; b < H.taps; ++b) {
            const T* row = slice + H.index[oh * H.taps + b] * W.in;
            T sum_w = 0;
            for (int64_t c = 0; c < W.taps; ++c) sum_w += W.weight[ow * W.taps + c] * row[W.index[ow * W.taps + c]];
            sum_h += H.weight[oh * H.taps + b] * sum_w;
          }
          sum_d += D.weight[od * D.taps + a] * sum_h;
        }
        y[(od * H.out + oh) * W.out + ow] = sum_d;
      }
}
// --8<-- [end:interp_reference_forward]

// --8<-- [start:interp_reference_backward]
// gx = 0, then gx[id, ih, iw] += wd wh ww gy[od, oh, ow]: each output sends its gradient to
// the (up to 64) inputs it read, with the weights it read them with
template <class T>
void interpolate_plane_backward(const T* gy, T* gx, const InterpAxis<T>* ax) {
  const InterpAxis<T>&D = ax[0], &H = ax[1], &W = ax[2];
  std::fill(gx, gx + D.in * H.in * W.in, T(0));
  for (int64_t od = 0; od < D.out; ++od)
    for (int64_t oh = 0; oh < H.out; ++oh)
      for (int64_t ow = 0; ow < W.out; ++ow) {
        const T g = gy[(od * H.out + oh) * W.out + ow];
        for (int64_t a = 0; a < D.taps; ++a) {
          T* slice = gx + D.index[od * D.taps + a] * H.in * W.in;
          const T g_d = D.weight[od * D.taps + a] * g;
          for (int64_t b = 0; b < H.taps; ++b) {
            T* row = slice + H.index[oh * H.taps + b] * W.in;
            const T g_h = H.weight[oh * H.taps + b] * g_d;
            for (int64_t c = 0; c < W.taps; ++c) row[W.index[ow * W.taps + c]] += W.weight[ow * W.taps + c] * g_h;
          }
        }
      }
}
// --8<-- [end:interp_reference_backward]

}  // namespace
}  // namespace minidl

// ---- which path runs ---------------------------------------------------------------------

MINIDL_SIMD_TABLE(minidl::InterpSimd, interp_simd)

namespace minidl {
namespace {

// grain for parallel_for over planes: fork only when a chunk is worth ~a few microseconds
int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(work_per_plane, 1));
}

// --8<-- [start:interp_path]
template <class T>
void run_planes(const T* src, T* dst, const InterpShape& s, bool backward) {
  std::vector<AxisTable<T>> tables;
  tables.reserve(3);  // (each axis points into its table's vectors: the tables must not move)
  for (int k = 0; k < 3; ++k)
    tables.emplace_back(s.in[k], s.out[k], k >= 3 - s.spatial, s.mode, s.align_corners, s.scale[k], s.spatial == 2,
                        s.antialias);
  const InterpAxis<T> axes[3] = {tables[0].axis, tables[1].axis, tables[2].axis};
  const int64_t in_plane = s.in[0] * s.in[1] * s.in[2], out_plane = s.out[0] * s.out[1] * s.out[2];
  const int64_t src_plane = backward ? out_plane : in_plane, dst_plane = backward ? in_plane : out_plane;
  const int64_t grain = plane_grain(out_plane * axes[0].taps * axes[1].taps * axes[2].taps);
  if constexpr (std::is_same<T, float>::value) {
    if (const InterpSimd* simd = interp_simd_active()) {
      auto plane_fn = backward ? simd->backward_plane_f32 : simd->forward_plane_f32;
      parallel_for(s.planes, grain, [&](int64_t b, int64_t e) {
        std::vector<float> scratch(size_t(interpolate_scratch_floats(axes)));
        for (int64_t p = b; p < e; ++p) plane_fn(src + p * src_plane, dst + p * dst_plane, axes, scratch.data());
      });
      return;
    }
  }
  parallel_for(s.planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      if (backward) interpolate_plane_backward(src + p * src_plane, dst + p * dst_plane, axes);
      else interpolate_plane(src + p * src_plane, dst + p * dst_plane, axes);
    }
  });
}
// --8<-- [end:interp_path]

}  // namespace

void interpolate_forward(const void* x, void* y, DType dtype, const InterpShape& s) {
  MINIDL_DISPATCH_FLOAT(dtype, "interpolate",
                        { run_planes<T>(static_cast<const T*>(x), static_cast<T*>(y), s, false); });
}

void interpolate_backward(const void* gy, void* gx, DType dtype, const InterpShape& s) {
  MINIDL_DISPATCH_FLOAT(dtype, "interpolate_backward",
                        { run_planes<T>(static_cast<const T*>(gy), static_cast<T*>(gx), s, true); });
}

}  // namespace minidl
