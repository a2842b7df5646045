// Batch normalization of a 16-bit (bfloat16 / float16) input with float32 parameters and
// statistics: BatchNorm2d after a convolution under BF16 autocast (formulas: batchnorm.h).
//
// Each channel is widened into a per-thread float32 buffer (N runs of S values, exact), the
// float32 kernel of batchnorm.cpp runs on that one channel as a (N, 1, S) tensor, and the
// output channel is rounded back to 16 bits once. So the sums are exactly the float32 path's on
// the widened input (tests/test_batchnorm.py checks bit equality), and no widened copy of the
// whole tensor is ever made: one channel (64 x 32 x 32 values = 256 KB at ResNet-20's first
// stage, batch 64) stays in L2 between the statistics pass and the normalisation.
//
// Why not widen the whole tensor (the Python layer did until issue 18): a cast in, the float32
// kernel, a cast out, and again in the backward (gy and x in, dx out), each a full pass over
// memory. Measured in a ResNet-20 bf16 autocast step (batch 64, 1 thread, Xeon with AMX, load
// average 0.4): those casts took 17 ms of a 201 ms step (9 forward, 8 backward), and a float32
// copy of every BatchNorm input stayed alive for the backward (the 16-bit input now serves). With
// this kernel, BatchNorm2d forward + backward on a bf16 (64, 16, 32, 32) input takes 1.49 ms
// against PyTorch's 1.55 (its float32 one 1.76; CPU time, load average 3.9).
//
// A following ReLU's backward fuses in as in float32 (relu_affine: the float32 arithmetic of y
// before its rounding, and relu_floor_of(t), the largest float the rounding took to 0).
#include <algorithm>
#include <vector>

#include "batchnorm.h"
#include "core/parallel.h"
#include "ops/copy/copy.h"

namespace minidl {
namespace {

// channels per parallel chunk: fork when a chunk is ~32K values or more (as batchnorm.cpp)
int64_t channel_grain(const BatchNormShape& sh) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(sh.n * sh.s, 1)); }

std::vector<float>& channel_buffer(int which) {
  thread_local std::vector<float> buffers[2];
  return buffers[which];
}

// buf (N S floats) = channel c of the 16-bit (N, C, S) tensor src, widened
void widen_channel(const uint16_t* src, DType t, const BatchNormShape& sh, int64_t c, float* buf) {
  for (int64_t n = 0; n < sh.n; ++n) cast_to_f32(src + (n * sh.c + c) * sh.s, t, buf + n * sh.s, sh.s);
}

// channel c of the 16-bit (N, C, S) tensor dst = buf, rounded once
void round_channel(const float* buf, DType t, const BatchNormShape& sh, int64_t c, uint16_t* dst) {
  for (int64_t n = 0; n < sh.n; ++n) cast_from_f32(buf + n * sh.s, dst + (n * sh.c + c) * sh.s, t, sh.s);
}

template <class P>
P* at(P* p, int64_t c) { return p ? p + c : nullptr; }

}  // namespace

void batch_norm_forward_lowp(const uint16_t* x, uint16_t* y, DType t, const float* weight, const float* bias,
                             float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                             const BatchNormShape& sh, bool use_batch_stats, double momentum, double eps,
                             double* affine_out) {
  if (!use_batch_stats && (!running_mean || !running_var))
    throw KernelError("batch_norm: running_mean and running_var are needed without batch statistics");
  const BatchNormShape one{sh.n, 1, sh.s};
  parallel_for(sh.c, channel_grain(sh), [&](int64_t c0, int64_t c1) {
    std::vector<float>& buf = channel_buffer(0);
    if (buf.size() < size_t(sh.n * sh.s)) buf.resize(size_t(sh.n * sh.s));
    for (int64_t c = c0; c < c1; ++c) {
      widen_channel(x, t, sh, c, buf.data());
      // in place: every float32 pointwise map reads x[i] before it writes y[i]
      batch_norm_forward(buf.data(), buf.data(), at(weight, c), at(bias, c), at(running_mean, c),
                         at(running_var, c), save_mean + c, save_invstd + c, DType::f32, one, use_batch_stats,
                         momentum, eps, affine_out ? affine_out + 4 * c : nullptr);
      round_channel(buf.data(), t, sh, c, y);
    }
  });
}

void batch_norm_backward_lowp(const uint16_t* gy, const uint16_t* x, DType t, const float* weight,
                              const float* save_mean, const float* save_invstd, uint16_t* gx, float* gweight,
                              float* gbias, const BatchNormShape& sh, bool use_batch_stats,
                              const double* relu_affine) {
  const float relu_floor = relu_floor_of(t);  // the ReLU saw y rounded to t
  const BatchNormShape one{sh.n, 1, sh.s};
  parallel_for(sh.c, channel_grain(sh), [&](int64_t c0, int64_t c1) {
    std::vector<float>&gbuf = channel_buffer(0), &xbuf = channel_buffer(1);
    for (std::vector<float>* b : {&gbuf, &xbuf})
      if (b->size() < size_t(sh.n * sh.s)) b->resize(size_t(sh.n * sh.s));
    for (int64_t c = c0; c < c1; ++c) {
      widen_channel(gy, t, sh, c, gbuf.data());
      widen_channel(x, t, sh, c, xbuf.data());
      // dx into dy's buffer: the float32 map reads dy[i] before it writes dx[i]
      batch_norm_backward(gbuf.data(), xbuf.data(), at(weight, c), save_mean + c, save_invstd + c,
                          gx ? gbuf.data() : nullptr, at(gweight, c), at(gbias, c), DType::f32, one, use_batch_stats,
                          relu_affine ? relu_affine + 4 * c : nullptr, relu_floor);
      if (gx) round_channel(gbuf.data(), t, sh, c, gx);
    }
  });
}

}  // namespace minidl
