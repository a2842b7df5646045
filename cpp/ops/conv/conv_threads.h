// Threading shared by the convolution paths (conv.cpp: im2col + GEMM, conv_direct.cpp):
// threads take whole images, handed out in chunks from an atomic counter. No arithmetic here:
// images are independent in the reference loops (top of conv.cpp), so any split gives the
// same y and dx bits; dw adds per-thread partial sums (another order).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "conv.h"
#include "core/parallel.h"

namespace minidl {
namespace conv_detail {

// Threads that take whole images; 1 means "images in turn" (a GEMM inside may thread itself).
inline int image_threads(const ConvShape& s) {
  int nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  const int64_t fma = s.N * s.K * s.P * s.Q * s.Cg() * s.R * s.S;
  if (fma < (int64_t{1} << 18)) nt = 1;
  if (s.N < nt) nt = 1;
  return nt;
}

// Runs body(tid, n0, n1) over image ranges of `chunk` images, handed out dynamically: on a
// machine shared with other jobs a descheduled thread would otherwise hold back its static
// half of the batch (measured: 2 threads slower than 1 on a busy 2-core machine).
template <class F>
void over_images(const ConvShape& s, int nt, int64_t chunk, const F& body) {
  chunk = std::max<int64_t>(1, chunk);
  if (nt <= 1) {
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) body(0, n0, std::min(s.N, n0 + chunk));
    return;
  }
#ifdef _OPENMP
  std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    for (int64_t n0 = next.fetch_add(chunk); n0 < s.N; n0 = next.fetch_add(chunk))
      body(tid, n0, std::min(s.N, n0 + chunk));
  }
#else
  for (int64_t n0 = 0; n0 < s.N; n0 += chunk) body(0, n0, std::min(s.N, n0 + chunk));
#endif
}

}  // namespace conv_detail
}  // namespace minidl
