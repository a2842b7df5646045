// torch.nonzero / argwhere: the coordinates of the non-zero elements of a contiguous tensor.
// Shapes: x has `ndim` dims of extents `shape`; the result is (count, ndim) int64, in
// row-major order of the elements. Zero means +0 and -0 for floats; NaN counts as non-zero.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor_view.h"

namespace minidl {

// How many elements of x (n of them, dtype any) are non-zero.
int64_t count_nonzero_flat(const void* x, DType dtype, int64_t n);

// Writes the coordinates of the non-zero elements into out (count rows of shape.size() int64).
void nonzero_coordinates(const void* x, DType dtype, const std::vector<int64_t>& shape, int64_t* out);

}  // namespace minidl
