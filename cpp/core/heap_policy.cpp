// The heap policy of heap_policy.h: the trim threshold from the physical memory size.
#include "core/heap_policy.h"

#include <algorithm>
#include <climits>
#include <cstdlib>  // defines __GLIBC__ on glibc systems
#if defined(__GLIBC__)
#include <malloc.h>
#include <unistd.h>
#endif

namespace minidl {

int64_t heap_trim_threshold() {
#if defined(__GLIBC__)
  const int64_t pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const int64_t physical = pages > 0 && page > 0 ? pages * page : 0;
  const int64_t lo = int64_t(256) << 20, hi = INT_MAX;
  return std::clamp(physical / 8, lo, hi);
#else
  return 0;
#endif
}

void keep_freed_buffers_in_heap() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)
  mallopt(M_TRIM_THRESHOLD, int(heap_trim_threshold()));
#endif
}

}  // namespace minidl
