// Loops that apply a Vec -> Vec function over contiguous float32 arrays, shared by the
// elementwise and activation files. Include after vec.h, from cpp/ops/*/*_simd.cpp only: like
// vec.h everything lands in minidl::MINIDL_ISA_NS::(anonymous).
//
// Large outputs are written with streaming (non-temporal) stores. A normal store first reads
// the destination line into the cache (read-for-ownership), so y = f(x) moves 3 bytes per 2
// useful ones once y is bigger than the caches; a streaming store skips that read and does not
// evict the inputs. Below kStreamMinElements per call the output probably stays in L2/L3 for
// the next op, so normal stores win there. (Measured in bench/python/bench_elementwise.py.)
#pragma once
#include <cstdint>

#include "vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t kStreamMinElements = int64_t{1} << 19;  // 2 MiB of float32 per call

// number of leading elements before y reaches a full-vector (Vec::width * 4 bytes) boundary,
// or -1 when y is not even float-aligned (then streaming is skipped)
inline int64_t stream_peel(const float* y, int64_t n) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(y);
  if (addr % 4 != 0) return -1;
  const uintptr_t bytes = static_cast<uintptr_t>(Vec::width) * 4;
  int64_t peel = static_cast<int64_t>(((bytes - addr % bytes) % bytes) / 4);
  return peel < n ? peel : -1;
}

// --8<-- [start:map1]
// y[i] = f(x[i]); y may alias x exactly.
template <class F>
inline void map1(const float* x, float* y, int64_t n, const F& f) {
  constexpr int W = Vec::width;
  int64_t i = 0;
  int64_t peel = n >= kStreamMinElements ? stream_peel(y, n) : -1;
  if (peel >= 0) {
    if (peel > 0) f(Vec::load_partial(x, static_cast<int>(peel))).store_partial(y, static_cast<int>(peel));
    for (i = peel; i + 2 * W <= n; i += 2 * W) {
      Vec r0 = f(Vec::load(x + i)), r1 = f(Vec::load(x + i + W));
      r0.stream(y + i);
      r1.stream(y + i + W);
    }
    _mm_sfence();
  }
  for (; i + W <= n; i += W) f(Vec::load(x + i)).store(y + i);
  if (i < n) f(Vec::load_partial(x + i, static_cast<int>(n - i))).store_partial(y + i, static_cast<int>(n - i));
}
// --8<-- [end:map1]

// y[i] = f(a[i], b[i]); y may alias a or b exactly.
template <class F>
inline void map2(const float* a, const float* b, float* y, int64_t n, const F& f) {
  constexpr int W = Vec::width;
  int64_t i = 0;
  int64_t peel = n >= kStreamMinElements ? stream_peel(y, n) : -1;
  if (peel >= 0) {
    if (peel > 0) {
      const int p = static_cast<int>(peel);
      f(Vec::load_partial(a, p), Vec::load_partial(b, p)).store_partial(y, p);
    }
    for (i = peel; i + 2 * W <= n; i += 2 * W) {
      Vec r0 = f(Vec::load(a + i), Vec::load(b + i));
      Vec r1 = f(Vec::load(a + i + W), Vec::load(b + i + W));
      r0.stream(y + i);
      r1.stream(y + i + W);
    }
    _mm_sfence();
  }
  for (; i + W <= n; i += W) f(Vec::load(a + i), Vec::load(b + i)).store(y + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    f(Vec::load_partial(a + i, r), Vec::load_partial(b + i, r)).store_partial(y + i, r);
  }
}

// y[i] = f(a[i], b[i], c[i]); y may alias any input exactly. Normal stores at every size: its
// caller (the ReLU backward of a gradient sum, activation_simd.cpp) hands y straight to the
// next kernel. In a ResNet-20 step (1 thread, Xeon AVX-512, CPU time) streaming the three
// (64, 16, 32, 32) outputs saved those calls 0.3 ms and cost the BatchNorm backwards that read
// them 0.7-1.1 ms; at (64, 32, 16, 16) 0.1 ms against 0.4-0.6 ms.
template <class F>
inline void map3(const float* a, const float* b, const float* c, float* y, int64_t n, const F& f) {
  constexpr int W = Vec::width;
  int64_t i = 0;
  for (; i + W <= n; i += W) f(Vec::load(a + i), Vec::load(b + i), Vec::load(c + i)).store(y + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    f(Vec::load_partial(a + i, r), Vec::load_partial(b + i, r), Vec::load_partial(c + i, r)).store_partial(y + i, r);
  }
}

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
