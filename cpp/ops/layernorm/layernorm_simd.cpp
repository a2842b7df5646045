// Float32 layer-norm row loops for one ISA: the vector versions of the steps of the reference
// row loops at the top of layernorm.cpp (statistics, normalize; backward sums, dx). A row
// (N values, typically 64..4096) stays in L1 between the statistics pass and the normalize
// pass, so the kernel streams x once from memory in the forward and (dy, x) once in the
// backward.
#include "layernorm.h"
#include "core/vec.h"
#include "ops/reduce/row_stats_simd.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

// w/b pointers may be null: load 1 / 0 instead
inline Vec load_or(const float* p, int64_t i, int r, float fallback) {
  if (!p) return Vec::set1(fallback);
  return r == W ? Vec::load(p + i) : Vec::load_partial(p + i, r);
}

// The last of the forward's three passes over a row (from L1) asks for the next row's lines,
// one per vector (past the tensor's end a prefetch does not fault), so the next row's
// statistics pass finds it on its way from L3/memory. Measured (Xeon 8480-class VM, 1 thread,
// CPU time, medians of 180 calls rotating over 16 inputs, 6 runs alternating, load average
// 3-4): (4096, 1024) 1.78-2.22 -> 1.73-1.78 ms, (4096, 256) 0.51-0.61 -> 0.40-0.58 ms; the
// same input every call (warm) 0.30-0.35 -> 0.30-0.32, 1.17-1.54 -> 1.16-1.20.
// xhat = (x - mean - mean_lo) rstd = (x - mean) rstd + shift: x - mean is exact for a
// low-spread row (Sterbenz), and the shift costs nothing (an FMA instead of a multiply)
// --8<-- [start:normalize_row]
void normalize_row(const float* x, float* y, const float* w, const float* b, int64_t n, float mean, float mean_lo,
                   float rstd) {
  const Vec vm = Vec::set1(mean), vr = Vec::set1(rstd), shift = Vec::set1(-mean_lo * rstd);
  for (int64_t i = 0; i < n; i += W) {
    _mm_prefetch(reinterpret_cast<const char*>(x + n + i), _MM_HINT_T0);  // the next row (see above)
    const int r = n - i >= W ? int(W) : int(n - i);
    const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    const Vec xhat = fmadd(xv - vm, vr, shift);
    const Vec out = fmadd(xhat, load_or(w, i, r, 1.0f), load_or(b, i, r, 0.0f));
    if (r == W) out.store(y + i); else out.store_partial(y + i, r);
  }
}
// --8<-- [end:normalize_row]

// The backward streams dy and x from memory (in a training step they were written long before,
// by the forward and by the next layer's backward) and reads each row twice, the second time
// from L1. The first pass asks for the lines kPrefetchBytes ahead of each load (into L1; past
// the row end they are the next row's, past the tensor's end a prefetch does not fault):
// ~100 ns of memory latency at the ~10 GB/s one stream of this loop reads. Measured (Xeon
// 8480-class VM, 1 thread, CPU time, median of 180 calls, each on another of 16 (dy, x) pairs
// so they come from L3/memory, two runs): (4096, 256) 0.86-0.88 -> 0.66-0.69 ms, (4096, 1024)
// 2.75-2.86 -> 2.50-2.52 ms; from L2/L3 of the previous call unchanged (0.45, 1.8-2.0 ms);
// 4 KiB ahead 0.69-0.70 / 2.57-2.60, 8 KiB 0.71-0.72 / 2.82-2.84. A burst of one row's
// prefetches 4 KiB ahead at each row's start: (4096, 256) as fast, (4096, 1024) slower
// (2.95 -> 3.3 ms; the burst waits for the line-fill buffers).
constexpr int64_t kPrefetchBytes = 1024;

inline void prefetch_ahead(const float* p) {
  const char* ahead = reinterpret_cast<const char*>(p) + kPrefetchBytes;
  for (int64_t b = 0; b < 2 * W * int64_t(sizeof(float)); b += 64) _mm_prefetch(ahead + b, _MM_HINT_T0);
}

void backward_sums(const float* dy, const float* x, const float* w, int64_t n, float mean, float rstd,
                   float* sum_g, float* sum_g_xhat, float* gw_acc, float* gb_acc) {
  const Vec vm = Vec::set1(mean), vr = Vec::set1(rstd);
  Vec sg0 = Vec::zero(), sg1 = Vec::zero(), sx0 = Vec::zero(), sx1 = Vec::zero();
  int64_t i = 0;
  // two independent accumulator pairs hide the FMA latency
  for (; i + 2 * W <= n; i += 2 * W) {
    prefetch_ahead(dy + i);
    prefetch_ahead(x + i);
    const Vec d0 = Vec::load(dy + i), d1 = Vec::load(dy + i + W);
    const Vec h0 = (Vec::load(x + i) - vm) * vr, h1 = (Vec::load(x + i + W) - vm) * vr;
    const Vec g0 = w ? d0 * Vec::load(w + i) : d0, g1 = w ? d1 * Vec::load(w + i + W) : d1;
    sg0 = sg0 + g0;
    sg1 = sg1 + g1;
    sx0 = fmadd(g0, h0, sx0);
    sx1 = fmadd(g1, h1, sx1);
    if (gw_acc) {
      fmadd(d0, h0, Vec::load(gw_acc + i)).store(gw_acc + i);
      fmadd(d1, h1, Vec::load(gw_acc + i + W)).store(gw_acc + i + W);
    }
    if (gb_acc) {
      (Vec::load(gb_acc + i) + d0).store(gb_acc + i);
      (Vec::load(gb_acc + i + W) + d1).store(gb_acc + i + W);
    }
  }
  for (; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    // partial loads give 0 in the unused lanes, so they add nothing to any sum
    const Vec d = r == W ? Vec::load(dy + i) : Vec::load_partial(dy + i, r);
    const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    const Vec h = (xv - vm) * vr;
    const Vec g = w ? d * load_or(w, i, r, 1.0f) : d;
    sg0 = sg0 + g;
    sx0 = fmadd(g, h, sx0);
    if (gw_acc) {
      const Vec acc = fmadd(d, h, r == W ? Vec::load(gw_acc + i) : Vec::load_partial(gw_acc + i, r));
      if (r == W) acc.store(gw_acc + i); else acc.store_partial(gw_acc + i, r);
    }
    if (gb_acc) {
      const Vec acc = d + (r == W ? Vec::load(gb_acc + i) : Vec::load_partial(gb_acc + i, r));
      if (r == W) acc.store(gb_acc + i); else acc.store_partial(gb_acc + i, r);
    }
  }
  *sum_g = reduce_add(sg0 + sg1);
  *sum_g_xhat = reduce_add(sx0 + sx1);
}

void backward_input(const float* dy, const float* x, const float* w, float* dx, int64_t n, float mean, float rstd,
                    float a, float c) {
  const Vec vm = Vec::set1(mean), vr = Vec::set1(rstd), va = Vec::set1(a), vc = Vec::set1(c);
  for (int64_t i = 0; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    const Vec d = r == W ? Vec::load(dy + i) : Vec::load_partial(dy + i, r);
    const Vec xv = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    const Vec h = (xv - vm) * vr;
    const Vec g = w ? d * load_or(w, i, r, 1.0f) : d;
    const Vec out = (fnmadd(h, vc, g) - va) * vr;
    if (r == W) out.store(dx + i); else out.store_partial(dx + i, r);
  }
}

}  // namespace

extern const LayerNormSimd layernorm_simd = {&row_sum_shifted, &row_sum_sq_dev, &normalize_row, &backward_sums,
                                             &backward_input};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
