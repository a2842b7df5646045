// Sorting and selection along one axis of a contiguous tensor viewed as (outer, len, inner):
// the axis has len elements at stride inner, and there are outer * inner such lines.
//
//   sort:  values[o, j, i] = x[o, indices[o, j, i], i], the line ordered ascending (or
//          descending); NaN counts as larger than every number (last ascending, first
//          descending), as in PyTorch. Ties keep their input order (a stable sort), so
//          `stable=False` gives the same answer as `stable=True`.
//   topk:  the k largest (or smallest) of each line, in sorted order; ties go to the smaller
//          input index first.
//   kthvalue: the k-th smallest of each line (k from 1) and its index: position k-1 of the
//          stable ascending sort (ties: the earlier input index first). With
//          nan_wins (median), a line holding NaN gives NaN and the index of its first NaN.
//   backward of all three (and of any selection that returns indices along the axis):
//          gx[o, idx[o, j, i], i] += g[o, j, i]   (gx zeroed first; idx may repeat)
//
// dtype float32, float64 or int64. No SIMD table: the work is comparisons and data-dependent
// moves, which std::stable_sort / std::nth_element already do well per line; lines run in
// parallel (OpenMP over outer * inner).
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

void sort_lines(const void* x, void* values, int64_t* indices, DType dtype, int64_t outer, int64_t len,
                int64_t inner, bool descending);
void topk_lines(const void* x, void* values, int64_t* indices, DType dtype, int64_t outer, int64_t len,
                int64_t inner, int64_t k, bool largest);
// values and indices are (outer, inner): the axis removed
void kthvalue_lines(const void* x, void* values, int64_t* indices, DType dtype, int64_t outer, int64_t len,
                    int64_t inner, int64_t k, bool nan_wins);
// g and idx are (outer, k, inner); gx is (outer, len, inner), float32 or float64
void scatter_add_lines(const void* g, const int64_t* idx, void* gx, DType dtype, int64_t outer, int64_t k,
                       int64_t len, int64_t inner);

}  // namespace minidl
