// Loops that apply a Vec -> Vec function over contiguous float32 arrays, shared by the
// elementwise and activation files. Include after vec.h, from cpp/ops/*/*_simd.cpp only: like
// vec.h everything lands in minidl::MINIDL_ISA_NS::(anonymous).
//
// Outputs bigger than the last-level cache are written with streaming (non-temporal) stores. A
// normal store first reads the destination line into the cache (read-for-ownership), so y =
// f(x) moves 3 bytes per 2 useful ones once y is bigger than the caches; a streaming store
// skips that read and does not evict the inputs, but sends y to memory, from where the next op
// (a convolution after a ReLU, a BatchNorm backward after the ReLU backward) reads it back.
// Below stream_min_elements() per call (half the L3 of cpu_caches, 2 MiB at least) the output
// stays in the L3 for that next op, so normal stores win there. Measured in a ResNet-20
// training step (1 thread, CPU time, Xeon with a 480 MB L3, batch 64): streaming from 2 MiB
// (the fixed threshold before issue 18) made the ReLU forwards 1.1 ms faster, the residual adds
// 0.5 ms slower and the convolutions reading the ReLUs' outputs 2.5 ms slower: a step of
// 152-155 ms took 146-149 without it. (In isolation, bench/python/bench_elementwise.py,
// streaming wins from ~2 MiB.)
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/cpu_caches.h"
#include "vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

inline int64_t stream_min_elements() {
  static const int64_t elements = std::max<int64_t>(cpu_caches().l3.size / 2, int64_t{2} << 20) / 4;  // float32s
  return elements;
}

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
  int64_t peel = n >= stream_min_elements() ? stream_peel(y, n) : -1;
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
  int64_t peel = n >= stream_min_elements() ? stream_peel(y, n) : -1;
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
