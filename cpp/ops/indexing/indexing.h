// Gather / scatter-add on flat indices: advanced indexing, its backward, one_hot, embedding.
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
