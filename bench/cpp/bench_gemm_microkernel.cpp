// The float32 GEMM micro-kernel alone on L1-resident packed panels, as a fraction of the FMA
// peak measured on the same core (bench_gemm_microkernel_simd.cpp): 1 thread, CPU time.
//
//   cmake -S . -B build/bench -G Ninja -DMINIDL_BUILD_BENCH=ON && cmake --build build/bench
//   build/bench/bench/cpp/bench_gemm_microkernel [--rounds 7] [kc ...]
//
// kc defaults to the blocking model's two depths for this CPU (gemm_blocking.cpp). A kernel
// body near the peak here while the whole product (bench_gemm) is well below it puts the loss
// in the packing or the memory, not in the micro-kernel.
//
// Measured (Intel Xeon family 6 model 167, KVM, 1 thread, load average 1.5-2):
//   AVX-512 12 x 32: FMA peak 208-228 GFLOP/s, micro-kernel 180-193 at kc = 128, 256, 512
//     (84-86%, the same at kc = 64..384); in the loop nest's jr / ir loops (B streaming from
//     L2, C in L2) the same again, and a prefetch of B 4-16 k ahead changed nothing.
//   AVX2 6 x 16: FMA peak 116-120, micro-kernel 113-120 (95-100%).
// So on this CPU the AVX-512 kernel body leaves ~15% of the peak, and it is not the load ports
// alone (AVX2 issues more loads per FMA and reaches the peak). It tracks the instructions per
// 24 FMAs: copies of the k loop timed the same way gave 12 x 32 (2 B loads + 12 broadcasts,
// 38 instructions) 186-200 GFLOP/s, 8 x 48 (35) 195-202, 6 x 64 (34) 194-212; the broadcasts as
// FMA memory operands ({1to16}: 26 instructions but 26 loads) 170-175; unrolling k by 1, 4 or
// 8, and loading the next k's B early, all within the noise. In the jr / ir loops over a packed
// B panel from L2 (kc / mc / nc = 256 / 48 / 960 and 512 / 24 / 576, load average 0.9) 8 x 48
// measured 4-11% and 6 x 64 4-8% faster than 12 x 32 in three runs; the AVX-512 set now runs
// 6 x 64 (gemm_microkernel.h has what the whole products gained), which here measures
// 191-194 GFLOP/s at kc = 160 and 512, 86% of the peak as 12 x 32 did (load average 2).
// The rest of the 12 x 32 product's time
// (1024^3 at ~157 GFLOP/s, 70-75% of the peak) is packing, ~9% of the samples (perf, cpu-clock),
// and the C tile and loop overhead.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/cpu_caches.h"
#include "core/dispatch.h"
#include "gemm_microkernel_bench.h"
#include "ops/gemm/gemm_blocking.h"

int main(int argc, char** argv) {
  int rounds = 7;
  std::vector<int64_t> depths;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      const long kc = std::atol(argv[i]);
      if (kc < 1 || kc > 1024) {
        std::fprintf(stderr, "kc must be in [1, 1024], got %s\n", argv[i]);
        return 2;
      }
      depths.push_back(kc);
    }
  }
  if (rounds < 1) {
    std::fprintf(stderr, "--rounds must be >= 1\n");
    return 2;
  }
  std::printf("%-8s %-8s %6s %14s %14s %8s\n", "isa", "tile", "kc", "FMA peak GF/s", "kernel GF/s", "of peak");
  for (minidl::Isa isa : {minidl::Isa::avx512, minidl::Isa::avx2}) {
    if (!minidl::cpu_supports(isa)) continue;
    auto measure = isa == minidl::Isa::avx512 ? minidl::avx512::measure_microkernel : minidl::avx2::measure_microkernel;
    std::vector<int64_t> kcs = depths;
    if (kcs.empty()) {
      const minidl::MicrokernelRates tile = measure(16, 1);  // only for mr x nr
      const minidl::GemmBlockingModel m = minidl::gemm_blocking_model(minidl::cpu_caches(), tile.mr, tile.nr,
                                                                      isa == minidl::Isa::avx512 ? 16 : 8);
      kcs = {m.kc_small_c};
      if (m.kc_large_c != m.kc_small_c) kcs.push_back(m.kc_large_c);
    }
    for (int64_t kc : kcs) {
      const minidl::MicrokernelRates r = measure(kc, rounds);
      char tile[16];
      std::snprintf(tile, sizeof tile, "%dx%d", r.mr, r.nr);
      std::printf("%-8s %-8s %6ld %14.1f %14.1f %7.0f%%   (%g)\n", minidl::isa_name(isa), tile, long(kc),
                  r.fma_peak / 1e9, r.microkernel / 1e9, 100.0 * r.microkernel / r.fma_peak, r.checksum);
      std::fflush(stdout);
    }
  }
  return 0;
}
