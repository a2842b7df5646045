// Float32 interpolation of one plane for one ISA: the triple sum of interpolate.h done as
// separable passes, the way image libraries resize (first every input row along W, then
// rows along H, then slices along D), so each pass is a 1-D interpolation:
//
//   W pass  a[d, h, ow]   = sum_c ww[ow, c] x[d, h, iw[ow, c]]     (a gather along each row)
//   H pass  b[d, oh, :]   = sum_b wh[oh, b] a[d, ih[oh, b], :]     (whole rows: FMAs on Vecs)
//   D pass  y[od, :, :]   = sum_a wd[od, a] b[id[od, a], :, :]     (whole slices: FMAs on Vecs)
//
// The sum is nested as in the reference loop (W innermost), so the two agree to float32
// rounding. Bilinear 64x64 -> 128x128 costs 64 x 128 two-tap gathers and 128 x 128 two-row
// FMAs per plane, instead of 128 x 128 four-tap gathers. The backward runs the adjoint
// passes in reverse order (D, H as row AXPYs, then W as a scatter along each row).
#include <cstring>

#include "interpolate.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t VW = Vec::width;

bool is_identity(const InterpAxis<float>& a) { return a.in == 1 && a.out == 1 && a.taps == 1; }

// dst[0, n) += w src[0, n)
void axpy_row(float* dst, float w, const float* src, int64_t n) {
  const Vec wv = Vec::set1(w);
  int64_t i = 0;
  for (; i + VW <= n; i += VW) fmadd(wv, Vec::load(src + i), Vec::load(dst + i)).store(dst + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    fmadd(wv, Vec::load_partial(src + i, r), Vec::load_partial(dst + i, r)).store_partial(dst + i, r);
  }
}

// dst[0, n) = sum_k w[k] src_k[0, n), src_k = base + index[k] * stride: the rows (or slices)
// one output row reads. Up to 4 taps in one sweep; more (antialiased downsampling) as one
// scaled copy and then one AXPY per tap, the same sum in the same order.
void combine_rows(float* dst, const float* base, const int64_t* index, const float* w, int64_t taps,
                  int64_t stride, int64_t n) {
  if (taps == 1 && w[0] == 1.0f) {
    std::memcpy(dst, base + index[0] * stride, size_t(n) * sizeof(float));
    return;
  }
  const int64_t sweep = taps < 4 ? taps : 4;
  const float* src[4];
  for (int64_t k = 0; k < sweep; ++k) src[k] = base + index[k] * stride;
  int64_t i = 0;
  for (; i + VW <= n; i += VW) {
    Vec acc = Vec::set1(w[0]) * Vec::load(src[0] + i);
    for (int64_t k = 1; k < sweep; ++k) acc = fmadd(Vec::set1(w[k]), Vec::load(src[k] + i), acc);
    acc.store(dst + i);
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    Vec acc = Vec::set1(w[0]) * Vec::load_partial(src[0] + i, r);
    for (int64_t k = 1; k < sweep; ++k) acc = fmadd(Vec::set1(w[k]), Vec::load_partial(src[k] + i, r), acc);
    acc.store_partial(dst + i, r);
  }
  for (int64_t k = sweep; k < taps; ++k) axpy_row(dst, w[k], base + index[k] * stride, n);
}

// y[ow] = sum_c w[ow, c] x[i[ow, c]] along one row; the tap count known at compile time
template <int TAPS>
void resample_row_taps(const float* x, float* y, const InterpAxis<float>& a) {
  const int64_t* idx = a.index;
  const float* w = a.weight;
  for (int64_t o = 0; o < a.out; ++o, idx += TAPS, w += TAPS) {
    if (TAPS == 1) {
      y[o] = x[idx[0]];  // nearest: the weight is 1
    } else {
      float acc = w[0] * x[idx[0]];
      for (int k = 1; k < TAPS; ++k) acc += w[k] * x[idx[k]];
      y[o] = acc;
    }
  }
}

// any tap count (antialiased downsampling: 2 ceil(support) + 1 taps)
void resample_row_any(const float* x, float* y, const InterpAxis<float>& a) {
  for (int64_t o = 0; o < a.out; ++o) {
    const int64_t* idx = a.index + o * a.taps;
    const float* w = a.weight + o * a.taps;
    float acc = w[0] * x[idx[0]];
    for (int64_t k = 1; k < a.taps; ++k) acc += w[k] * x[idx[k]];
    y[o] = acc;
  }
}

void resample_row(const float* x, float* y, const InterpAxis<float>& a) {
  switch (a.taps) {
    case 1: return resample_row_taps<1>(x, y, a);
    case 2: return resample_row_taps<2>(x, y, a);
    case 4: return resample_row_taps<4>(x, y, a);
    default: return resample_row_any(x, y, a);
  }
}

