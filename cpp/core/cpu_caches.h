// The data caches of the CPU that runs: size, ways and line of L1d, L2 and L3, read once.
//
// Block sizes that keep operands in a cache (the GEMM's kc x mc x nc, ops/gemm/gemm_blocking.h)
// are derived from these instead of from constants measured on one CPU. Read in this order:
//   1. sysconf(_SC_LEVEL1_DCACHE_SIZE ...) (glibc: from CPUID on x86),
//   2. /sys/devices/system/cpu/cpu0/cache/index*/ for what sysconf left out, and always for
//      how many CPUs share each cache (shared_cpu_list),
//   3. defaults where neither answers (a VM, a libc that reports 0, not Linux): 32 KiB 8-way
//      L1d, 1 MiB 16-way L2, 8 MiB 16-way L3 shared by all online CPUs, 64-byte lines. These are
//      the smallest of the x86 cores of the last five years (Intel since Ice Lake has 48 KiB
//      L1d and >= 1.25 MiB L2, AMD Zen 4/5 32/48 KiB and 1 MiB), so a model fed with them keeps
//      its blocks small rather than spilling a cache.
// A size, way count or line of 0 counts as "no answer" (sysconf gives 0 for what it does not
// know; a fully associative cache reports 0 ways in /sys) and takes the next source's value.
#pragma once
#include <cstdint>
#include <string>

namespace minidl {

struct CacheLevel {
  int64_t size = 0;   // bytes (for a shared cache: the whole cache)
  int ways = 0;       // associativity
  int line = 0;       // bytes
  int shared_by = 1;  // logical CPUs sharing this cache (1 when unknown)
};

struct CpuCaches {
  CacheLevel l1d, l2, l3;
  std::string source;  // where the sizes came from: "sysconf", "sysfs", "sysconf+sysfs" or "default"
};

// Reads the running CPU's caches (every call reads again).
CpuCaches read_cpu_caches();
// The same, read once per process (a function-local static).
const CpuCaches& cpu_caches();
// The defaults of step 3 above.
CpuCaches default_cpu_caches();

}  // namespace minidl
