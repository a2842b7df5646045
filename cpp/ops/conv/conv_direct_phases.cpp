// --8<-- [start:phases_idea]
// The input gradient of a strided convolution by sub-pixel (phase) decomposition, on the
// direct convolution's forward micro-kernel (conv_direct.h, conv_direct_simd.cpp).
//
//   dx[c, i, j] = sum of w[k, c, r, u] dy[k, p, q] over p sh - ph + r dh = i, q sw - pw + u dw = j
//
// (conv.h; the reference loops at the top of conv.cpp). Split the rows of dx by their phase
// rho = (i + ph) mod sh, writing i = m sh + rho - ph: only the taps r with r dh = rho (mod sh)
// reach such a row, each from dy row p = m + e_r with e_r = (rho - r dh) / sh (exact). The
// columns likewise (phase sigma, taps u, offsets e_u). So each of the sh x sw phases of dx is a
// stride-1 correlation of dy with a sub-kernel of the taps that reach it:
//
//   dx[c, m sh + rho - ph, n sw + sigma - pw] = sum_{k, r in R_rho, u in U_sigma} w[k, c, r, u] dy[k, m + e_r, n + e_u]
//
// with dy read as 0 outside P x Q. That is the sum the direct forward kernel computes, given
// each tap's offset into a zero-padded copy of dy. Every product of the reference lands in
// exactly one phase: the multiply-adds are the forward's (3x3 stride 2: phases of 1, 2, 2 and 4
// taps per output channel k, 9 in all). No column matrix and no scatter-add: each phase's
// result is written once into its pixels of dx (a phase no tap reaches, three of the four at a
// 1x1 stride-2 projection, gets zeros), and the phases of a row are interleaved in that write.
// (The "sub-pixel convolution" of Shi et al. 2016, read backwards: a stride-s transposed
// convolution is s^2 ordinary ones on interleaved outputs.)
// --8<-- [end:phases_idea]
//
// Why: the im2col + GEMM path computes dcol = W^T dY (C R S x P Q, 9x the size of dY at 3x3)
// and then scatter-adds it with stride 2 (col2im), at 45-60 GFLOP/s on ResNet-20's strided
// layers where the forward kernels reach 125-170. Measured (the input-gradient kernel alone,
// batch 64, ms, min CPU time of 3 x 20 alternating runs, Xeon family 6 model 167, load ~5):
//                          1 thread: im2col -> phases (torch)   2 threads (wall)   AVX2 set, 1 thread
//   3x3 s2 16->32 @32      3.09 -> 1.28 (3.90)                   1.63 -> 0.76       3.29 -> 1.73
//   3x3 s2 32->64 @16      2.00 -> 1.23 (2.14)                   1.06 -> 0.69       2.26 -> 1.55
//   1x1 s2 16->32 @32      0.58 -> 0.38 (2.65)                   0.28 -> 0.30       0.62 -> 0.45
//   1x1 s2 32->64 @16      0.41 -> 0.24 (1.39)                   0.21 -> 0.13       0.41 -> 0.30
// Of the 1.28 ms at @32, ~0.35 is the interleaved write of dx (4 MiB, store-bound: the write
// misses the cache; prefetching dx for writing measured no faster); the 1x1 layers are mostly
// that write. Both paths stay candidates of the tuner (conv_tune.cpp), which times them per
// shape class; this one is the fixed rule's (benchmark off: "direct"), faster at every shape
// above but the 1x1 @32 one at 2 threads, where the two are within noise of each other.
#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_direct.h"
#include "conv_threads.h"
#include "core/dispatch.h"

MINIDL_SIMD_TABLE(minidl::ConvDirectSimd, conv_direct_simd)

