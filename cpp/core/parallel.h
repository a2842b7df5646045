// Threading: one global thread count (md.set_num_threads) and a parallel_for that only
// forks when the work is big enough to pay for waking the OpenMP team (~1-5 us).
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace minidl {

int num_threads();
void set_num_threads(int n);

// Below this many multiply-adds (~10 us on one core) waking the team costs more than it saves:
// the products (GEMM, its packed and 16-bit forms) and attention run on the calling thread.
constexpr int64_t kParallelMinFma = int64_t(1) << 20;

// --8<-- [start:parallel_for]
// Calls f(begin, end) on disjoint chunks of [0, n), in parallel when n > grain: at most one
// chunk per thread, each of at least `grain` items (grain 0 or 1: any item may be a chunk).
template <class F>
inline void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
#ifdef _OPENMP
  int nt = num_threads();
  if (nt > 1 && n > grain && !omp_in_parallel()) {
    // (grain 0 used to give (n - 1) chunks here: LayerNorm's backward, 2 chunks for 2 threads,
    // ran on one thread)
    const int64_t g = std::max<int64_t>(grain, 1);
    int64_t chunks = std::min<int64_t>(nt, (n + g - 1) / g);
    if (chunks > 1) {
#pragma omp parallel num_threads(static_cast<int>(chunks))
      {
        int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t begin = n * t / T, end = n * (t + 1) / T;
        if (begin < end) f(begin, end);
      }
      return;
    }
  }
#endif
  f(int64_t{0}, n);
}
// --8<-- [end:parallel_for]

}  // namespace minidl
