// Interface between the per-ISA micro-kernel measurement (bench_gemm_microkernel_simd.cpp,
// compiled once per instruction set) and its driver (bench_gemm_microkernel.cpp).
#pragma once
#include <cstdint>

namespace minidl {

struct MicrokernelRates {
  int mr, nr;          // the micro-tile
  double fma_peak;     // flop/s of independent FMAs with no loads (best round)
  double microkernel;  // flop/s of the micro-kernel on L1-resident packed panels (best round)
  float checksum;      // keeps the results alive; meaningless
};

// kc in [1, 1024]; rounds >= 1 alternating measurements of both
namespace avx2 {
MicrokernelRates measure_microkernel(int64_t kc, int rounds);
}
namespace avx512 {
MicrokernelRates measure_microkernel(int64_t kc, int rounds);
}

}  // namespace minidl
