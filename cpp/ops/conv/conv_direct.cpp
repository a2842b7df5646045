// Direct float32 convolution: buffers, weight packing and threads around the micro-kernels of
// conv_direct_simd.cpp (layout and formulas: conv_direct.h). The default float32 path on a
// SIMD kernel set (conv.cpp decides); it computes the same sums as conv2d_forward_reference /
// conv2d_backward_reference at the top of conv.cpp, in another order, and is tested against
// them on every SIMD set (tests/test_conv_direct.py).
//
// Why not im2col + GEMM here: at ResNet shapes (16..64 output channels) every column of the
// im2col matrix is used by only 16..64 output channels, so writing the column matrix and then
// packing it again for the GEMM costs about as much as the multiply-adds (measured 1.6-3.5x
// PyTorch's time for forward + backward at batch 32 with the im2col path, 0.6-1.1x with this
// one). Here the only copy is the padded input (1x, or S x for the width-only layout, not
// R*S x), the kernels read their B operand from it directly, and the weight tile (8 rows)
// divides 16/32/64 output channels exactly.
// The im2col + GEMM path (conv.cpp) stays for float64, the scalar kernel set and large images
// (buffer over kDirectMaxBufferFloats). The input gradient of strided convolutions (and of
// padding beyond the kernel) runs as stride-1 phases on the forward kernel: conv_direct_phases.cpp.
#include "conv_direct.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "conv_threads.h"
#include "core/dispatch.h"

MINIDL_SIMD_TABLE(minidl::ConvDirectSimd, conv_direct_simd)
MINIDL_SIMD_TABLE(minidl::ConvDirectWeightSimd, conv_direct_weight_simd)

