// Scans (inclusive prefix operations) along one axis of a contiguous tensor viewed as
// (outer, len, inner): the axis has len elements at stride inner, outer * inner lines.
//
//   cumsum        y_j = x_0 + ... + x_j
//   cumprod       y_j = x_0 * ... * x_j
//   cummax/cummin y_j = max/min(x_0..x_j), indices_j = where it is (the latest position on
//                 ties; a NaN wins and stays, as in PyTorch)
//   logcumsumexp  y_j = log(exp(x_0) + ... + exp(x_j)), never overflowing
//
// float32 accumulates in double (PyTorch's CPU accumulation type), so a 16M-element cumsum
// matches it. `reverse` scans from the end (y_j = x_j + ... + x_{len-1}): the backward of
// cumsum. dtype float32, float64 or int64 (logcumsumexp: float only).
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

enum class ScanOp : int { sum = 0, prod = 1, max = 2, min = 3, logsumexp = 4 };

// indices (int64, x's shape) only for max/min; may be null otherwise
void scan_lines(const void* x, void* y, int64_t* indices, DType dtype, ScanOp op, int64_t outer, int64_t len,
                int64_t inner, bool reverse);

// cumprod: gx_i = sum_{j>=i} g_j * prod_{k<=j, k!=i} x_k   (zeros in x handled exactly)
void cumprod_backward(const void* x, const void* y, const void* g, void* gx, DType dtype, int64_t outer,
                      int64_t len, int64_t inner);
// logcumsumexp: gx_i = sum_{j>=i} g_j exp(x_i - y_j)
void logcumsumexp_backward(const void* x, const void* y, const void* g, void* gx, DType dtype, int64_t outer,
                           int64_t len, int64_t inner);

}  // namespace minidl
