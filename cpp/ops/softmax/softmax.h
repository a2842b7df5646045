// Softmax and log-softmax along one axis of a contiguous tensor viewed as (outer, len, inner):
// the axis has len elements at stride inner, and there are outer * inner such lines. x, y, gy
// and gx all have that shape; dtype float32 or float64. Stable: subtract the line max before
// exp, so inputs of +-1000 give finite results. The reference loops open softmax.cpp;
// SoftmaxSimd (below) is the float32 table of softmax_simd.cpp, compiled once per ISA.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// y = exp(x - max) / sum exp(x - max)          (log: y = x - max - log sum exp(x - max))
void softmax_forward(const void* x, void* y, DType dtype, int64_t outer, int64_t len, int64_t inner,
                     bool log);
// softmax:     gx = y * (gy - sum(gy * y))
// log_softmax: gx = gy - exp(y) * sum(gy)
void softmax_backward(const void* gy, const void* y, void* gx, DType dtype, int64_t outer,
                      int64_t len, int64_t inner, bool log);

// logsumexp over the middle axis of (outer, len, inner), out (outer, inner): the float32 SIMD
// path of reduce(ReduceOp::logsumexp) in cpp/ops/reduce/reduce.cpp (the log of softmax's
// normaliser, so the same passes as softmax). False = not handled (not float32, len 0, or the
// scalar set active): the caller runs its reference.
bool logsumexp_simd(const void* x, DType dtype, int64_t outer, int64_t len, int64_t inner, void* out);

// The column kernels take panels of at most this many columns (a multiple of every SIMD width).
constexpr int64_t kMaxColumns = 1024;

struct SoftmaxSimd {
  // `rows` contiguous rows of length len (inner == 1); false = not handled (the reference runs)
  bool (*forward_f32)(const float* x, float* y, int64_t rows, int64_t len, bool log);
  bool (*backward_f32)(const float* gy, const float* y, float* gx, int64_t rows, int64_t len, bool log);
  // inner > 1: n <= kMaxColumns columns of a slab of len rows, row r at x + r * stride
  bool (*forward_columns_f32)(const float* x, float* y, int64_t len, int64_t stride, int64_t n, bool log);
  bool (*backward_columns_f32)(const float* gy, const float* y, float* gx, int64_t len, int64_t stride, int64_t n,
                               bool log);
  // logsumexp of `rows` contiguous rows of length len -> out[rows]; of n columns -> out[n]
  bool (*logsumexp_rows_f32)(const float* x, float* out, int64_t rows, int64_t len);
  bool (*logsumexp_columns_f32)(const float* x, float* out, int64_t len, int64_t stride, int64_t n);
  int lanes;  // floats per vector (8, 16): softmax.cpp transposes slabs much narrower than a vector
};

}  // namespace minidl
