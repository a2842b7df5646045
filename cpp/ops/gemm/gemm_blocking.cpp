// The float32 GEMM's block sizes from a model of the CPU's caches (cpu_caches.h).
//
// Loop nest and micro-kernel: gemm_simd.cpp, gemm_microkernel.h. The model starts from Low,
// Igual, Smith and Quintana-Orti, "Analytical Modeling Is Enough for High-Performance BLIS"
// (ACM TOMS 43(2), 2016) and departs from it where the sweep of bench_gemm_blocking.py
// measured otherwise. Bytes; 4 a float; W1, S1, L: ways, sets and line of the L1d; mr x nr
// the micro-tile (AVX-512 6 x 64, AVX2 6 x 16), vectors of vw floats (16, 8).
//
// --8<-- [start:model]
// kc, from L1 (the paper's ways argument): the B micro-panel (kc x nr) stays in L1 while the
//   A micro-panels (mr x kc) stream past it. A gets  C_A = floor((W1 - 1) mr / (mr + nr))
//   ways, B nr / mr times as many, one way is left for the C tile and the next A lines:
//       kc_small_c = C_A S1 L / (4 mr), rounded down to 16, clamped to [128, 1024]
//   (the floor of 128 keeps the per-call cost of the C tile, loaded and stored once per kc
//   k-steps, small where the ways argument gives less: Zen 4 with AVX-512).
// kc for a large C: a C piece (one thread's) larger than half of L2 comes from L3 once per
//   K block. Per micro-kernel call the tile's load + store moves 8 mr nr bytes against
//   kc mr nr / (2 vw) cycles of FMAs (two FMA pipes): 16 vw / kc bytes per cycle. kc grows
//   until that is at most 0.5 byte per cycle:  kc_large_c = max(kc_small_c, 32 vw), i.e. 512
//   for AVX-512 (256 measured 5-10% slower on 4096 x 1024 @ 1024 x 256, C 4 MiB), unchanged
//   for AVX2 (already 512 here). The B micro-panel then spills L1 and streams from L2, which
//   the kernel allows: it reads 2 vw x 4 bytes of B per mr FMA pairs, ~11 bytes per cycle of
//   the 32-64 an L2 delivers. A C that fits half of L2, or a K that fits one kc_small_c block,
//   keeps kc_small_c.
// mc, from L1 (not the paper's L2): the A block (mc x d, d the depth of the K blocks actually
//   cut, at most kc) fills the L1d:  mc = L1d / (4 d), rounded down to mr, in [mr, 64 mr].
//   The paper fills most of L2 with the A block and L3 with the B panel (256 / 768 / 4096
//   after the clamps here): measured 7-17% slower than the best of the sweep on every product
//   (1 thread), the best all with mc = 4 mr or 8 mr. Small A blocks win
//   because keeping a B micro-panel in L1 across many A micro-panels buys nothing with the
//   low L2 traffic above, while a small block keeps the C rows it updates (mc rows, one 4 KiB
//   page each when N >= 1024) within the first-level data TLB (64 entries on recent Intel and
//   AMD cores) during the jr loop: a likely reason, not measured with counters.
// nc, from L2 (not the paper's L3): the B panel (d x nc) fills half of L2:
//   nc = L2 / (8 d), rounded down to nr, in [4 nr, 128 nr]. With small A blocks the panel is
//   re-read M / mc times, so it must come from L2. The L3 is not used: in a VM it is what the
//   host reports (480 MiB shared by 2 CPUs here). A panel read by at most two A blocks
//   (M <= 2 mc) takes a quarter of L2 instead: its packing, which streams the source and the
//   copy through L2 together, then outweighs its reuse. Measured (1 thread, min of 21 paired
//   runs, load average 4): 64 x 576 @ 576 x 4096 (a ResNet im2col product) 2.46 -> 2.42 ms,
//   32 x 1024 @ 1024 x 1024 0.654 -> 0.606, 64 x 1024 @ 1024 x 4096 4.42 -> 4.15, 96 x 576 @
//   576 x 4096 3.42 -> 3.30; at M = 128 (three A blocks) 1.855 -> 1.834, within the noise.
//
// The numbers (kc / mc / nc for a small C, 256 x 256, then a large one, 4096 x 4096, both with
// K = 4096; test_gemm_blocking.py):
//   this Xeon (family 6 model 167; 48 KiB 12-way L1d, 2 MiB 16-way L2):
//       AVX-512 6 x 64 (C_A = 1)  160 / 72 / 1600, 512 / 24 / 512
//       AVX2 (C_A = 3)            512 / 24 / 512 both
//   Zen 5 (48 KiB 12-way L1d, 1 MiB 16-way L2, 32 MiB L3):
//       AVX-512                   160 / 72 / 768,  512 / 24 / 256
//       AVX2                      512 / 24 / 256 both
//   Zen 4 (32 KiB 8-way L1d, 1 MiB 8-way L2, 32 MiB L3):
//       AVX-512 (C_A = 1)         160 / 48 / 768,  512 / 12 / 256
//       AVX2 (C_A = 1)            160 / 48 / 816, 256 / 30 / 512
//   (AVX-512's earlier 12 x 32 tile: Xeon C_A = 3, 256 / 48 / 1024 and 512 / 24 / 512; Zen 4
//   kc 85 -> 128, the floor. The first sweep below ran with that tile; the re-sweep with
//   6 x 64.)
// --8<-- [end:model]
//
// Does the model pick as well as measurement? On this Xeon, for the large products, yes within
// the noise of a shared machine, so no per-shape measurement is made: bench_gemm_blocking.py's
// table (its docstring) has the model 0-5% from the best of a 144-point sweep on eight square
// and training-shaped products, 1 and 2 threads (the best point itself changed from run to run,
// and two identical configurations measured up to 8% apart), except the ResNet im2col product
// (64 x 576 @ 576 x 4096) on 2 threads, 11-14% off; and 0-11% faster than the constants it
// replaced (kc 512 / 256 for C under 512 KiB, mc 16 mr, nc 1024) on all but that one (2%
// slower). The Zen numbers are the model's, not measured (no such CPU was at hand).
// Re-swept with the 6 x 64 tile (same grid and products, --repeat 3 --final 9, load average
// 3.3-6.4 from other jobs): the model 0-3% from the best on all eight at 1 thread, and 0-4% at
// 2 threads except square 512^3 (10%: 1.82 against 1.65 ms at 768 / 192 / 2048); the ResNet
// im2col product is now 2-3% off on both. The best points scatter over kc 128..768 and mc
// 2..32 tiles with no pattern the model misses, so the model is kept as it is.
#include "gemm_blocking.h"

