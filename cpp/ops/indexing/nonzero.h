// torch.nonzero / argwhere: the coordinates of the non-zero elements of a contiguous tensor.
// Shapes: x has `ndim` dims of extents `shape`; the result is (count, ndim) int64, in
// row-major order of the elements. Zero means +0 and -0 for floats; NaN counts as non-zero.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor_view.h"

namespace minidl {

// Two passes over the same pieces of the flat input (NonzeroPieces: one per thread):
//   1. nonzero_count: the non-zeros of each piece, and where each piece's rows start in the
//      result (the prefix sums; `count` is the total, the result's row count);
//   2. nonzero_coordinates: each piece writes its rows from there,
// so the order does not depend on the thread count.
struct NonzeroPieces {
  std::vector<int64_t> first;  // first[p]: the result row of piece p's first non-zero; first[pieces] = count
  int64_t pieces() const { return static_cast<int64_t>(first.size()) - 1; }
  int64_t count() const { return first.back(); }
};
NonzeroPieces nonzero_count(const void* x, DType dtype, int64_t n);

// Writes the coordinates of the non-zero elements into out (count rows of shape.size() int64).
void nonzero_coordinates(const void* x, DType dtype, const std::vector<int64_t>& shape, const NonzeroPieces& pieces,
                         int64_t* out);

}  // namespace minidl