namespace minidl {
namespace {

using conv_detail::image_threads;
using conv_detail::over_image_slots;
using conv_detail::over_images;
using conv_detail::reduction_slots;

bool enabled() {  // MINIDL_CONV_DIRECT=0 turns the path off (for A/B measurements)
  static const bool on = [] {
    const char* e = std::getenv("MINIDL_CONV_DIRECT");
    return !(e && e[0] == '0');
  }();
  return on;
}

// Geometry of the buffer of one image and group. Every input channel c gets nv column
// variants v, each split into sh row phases a; plane (c, v, a) holds Hs rows of Wg floats:
//   buf[((c*nv + v)*sh + a)*Hs + i2][j] = x_pad[c][i2*sh + a][j*sw + cs[v]]
// Tap (c, r, u) reads plane (c, var[u], (r*dh) % sh) from row (r*dh)/sh, column ecol[u] on.
// Two choices of variants (make_layout picks by shape):
//  * "grid": nv = sw phases (cs = 0..sw-1), var[u] = (u*dw) % sw, ecol[u] = (u*dw) / sw, and
//    Wg = ceil(padded width / sw) >= Q: the taps of one row share the same buffer lines; the
//    columns q >= Q of the Wg-wide output grid are computed and dropped. At stride 1 a row is
//    W + pw wide: a tap reading past its right end wraps into the next row's left padding.
//  * "shifted": nv = S (cs = u*dw), ecol = 0, Wg = Q: im2col along the kernel width only (S
//    copies of the input instead of R*S); no output is wasted, but taps of a row read S planes.
struct Layout {
  int64_t nv = 0, Wg = 0, Hs = 0, plane = 0;  // variants; row width; rows per plane; Hs*Wg
  int64_t img = 0;                            // floats per image: Cg*nv*sh planes
  int64_t L = 0, Lr = 0;                      // outputs on the Wg-wide grid (P*Wg); rounded to vw
  int64_t taps = 0, taps_pad = 0;             // Cg*R*S, rounded up to the weight tile
  int64_t span = 0;                           // floats a kernel reads from an image's start
  std::vector<int64_t> cs;                    // variant -> first padded column
  std::vector<int64_t> toff;                  // tap (c, r, u) -> offset in the buffer
  std::vector<char> used;                     // [v*sh + a]: some tap reads that plane
};

// Measured (1 thread, batch 32, fwd / dW ms): grid is faster where rows are long and
// stride 1 (16->16 @32: 0.71 / 0.82 vs 0.80 / 0.90 shifted, 32->32 @16: 0.72 / 0.82 vs 0.78 /
// 0.89), shifted where the grid wastes columns or phases: stride 2 (16->32 3x3 @32: 0.55 / 0.63
// vs 0.60 / 0.68), 1x1 stride 2 (0.085 / 0.12 vs 0.13 / 0.19), and 8x8 images (64->64: 0.78
// vs 0.82 forward; the 8 + 1 wide grid rounds 72 outputs up to 80).
// The weight gradient (weight = true) computes no dropped column on the grid (its kernel reads
// the columns q < Q only), so it takes the grid at 8x8 too: a third of the shifted layout's
// buffer to fill and broadcasts from one plane per kernel row instead of three. Measured
// (64->64 3x3 @8, batch 64, 1 thread, dW ms, CPU time, min of 12, two alternating rounds, Xeon
// family 6 model 167, load 4.9-5.6): 1.95-2.04 shifted -> 1.72-1.74 grid (PyTorch 2.13 in the
// same run 1.95-2.02).
bool use_shifted(const ConvShape& s, bool weight) {
  return s.stride_w > 1 || s.S == 1 || (!weight && s.Q <= 8);
}

int64_t grid_width(const ConvShape& s, bool weight) {
  if (use_shifted(s, weight)) return s.Q;  // (so the grid layout only meets stride_w == 1)
  // Z >= pw zeros per row (shared with the next row's left padding); Z >= 2 pw - (extent - 1)
  // keeps Wg >= Q when the padding exceeds the kernel
  const int64_t ew = s.dil_w * (s.S - 1) + 1;
  return s.W + std::max(s.pad_w, 2 * s.pad_w - ew + 1);
}

int64_t buffer_image_floats(const ConvShape& s, bool weight) {
  const int64_t Hs = (s.H + 2 * s.pad_h + s.stride_h - 1) / s.stride_h;
  return s.Cg() * (use_shifted(s, weight) ? s.S : s.stride_w) * s.stride_h * Hs * grid_width(s, weight);
}

// weight: the layout of the weight gradient (else of the forward and the input gradient)
Layout make_layout(const ConvShape& s, int vw, int64_t tap_multiple, bool weight) {
  Layout L;
  const int64_t sh = s.stride_h, sw = s.stride_w;
  const bool shifted = use_shifted(s, weight);
  L.nv = shifted ? s.S : sw;
  L.Wg = grid_width(s, weight);
  L.Hs = (s.H + 2 * s.pad_h + sh - 1) / sh;
  L.plane = L.Hs * L.Wg;
  L.img = buffer_image_floats(s, weight);
  L.L = s.P * L.Wg;
  L.Lr = (L.L + vw - 1) / vw * vw;
  L.taps = s.Cg() * s.R * s.S;
  L.taps_pad = (L.taps + tap_multiple - 1) / tap_multiple * tap_multiple;
  L.cs.resize(L.nv);
  for (int64_t v = 0; v < L.nv; ++v) L.cs[v] = shifted ? v * s.dil_w : v;
  L.toff.assign(L.taps_pad, 0);
  L.used.assign(L.nv * sh, 0);
  int64_t maxoff = 0;
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t u = 0; u < s.S; ++u) {
        const int64_t rr = r * s.dil_h, uu = u * s.dil_w;
        const int64_t v = shifted ? u : uu % sw, e = shifted ? 0 : uu / sw;
        const int64_t off = ((c * L.nv + v) * sh + rr % sh) * L.plane + (rr / sh) * L.Wg + e;
        L.toff[(c * s.R + r) * s.S + u] = off;
        L.used[v * sh + rr % sh] = 1;
        maxoff = std::max(maxoff, off);
      }
  L.span = maxoff + L.Lr;
  return L;
}

// floats of a buffer holding nimg images (the last one's reads run `span` past its start)
int64_t buffer_floats(const Layout& L, int64_t nimg) { return (nimg - 1) * L.img + std::max(L.img, L.span); }

// the buffer of x_g (Cg planes of H x W) at dst
void fill_image(const ConvShape& s, const Layout& L, const float* xg, float* dst) {
  const int64_t sh = s.stride_h, HW = s.H * s.W;
  const auto fill_plane = conv_direct_simd_active()->fill_plane;
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t v = 0; v < L.nv; ++v)
      for (int64_t a = 0; a < sh; ++a) {
        float* ph = dst + ((c * L.nv + v) * sh + a) * L.plane;
        if (L.used[v * sh + a]) {
          fill_plane(xg + c * HW, s.H, s.W, sh, a, s.pad_h, L.Hs, L.cs[v] - s.pad_w, s.stride_w, L.Wg, ph);
        } else {  // read only by dropped outputs: zeros will do
          std::memset(ph, 0, sizeof(float) * L.plane);
        }
      }
}

