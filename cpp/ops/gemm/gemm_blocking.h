// Block sizes of the float32 GEMM (gemm_simd.cpp) from a model of the CPU's caches
// (core/cpu_caches.h), and a hook that forces them (for the sweep of
// bench/python/bench_gemm_blocking.py and for the tests).
//
// The model, why, and the numbers it gives are in gemm_blocking.cpp. The blocked GEMM builds
// the model once per kernel set (a function-local static); per call it costs one relaxed atomic
// load (are sizes forced?) and for_product's few integer divisions.
#pragma once
#include <cstdint>

#include "core/cpu_caches.h"

namespace minidl {

struct GemmBlocking {
  int64_t kc;  // depth of one rank-kc update (K is cut into equal blocks of at most kc)
  int64_t mc;  // rows of the packed A block, a multiple of mr
  int64_t nc;  // columns of the packed B panel, a multiple of nr
};

struct GemmBlockingModel {
  int mr, nr;              // the micro-tile
  int vw;                  // floats per vector of the kernel set
  int64_t l1d, l2;         // bytes
  int64_t kc_small_c;      // kc from L1 (the B and A micro-panels)
  int64_t kc_large_c;      // kc for a C that must come from L3
  int64_t small_c_floats;  // C pieces up to this many floats stay in L2 (half of it)
  // the sizes for one thread's M x N x K product
  GemmBlocking for_product(int64_t M, int64_t N, int64_t K) const;
};

// The model for a micro-tile of mr x nr floats, vectors of vw floats, on a CPU with caches `c`.
GemmBlockingModel gemm_blocking_model(const CpuCaches& c, int mr, int nr, int vw);

// Forced sizes replace the model's in every float32 GEMM of the SIMD kernel sets until reset;
// kc, mc, nc > 0, mc and nc are rounded up to the micro-tile where they are used. Not for use
// while another thread runs a GEMM.
void gemm_force_blocking(int64_t kc, int64_t mc, int64_t nc);
void gemm_reset_blocking();
bool gemm_blocking_forced(GemmBlocking* out);  // false when not forced

}  // namespace minidl
