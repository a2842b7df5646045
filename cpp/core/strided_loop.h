// Iteration over N-d strided operands (a small cousin of ATen's TensorIterator).
//
// Dims of size 1 are dropped and neighbouring dims that are contiguous in every operand are
// merged, so a contiguous tensor of any shape becomes one row of numel() elements and the
// inner loop (often SIMD) runs as long as possible. Rows are split over threads.
#pragma once
#include <cstdint>

#include "parallel.h"
#include "tensor_view.h"

namespace minidl {

template <int N>
struct StridedLoop {
  int ndim = 0;  // after coalescing; 0 means a single element
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];

  // --8<-- [start:coalesce]
  // shape: iteration shape; strides[k]: operand k's element strides for that shape.
  StridedLoop(int nd, const int64_t* shp, const int64_t* const* strd) {
    for (int d = 0; d < nd; ++d) {
      if (shp[d] == 1) continue;
      shape[ndim] = shp[d];
      for (int k = 0; k < N; ++k) strides[k][ndim] = strd[k][d];
      ++ndim;
    }
    // merge dim d into d-1 when, for every operand, stepping d-1 equals stepping d shape[d] times
    int out = 0;
    for (int d = 1; d < ndim; ++d) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k)
        if (strides[k][out] != strides[k][d] * shape[d]) mergeable = false;
      if (mergeable) {
        shape[out] *= shape[d];
        for (int k = 0; k < N; ++k) strides[k][out] = strides[k][d];
      } else {
        ++out;
        shape[out] = shape[d];
        for (int k = 0; k < N; ++k) strides[k][out] = strides[k][d];
      }
    }
    if (ndim > 0) ndim = out + 1;
  }
  // --8<-- [end:coalesce]

  int64_t inner_size() const { return ndim == 0 ? 1 : shape[ndim - 1]; }
  int64_t inner_stride(int k) const { return ndim == 0 ? 0 : strides[k][ndim - 1]; }
  int64_t rows() const {
    int64_t r = 1;
    for (int d = 0; d + 1 < ndim; ++d) r *= shape[d];
    return r;
  }

  // row(offsets, n) gets each operand's element offset of the row start and the row length.
  template <class F>
  void for_each_row(const F& row, int64_t grain_elements = 32768) const {
    const int64_t n_inner = inner_size();
    const int64_t n_rows = rows();
    // One long row (a contiguous tensor of any shape coalesces to this): split the row itself
    // over the threads, else a 16M-element add would run on one core.
    if (n_rows == 1 && n_inner > grain_elements) {
      parallel_for(n_inner, grain_elements, [&](int64_t b, int64_t e) {
        int64_t off[N];
        for (int k = 0; k < N; ++k) off[k] = b * inner_stride(k);
        row(static_cast<const int64_t*>(off), e - b);
      });
      return;
    }
    const int64_t grain_rows = grain_elements / (n_inner > 0 ? n_inner : 1) + 1;
    parallel_for(n_rows, grain_rows, [&](int64_t r0, int64_t r1) {
      int64_t index[kMaxDims];
      int64_t off[N];
      // decompose r0 into the multi-index of the outer dims
      int64_t rem = r0;
      for (int d = ndim - 2; d >= 0; --d) {
        index[d] = rem % shape[d];
        rem /= shape[d];
      }
      for (int k = 0; k < N; ++k) {
        off[k] = 0;
        for (int d = 0; d + 1 < ndim; ++d) off[k] += index[d] * strides[k][d];
      }
      for (int64_t r = r0; r < r1; ++r) {
        row(static_cast<const int64_t*>(off), n_inner);
        // odometer step over the outer dims
        for (int d = ndim - 2; d >= 0; --d) {
          ++index[d];
          for (int k = 0; k < N; ++k) off[k] += strides[k][d];
          if (index[d] < shape[d]) break;
          for (int k = 0; k < N; ++k) off[k] -= strides[k][d] * shape[d];
          index[d] = 0;
        }
      }
    });
  }
};

}  // namespace minidl
