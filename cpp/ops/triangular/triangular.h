// tril / triu: keep one triangle of each (n, m) matrix of a batch, zero the rest.
//
//   tril  y_ij = x_ij if j - i <= diagonal else 0
//   triu  y_ij = x_ij if j - i >= diagonal else 0
//
// The backward is the same operation on the gradient (the kept elements pass it through).
// Each output row is one copy of its kept columns and one fill of the others, so every
// element is read at most once and written once; std::copy / std::fill become memmove /
// memset, already vectorised by the C library, so there is no per-ISA SIMD version.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// x, y: contiguous (batch, n, m) of `dtype` (any dtype: the kernel moves bytes)
void keep_triangle(const void* x, void* y, DType dtype, int64_t batch, int64_t n, int64_t m, int64_t diagonal,
                   bool lower);

}  // namespace minidl
