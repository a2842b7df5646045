// Gather / scatter-add on flat indices: advanced indexing, its backward, one_hot, embedding.
// Shapes: src and dst are contiguous tables of rows of `row` elements (src_rows / dst_rows of
// them, or n for the gathered side); idx has n int64 entries. dtype float32, float64 or int64
// for the scatter-add, any for the gather (it copies bytes). No SIMD table: both loops are
// bound by memory, one implementation (indexing.cpp) serves every kernel set.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// dst[i, :] = src[idx[i], :] for rows of `row` elements; idx checked against [0, src_rows).
void gather_rows(const void* src, DType dtype, int64_t src_rows, int64_t row, const int64_t* idx,
                 int64_t n, void* dst);
// dst[idx[i], :] += src[i, :] (serial over i so repeated indices accumulate exactly).
void scatter_add_rows(const void* src, DType dtype, int64_t row, const int64_t* idx, int64_t n,
                      void* dst, int64_t dst_rows);

}  // namespace minidl
