// Gather and scatter along one dimension, forward and backward side by side:
//
//   gather (forward):         out[o, k, i] = src[o, idx[o, k, i], i]
//   scatter-add (its backward): dsrc[o, idx[o, k, i], i] += dout[o, k, i]
//   index_select (forward):   out[o, k, :] = src[o, idx[k], :]
//   index_add (its backward): dsrc[o, idx[k], :] += dout[o, k, :]
//
// Reference loops, no SIMD table: the loops are bound by memory and by the index lookups
// (a gather along dim 0 reads 8 bytes of index per 4-byte float), so the compiler's
// auto-vectorised copy is what a hand-written one would be.
//
// Threads. A gather writes each output element once: split the output rows. A scatter may
// hit one destination element from many k, so it never splits k: it splits `outer` (the
// destination rows o are disjoint) and, when there are fewer of those than threads, the inner
// columns; every thread then walks all k in order, so repeated indices combine in the same
// order whatever the thread count (sums are bit-reproducible, assign keeps the last k).
#include "indexing_dim.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace minidl {

namespace {

constexpr int64_t kGrainElements = 32768;  // ~128 KiB of float32 per task: the fork pays off

[[noreturn]] void throw_out_of_bounds(int64_t index, int dim, int64_t size) {
  throw KernelIndexError("index " + std::to_string(index) + " is out of bounds for dimension " + std::to_string(dim) +
                         " with size " + std::to_string(size));
}

// The first index outside [0, size) (called on the error path only, or before any write).
void check_indices(const int64_t* idx, int64_t count, int64_t size, int dim) {
  for (int64_t q = 0; q < count; ++q)
    if (idx[q] < 0 || idx[q] >= size) throw_out_of_bounds(idx[q], dim, size);
}

// The element copy of a gather depends only on the element size.
// --8<-- [start:gather_typed]
template <class E>
bool gather_typed(const E* src, int64_t outer, int64_t src_size, int64_t inner, const int64_t* idx, int64_t n,
                  E* out) {
  std::atomic<bool> bad{false};
  const int64_t rows = outer * n;
  parallel_for(rows, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    bool local_bad = false;
    for (int64_t r = r0; r < r1; ++r) {
      const E* base = src + (r / n) * src_size * inner;
      const int64_t* ix = idx + r * inner;
      E* o = out + r * inner;
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t j = ix[i];
        if (static_cast<uint64_t>(j) >= static_cast<uint64_t>(src_size)) {  // also catches j < 0
          local_bad = true;
          continue;
        }
        o[i] = base[j * inner + i];
      }
    }
    if (local_bad) bad.store(true, std::memory_order_relaxed);
  });
  return !bad.load();
}
// --8<-- [end:gather_typed]

template <class T>
inline void combine(T& d, T s, ScatterReduce op) {
  switch (op) {
    case ScatterReduce::assign: d = s; break;
    case ScatterReduce::add: d += s; break;
    case ScatterReduce::multiply: d *= s; break;
    case ScatterReduce::amax: if (s > d || s != s) d = s; break;  // NaN wins, as in PyTorch
    case ScatterReduce::amin: if (s < d || s != s) d = s; break;
  }
}

// Calls f(o, c0, c1) for destination row block o and inner columns [c0, c1), in parallel
// over disjoint (o, column block) pairs; `work_per_row` is what one o costs (n * inner).
template <class F>
void for_destination_blocks(int64_t outer, int64_t inner, int64_t work_per_row, const F& f) {
  const int64_t threads = num_threads();
  // split the columns only when the rows alone cannot feed every thread; keep a block at least
  // 16 elements (a 64-byte line of float32) so two threads rarely write the same cache line
  const int64_t blocks = outer >= threads ? 1 : std::max<int64_t>(1, std::min<int64_t>(threads, inner / 16));
  const int64_t work_per_task = std::max<int64_t>(1, work_per_row / blocks);
  parallel_for(outer * blocks, std::max<int64_t>(1, kGrainElements / work_per_task), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, b = t % blocks;
      f(o, inner * b / blocks, inner * (b + 1) / blocks);
    }
  });
}

// --8<-- [start:scatter_typed]
template <class T>
bool scatter_typed(T* dst, int64_t outer, int64_t dst_size, int64_t inner, const int64_t* idx, int64_t n,
                   const T* src, ScatterReduce op) {
  std::atomic<bool> bad{false};
  for_destination_blocks(outer, inner, n * inner, [&](int64_t o, int64_t c0, int64_t c1) {
    T* d = dst + o * dst_size * inner;
    bool local_bad = false;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t* ix = idx + (o * n + k) * inner;
      const T* s = src + (o * n + k) * inner;
      for (int64_t i = c0; i < c1; ++i) {
        const int64_t j = ix[i];
        if (static_cast<uint64_t>(j) >= static_cast<uint64_t>(dst_size)) {
          local_bad = true;
          continue;
        }
        combine(d[j * inner + i], s[i], op);
      }
    }
    if (local_bad) bad.store(true, std::memory_order_relaxed);
  });
  return !bad.load();
}
// --8<-- [end:scatter_typed]