// nimg images' buffers (image n0 + i at i * img), the slack after the last one zeroed
void fill_images(const ConvShape& s, const Layout& L, const float* x, int64_t g, int64_t n0,
                 int64_t nimg, float* dst) {
  for (int64_t i = 0; i < nimg; ++i)
    fill_image(s, L, x + ((n0 + i) * s.C + g * s.Cg()) * s.H * s.W, dst + i * L.img);
  std::memset(dst + nimg * L.img, 0, sizeof(float) * (buffer_floats(L, nimg) - nimg * L.img));
}

template <class T>
std::vector<T>& scratch() {
  thread_local std::vector<T> buf;
  return buf;
}

}  // namespace

// the rows of the transposed dY of the weight gradient (and of the forward's output tiles) are
// then whole cache lines (Kp and Lr are multiples of the vector width), so their vector loads
// never split across two lines
float* conv_direct_scratch_floats(int64_t n) {
  std::vector<float>& buf = scratch<float>();
  if (buf.size() < size_t(n + 16)) buf.resize(size_t(n + 16));
  const uintptr_t a = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - a % 64) % 64) / sizeof(float);
}

bool conv_direct_available(const ConvShape& s) {
  if (!enabled() || conv_direct_simd_active() == nullptr) return false;
  if (s.groups == s.C && s.K == s.C && s.groups > 1) return false;  // depthwise kernels
  // (the forward's layout: the weight gradient's buffer is never larger, and it has no output tile)
  return buffer_image_floats(s, false) + (s.Kg() + 8) * (s.P * grid_width(s, false) + 16) <= kDirectMaxBufferFloats;
}

// (the stride-1 case with padding <= dilation * (kernel - 1) is a forward convolution of dy;
// the others run its phases, conv_direct_phases.cpp)
static bool backward_input_is_forward(const ConvShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && s.pad_h <= s.dil_h * (s.R - 1) &&
         s.pad_w <= s.dil_w * (s.S - 1);
}

bool conv_direct_backward_input_available(const ConvShape& s) {
  return backward_input_is_forward(s) ? conv_direct_available(s) : conv_direct_phases_available(s);
}

