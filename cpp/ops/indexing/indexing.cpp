// Row gather and scatter-add: advanced indexing x[idx] and embedding lookups, forward and
// backward side by side.
//
//   gather (forward):        dst[i, :] = src[idx[i], :]
//   scatter-add (backward):  dsrc[idx[i], :] += ddst[i, :]    (d dst[i, c] / d src[j, c] = [idx[i] = j])
//
// One implementation for every dtype and kernel set (no SIMD table: a gather copies rows, a
// scatter-add adds rows, both bound by memory). Every index is checked before anything is
// written. Threads: gather splits the n rows (~64 KiB per task); scatter-add splits the columns,
// so each thread walks every index in order and repeated indices add exactly, whatever the
// thread count.
#include "indexing.h"

#include <cstring>
#include <string>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace minidl {

// forward: dst[i, :] = src[idx[i], :]
// --8<-- [start:gather_rows]
void gather_rows(const void* src, DType dtype, int64_t src_rows, int64_t row, const int64_t* idx, int64_t n,
                 void* dst) {
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= src_rows)
      throw KernelIndexError("index " + std::to_string(idx[i]) + " is out of bounds for size " + std::to_string(src_rows));
  const int64_t bytes = row * dtype_size(dtype);
  parallel_for(n, std::max<int64_t>(1, 65536 / std::max<int64_t>(bytes, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      std::memcpy(static_cast<char*>(dst) + i * bytes, static_cast<const char*>(src) + idx[i] * bytes, bytes);
  });
}
// --8<-- [end:gather_rows]

// --8<-- [start:scatter_add_rows]
// backward of gather_rows: dst[idx[i], :] += src[i, :]
void scatter_add_rows(const void* src, DType dtype, int64_t row, const int64_t* idx, int64_t n, void* dst,
                      int64_t dst_rows) {
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= dst_rows)
      throw KernelIndexError("index " + std::to_string(idx[i]) + " is out of bounds for size " + std::to_string(dst_rows));
  MINIDL_DISPATCH_NUMERIC(dtype, "scatter_add", {
    const T* s = static_cast<const T*>(src);
    T* d = static_cast<T*>(dst);
    // parallel over the columns of a row: every thread sees every index, so repeats are exact
    parallel_for(row, 4096, [&](int64_t c0, int64_t c1) {
      for (int64_t i = 0; i < n; ++i) {
        T* dr = d + idx[i] * row;
        const T* sr = s + i * row;
        for (int64_t c = c0; c < c1; ++c) dr[c] += sr[c];
      }
    });
  });
}
// --8<-- [end:scatter_add_rows]

}  // namespace minidl