#include <algorithm>
#include <atomic>

namespace minidl {
namespace {

constexpr int64_t kFloat = 4;  // bytes
constexpr int64_t kMinKc = 128, kMaxKc = 1024;

int64_t round_down(int64_t v, int64_t m) { return std::max<int64_t>(m, v / m * m); }

std::atomic<int64_t> forced_kc{0}, forced_mc{0}, forced_nc{0};

}  // namespace

GemmBlockingModel gemm_blocking_model(const CpuCaches& c, int mr, int nr, int vw) {
  const int64_t l1_sets = c.l1d.size / (int64_t(c.l1d.ways) * c.l1d.line);
  const int64_t a_ways = std::max<int64_t>(1, int64_t(c.l1d.ways - 1) * mr / (mr + nr));
  const int64_t kc = std::clamp<int64_t>(a_ways * l1_sets * c.l1d.line / (kFloat * mr) / 16 * 16, kMinKc, kMaxKc);
  return {mr, nr, vw, c.l1d.size, c.l2.size, kc, std::clamp<int64_t>(32 * int64_t(vw), kc, kMaxKc),
          c.l2.size / 2 / kFloat};
}

GemmBlocking GemmBlockingModel::for_product(int64_t M, int64_t N, int64_t K) const {
  const int64_t kc = M * N > small_c_floats && K > kc_small_c ? kc_large_c : kc_small_c;
  const int64_t k_blocks = (std::max<int64_t>(K, 1) + kc - 1) / kc;
  const int64_t depth = (std::max<int64_t>(K, 1) + k_blocks - 1) / k_blocks;  // the K block actually used
  const int64_t mc = std::clamp<int64_t>(round_down(l1d / (kFloat * depth), mr), mr, 64 * mr);
  const int64_t panel_bytes = M <= 2 * mc ? l2 / 4 : l2 / 2;  // see "nc" above
  const int64_t nc = std::clamp<int64_t>(round_down(panel_bytes / (kFloat * depth), nr), 4 * nr, 128 * nr);
  return {kc, mc, nc};
}

void gemm_force_blocking(int64_t kc, int64_t mc, int64_t nc) {
  forced_mc.store(mc, std::memory_order_relaxed);
  forced_nc.store(nc, std::memory_order_relaxed);
  forced_kc.store(kc, std::memory_order_release);
}

void gemm_reset_blocking() { forced_kc.store(0, std::memory_order_release); }

bool gemm_blocking_forced(GemmBlocking* out) {
  const int64_t kc = forced_kc.load(std::memory_order_acquire);
  if (kc <= 0) return false;
  *out = {kc, forced_mc.load(std::memory_order_relaxed), forced_nc.load(std::memory_order_relaxed)};
  return true;
}

}  // namespace minidl