namespace minidl {
namespace {

using conv_detail::image_threads;
using conv_detail::over_images;

// One axis of dx split into its phases (rows: size H, stride sh, padding ph, dilation dh,
// kernel R; columns likewise). Index i of dx in phase rho is i = (first[rho] + m') s + rho - pad
// for m' < count[rho]; tap taps[rho][t] reaches it from dy index m' + shift[rho][t].
struct AxisPhases {
  std::vector<int64_t> first, count;
  std::vector<std::vector<int64_t>> taps, shift;
};

AxisPhases axis_phases(int64_t size, int64_t stride, int64_t pad, int64_t dil, int64_t kernel) {
  AxisPhases a;
  a.taps.resize(stride);
  a.shift.resize(stride);
  for (int64_t rho = 0; rho < stride; ++rho) {
    // i = m s + rho - pad in [0, size): m from ceil((pad - rho) / s) to ceil((size + pad - rho) / s)
    // (both numerators >= 0 as rho < s)
    const int64_t first = (pad - rho + stride - 1) / stride, end = (size + pad - rho + stride - 1) / stride;
    a.first.push_back(first);
    a.count.push_back(std::max<int64_t>(0, end - first));
    for (int64_t r = 0; r < kernel; ++r)
      if ((r * dil) % stride == rho) {
        a.taps[rho].push_back(r);
        a.shift[rho].push_back(first + (rho - r * dil) / stride);
      }
  }
  return a;
}

// The padded copy of dy (one image, one group) and where each phase's taps read it. Like the
// forward's "shifted" layout (conv_direct.cpp): one copy of dy per distinct column shift, so
// a phase's outputs n' < Wb read contiguous columns and no output of the grid is dropped
// (except where the column phases differ in length, odd W):
//   buf[((k nv + v) Hb + row) Wb + n'] = dy[k, row - top, n' + col_shift[v]]   (0 outside P x Q)
// A phase's output grid is (m', n') for m' < count_rho, n' < Wb, numbered o = m' Wb + n'.
struct PhaseLayout {
  AxisPhases rows, cols;
  int64_t top = 0, Hb = 0, Wb = 1, plane = 0, nv = 0, img = 0;
  std::vector<int64_t> col_shift;
  bool in_place = false;                   // the buffer would equal dy itself: read dy
  std::vector<std::vector<int64_t>> toff;  // per phase rho sw + sigma: tap (k, r, u) -> offset in buf
  std::vector<int64_t> Lr;                 // per phase: count_rho Wb rounded up to the vector width
  int64_t span = 0;                        // floats the kernels read from an image's buffer start
  int64_t Lr_max = 0;
};

PhaseLayout make_phase_layout(const ConvShape& s, int vw) {
  PhaseLayout L;
  L.rows = axis_phases(s.H, s.stride_h, s.pad_h, s.dil_h, s.R);
  L.cols = axis_phases(s.W, s.stride_w, s.pad_w, s.dil_w, s.S);
  int64_t lo = 0, hi = s.P;  // dy rows the phases read: [lo, hi)
  for (int64_t rho = 0; rho < s.stride_h; ++rho)
    for (int64_t e : L.rows.shift[rho]) {
      lo = std::min(lo, e);
      hi = std::max(hi, e + L.rows.count[rho]);
    }
  L.top = -lo;
  L.Hb = hi - lo;
  for (int64_t sg = 0; sg < s.stride_w; ++sg) {
    if (!L.cols.taps[sg].empty()) L.Wb = std::max(L.Wb, L.cols.count[sg]);
    for (int64_t e : L.cols.shift[sg])
      if (std::find(L.col_shift.begin(), L.col_shift.end(), e) == L.col_shift.end()) L.col_shift.push_back(e);
  }
  L.nv = static_cast<int64_t>(L.col_shift.size());
  L.plane = L.Hb * L.Wb;
  L.img = s.Kg() * L.nv * L.plane;
  L.in_place = L.nv == 1 && L.col_shift[0] == 0 && L.Wb == s.Q && L.top == 0 && L.Hb == s.P;
  const int64_t Kg = s.Kg();
  for (int64_t rho = 0; rho < s.stride_h; ++rho)
    for (int64_t sg = 0; sg < s.stride_w; ++sg) {
      std::vector<int64_t> off;
      for (int64_t k = 0; k < Kg; ++k)
        for (size_t a = 0; a < L.rows.taps[rho].size(); ++a)
          for (size_t b = 0; b < L.cols.taps[sg].size(); ++b) {
            const int64_t v = std::find(L.col_shift.begin(), L.col_shift.end(), L.cols.shift[sg][b]) - L.col_shift.begin();
            off.push_back(((k * L.nv + v) * L.Hb + L.top + L.rows.shift[rho][a]) * L.Wb);
          }
      const int64_t len = L.rows.count[rho] * L.Wb, Lr = (len + vw - 1) / vw * vw;
      // reading dy in place is only safe without over-read past its last plane
      if (!off.empty() && Lr != len) L.in_place = false;
      for (int64_t o : off) L.span = std::max(L.span, o + Lr);
      L.toff.push_back(std::move(off));
      L.Lr.push_back(Lr);
      L.Lr_max = std::max(L.Lr_max, Lr);
    }
  return L;
}

// One image's dy buffer for group g (Kg channels of P x Q at dyg), zeros after it up to span.
void fill_dy(const ConvShape& s, const PhaseLayout& L, const float* dyg, float* dst) {
  const auto fill_plane = conv_direct_simd_active()->fill_plane;
  const int64_t PQ = s.P * s.Q;
  for (int64_t k = 0; k < s.Kg(); ++k)
    for (int64_t v = 0; v < L.nv; ++v)
      fill_plane(dyg + k * PQ, s.P, s.Q, 1, 0, L.top, L.Hb, L.col_shift[v], 1, L.Wb, dst + (k * L.nv + v) * L.plane);
  if (L.span > L.img) std::memset(dst + L.img, 0, sizeof(float) * (L.span - L.img));
}

int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

}  // namespace

bool conv_direct_phases_available(const ConvShape& s) {
  if (!conv_direct_available(s)) return false;  // a SIMD set, not depthwise, the path on
  const ConvDirectSimd* kern = conv_direct_simd_active();
  const PhaseLayout L = make_phase_layout(s, kern->vw);
  const int64_t rows = (s.Cg() + kern->mr - 1) / kern->mr * kern->mr;
  return std::max(L.span, L.img) + s.stride_h * s.stride_w * rows * L.Lr_max <= kDirectMaxBufferFloats;
}

void conv2d_direct_backward_input_phases(const ConvShape& s, const float* gy, const float* w, float* gx) {
  const ConvDirectSimd* kern = conv_direct_simd_active();
  const PhaseLayout L = make_phase_layout(s, kern->vw);
  const int64_t sh = s.stride_h, sw = s.stride_w, nph = sh * sw;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), mr = kern->mr, kb = (Cg + mr - 1) / mr;
  const int64_t PQ = s.P * s.Q, HW = s.H * s.W, RS = s.R * s.S;
  // weights per phase and group: kb blocks of mr rows (dx channels c), tap-major inside a block,
  // the taps in the order of L.toff; zero rows past Cg
  std::vector<std::vector<float>> wpk(nph);
  for (int64_t ph = 0; ph < nph; ++ph) {
    const auto& rt = L.rows.taps[ph / sw];
    const auto& ct = L.cols.taps[ph % sw];
    const int64_t T = static_cast<int64_t>(L.toff[ph].size());
    wpk[ph].assign(size_t(s.groups * kb * mr * T), 0.0f);
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t c = 0; c < Cg; ++c) {
        float* dst = wpk[ph].data() + (g * kb + c / mr) * T * mr + c % mr;
        int64_t t = 0;
        for (int64_t k = 0; k < Kg; ++k)
          for (int64_t r : rt)
            for (int64_t u : ct) dst[(t++) * mr] = w[((g * Kg + k) * Cg + c) * RS + r * s.S + u];
      }
  }
  // column j of dx: its phase and its index n' in that phase's output row
  std::vector<int64_t> col_phase(s.W), col_index(s.W);
  for (int64_t j = 0; j < s.W; ++j) {
    col_phase[j] = (j + s.pad_w) % sw;
    col_index[j] = (j + s.pad_w - col_phase[j]) / sw - L.cols.first[col_phase[j]];
  }
  const int64_t out_floats = kb * mr * L.Lr_max;  // one phase's output tile
  over_images(s, image_threads(s), 1, [&](int, int64_t n0, int64_t n1) {
    const int64_t xsz = L.in_place ? 0 : round16(std::max(L.span, L.img));
    float* xb = conv_direct_scratch_floats(xsz + nph * out_floats);
    float* yb = xb + xsz;
    std::vector<const float*> src(sw);
    std::vector<char> live(nph);  // the phase has taps and pixels
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t g = 0; g < s.groups; ++g) {
        const float* dyg = gy + (n * s.K + g * Kg) * PQ;
        const float* buf = dyg;
        if (!L.in_place) {
          fill_dy(s, L, dyg, xb);
          buf = xb;
        }
        for (int64_t ph = 0; ph < nph; ++ph) {
          const int64_t T = static_cast<int64_t>(L.toff[ph].size());
          live[ph] = T > 0 && L.rows.count[ph / sw] > 0 && L.cols.count[ph % sw] > 0;
          if (!live[ph]) continue;
          kern->forward(kb, T, L.Lr[ph], L.Lr[ph], L.Lr[ph], L.Lr[ph], wpk[ph].data() + g * kb * mr * T, L.toff[ph].data(), buf,
                        yb + ph * out_floats, L.Lr[ph], false);  // one row: the phase's whole grid
        }
        // the phases interleaved into dx, each pixel written once: per channel and row phase,
        // the rows m' of that phase (dx rows (first + m') sh + rho - ph) from its column phases;
        // zeros from the phases no tap reaches
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t rho = 0; rho < sh; ++rho) {
            const int64_t rows = L.rows.count[rho];
            if (rows == 0) continue;
            for (int64_t sg = 0; sg < sw; ++sg) {
              const int64_t ph = rho * sw + sg;
              src[sg] = live[ph] ? yb + ph * out_floats + c * L.Lr[ph] : nullptr;
            }
            float* dst = gx + (n * s.C + g * Cg + c) * HW + (L.rows.first[rho] * sh + rho - s.pad_h) * s.W;
            const int64_t ldd = sh * s.W;
            if (sw == 2 && s.W >= 2) {
              const auto at = [&](int64_t j) { return src[col_phase[j]] ? src[col_phase[j]] + col_index[j] : nullptr; };
              kern->interleave2(at(0), at(1), L.Wb, s.W, rows, dst, ldd);
              continue;
            }
            for (int64_t m = 0; m < rows; ++m)  // the reference of interleave2, any stride
              for (int64_t j = 0; j < s.W; ++j) {
                const float* sp = src[col_phase[j]];
                dst[m * ldd + j] = sp ? sp[m * L.Wb + col_index[j]] : 0.0f;
              }
          }
      }
  });
}

}  // namespace minidl
