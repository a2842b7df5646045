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

// Calls f(begin, end) on disjoint chunks of [0, n), in parallel when n > grain.
template <class F>
inline void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
#ifdef _OPENMP
  int nt = num_threads();
  if (nt > 1 && n > grain && !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(nt, (n + grain - 1) / std::max<int64_t>(grain, 1));
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

}  // namespace minidl
