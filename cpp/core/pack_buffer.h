// Per-thread packing buffers for the GEMM kernels of one ISA (include only from
// cpp/ops/*/*_simd.cpp, like vec.h: everything here lives in minidl::MINIDL_ISA_NS, so no copy
// compiled with AVX-512 flags can stand in for an AVX2 caller).
//
// A buffer is 64-byte aligned, grows on demand and is kept for the thread's lifetime: packing
// into freshly mmap-ed memory would page-fault on every call.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <new>

#ifndef MINIDL_ISA_NS
#error "pack_buffer.h is for *_simd.cpp files compiled with MINIDL_ISA_NS=avx2|avx512"
#endif

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

template <class T>
struct PackBuffer {
  T* p = nullptr;
  int64_t n = 0;
  // at least `count` elements (the old contents are not kept when it grows)
  T* get(int64_t count) {
    if (count > n) {
      std::free(p);
      constexpr int64_t per_line = 64 / sizeof(T);  // aligned_alloc wants a multiple of the alignment
      n = (count + per_line - 1) / per_line * per_line;
      p = static_cast<T*>(std::aligned_alloc(64, static_cast<size_t>(n) * sizeof(T)));
      if (!p) {
        n = 0;
        throw std::bad_alloc();
      }
    }
    return p;
  }
  ~PackBuffer() { std::free(p); }
};

}  // namespace
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
