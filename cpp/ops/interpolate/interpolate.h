// Interpolation (F.interpolate / nn.Upsample) of (N, C, [D], [H], W) tensors: every one of the
// N*C planes is resampled separately, each spatial dim by its own 1-D rule, and the 1-D
// rules multiply (the separable interpolation of Numerical Recipes 3.6):
//
//   y[od, oh, ow] = sum_a sum_b sum_c  wd[od, a] wh[oh, b] ww[ow, c] x[id[od, a], ih[oh, b], iw[ow, c]]
//
// One spatial dim of size in -> out is a table of `taps` source positions and weights per
// output position (PyTorch's formulas, ATen/native/UpSample.h; s = the scale of that dim):
//   nearest        1 tap:  i_src = min(floor(o s), in - 1)                 (s in float32)
//   nearest-exact  1 tap:  i_src = min(floor((o + 0.5) s), in - 1)         (s in float32)
//   linear         2 taps: r = s (o + 0.5) - 0.5 clamped at 0 (s o with align_corners),
//                          i0 = floor(r), i1 = min(i0 + 1, in - 1), weights 1 - t, t (t = r - i0)
//   cubic          4 taps: r as linear but not clamped, i0 - 1 .. i0 + 2 clamped to [0, in - 1],
//                          weights of Keys' cubic convolution with A = -0.75
//   antialias      (linear and cubic, PIL's resampling filter) when downsampling (s > 1) the
//                  filter is stretched by s, so every input pixel contributes: the taps are the
//                  inputs j within support = s * taps / 2 of the centre c = s (o + 0.5), weight
//                  filter((j + 0.5 - c) / s) normalised to sum 1 (triangle for linear, Keys
//                  with A = -0.5 for cubic); 2 ceil(support) + 1 taps, the unused ones weigh 0.
//                  A dim whose size does not change is copied, as PyTorch skips it.
// with s = (in - 1) / (out - 1) under align_corners (0 when out = 1), else 1 / scale_factor
// when the caller gave a scale factor (scale > 0), else in / out. The backward is the adjoint
// of the same sum: gx[id, ih, iw] += wd wh ww gy[od, oh, ow], within a plane only, so the
// planes run in parallel without races.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

enum class InterpMode : int { nearest = 0, nearest_exact = 1, linear = 2, cubic = 3 };

// Geometry of one call. A tensor with fewer than 3 spatial dims has the missing leading ones
// as size 1 (in = out = 1) and `spatial` says how many are real (1: W, 2: H W, 3: D H W);
// those get the identity table. scale[k] <= 0 means "no scale factor given" (in / out is used).
struct InterpShape {
  int64_t planes = 0;  // N * C
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  double scale[3] = {0, 0, 0};
  int spatial = 2;
  InterpMode mode = InterpMode::nearest;
  bool align_corners = false;
  bool antialias = false;  // linear / cubic only
};

// One spatial dim's table: output position o reads index[o * taps + k] with weight[o * taps + k].
template <class T>
struct InterpAxis {
  int64_t in = 1, out = 1, taps = 1;
  const int64_t* index = nullptr;
  const T* weight = nullptr;
};

// y (planes, out[0], out[1], out[2]) from x (planes, in[0], in[1], in[2]); dtype f32 or f64
void interpolate_forward(const void* x, void* y, DType dtype, const InterpShape& s);
// gx (x's shape) = the adjoint of the forward applied to gy (y's shape)
void interpolate_backward(const void* gy, void* gx, DType dtype, const InterpShape& s);

// Float32 fast path for one plane, axes[0..2] = D, H, W: the separable passes (W, then H,
// then D). scratch holds interpolate_scratch_floats(axes) floats.
struct InterpSimd {
  void (*forward_plane_f32)(const float* x, float* y, const InterpAxis<float>* axes, float* scratch);
  void (*backward_plane_f32)(const float* gy, float* gx, const InterpAxis<float>* axes, float* scratch);
};

// in_d in_h out_w (the W pass) + in_d out_h out_w (the H pass)
inline int64_t interpolate_scratch_floats(const InterpAxis<float>* axes) {
  return axes[0].in * axes[1].in * axes[2].out + axes[0].in * axes[1].out * axes[2].out;
}

}  // namespace minidl
