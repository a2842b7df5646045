// The float32 GEMM micro-kernel alone, against the FMA peak of the same core: the first step of
// finding where a GEMM's time goes (the kernel body, the packing, or the memory). Compiled once
// per instruction set like the kernels (MINIDL_ISA_NS = avx2 | avx512); the driver is
// bench_gemm_microkernel.cpp.
//
// FMA peak: kNV kMR independent accumulator chains (the micro-kernel's own count: 24 zmm / 12 ymm)
// each doing acc = acc * x + y, with no loads: the most the FMA pipes deliver. Micro-kernel: one
// kMR x kNR tile of C += (kMR x kc packed A) @ (kc x kNR packed B), repeated on the same panels,
// which stay in L1 (kc = 128: 3 + 32 KiB with AVX-512's 6 x 64). Both timed in CPU time
// (CLOCK_PROCESS_CPUTIME_ID, 1 thread), alternating, the best of the rounds.
#include <time.h>

#include <cstdint>

#include "gemm_microkernel_bench.h"
#include "ops/gemm/gemm_microkernel.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// flops per second of `iters` rounds of kNV kMR independent FMAs; *sink keeps the result alive
double fma_peak(int64_t iters, float* sink) {
  Vec acc[kNV * kMR];
#pragma GCC unroll 32
  for (int i = 0; i < kNV * kMR; ++i) acc[i] = Vec::set1(1e-3f * float(i));
  const Vec x = Vec::set1(0.999f), y = Vec::set1(1e-4f);
  const double t0 = cpu_seconds();
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < kNV * kMR; ++i) acc[i] = fmadd(acc[i], x, y);
  }
  const double seconds = cpu_seconds() - t0;
  Vec s = acc[0];
  for (int i = 1; i < kNV * kMR; ++i) s = s + acc[i];
  float lanes[kVW];
  s.store(lanes);
  *sink += lanes[0];
  return double(iters) * kNV * kMR * kVW * 2 / seconds;
}

// flops per second of `calls` micro-kernel calls on the same L1-resident panels
double microkernel_rate(int64_t calls, int64_t kc, const float* a, const float* b, float* c) {
  const double t0 = cpu_seconds();
  for (int64_t i = 0; i < calls; ++i) microkernel<kMR>(kc, a, b, c, kNR, kNR, 1.0f);
  return double(calls) * kc * kMR * kNR * 2 / (cpu_seconds() - t0);
}

}  // namespace

MicrokernelRates measure_microkernel(int64_t kc, int rounds) {
  // 64-byte aligned panels, as the packing buffers are (core/pack_buffer.h)
  alignas(64) static float a[kMR * 1024], b[kNR * 1024], c[kMR * kNR];
  for (int64_t i = 0; i < kMR * kc; ++i) a[i] = 1e-3f;
  for (int64_t i = 0; i < kNR * kc; ++i) b[i] = 1e-3f;
  for (float& v : c) v = 0.0f;
  // ~0.1 s of work per measurement at a few hundred GFLOP/s
  const int64_t flops = int64_t(1) << 34;
  const int64_t peak_iters = flops / (kNV * kMR * kVW * 2);
  const int64_t calls = flops / (kc * kMR * kNR * 2);
  MicrokernelRates best{kMR, kNR, 0.0, 0.0, 0.0f};
  float sink = 0.0f;
  for (int r = 0; r < rounds; ++r) {
    const double peak = fma_peak(peak_iters, &sink);
    const double kernel = microkernel_rate(calls, kc, a, b, c);
    if (peak > best.fma_peak) best.fma_peak = peak;
    if (kernel > best.microkernel) best.microkernel = kernel;
  }
  best.checksum = sink + c[0];
  return best;
}

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