void conv2d_direct_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  const ConvDirectSimd* k = conv_direct_simd_active();
  const Layout L = make_layout(s, k->vw, 1, false);
  const int64_t Kg = s.Kg(), mr = k->mr, kb = (Kg + mr - 1) / mr, T = L.taps, PQ = s.P * s.Q;
  // weights of group g as kb blocks of mr rows, tap-major inside a block (zero rows past Kg)
  std::vector<float> wpk(size_t(s.groups * kb * mr * T), 0.0f);
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t kk = 0; kk < Kg; ++kk)
      for (int64_t t = 0; t < T; ++t)
        wpk[((g * kb + kk / mr) * T + t) * mr + kk % mr] = w[(g * Kg + kk) * T + t];
  // whole weight blocks and either no dropped grid columns and whole vectors, or rows of whole
  // vectors (then the kernel computes the columns q < Q only): the kernel can store straight
  // into y (all ResNet layers), else into yb and copied.
  // Why rows: on the grid layout (Wg = W + 1 at 3x3 pad 1) the copy out of yb dropping the
  // column q = Q took 14% of the 16->16 @32 forward (perf, cpu-clock samples), and the dropped
  // column 3% of its multiply-adds. Measured (3x3 pad 1, batch 64, 1 thread, ms, CPU time, min
  // of 12, two alternating rounds, Xeon family 6 model 167, load 3.2; PyTorch 2.13 in the same
  // run 2.9-3.4 / 1.9-2.5): forward 16->16 @32 2.09-2.13 -> 1.92-1.97, 32->32 @16 1.90-2.00
  // -> 1.82-1.88; the input gradient (this forward) 2.12-2.13 -> 1.96-1.99, 1.94-2.00 ->
  // 1.84-1.93.
  const bool rows_out = L.Wg != s.Q && s.Q % k->vw == 0;
  const bool direct_out = kb * mr == Kg && (rows_out || (L.Wg == s.Q && L.Lr == PQ));
  const int64_t row = rows_out ? s.Q : L.Lr, row_in = rows_out ? L.Wg : L.Lr;
  // Small stride-1 images whose outputs are a few whole vectors, not a multiple of the 3-vector
  // chunk (8x8: 4 vectors), go 3 images a kernel call: image i's outputs are row i of the
  // kernel's output map (buffer L.img apart, y K*PQ apart), so the chunks run 3 x 8 tiles
  // across image boundaries instead of two 4 x 4 half tiles per image (~165 GFLOP/s against
  // ~190 with the operands in L1). Measured (64->64 3x3 @8, batch 64, 1 thread, ms, CPU time,
  // min of 12-15 over 7 alternating rounds, Xeon family 6 model 167, load 5; PyTorch 2.13 in
  // the same runs 1.70-2.19): forward 1.85 -> 1.76, input gradient 1.89 -> 1.75 (the new one
  // faster in 6 of the 7 rounds).
  const int64_t img_vecs = PQ / k->vw;
  const int64_t per_call = direct_out && !rows_out && s.stride_h == 1 && s.stride_w == 1 && img_vecs <= 8 &&
                                   img_vecs % 3 != 0 ? 3 : 1;
  over_images(s, image_threads(s), per_call, [&](int, int64_t n0, int64_t n1) {
    const int64_t xsz = (buffer_floats(L, per_call) + 15) / 16 * 16;  // keeps yb 64-byte aligned
    float* xb = conv_direct_scratch_floats(xsz + kb * mr * L.Lr);
    float* yb = xb + xsz;
    for (int64_t n = n0; n < n1; n += per_call)
      for (int64_t g = 0; g < s.groups; ++g) {
        const int64_t m = std::min(per_call, n1 - n);  // images in this call
        fill_images(s, L, x, g, n, m, xb);
        float* yg = y + (n * s.K + g * Kg) * PQ;
        if (direct_out) {  // the tiles land exactly on y's rows: no copy
          if (bias)
            for (int64_t i = 0; i < m; ++i)
              for (int64_t kk = 0; kk < Kg; ++kk)
                std::fill(yg + (i * s.K + kk) * PQ, yg + (i * s.K + kk + 1) * PQ, bias[g * Kg + kk]);
          if (rows_out)
            k->forward(kb, T, PQ, row, row_in, row, wpk.data() + g * kb * mr * T, L.toff.data(), xb, yg, PQ,
                       bias != nullptr);
          else  // m images as m rows
            k->forward(kb, T, m * PQ, PQ, L.img, s.K * PQ, wpk.data() + g * kb * mr * T, L.toff.data(), xb, yg,
                       PQ, bias != nullptr);
          continue;
        }
        k->forward(kb, T, L.Lr, L.Lr, L.Lr, L.Lr, wpk.data() + g * kb * mr * T, L.toff.data(), xb, yb, L.Lr, false);
        for (int64_t kk = 0; kk < Kg; ++kk) {  // drop the columns q >= Q, add the bias
          const float bk = bias ? bias[g * Kg + kk] : 0.0f;
          float* dst = y + (n * s.K + g * Kg + kk) * PQ;
          const float* src = yb + kk * L.Lr;
          for (int64_t p = 0; p < s.P; ++p)  // drop the grid columns q >= Q
            for (int64_t q = 0; q < s.Q; ++q) dst[p * s.Q + q] = src[p * L.Wg + q] + bk;
        }
      }
  });
}