// gx[i[ow, c]] += w[ow, c] g[ow] along one row (gx zeroed by the caller)
template <int TAPS>
void scatter_row_taps(const float* g, float* gx, const InterpAxis<float>& a) {
  const int64_t* idx = a.index;
  const float* w = a.weight;
  for (int64_t o = 0; o < a.out; ++o, idx += TAPS, w += TAPS) {
    if (TAPS == 1) {
      gx[idx[0]] += g[o];
    } else {
      for (int k = 0; k < TAPS; ++k) gx[idx[k]] += w[k] * g[o];
    }
  }
}

void scatter_row(const float* g, float* gx, const InterpAxis<float>& a) {
  switch (a.taps) {
    case 1: return scatter_row_taps<1>(g, gx, a);
    case 2: return scatter_row_taps<2>(g, gx, a);
    case 4: return scatter_row_taps<4>(g, gx, a);
    default:
      for (int64_t o = 0; o < a.out; ++o)
        for (int64_t k = 0; k < a.taps; ++k) gx[a.index[o * a.taps + k]] += a.weight[o * a.taps + k] * g[o];
  }
}

// --8<-- [start:interp_separable_forward]
void forward_plane_f32(const float* x, float* y, const InterpAxis<float>* ax, float* scratch) {
  const InterpAxis<float>&D = ax[0], &H = ax[1], &W = ax[2];
  const bool d_identity = is_identity(D), h_identity = is_identity(H);
  // W pass into a (or straight into y for a 1-D input)
  float* a = d_identity && h_identity ? y : scratch;
  for (int64_t r = 0; r < D.in * H.in; ++r) resample_row(x + r * W.in, a + r * W.out, W);
  if (h_identity && d_identity) return;
  // H pass into b (or into y for a 2-D input)
  float* b = d_identity ? y : scratch + D.in * H.in * W.out;
  for (int64_t d = 0; d < D.in; ++d)
    for (int64_t oh = 0; oh < H.out; ++oh)
      combine_rows(b + (d * H.out + oh) * W.out, a + d * H.in * W.out, H.index + oh * H.taps, H.weight + oh * H.taps,
                   H.taps, W.out, W.out);
  if (d_identity) return;
  // D pass: whole (out_h, out_w) slices
  const int64_t slice = H.out * W.out;
  for (int64_t od = 0; od < D.out; ++od)
    combine_rows(y + od * slice, b, D.index + od * D.taps, D.weight + od * D.taps, D.taps, slice, slice);
}
// --8<-- [end:interp_separable_forward]

void backward_plane_f32(const float* gy, float* gx, const InterpAxis<float>* ax, float* scratch) {
  const InterpAxis<float>&D = ax[0], &H = ax[1], &W = ax[2];
  const bool d_identity = is_identity(D), h_identity = is_identity(H);
  float* ga = scratch;                           // (in_d, in_h, out_w)
  float* gb = scratch + D.in * H.in * W.out;     // (in_d, out_h, out_w)
  const int64_t slice = H.out * W.out;
  // adjoint of the D pass: gb[id] += wd gy[od]
  const float* gb_in = gy;
  if (!d_identity) {
    std::memset(gb, 0, size_t(D.in * slice) * sizeof(float));
    for (int64_t od = 0; od < D.out; ++od)
      for (int64_t k = 0; k < D.taps; ++k)
        axpy_row(gb + D.index[od * D.taps + k] * slice, D.weight[od * D.taps + k], gy + od * slice, slice);
    gb_in = gb;
  }
  // adjoint of the H pass: ga[d, ih] += wh gb[d, oh]
  const float* ga_in = gb_in;
  if (!h_identity) {
    std::memset(ga, 0, size_t(D.in * H.in * W.out) * sizeof(float));
    for (int64_t d = 0; d < D.in; ++d)
      for (int64_t oh = 0; oh < H.out; ++oh)
        for (int64_t k = 0; k < H.taps; ++k)
          axpy_row(ga + (d * H.in + H.index[oh * H.taps + k]) * W.out, H.weight[oh * H.taps + k],
                   gb_in + (d * H.out + oh) * W.out, W.out);
    ga_in = ga;
  }
  // adjoint of the W pass: a scatter along each row
  std::memset(gx, 0, size_t(D.in * H.in * W.in) * sizeof(float));
  for (int64_t r = 0; r < D.in * H.in; ++r) scatter_row(ga_in + r * W.out, gx + r * W.in, W);
}

}  // namespace

extern const InterpSimd interp_simd = {forward_plane_f32, backward_plane_f32};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
