// The convert_f32 path of the 16-bit convolution (conv_lowp.h): widen the operands to float32
// (exact), run the float32 convolution of conv.h (direct or im2col, itself chosen by
// conv_tune.cpp), round each result once. Every 16-bit convolution can take it; it is the only
// path for float16, depthwise and the avx2 / scalar kernel sets.
#include <algorithm>
#include <memory>
#include <vector>

#include "conv_lowp.h"
#include "core/parallel.h"
#include "ops/copy/copy.h"

namespace minidl {
namespace {

std::unique_ptr<float[]> widen(const uint16_t* p, DType t, int64_t n) {
  std::unique_ptr<float[]> f(new float[size_t(std::max<int64_t>(n, 1))]);
  if (p && n > 0) cast_contiguous(p, t, f.get(), DType::f32, n);
  return f;
}

// The widening runs a chunk of images at a time: the chunk's float32 input and output stay in
// L2 between the widening, the float32 kernel and the rounding, instead of whole float32 copies
// of the batch going through memory. kChunkFloats (512 KiB) fits with the kernel's own buffers
// in a 1 MiB L2 (AMD Zen 4) and a 2 MiB one (the Xeon here). Measured, ResNet-20's 16->16
// @32x32 (batch 64, 1 thread, Xeon with AMX, load average 2.6, minimum CPU time of 9): forward /
// dx / dw+db 2.72 / 2.59 / 3.46 ms widening the whole batch, 2.46 / 2.41 / 2.97 chunk by chunk
// (float32's own: about 2.2 / 2.1 / 2.6); 3->16 @32x32 3.34 -> 2.73 ms in all. Chunks of 2^16,
// 2^17 and 2^18 floats timed within 10% of each other there (100 calls, load average 3.7): the
// size matters less than staying in L2.
constexpr int64_t kChunkFloats = int64_t(1) << 17;

// images per chunk: at least one per thread
int64_t chunk_images(const ConvShape& s) {
  const int64_t per_image = std::max<int64_t>(1, s.C * s.H * s.W + s.K * s.P * s.Q);
  return std::min(s.N, std::max<int64_t>(num_threads(), kChunkFloats / per_image));
}

ConvShape chunk_of(const ConvShape& s, int64_t n) {
  ConvShape c = s;
  c.N = n;
  return c;
}

}  // namespace

namespace conv_lowp_detail {

void forward_convert(const ConvShape& s, DType t, const uint16_t* x, const uint16_t* w, const uint16_t* bias,
                     uint16_t* y) {
  const int64_t nw = s.K * s.Cg() * s.R * s.S, xi = s.C * s.H * s.W, yi = s.K * s.P * s.Q, nc = chunk_images(s);
  auto wf = widen(w, t, nw), bf = widen(bias, t, bias ? s.K : 0);
  auto xf = widen(nullptr, t, nc * xi), yf = widen(nullptr, t, nc * yi);
  for (int64_t n0 = 0; n0 < s.N; n0 += nc) {
    const int64_t n = std::min(nc, s.N - n0);
    cast_contiguous(x + n0 * xi, t, xf.get(), DType::f32, n * xi);
    conv2d_forward(chunk_of(s, n), DType::f32, xf.get(), wf.get(), bias ? bf.get() : nullptr, yf.get());
    cast_contiguous(yf.get(), DType::f32, y + n0 * yi, t, n * yi);
  }
}

void backward_input_convert(const ConvShape& s, DType t, const uint16_t* gy, const uint16_t* w, uint16_t* gx) {
  const int64_t nw = s.K * s.Cg() * s.R * s.S, xi = s.C * s.H * s.W, yi = s.K * s.P * s.Q, nc = chunk_images(s);
  auto wf = widen(w, t, nw), gyf = widen(nullptr, t, nc * yi), gxf = widen(nullptr, t, nc * xi);
  for (int64_t n0 = 0; n0 < s.N; n0 += nc) {
    const int64_t n = std::min(nc, s.N - n0);
    cast_contiguous(gy + n0 * yi, t, gyf.get(), DType::f32, n * yi);
    conv2d_backward_input(chunk_of(s, n), DType::f32, gyf.get(), wf.get(), gxf.get());
    cast_contiguous(gxf.get(), DType::f32, gx + n0 * xi, t, n * xi);
  }
}

// dW and db summed over the chunks in float32, rounded once at the end
void backward_weight_convert(const ConvShape& s, DType t, const uint16_t* gy, const uint16_t* x, uint16_t* gw,
                             uint16_t* gb) {
  const int64_t nw = s.K * s.Cg() * s.R * s.S, xi = s.C * s.H * s.W, yi = s.K * s.P * s.Q, nc = chunk_images(s);
  auto gyf = widen(nullptr, t, nc * yi), xf = widen(nullptr, t, gw ? nc * xi : 0);
  std::vector<float> part(size_t(nw + s.K)), sum(size_t(nw + s.K), 0.0f);  // (dW, db)
  for (int64_t n0 = 0; n0 < s.N; n0 += nc) {
    const int64_t n = std::min(nc, s.N - n0);
    cast_contiguous(gy + n0 * yi, t, gyf.get(), DType::f32, n * yi);
    if (gw) cast_contiguous(x + n0 * xi, t, xf.get(), DType::f32, n * xi);
    conv2d_backward_weight(chunk_of(s, n), DType::f32, gyf.get(), xf.get(), gw ? part.data() : nullptr,
                           gb ? part.data() + nw : nullptr);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
  }
  if (gw) cast_contiguous(sum.data(), DType::f32, gw, t, nw);
  if (gb) cast_contiguous(sum.data() + nw, DType::f32, gb, t, s.K);
}

}  // namespace conv_lowp_detail
}  // namespace minidl
