// Reductions over one axis of a contiguous tensor viewed as (outer, len, inner): x has
// outer * len * inner elements, out has outer * inner. Several axes are reduced by the caller
// permuting them into one (see python/minidl/ops/reduce.py). The reference loops open
// reduce.cpp; ReduceSimd (below) is the float32 table of reduce_simd.cpp, compiled once per ISA.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

enum class ReduceOp : int { sum = 0, prod, max, min, argmax, argmin, logsumexp, any, all, sum_squares };

// out[o, i] = reduce_{r < len} x[o, r, i]  (out has outer*inner elements).
// sum/prod/max/min/logsumexp: out dtype = x dtype (f32 accumulates in f32 pairwise/blocked,
// f64 in f64, i64 in i64; sum also takes bf16 and f16, accumulated in float32 (double in the
// reference) and rounded once, as PyTorch); argmax/argmin: out i64 (first index of the
// extreme; NaN wins, as PyTorch); any/all: x b8 -> out b8; sum_squares: sum of x^2 (the 2-norm's
// square, one pass), f32 and f64 only. `scale` multiplies sum and sum_squares results (mean = sum * 1/len).
// len == 0: sum 0, prod 1, any false, all true; max/min/arg*/logsumexp throw KernelError.
void reduce(ReduceOp op, const void* x, DType dtype, int64_t outer, int64_t len, int64_t inner,
            void* out, double scale = 1.0);

// Variance (two-pass: mean, then the sum of squared deviations) divided by len - correction.
void variance(const void* x, DType dtype, int64_t outer, int64_t len, int64_t inner, void* out,
              double correction);

// The SIMD column sums add float32 sums of this many rows into compensated pairs; a thread's
// share of the rows starts on a multiple of it, so the blocks (and their roundings) are those
// of one thread.
constexpr int64_t kColumnSumBlockRows = 64;

// Float32 SIMD versions of the hot cases (sum, max, min), the vector versions of reduce_one in
// reduce.cpp: inner == 1 (row reduce) and inner > 1 (column reduce, vertical adds). Return
// false when not handled (the caller runs the reference).
struct ReduceSimd {
  bool (*reduce_f32)(ReduceOp op, const float* x, int64_t outer, int64_t len, int64_t inner,
                     float* out, float scale);
  // sum of 16-bit x (dtype bf16 or f16), widened to float32 in registers: float32 out
  // (outer * inner values), times scale; false for other dtypes or len <= 0
  bool (*sum_lowp)(const uint16_t* x, DType dtype, int64_t outer, int64_t len, int64_t inner, float* out,
                   float scale);
  // one share of a column sum, for the threads' split of the rows: x is (len, inner)
  // contiguous of dtype f32, bf16 or f16; hi[i] + lo[i] (a compensated pair) is the sum of
  // column i; false for other dtypes or len <= 0
  bool (*column_sum_pairs)(const void* x, DType dtype, int64_t len, int64_t inner, float* hi, float* lo);
  // argmax (want_max) / argmin of float32 over the middle axis: out[o * inner + i] the first
  // index of the extreme, the first NaN where there is one (the reference's rule); false for
  // len <= 0
  bool (*arg_extreme_f32)(bool want_max, const float* x, int64_t outer, int64_t len, int64_t inner, int64_t* out);
};

}  // namespace minidl