template <class T>
void index_put_typed(T* dst, int64_t outer, int64_t dst_size, int64_t inner, const int64_t* idx, int64_t n,
                     const T* src, ScatterReduce op, T alpha) {
  for_destination_blocks(outer, inner, n * inner, [&](int64_t o, int64_t c0, int64_t c1) {
    for (int64_t k = 0; k < n; ++k) {
      T* d = dst + (o * dst_size + idx[k]) * inner;
      const T* s = src + (o * n + k) * inner;
      if (op == ScatterReduce::assign)
        for (int64_t i = c0; i < c1; ++i) d[i] = s[i];
      else if (alpha == T(1))
        for (int64_t i = c0; i < c1; ++i) d[i] += s[i];
      else
        for (int64_t i = c0; i < c1; ++i) d[i] += alpha * s[i];
    }
  });
}

}  // namespace

// forward: out[o, k, i] = src[o, idx[o, k, i], i]
void gather_dim(const void* src, DType dtype, int64_t outer, int64_t src_size, int64_t inner, const int64_t* idx,
                int64_t n, void* out, int dim) {
  bool ok = true;
  switch (dtype_size(dtype)) {
    case 1: ok = gather_typed(static_cast<const uint8_t*>(src), outer, src_size, inner, idx, n, static_cast<uint8_t*>(out)); break;
    case 2: ok = gather_typed(static_cast<const uint16_t*>(src), outer, src_size, inner, idx, n, static_cast<uint16_t*>(out)); break;
    case 4: ok = gather_typed(static_cast<const uint32_t*>(src), outer, src_size, inner, idx, n, static_cast<uint32_t*>(out)); break;
    default: ok = gather_typed(static_cast<const uint64_t*>(src), outer, src_size, inner, idx, n, static_cast<uint64_t*>(out)); break;
  }
  if (!ok) check_indices(idx, outer * n * inner, src_size, dim);
}

// backward of gather (op add), and scatter / scatter_reduce
void scatter_dim(void* dst, DType dtype, int64_t outer, int64_t dst_size, int64_t inner, const int64_t* idx, int64_t n,
                 const void* src, ScatterReduce op, int dim) {
  bool ok = true;
  if (op == ScatterReduce::assign) {  // a copy: any dtype, by element size
    switch (dtype_size(dtype)) {
      case 1: ok = scatter_typed(static_cast<uint8_t*>(dst), outer, dst_size, inner, idx, n, static_cast<const uint8_t*>(src), op); break;
      case 2: ok = scatter_typed(static_cast<uint16_t*>(dst), outer, dst_size, inner, idx, n, static_cast<const uint16_t*>(src), op); break;
      case 4: ok = scatter_typed(static_cast<uint32_t*>(dst), outer, dst_size, inner, idx, n, static_cast<const uint32_t*>(src), op); break;
      default: ok = scatter_typed(static_cast<uint64_t*>(dst), outer, dst_size, inner, idx, n, static_cast<const uint64_t*>(src), op); break;
    }
  } else {
    MINIDL_DISPATCH_NUMERIC(dtype, "scatter", {
      ok = scatter_typed(static_cast<T*>(dst), outer, dst_size, inner, idx, n, static_cast<const T*>(src), op);
    });
  }
  if (!ok) check_indices(idx, outer * n * inner, dst_size, dim);
}

// forward: out[o, k, :] = src[o, idx[k], :]
void index_select_dim(const void* src, DType dtype, int64_t outer, int64_t src_size, int64_t inner, const int64_t* idx,
                      int64_t n, void* out, int dim) {
  check_indices(idx, n, src_size, dim);
  const int64_t bytes = inner * dtype_size(dtype);
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(out);
  parallel_for(outer * n, std::max<int64_t>(1, kGrainElements * 4 / std::max<int64_t>(bytes, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / n, k = r % n;
      std::memcpy(d + r * bytes, s + (o * src_size + idx[k]) * bytes, bytes);
    }
  });
}

// backward of index_select (op add, alpha 1), index_add and index_copy (op assign)
void index_put_dim(void* dst, DType dtype, int64_t outer, int64_t dst_size, int64_t inner, const int64_t* idx, int64_t n,
                   const void* src, ScatterReduce op, double alpha, int dim) {
  check_indices(idx, n, dst_size, dim);
  if (op == ScatterReduce::assign) {  // a copy: by element size
    switch (dtype_size(dtype)) {
      case 1: index_put_typed(static_cast<uint8_t*>(dst), outer, dst_size, inner, idx, n, static_cast<const uint8_t*>(src), op, uint8_t(1)); break;
      case 2: index_put_typed(static_cast<uint16_t*>(dst), outer, dst_size, inner, idx, n, static_cast<const uint16_t*>(src), op, uint16_t(1)); break;
      case 4: index_put_typed(static_cast<uint32_t*>(dst), outer, dst_size, inner, idx, n, static_cast<const uint32_t*>(src), op, uint32_t(1)); break;
      default: index_put_typed(static_cast<uint64_t*>(dst), outer, dst_size, inner, idx, n, static_cast<const uint64_t*>(src), op, uint64_t(1)); break;
    }
    return;
  }
  MINIDL_DISPATCH_NUMERIC(dtype, "index_add", {
    index_put_typed(static_cast<T*>(dst), outer, dst_size, inner, idx, n, static_cast<const T*>(src), op, static_cast<T>(alpha));
  });
}

}  // namespace minidl
