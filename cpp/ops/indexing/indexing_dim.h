// Gather, scatter and index_select/index_add along one dimension (torch.gather, scatter,
// scatter_add, scatter_reduce, index_select, index_add, index_copy, index_fill).
//
// Shapes: every tensor is contiguous and viewed as (outer, size, inner), where `size` is its
// extent along the indexed dimension and outer/inner are the products of the extents before
// and after it (the Python layer makes the non-indexed extents agree). `dim` is only used to
// word the error. Indices are int64 in [0, size); any other index raises KernelIndexError
// ("index 7 is out of bounds for dimension 1 with size 3", PyTorch's words) after the loop:
// the destination may be partly written by then, so callers pass a fresh array.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// How a scatter combines a source value with the destination's.
enum class ScatterReduce : int { assign = 0, add = 1, multiply = 2, amax = 3, amin = 4 };

// torch.gather: out[o, k, i] = src[o, idx[o, k, i], i]; idx and out are (outer, n, inner).
// Any dtype (the kernel copies elements).
void gather_dim(const void* src, DType dtype, int64_t outer, int64_t src_size, int64_t inner,
                const int64_t* idx, int64_t n, void* out, int dim);

// torch.scatter / scatter_add / scatter_reduce: dst[o, idx[o, k, i], i] (op)= src[o, k, i];
// idx and src are (outer, n, inner). assign: any dtype; the reductions: float32/float64/int64.
void scatter_dim(void* dst, DType dtype, int64_t outer, int64_t dst_size, int64_t inner,
                 const int64_t* idx, int64_t n, const void* src, ScatterReduce op, int dim);

// torch.index_select: out[o, k, :] = src[o, idx[k], :]; idx has n entries, out is (outer, n, inner).
void index_select_dim(const void* src, DType dtype, int64_t outer, int64_t src_size, int64_t inner,
                      const int64_t* idx, int64_t n, void* out, int dim);

// torch.index_add (op add: dst[o, idx[k], :] += alpha * src[o, k, :]) and index_copy
// (op assign: dst[o, idx[k], :] = src[o, k, :]); src is (outer, n, inner).
void index_put_dim(void* dst, DType dtype, int64_t outer, int64_t dst_size, int64_t inner,
                   const int64_t* idx, int64_t n, const void* src, ScatterReduce op, double alpha, int dim);

}  // namespace minidl