// dx[c, i, j] = sum_{k, r, u} w[k, c, r, u] * dy[k, i + ph - r*dh, j + pw - u*dw]: with stride
// 1 that is a forward convolution of dy (K channels, P x Q) with w transposed per group and
// flipped, padding dh*(R-1) - ph (>= 0, checked by the caller), output H x W.
void conv2d_direct_backward_input(const ConvShape& s, const float* gy, const float* w, float* gx) {
  if (!backward_input_is_forward(s)) return conv2d_direct_backward_input_phases(s, gy, w, gx);
  ConvShape t = s;
  t.C = s.K;
  t.H = s.P;
  t.W = s.Q;
  t.K = s.C;
  t.pad_h = s.dil_h * (s.R - 1) - s.pad_h;
  t.pad_w = s.dil_w * (s.S - 1) - s.pad_w;
  t.finish();  // P = H, Q = W
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S;
  std::vector<float> wt(size_t(s.K * Cg * RS));  // (C, Kg, R, S)
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t kk = 0; kk < Kg; ++kk)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t u = 0; u < s.S; ++u)
            wt[(((g * Cg + c) * Kg + kk) * s.R + (s.R - 1 - r)) * s.S + (s.S - 1 - u)] =
                w[(((g * Kg + kk) * Cg + c) * s.R + r) * s.S + u];
  conv2d_direct_forward(t, gy, wt.data(), nullptr, gx);
}

// The weight gradient per image: dY transposed into dyt[o][k] (Kp channels a row, zero past
// Kg) next to the buffer of x, summed by the weight kernel into one gwt[t][k] per thread,
// added up in slot order and transposed into gw at the end (over_image_slots: deterministic).
void conv2d_direct_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw) {
  const ConvDirectWeightSimd* k = conv_direct_weight_simd_active();
  const Layout L = make_layout(s, k->vw, k->wt, true);
  const int64_t Kg = s.Kg(), Kp = (Kg + k->vw - 1) / k->vw * k->vw, T = L.taps, Tp = L.taps_pad;
  const int64_t PQ = s.P * s.Q, part = s.groups * Tp * Kp;
  const int nt = image_threads(s);
  // (no more slots than images: an empty slot would never be zeroed)
  const int slots = int(std::min<int64_t>(reduction_slots(nt, part), s.N));
  // one sum per range of images (no races), zeroed by the thread that sums into it
  std::unique_ptr<float[]> partial(new float[size_t(slots * part)]);
  over_image_slots(s, nt, slots, 1, [&](int slot, int64_t n0, int64_t n1) {
    const int64_t xsz = (buffer_floats(L, 1) + 15) / 16 * 16;  // keeps dyt 64-byte aligned
    float* xb = conv_direct_scratch_floats(xsz + PQ * Kp);
    float* dyt = xb + xsz;
    float* sum = partial.get() + slot * part;
    if (n0 == s.N * slot / slots) std::fill(sum, sum + part, 0.0f);
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t g = 0; g < s.groups; ++g) {
        fill_images(s, L, x, g, n, 1, xb);
        k->transpose(gy + (n * s.K + g * Kg) * PQ, Kg, PQ, PQ, dyt, Kp);
        for (int64_t o = 0; Kp > Kg && o < PQ; ++o) std::fill(dyt + o * Kp + Kg, dyt + (o + 1) * Kp, 0.0f);
        k->weight(Kp, Tp, s.P, s.Q, L.Wg, dyt, xb, L.toff.data(), sum + g * Tp * Kp);
      }
  });
  // The slots added in order into slot 0, along memory and split between threads, then slot 0
  // transposed into gw. Before, one serial loop per weight read its 8 slots a part apart and
  // walked gwt[t][k] down its columns: at 32->64 s2 @16 (8 slots of 74 KB) 2 threads ran the
  // weight gradient only 1.4x faster than 1. Measured (batch 64, wall ms, median of 6
  // alternating process pairs of 40-call medians, Xeon with AVX-512, 2 cores, before -> after):
  // 32->64 3x3 s2 @16 1 thread 1.09 -> 1.06-1.08, 2 threads 0.74-0.75 -> 0.56-0.59; the other
  // ResNet-20 shapes (fewer or smaller slots) within +-4% either way.
  float* total = partial.get();
  if (slots > 1)
    parallel_for(part, 16384, [&](int64_t i0, int64_t i1) {
      for (int i = 1; i < slots; ++i)
        for (int64_t j = i0; j < i1; ++j) total[j] += total[i * part + j];
    });
  parallel_for(s.groups * Kg, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, T)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t g = r / Kg, kk = r % Kg;
      for (int64_t t = 0; t < T; ++t) gw[r * T + t] = total[(g * Tp + t) * Kp + kk];
    }
  });
}

}  // namespace minidl
